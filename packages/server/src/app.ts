// The admin API as a fastify instance: routes from routes.ts with their auth and error responses, the
// OpenAPI 3.1 document generated from the route schemas at /openapi.json, and its rendered reference at /docs
// (swagger-ui assets served from the package, no CDN).
import { readFile } from 'node:fs/promises';
import swagger, { type FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { FerryError, type Logger, type Redactor } from '@ferry/core';
import { Ajv, type Options as AjvOptions } from 'ajv';
import ajvFormats from 'ajv-formats';
import Fastify, {
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyReply,
  type FastifyRequest,
  type FastifySchemaCompiler,
  type FastifyServerOptions,
} from 'fastify';
import { type Access, installAuth, trackRouteAccess } from './auth.js';
import type { ServerConfig } from './config.js';
import { errorResponse, hostErrorStatus, ServerErrorCodes } from './errors.js';
import type { AdminHost } from './host.js';
import { type AdminRoute, adminRoutes } from './routes.js';
import { ref, sharedSchemas } from './schemas.js';

export interface AdminServerOptions {
  host: AdminHost;
  config: ServerConfig;
  logger: Logger;
  /** More routes (from the CLI, say). Each must declare `config.access` like the built-in ones. */
  plugins?: FastifyPluginAsync[];
  /** HTTP statuses of the FerryError codes the plugins' routes throw (`hostErrorStatus` covers the host's). */
  errorStatuses?: Readonly<Record<string, number>>;
  /** Scrubs secrets from error messages before they are answered (the hosted pipelines' redactor). */
  redactor?: Redactor;
}

const TAGS = [
  { name: 'health', description: 'Liveness, readiness and metrics.' },
  { name: 'pipelines', description: 'State of the hosted pipelines; pause, resume, run now.' },
  { name: 'offsets', description: 'The saved source positions.' },
  { name: 'dead-letters', description: 'Rejected records: list, inspect, replay.' },
  { name: 'documents', description: 'Machine-readable descriptions of the API and the events.' },
  { name: 'cluster', description: 'This worker and its cluster (`ferry serve --cluster`).' },
];

/**
 * Build the admin server, ready to `listen({ host: config.listen.host, port: config.listen.port })`.
 * Fails when any route lacks `config.access`.
 */
export async function buildAdminServer(options: AdminServerOptions): Promise<FastifyInstance> {
  const { host, config, logger } = options;
  // With `https` fastify's server type parameter changes; callers only use what http and https share.
  const app = Fastify({
    logger: false,
    exposeHeadRoutes: false,
    // Path parameters are at most 200 characters by the document (a pipeline name, a letter id), which
    // percent-encoding can make up to 12 times longer; fastify's default of 100 would refuse valid names.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Requests the router cannot take (a longer parameter, a malformed URL) get the documented error body.
    frameworkErrors: (error, _request, frameworkReply) => {
      const reply = frameworkReply as FastifyReply;
      const code = (error as { code?: string }).code;
      const tooLong = code === 'FST_ERR_MAX_PARAM_LENGTH';
      reply.code(tooLong ? 414 : 400).send({
        code: tooLong ? ServerErrorCodes.SERVER_URI_TOO_LONG : ServerErrorCodes.SERVER_BAD_REQUEST,
        message: tooLong
          ? `a path parameter is longer than ${MAX_PARAM_LENGTH} characters`
          : 'the URL is not valid (a malformed percent-encoding?)',
        retryable: false,
      });
    },
    ...(config.tls ? { https: await tlsOptions(config.tls) } : {}),
  } as FastifyServerOptions) as unknown as FastifyInstance;

  app.setValidatorCompiler(requestValidators());
  const routesWithoutAccess = trackRouteAccess(app);
  const routeMethods = trackRouteMethods(app);
  // No route for this method and path: 405 with Allow when the path takes other methods, else 404.
  const noRoute = (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0]!;
    const allowed = routeMethods.allowed(path);
    if (allowed.length > 0) {
      return reply
        .code(405)
        .header('allow', allowed.join(', '))
        .send({
          code: ServerErrorCodes.SERVER_METHOD_NOT_ALLOWED,
          message: `${request.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`,
          retryable: false,
        });
    }
    return reply.code(404).send({
      code: ServerErrorCodes.SERVER_ROUTE_NOT_FOUND,
      message: `no route ${request.method} ${path}`,
      retryable: false,
    });
  };
  // Before authentication, like every request that matches no operation of the document: a path that the
  // document resolves to a more specific route of other methods is that route's 405, not this route's call.
  app.addHook('onRequest', async (request, reply) => {
    if (request.is404) return;
    const path = request.url.split('?')[0]!;
    if (routeMethods.shadowed(request.routeOptions.url ?? '', path)) return noRoute(request, reply);
  });
  installAuth(app, config, logger);
  logRequests(app, logger);
  for (const schema of sharedSchemas) app.addSchema(schema);

  const mtls = config.tls?.clientCertificate === 'require';
  const auth = config.auth;
  const bearer = auth.mode === 'oauth2';
  await app.register(swagger, {
    openapi: openapiDocument(config),
    // Name shared schemas by their $id in components.schemas (instead of def-0, def-1…).
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(async (docs) => {
    // swagger-ui's routes cannot take a config; they are the rendered (public) reference page.
    docs.addHook('onRoute', (route) => {
      route.config = { ...route.config, access: 'public' };
    });
    await docs.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  });

  const security = (access: Access): Record<string, string[]>[] => {
    const requirement: Record<string, string[]> = mtls ? { mtls: [] } : {};
    if (access !== 'public' && auth.mode === 'oauth2') requirement.bearer = [auth.scopes[access]];
    return Object.keys(requirement).length === 0 ? [] : [requirement];
  };
  const documented = (route: AdminRoute) => {
    const errors: Record<number, Record<string, unknown>> = {};
    const error = (status: number, description: string) => {
      errors[status] = { description, ...ref('ErrorBody') };
    };
    if (route.params || route.querystring || route.body) error(400, 'The request does not match the schema.');
    if (route.params)
      error(414, `A path parameter is longer than ${MAX_PARAM_LENGTH} characters (SERVER_URI_TOO_LONG).`);
    if (route.method !== 'GET')
      error(415, 'A request body in a media type other than application/json (SERVER_BAD_REQUEST).');
    if (route.access !== 'public' && bearer) {
      error(401, 'No bearer token, or the token is not valid (signature, issuer, audience, expiry).');
      error(403, `The token lacks the ${route.access} scope.`);
      error(503, 'The token issuer keys (JWKS) cannot be fetched; try again later.');
    }
    for (const [status, description] of Object.entries(route.hostErrors ?? {}))
      error(Number(status), description);
    if (route.callsHost !== false)
      error(500, 'An unexpected error; `code` is INTERNAL or the failing FerryError code.');
    return {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [route.tag],
      security: security(route.access),
      ...(route.params ? { params: route.params } : {}),
      ...(route.querystring ? { querystring: route.querystring } : {}),
      ...(route.body ? { body: route.body } : {}),
      response: { ...route.responses, ...errors },
    };
  };

  const routes: AdminRoute[] = [
    ...adminRoutes({ publicMetrics: auth.mode === 'oauth2' && auth.publicMetrics }),
    {
      method: 'GET',
      url: '/openapi.json',
      access: 'public',
      operationId: 'openapi',
      summary: 'This OpenAPI 3.1 document',
      tag: 'documents',
      callsHost: false,
      responses: {
        200: { description: 'The OpenAPI document.', type: 'object', additionalProperties: true },
      },
      handler: async () => app.swagger(),
    },
  ];
  for (const route of routes) {
    app.route({
      method: route.method,
      url: route.url,
      config: { access: route.access },
      schema: documented(route),
      handler: (request, reply) => route.handler({ request, reply, host }),
    });
  }
  // Set before the plugins are registered: fastify gives a plugin's routes the handler in place when it loads.
  const statuses = { ...hostErrorStatus, ...options.errorStatuses };
  app.setErrorHandler((error, request, reply) => {
    // Fastify checks a body method's media type (QUERY without Content-Type) before it finds no route.
    if (request.is404) return noRoute(request, reply);
    const answer = errorResponse(error, statuses);
    const { status } = answer;
    const body = options.redactor
      ? { ...answer.body, message: options.redactor.scrub(answer.body.message) }
      : answer.body;
    const context = { route: `${request.method} ${request.routeOptions.url}`, status, code: body.code };
    if (status >= 500) logger.error({ ...context, err: error }, 'admin API request failed');
    else logger.warn(context, `admin API: ${body.message}`);
    return reply.code(status).send(body);
  });
  for (const plugin of options.plugins ?? []) await app.register(plugin);
  app.setNotFoundHandler(noRoute);

  if (auth.mode === 'none') {
    // Said once listening, with the address actually bound: a configured port 0 means "any free port".
    app.addHook('onListen', async () => {
      const bound = app
        .addresses()
        .map((a) =>
          typeof a === 'string'
            ? a
            : a.family === 'IPv6'
              ? `[${a.address}]:${a.port}`
              : `${a.address}:${a.port}`,
        );
      logger.warn(
        { listen: bound },
        `admin API is UNAUTHENTICATED (auth.mode: none): anyone who can reach ${bound.join(', ')} can pause pipelines, reset offsets and replay dead letters`,
      );
    });
  }
  await app.ready();
  const unguarded = routesWithoutAccess();
  if (unguarded.length > 0) {
    await app.close();
    throw new FerryError(
      'INTERNAL',
      `admin routes without config.access (public, read or operate): ${unguarded.join(', ')}; every route must say who may call it`,
    );
  }
  return app;
}

/**
 * Request validation: path and query values arrive as text and are coerced to their schema's type
 * (`limit=10` is the integer 10), while a JSON body already carries its types and is checked as sent:
 * fastify's default coerces every part, so `{"dryRun": null, "ids": true}` was taken as a real replay of
 * the letter id "true". Unknown properties are refused, never dropped (a typo in `ids` must not replay all).
 */
function requestValidators(): FastifySchemaCompiler<unknown> {
  const options: AjvOptions = {
    useDefaults: true,
    removeAdditional: false,
    // One error is enough to answer 400, and collecting all of them lets a crafted request cost more.
    allErrors: false,
    allowUnionTypes: true,
  };
  const coercing = new Ajv({ ...options, coerceTypes: 'array' });
  const exact = new Ajv({ ...options, coerceTypes: false });
  for (const ajv of [coercing, exact]) {
    ajvFormats.default(ajv);
    for (const schema of sharedSchemas) ajv.addSchema(schema);
  }
  return ({ schema, httpPart }) => (httpPart === 'body' ? exact : coercing).compile(schema as object);
}

/** See `maxParamLength` above. */
const MAX_PARAM_LENGTH = 4096;

/**
 * The methods each path answers, as the OpenAPI document resolves a path: of the registered patterns that
 * match it, only the most specific (fewest parameters: a concrete path before a templated one) count. So
 * `/pipelines/p/dead-letters/replay` is the replay operation (POST) and not a letter id of `GET
 * …/dead-letters/{id}`, although fastify's router would take it as one. Patterns are fastify's: `:param`
 * for one segment, a trailing `*` for the rest.
 */
function trackRouteMethods(app: FastifyInstance): {
  /** The methods the document gives this path; empty when no route matches it. */
  allowed(path: string): string[];
  /** The route fastify matched is hidden, for this path, behind a more specific one of another method. */
  shadowed(routeUrl: string, path: string): boolean;
} {
  const routes: { url: string; pattern: RegExp; params: number; methods: string[] }[] = [];
  app.addHook('onRoute', (route) => {
    const segments = route.url.split('/');
    const source = segments
      .map((segment) =>
        segment === '*'
          ? '.*'
          : segment.startsWith(':')
            ? '[^/]+'
            : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
      )
      .join('/');
    const params = segments.filter((segment) => segment === '*' || segment.startsWith(':')).length;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    routes.push({ url: route.url, pattern: new RegExp(`^${source}$`), params, methods });
  });
  const resolve = (path: string) => {
    const matching = routes.filter((route) => route.pattern.test(path));
    const fewest = Math.min(...matching.map((route) => route.params));
    return matching.filter((route) => route.params === fewest);
  };
  return {
    allowed(path) {
      const allowed = new Set<string>();
      for (const route of resolve(path)) for (const m of route.methods) allowed.add(m);
      return [...allowed].sort();
    },
    shadowed(routeUrl, path) {
      const resolved = resolve(path);
      return (
        resolved.length > 0 &&
        routes.some((route) => route.url === routeUrl) &&
        !resolved.some((route) => route.url === routeUrl)
      );
    },
  };
}

type OpenApiBase = NonNullable<FastifyDynamicSwaggerOptions['openapi']>;

function openapiDocument(config: ServerConfig): OpenApiBase {
  const auth = config.auth;
  const schemes: Record<string, Record<string, string>> = {};
  if (auth.mode === 'oauth2') {
    schemes.bearer = {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description: `OAuth2 access token from ${auth.issuer}; scopes ${auth.scopes.read} (read) and ${auth.scopes.operate} (operate).`,
    };
  }
  if (config.tls?.clientCertificate === 'require') {
    schemes.mtls = { type: 'mutualTLS', description: 'A client certificate signed by the configured CA.' };
  }
  // Cast: openapi-types lacks OpenAPI 3.1's `mutualTLS` scheme type.
  return {
    openapi: '3.1.0',
    info: {
      title: 'Ferry admin API',
      version: '1',
      description:
        'Operate the pipelines that `ferry serve` runs. Read routes need the read scope, routes that change state the operate scope.',
    },
    tags: TAGS,
    components: { securitySchemes: schemes },
  } as OpenApiBase;
}

async function tlsOptions(tls: NonNullable<ServerConfig['tls']>) {
  const require = tls.clientCertificate === 'require';
  return {
    cert: await readFile(tls.cert),
    key: await readFile(tls.key),
    ...(tls.ca ? { ca: await readFile(tls.ca) } : {}),
    requestCert: require,
    rejectUnauthorized: require,
  };
}

/** One line per request (debug; operate routes at info, as an audit trail). Headers are never logged. */
function logRequests(app: FastifyInstance, logger: Logger): void {
  app.addHook('onResponse', async (request, reply) => {
    const line = {
      method: request.method,
      route: request.routeOptions.url,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
      ...(request.principal?.subject ? { subject: request.principal.subject } : {}),
    };
    if (request.routeOptions.config.access === 'operate') logger.info(line, 'admin API operation');
    else logger.debug(line, 'admin API request');
  });
}
