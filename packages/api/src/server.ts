// The read API as a fastify instance: per collection `GET /v{major}/{path}` (cursor pages, filters, sparse
// fieldsets) and `GET /v{major}/{path}/{id}` (ETag, Last-Modified, 304, 410 for a recent delete), every answer
// saying how fresh the data is; RFC 9457 problems with stable codes; bearer JWTs verified against the
// issuer's JWKS as the admin API does, with a scope per collection (deny by default); a per-client rate
// limit; the generated OpenAPI document at /openapi.json and its reference page at /docs.
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from '@ferry/core';
import { createTokenVerifier, isJwksUnavailable, type Principal } from '@ferry/server';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Collection } from './collections.js';
import type { ApiConfig } from './config.js';
import { openApiDocument } from './openapi.js';
import type { EntityStore, Filter, StoredEntityJson } from './store.js';

export const ApiErrorCodes = {
  API_NOT_FOUND: 'API_NOT_FOUND',
  API_GONE: 'API_GONE',
  API_BAD_PARAMETER: 'API_BAD_PARAMETER',
  API_UNAUTHENTICATED: 'API_UNAUTHENTICATED',
  API_FORBIDDEN: 'API_FORBIDDEN',
  API_RATE_LIMITED: 'API_RATE_LIMITED',
  API_AUTH_UNAVAILABLE: 'API_AUTH_UNAVAILABLE',
  API_INTERNAL: 'API_INTERNAL',
} as const;

/**
 * How fresh the store is: what the consumers have applied (for the freshness headers). The server writes the
 * headers again only when `appliedAt` changes: whoever moves `positions` sets `appliedAt` with them.
 */
export interface Freshness {
  /** When the store last applied an event. */
  appliedAt: string | undefined;
  /** The stream positions applied, by stream. */
  positions: Record<string, string>;
}

export interface ApiServerOptions {
  config: ApiConfig;
  collections: readonly Collection[];
  store: EntityStore;
  logger: Logger;
  freshness: () => Freshness;
  /** The document's info.version (the package's). */
  version?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** Verified tokens remembered at most (see `auth.tokenCacheSeconds`): one per client is plenty. */
const TOKEN_CACHE_ENTRIES = 10_000;
const RESERVED = new Set(['cursor', 'limit', 'fields']);
const RANGE = /^(.+)\[(gt|gte|lt|lte)\]$/;

class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
  }
}

function sendProblem(reply: FastifyReply, request: FastifyRequest, problem: Problem): FastifyReply {
  return reply
    .code(problem.status)
    .type('application/problem+json')
    .send({
      type: `https://ferry.dev/problems/${problem.code.toLowerCase().replaceAll('_', '-')}`,
      title: problem.title,
      status: problem.status,
      detail: problem.detail,
      instance: request.url.split('?')[0],
      code: problem.code,
      ...problem.extra,
    });
}

/** Build the server, ready to `listen(config.listen)`. */
export async function buildApiServer(options: ApiServerOptions): Promise<FastifyInstance> {
  const { config, collections, store, logger } = options;
  const app = Fastify({ logger: false, exposeHeadRoutes: false }) as unknown as FastifyInstance;
  const document = openApiDocument(collections, {
    title: `${config.api} (Ferry read API)`,
    version: options.version ?? '0.1.0',
    bearer: config.auth.mode === 'oauth2',
  });

  app.decorateRequest('principal', null);
  const verify =
    config.auth.mode === 'oauth2'
      ? createTokenVerifier(config.auth, {
          entries: TOKEN_CACHE_ENTRIES,
          seconds: config.auth.tokenCacheSeconds,
        })
      : undefined;
  // Authentication first (a failed one is not counted against anyone's rate), then the rate limit per client.
  const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? '';
    if (path === '/openapi.json' || path === '/docs' || path.startsWith('/docs/') || verify === undefined)
      return;
    const header = request.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
    const challenge = (error?: string) =>
      reply.header(
        'WWW-Authenticate',
        `Bearer realm="${config.api}"${error === undefined ? '' : `, error="${error}"`}`,
      );
    if (header === undefined) {
      // RFC 6750 §3.1: a request without credentials gets the challenge without an error code.
      challenge();
      return sendProblem(
        reply,
        request,
        new Problem(401, ApiErrorCodes.API_UNAUTHENTICATED, 'Unauthenticated', 'a bearer token is required'),
      );
    }
    if (token === undefined || token === '') {
      challenge('invalid_request');
      return sendProblem(
        reply,
        request,
        new Problem(401, ApiErrorCodes.API_UNAUTHENTICATED, 'Unauthenticated', 'not a bearer token'),
      );
    }
    try {
      request.principal = await verify(token);
    } catch (error) {
      if (isJwksUnavailable(error)) {
        logger.error(
          { err: error, jwksUri: (config.auth as { jwksUri: string }).jwksUri },
          'read API: cannot fetch the JWKS',
        );
        return sendProblem(
          reply,
          request,
          new Problem(
            503,
            ApiErrorCodes.API_AUTH_UNAVAILABLE,
            'Authentication unavailable',
            'the token cannot be checked now (the issuer’s key set is unreachable); try again later',
          ),
        );
      }
      challenge('invalid_token');
      return sendProblem(
        reply,
        request,
        new Problem(
          401,
          ApiErrorCodes.API_UNAUTHENTICATED,
          'Unauthenticated',
          `the bearer token was refused: ${(error as Error).message}`,
        ),
      );
    }
  };
  // Without auth (mode none) there is nothing to check: no hook on every request.
  if (verify !== undefined) app.addHook('onRequest', authenticate);
  await app.register(rateLimit, {
    global: true,
    max: config.rateLimit.requests,
    timeWindow: config.rateLimit.windowSeconds * 1000,
    hook: 'preHandler',
    keyGenerator: (request) =>
      request.principal?.subject ? `sub:${request.principal.subject}` : `ip:${request.ip}`,
    allowList: (request) => {
      const path = request.url.split('?')[0] ?? '';
      return path === '/openapi.json' || path === '/docs' || path.startsWith('/docs/');
    },
    errorResponseBuilder: (_request, context) =>
      Object.assign(new Error('rate limited'), {
        statusCode: 429,
        problem: new Problem(
          429,
          ApiErrorCodes.API_RATE_LIMITED,
          'Too many requests',
          `more than ${context.max} requests in ${config.rateLimit.windowSeconds} s; retry after ${context.after}`,
        ),
      }),
  });

  app.setErrorHandler((error, request, reply) => {
    const carried = (error as { problem?: Problem }).problem;
    if (carried instanceof Problem) return sendProblem(reply, request, carried);
    if (error instanceof Problem) return sendProblem(reply, request, error);
    logger.error({ err: error, url: request.url }, 'read API request failed');
    return sendProblem(
      reply,
      request,
      new Problem(
        500,
        ApiErrorCodes.API_INTERNAL,
        'Internal error',
        'the request failed; see the server log',
      ),
    );
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      request,
      new Problem(404, ApiErrorCodes.API_NOT_FOUND, 'Not found', 'no such resource'),
    ),
  );

  await app.register(swagger, { mode: 'static', specification: { document: document as never } });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', async () => document);

  // The freshness headers, written again only when a batch has been applied since.
  let fresh: { appliedAt: string | undefined; position: string } | undefined;
  const freshness = (reply: FastifyReply) => {
    const { appliedAt, positions } = options.freshness();
    if (fresh === undefined || fresh.appliedAt !== appliedAt)
      fresh = {
        appliedAt,
        position: Object.entries(positions)
          .map(([stream, position]) => `${encodeURIComponent(stream)}=${position}`)
          .join(','),
      };
    if (appliedAt !== undefined) reply.header('Ferry-Applied-At', appliedAt);
    reply.header('Ferry-Position', fresh.position);
  };

  for (const collection of collections) {
    const base = `/v${collection.major}/${collection.path}`;
    const authorise = (request: FastifyRequest, reply: FastifyReply) => {
      if (verify === undefined) return;
      if (!request.principal?.scopes.has(collection.scope)) {
        reply.header(
          'WWW-Authenticate',
          `Bearer realm="${config.api}", error="insufficient_scope", scope="${collection.scope}"`,
        );
        throw new Problem(
          403,
          ApiErrorCodes.API_FORBIDDEN,
          'Forbidden',
          `the token lacks the scope ${collection.scope} that reading ${base} needs`,
        );
      }
    };
    const deprecation = (reply: FastifyReply) => {
      if (!collection.deprecated) return;
      reply.header('Deprecation', 'true');
      if (collection.sunset !== undefined) reply.header('Sunset', new Date(collection.sunset).toUTCString());
    };

    app.get(base, async (request, reply) => {
      authorise(request, reply);
      const query = request.query as Record<string, string | string[]>;
      const { filters, limit, cursor, fields } = parseListQuery(query, collection, config);
      const page = await store.list(collection.type, collection.major, { after: cursor, limit, filters });
      freshness(reply);
      deprecation(reply);
      return {
        items: page.items.map((entity) => project(entity.data, fields)),
        next: page.next === undefined ? null : Buffer.from(page.next, 'utf8').toString('base64url'),
      };
    });

    const answer = (
      request: FastifyRequest,
      reply: FastifyReply,
      id: string,
      fields: string[] | undefined,
      entity: StoredEntityJson | undefined,
    ): void => {
      freshness(reply);
      deprecation(reply);
      if (entity === undefined) throw notFound(base, id);
      if (entity.deleted) {
        const age = (Date.now() - Date.parse(entity.appliedAt)) / 1000;
        if (age <= config.goneSeconds)
          throw new Problem(
            410,
            ApiErrorCodes.API_GONE,
            'Gone',
            `${base}/${id} was deleted at ${entity.eventTime}`,
          );
        throw notFound(base, id);
      }
      const etag = etagOf(entity);
      reply.header('ETag', etag);
      reply.header('Last-Modified', new Date(entity.eventTime).toUTCString());
      if (matches(request.headers['if-none-match'], etag)) {
        reply.code(304).send();
        return;
      }
      // The stored JSON goes out as it is (what serialising the parsed object would give, without the work)
      // unless a sparse fieldset needs the object.
      const json = entity.json ?? 'null';
      if (fields === undefined) reply.type('application/json; charset=utf-8').send(json);
      else reply.send(project(JSON.parse(json), fields));
    };
    // Not an async handler: on SQLite the lookup needs no promise, and one per request is measurable. The
    // answer is sent here; returning the reply would make fastify wait on it as on a promise.
    app.get(`${base}/:id`, (request, reply) => {
      authorise(request, reply);
      const { id } = request.params as { id: string };
      const query = request.query as Record<string, string | string[]>;
      for (const name in query)
        if (name !== 'fields')
          throw badParameter(name, `unknown parameter ${name} (only fields is accepted here)`);
      const fields = query.fields === undefined ? undefined : fieldsOf(query.fields);
      if (store.readsSynchronously) {
        answer(request, reply, id, fields, store.getJsonSync(collection.type, collection.major, id));
        return;
      }
      return store
        .getJson(collection.type, collection.major, id)
        .then((entity) => answer(request, reply, id, fields, entity));
    });
  }
  return app;
}

function notFound(base: string, id: string): Problem {
  return new Problem(404, ApiErrorCodes.API_NOT_FOUND, 'Not found', `no ${base}/${id}`);
}

function badParameter(parameter: string, detail: string): Problem {
  return new Problem(400, ApiErrorCodes.API_BAD_PARAMETER, 'Bad request', detail, { parameter });
}

function etagOf(entity: StoredEntityJson): string {
  return `"${entity.eventId.replaceAll('"', '')}"`;
}

function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === '*' || tag === etag);
}

function fieldsOf(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw badParameter('fields', 'fields may be given once');
  const fields = value
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '');
  if (fields.length === 0) throw badParameter('fields', 'fields names no field');
  return fields;
}

/** A sparse fieldset: the top-level fields asked for (those the object has). */
function project(data: unknown, fields: string[] | undefined): unknown {
  if (fields === undefined || data === null || typeof data !== 'object') return data;
  const object = data as Record<string, unknown>;
  return Object.fromEntries(fields.filter((f) => f in object).map((f) => [f, object[f]]));
}

function parseListQuery(
  query: Record<string, string | string[]>,
  collection: Collection,
  config: ApiConfig,
): { filters: Filter[]; limit: number; cursor: string | undefined; fields: string[] | undefined } {
  const filters: Filter[] = [];
  let limit = config.pageSize.default;
  let cursor: string | undefined;
  for (const [name, raw] of Object.entries(query)) {
    if (Array.isArray(raw)) throw badParameter(name, `${name} may be given once`);
    if (name === 'limit') {
      if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > config.pageSize.max)
        throw badParameter(name, `limit must be a whole number from 1 to ${config.pageSize.max}`);
      limit = Number(raw);
      continue;
    }
    if (name === 'cursor') {
      cursor = Buffer.from(raw, 'base64url').toString('utf8');
      if (cursor === '' || Buffer.from(cursor, 'utf8').toString('base64url') !== raw)
        throw badParameter(name, 'cursor is not one this API gave (pass `next` as it came)');
      continue;
    }
    if (RESERVED.has(name)) continue;
    const range = RANGE.exec(name);
    const fieldName = range?.[1] ?? name;
    const op = (range?.[2] ?? 'eq') as Filter['op'];
    const field = collection.filters.find((f) => f.name === fieldName);
    if (field === undefined) {
      const known = collection.filters.map((f) => f.name).join(', ') || 'none';
      throw badParameter(name, `${name} is not a filter of ${collection.path} (filters: ${known})`);
    }
    if (op !== 'eq' && !field.ranges)
      throw badParameter(name, `${fieldName} takes equality only (ranges are for dates and numbers)`);
    let value: Filter['value'] = raw;
    if (field.kind === 'number') {
      if (raw.trim() === '' || !Number.isFinite(Number(raw)))
        throw badParameter(name, `${name} must be a number`);
      value = Number(raw);
    } else if (field.kind === 'boolean') {
      if (raw !== 'true' && raw !== 'false') throw badParameter(name, `${name} must be true or false`);
      value = raw === 'true';
    }
    filters.push({ path: field.path, op, kind: field.kind, value });
  }
  return { filters, limit, cursor, fields: fieldsOf(query.fields) };
}
