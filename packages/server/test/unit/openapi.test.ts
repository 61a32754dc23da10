// The generated OpenAPI 3.1 document: valid, listing every admin route with its security, and rendered at
// /docs from assets the package serves itself.
import { Validator } from '@seriousme/openapi-schema-validator';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAdminServer } from '../../src/index.js';
import { captureLogger, fakeHost, type Issuer, oauth2Config, startIssuer } from './fixtures.js';

let issuer: Issuer;
let app: FastifyInstance;
let base: string;
let spec: {
  openapi: string;
  paths: Record<
    string,
    Record<string, { operationId: string; security: unknown; responses: Record<string, unknown> }>
  >;
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
};

beforeAll(async () => {
  issuer = await startIssuer();
  app = await buildAdminServer({
    host: fakeHost(),
    config: oauth2Config(issuer),
    logger: captureLogger().logger,
  });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  spec = (await (await fetch(`${base}/openapi.json`)).json()) as typeof spec;
});

afterAll(async () => {
  await app?.close();
  await issuer?.close();
});

const read = [{ bearer: ['ferry:read'] }];
const operate = [{ bearer: ['ferry:operate'] }];

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(spec.openapi).toBe('3.1.0');
    const result = await new Validator().validate(spec);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
  });

  it('lists every admin route with its security', () => {
    const routes = Object.entries(spec.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => [`${method.toUpperCase()} ${path}`, op.security]),
    );
    expect(Object.fromEntries(routes)).toEqual({
      'GET /healthz': [],
      'GET /readyz': [],
      'GET /metrics': read,
      'GET /cluster': read,
      'POST /cluster/workers/{worker}/drain': operate,
      'DELETE /cluster/workers/{worker}/drain': operate,
      'GET /pipelines': read,
      'GET /pipelines/{name}': read,
      'POST /pipelines/{name}/pause': operate,
      'POST /pipelines/{name}/resume': operate,
      'POST /pipelines/{name}/trigger': operate,
      'GET /pipelines/{name}/offsets': read,
      'DELETE /pipelines/{name}/offsets': operate,
      'GET /pipelines/{name}/dead-letters': read,
      'GET /pipelines/{name}/dead-letters/{id}': read,
      'POST /pipelines/{name}/dead-letters/replay': operate,
      'GET /asyncapi.json': read,
      'GET /openapi.json': [],
    });
    expect(spec.components.securitySchemes).toEqual({
      bearer: expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }),
    });
  });

  it('documents the auth failures on secured routes and the host errors where they can happen', () => {
    const statuses = (path: string, method: string) =>
      Object.keys(spec.paths[path]![method]!.responses).sort();
    expect(statuses('/pipelines', 'get')).toEqual(['200', '401', '403', '500', '503']);
    expect(statuses('/healthz', 'get')).toEqual(['200']);
    expect(statuses('/pipelines/{name}/offsets', 'delete')).toEqual([
      '204',
      '400',
      '401',
      '403',
      '404',
      '409',
      '414',
      '415',
      '500',
      '503',
    ]);
    expect(Object.keys(spec.components.schemas).sort()).toEqual([
      'ClusterStatus',
      'DeadLetter',
      'ErrorBody',
      'PipelineStatus',
      'Readiness',
      'ReplayResult',
    ]);
  });
});

describe('GET /docs', () => {
  it('renders the reference from assets served by the package, with no CDN', async () => {
    const page = await fetch(`${base}/docs/static/index.html`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('swagger-ui-bundle.js');
    expect(html).not.toMatch(/(src|href)="https?:/);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    const bundle = await fetch(`${base}/docs/static/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toMatch(/javascript/);
    expect((await bundle.text()).length).toBeGreaterThan(100_000);
    const initializer = await (await fetch(`${base}/docs/static/swagger-initializer.js`)).text();
    expect(initializer).toContain("url: resolveUrl('./json')");
    // The public swagger.io validator would receive the document: it must stay off.
    expect(initializer).toContain('validatorUrl: null');
    const document = await fetch(`${base}/docs/json`);
    expect(await document.json()).toEqual(spec);
  });
});
