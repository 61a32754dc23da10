// Contract test: every operation in the generated OpenAPI document is called for every status it documents
// (against the in-memory host, over HTTP on 127.0.0.1), and each answer must be documented and match the
// documented schema. A documented status without a scenario, or an answer the document does not describe,
// fails the test, so the document and the code cannot drift apart.

import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AdminHost, buildAdminServer } from '../../src/index.js';
import {
  captureLogger,
  closedPort,
  type FakeHost,
  fakeHost,
  type Issuer,
  oauth2Config,
  startIssuer,
} from './fixtures.js';

// ajv-formats is CommonJS with a default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

interface Operation {
  method: string;
  path: string;
  operationId: string;
  parameters?: { in: string; name: string }[];
  requestBody?: unknown;
  responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>;
}

interface Scenario {
  params?: Record<string, string>;
  query?: string;
  body?: unknown;
  token?: 'full' | 'none' | 'unscoped';
  setup?: (host: FakeHost) => void;
  /** Against the server whose JWKS cannot be fetched. */
  jwksDown?: boolean;
  /** The error code the body must carry. */
  code?: string;
  /** The body's media type, when not application/json. */
  contentType?: string;
}

const DEFAULT_PARAMS = { name: 'ledger', id: 'dl-1', worker: 'worker-2' };

/** Happy path of each operation (the only place that knows the fake host's pipelines). */
const success: Record<string, Scenario> = {
  health: {},
  readiness: {},
  metrics: {},
  cluster: {},
  drainWorker: {},
  undrainWorker: {},
  listPipelines: {},
  getPipeline: {},
  pausePipeline: { params: { name: 'orders' } },
  resumePipeline: {},
  triggerPipeline: {},
  getOffsets: { params: { name: 'orders' } },
  resetOffsets: {},
  listDeadLetters: { query: '?limit=10&offset=0' },
  getDeadLetter: {},
  replayDeadLetters: { body: { ids: ['dl-1'], dryRun: true } },
  asyncapi: {},
  openapi: {},
};

const wrongState: Record<string, Scenario> = {
  pausePipeline: { params: { name: 'ledger' }, code: 'PIPELINE_STATE' },
  resumePipeline: { params: { name: 'orders' }, code: 'PIPELINE_STATE' },
  triggerPipeline: {
    setup: (host) => {
      host.pipelines.get('ledger')!.state = 'starting';
    },
    code: 'PIPELINE_STATE',
  },
  resetOffsets: { params: { name: 'orders' }, code: 'PIPELINE_RUNNING' },
  replayDeadLetters: { params: { name: 'orders' }, body: { dryRun: false }, code: 'PIPELINE_RUNNING' },
  drainWorker: { setup: (host) => (host.single = true), code: 'SERVER_NOT_IN_CLUSTER' },
  undrainWorker: { setup: (host) => (host.single = true), code: 'SERVER_NOT_IN_CLUSTER' },
};

function scenarioFor(operation: Operation, status: number): Scenario | undefined {
  const base = success[operation.operationId];
  if (base === undefined) return undefined;
  const withBody = operation.requestBody ? { body: base.body ?? {} } : {};
  switch (status) {
    case 200:
    case 202:
    case 204:
      return base;
    case 400:
      return {
        ...withBody,
        params: { name: '-not-a-name', worker: 'w'.repeat(300) },
        code: 'SERVER_BAD_REQUEST',
      };
    case 401:
      return { ...base, token: 'none', code: 'SERVER_UNAUTHENTICATED' };
    case 403:
      return { ...base, token: 'unscoped', code: 'SERVER_FORBIDDEN' };
    case 404:
      return operation.path.startsWith('/cluster/')
        ? { ...base, params: { worker: 'nope' }, code: 'SERVER_WORKER_NOT_FOUND' }
        : { ...base, params: { name: 'nope' }, code: 'PIPELINE_NOT_FOUND' };
    case 409:
      return wrongState[operation.operationId];
    case 414:
      return {
        ...base,
        params: { name: 'n'.repeat(5000), worker: 'w'.repeat(5000) },
        code: 'SERVER_URI_TOO_LONG',
      };
    case 415:
      return { ...base, body: '<replay/>', contentType: 'application/xml', code: 'SERVER_BAD_REQUEST' };
    case 500:
      return { ...base, setup: (host) => (host.failing = true), code: 'INTERNAL' };
    case 501:
      return { ...base, params: { name: 'archive' }, code: 'DLQ_LIST_UNSUPPORTED' };
    case 503:
      return operation.operationId === 'readiness'
        ? { setup: (host) => (host.ready = false) }
        : { ...base, jwksDown: true, code: 'SERVER_AUTH_UNAVAILABLE' };
    default:
      return undefined;
  }
}

let issuer: Issuer;
let current: FakeHost = fakeHost();
let app: FastifyInstance;
let down: FastifyInstance;
let tokens: Record<'full' | 'unscoped', string>;
let operations: Operation[];
let ajv: Ajv2020;

/** The servers keep one host object; each scenario swaps in a fresh fake behind it. */
const host = new Proxy({} as AdminHost, {
  get: (_target, property) => {
    const value = (current as unknown as Record<PropertyKey, unknown>)[property];
    return typeof value === 'function' ? value.bind(current) : value;
  },
});

beforeAll(async () => {
  issuer = await startIssuer();
  const { logger } = captureLogger();
  app = await buildAdminServer({ host, config: oauth2Config(issuer), logger });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const deadJwks = oauth2Config(issuer, { jwksUri: `http://127.0.0.1:${await closedPort()}/jwks.json` });
  down = await buildAdminServer({ host, config: deadJwks, logger });
  await down.listen({ host: '127.0.0.1', port: 0 });
  tokens = {
    full: await issuer.sign({ scope: 'ferry:read ferry:operate' }),
    unscoped: await issuer.sign({ scope: 'profile email' }),
  };
  const spec = (await app.inject('/openapi.json')).json();
  operations = Object.entries(spec.paths as Record<string, Record<string, Operation>>).flatMap(
    ([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ ...op, method: method.toUpperCase(), path })),
  );
  // The documented schemas refer to #/components/schemas/…: compile each inside a copy of the document.
  ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
  ajv.addSchema({ $id: 'urn:ferry:admin-openapi', components: spec.components });
});

afterAll(async () => {
  await app?.close();
  await down?.close();
  await issuer?.close();
});

function urlOf(server: FastifyInstance, operation: Operation, scenario: Scenario): string {
  const address = server.server.address() as { port: number };
  const params: Record<string, string> = { ...DEFAULT_PARAMS, ...scenario.params };
  const path = operation.path.replace(/\{(\w+)\}/g, (_m, key: string) => encodeURIComponent(params[key]!));
  return `http://127.0.0.1:${address.port}${path}${scenario.query ?? ''}`;
}

function validatorFor(schema: Record<string, unknown>) {
  const rebased = JSON.parse(
    JSON.stringify(schema).replaceAll('"#/components/', '"urn:ferry:admin-openapi#/components/'),
  );
  return ajv.compile(rebased);
}

describe('every documented route answers as documented', () => {
  it('has a scenario for every documented status of every operation', () => {
    expect(operations.length).toBe(18);
    const missing = operations.flatMap((op) =>
      Object.keys(op.responses)
        .filter((status) => scenarioFor(op, Number(status)) === undefined)
        .map((status) => `${op.operationId} ${status}`),
    );
    expect(missing).toEqual([]);
  });

  // One real HTTP round trip and one schema compilation per documented (operation, status): well under a
  // second idle, 3.5 s measured on two cores under load; 30 s is slack for a busy machine.
  it('answers each scenario with a documented status and a body that matches its schema', {
    timeout: 30_000,
  }, async () => {
    const failures: string[] = [];
    let checked = 0;
    for (const operation of operations) {
      for (const status of Object.keys(operation.responses).map(Number)) {
        const scenario = scenarioFor(operation, status)!;
        current = fakeHost();
        scenario.setup?.(current);
        const token = scenario.token ?? 'full';
        const headers: Record<string, string> =
          token === 'none' ? {} : { authorization: `Bearer ${tokens[token]}` };
        if (scenario.body !== undefined) headers['content-type'] = scenario.contentType ?? 'application/json';
        const sent =
          scenario.body === undefined
            ? undefined
            : typeof scenario.body === 'string'
              ? scenario.body
              : JSON.stringify(scenario.body);
        const response = await fetch(urlOf(scenario.jwksDown ? down : app, operation, scenario), {
          method: operation.method,
          headers,
          ...(sent === undefined ? {} : { body: sent }),
        });
        const label = `${operation.method} ${operation.path} (${operation.operationId}) expecting ${status}`;
        const text = await response.text();
        checked += 1;
        if (response.status !== status) {
          failures.push(`${label}: got ${response.status} ${text.slice(0, 200)}`);
          continue;
        }
        const documented = operation.responses[String(status)]!;
        if (documented.content === undefined) {
          if (text !== '') failures.push(`${label}: documented without a body, got ${text.slice(0, 80)}`);
          continue;
        }
        const [mediaType, { schema }] = Object.entries(documented.content)[0]!;
        if (!response.headers.get('content-type')?.startsWith(mediaType)) {
          failures.push(
            `${label}: content-type ${response.headers.get('content-type')}, documented ${mediaType}`,
          );
          continue;
        }
        const body = mediaType === 'application/json' ? JSON.parse(text) : text;
        const validate = validatorFor(schema);
        if (!validate(body)) failures.push(`${label}: ${ajv.errorsText(validate.errors)}`);
        if (scenario.code !== undefined && body.code !== scenario.code) {
          failures.push(`${label}: code ${body.code}, expected ${scenario.code}`);
        }
        if (status === 500 && /\bat .+:\d+:\d+/.test(text)) failures.push(`${label}: a stack trace leaked`);
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThan(80);
  });

  it('refuses a replay body with an unknown option instead of replaying everything', async () => {
    current = fakeHost();
    const replay = operations.find((op) => op.operationId === 'replayDeadLetters')!;
    const response = await fetch(urlOf(app, replay, {}), {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.full}`, 'content-type': 'application/json' },
      body: JSON.stringify({ idz: ['dl-1'] }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'SERVER_BAD_REQUEST' });
    expect(current.calls.filter((c) => c.startsWith('replay'))).toEqual([]);
  });

  it('checks a JSON body as sent: a value of the wrong type is refused, never coerced', async () => {
    // Fastify's default validator coerces every part of a request, so {"dryRun": null, "ids": true} was a
    // real replay of the letter id "true" (found by Schemathesis). Path and query values are still coerced.
    const replay = operations.find((op) => op.operationId === 'replayDeadLetters')!;
    for (const body of [
      { dryRun: null, ids: true },
      { dryRun: 'true' },
      { dryRun: 0 },
      { ids: 'dl-1' },
      { ids: [1] },
    ]) {
      current = fakeHost();
      const response = await fetch(urlOf(app, replay, {}), {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.full}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(await response.json()).toMatchObject({ code: 'SERVER_BAD_REQUEST' });
      expect(current.calls.filter((c) => c.startsWith('replay'))).toEqual([]);
    }
  });

  it('passes the page and the replay options through to the host', async () => {
    current = fakeHost();
    const list = await fetch(
      urlOf(app, operations.find((op) => op.operationId === 'listDeadLetters')!, {
        query: '?limit=1&offset=1',
      }),
      { headers: { authorization: `Bearer ${tokens.full}` } },
    );
    expect(await list.json()).toEqual({ total: 1, limit: 1, offset: 1, items: [] });
    const replay = operations.find((op) => op.operationId === 'replayDeadLetters')!;
    await fetch(urlOf(app, replay, {}), {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.full}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(current.calls).toContain('replay ledger {"dryRun":false}');
  });

  it('takes every name the document allows through authentication, and refuses a longer one as 400', async () => {
    current = fakeHost();
    const get = operations.find((op) => op.operationId === 'getPipeline')!;
    for (const length of [101, 150, 200]) {
      const url = urlOf(app, get, { params: { name: `p${'x'.repeat(length - 1)}` } });
      expect((await fetch(url)).status, `${length} characters, no token`).toBe(401);
      const found = await fetch(url, { headers: { authorization: `Bearer ${tokens.full}` } });
      expect(found.status, `${length} characters`).toBe(404);
      expect(await found.json()).toMatchObject({ code: 'PIPELINE_NOT_FOUND' });
    }
    const tooLong = await fetch(urlOf(app, get, { params: { name: `p${'x'.repeat(200)}` } }), {
      headers: { authorization: `Bearer ${tokens.full}` },
    });
    expect(tooLong.status).toBe(400);
    expect(await tooLong.json()).toMatchObject({ code: 'SERVER_BAD_REQUEST' });
  });

  it('answers 405 with Allow for a method a known path does not take, and 404 for an unknown path', async () => {
    const address = app.server.address() as { port: number };
    const base = `http://127.0.0.1:${address.port}`;
    for (const [method, path, allow] of [
      ['PUT', '/pipelines/ledger', 'GET'],
      ['DELETE', '/pipelines/ledger/pause', 'POST'],
      ['PATCH', '/pipelines/ledger/offsets', 'DELETE, GET'],
      ['HEAD', '/healthz', 'GET'],
      ['POST', '/openapi.json', 'GET'],
      // A body method without Content-Type: fastify's media-type check comes before its route lookup.
      ['QUERY', '/pipelines', 'GET'],
      // The document resolves a concrete path before a templated one: this is the replay operation's path,
      // not a letter id of GET …/dead-letters/{id}, although fastify's router alone would take it as one.
      ['OPTIONS', '/pipelines/ledger/dead-letters/replay', 'POST'],
      ['GET', '/pipelines/ledger/dead-letters/replay', 'POST'],
    ] as const) {
      const response = await fetch(`${base}${path}`, { method });
      expect(response.status, `${method} ${path}`).toBe(405);
      expect(response.headers.get('allow')).toBe(allow);
      if (method !== 'HEAD') {
        expect(await response.json()).toEqual({
          code: 'SERVER_METHOD_NOT_ALLOWED',
          message: `${method} is not allowed on ${path}; allowed: ${allow}`,
          retryable: false,
        });
      }
    }
    // Answered like every request that matches no operation: before authentication, and the host is not asked.
    current = fakeHost();
    const shadowed = await fetch(`${base}/pipelines/ledger/dead-letters/replay`);
    expect(shadowed.status).toBe(405);
    expect(current.calls).toEqual([]);
    const letter = await fetch(`${base}/pipelines/ledger/dead-letters/dl-1`, {
      headers: { authorization: `Bearer ${tokens.full}` },
    });
    expect(letter.status).toBe(200);
    const unknown = await fetch(`${base}/pipelines/ledger/nothing-here`, { method: 'PUT' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: 'SERVER_ROUTE_NOT_FOUND' });
  });
});
