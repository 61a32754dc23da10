// Bearer auth over real HTTP on 127.0.0.1 with real signed tokens: a local issuer serves its JWKS, and every
// way a token can be wrong (alg none, HS256 keyed with the public key, audience, issuer, expiry, nbf, kid,
// signature, scope) must be refused, while good tokens within the clock tolerance pass.
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { exportSPKI, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildAdminServer,
  createTokenVerifier,
  type ServerConfig,
  serverConfigSchema,
} from '../../src/index.js';
import { captureLogger, closedPort, type FakeHost, fakeHost, type Issuer, startIssuer } from './fixtures.js';

const READ = 'ferry:read';
const OPERATE = 'ferry:operate';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

let issuer: Issuer;
let host: FakeHost;
let app: FastifyInstance;
let base: string;
const log = captureLogger();
const tokensSent: string[] = [];

function oauth2(overrides: Record<string, unknown> = {}): ServerConfig {
  return serverConfigSchema.parse({
    listen: { port: 0 },
    auth: {
      mode: 'oauth2',
      issuer: issuer.issuer,
      jwksUri: issuer.jwksUri,
      audience: issuer.audience,
      ...overrides,
    },
  });
}

async function call(method: string, path: string, token?: string): Promise<Response> {
  if (token !== undefined) tokensSent.push(token);
  return fetch(`${base}${path}`, {
    method,
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
}

/** Refused with the status, challenge and (from jose's message) the reason the case is about. */
async function expectRefused(
  response: Response,
  status: 401 | 403,
  challenge: RegExp,
  reason: RegExp,
): Promise<void> {
  expect(response.status).toBe(status);
  expect(response.headers.get('www-authenticate')).toMatch(challenge);
  expect(await response.json()).toEqual({
    code: status === 401 ? 'SERVER_UNAUTHENTICATED' : 'SERVER_FORBIDDEN',
    message: expect.stringMatching(reason),
    retryable: false,
  });
}

const INVALID = /^Bearer realm="ferry", error="invalid_token"$/;
const BAD_ALG = /"alg" \(Algorithm\) Header Parameter value not allowed/;

beforeAll(async () => {
  issuer = await startIssuer();
  host = fakeHost();
  app = await buildAdminServer({ host, config: oauth2(), logger: log.logger });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app?.close();
  await issuer?.close();
});

describe('bearer tokens', () => {
  it('lets a token with the read scope read, RS256 and ES256 alike', async () => {
    const response = await call('GET', '/pipelines', await issuer.sign({ scope: READ }));
    expect(response.status).toBe(200);
    const { pipelines } = (await response.json()) as { pipelines: { name: string }[] };
    expect(pipelines.map((p) => p.name)).toEqual(['orders', 'ledger', 'archive']);
    const ec = await issuer.sign({ scp: [READ] }, { key: 'ec' });
    expect((await call('GET', '/pipelines/orders', ec)).status).toBe(200);
  });

  it('refuses to let the read scope operate, and lets the operate scope', async () => {
    const reader = await issuer.sign({ scope: READ });
    await expectRefused(
      await call('POST', '/pipelines/orders/pause', reader),
      403,
      /^Bearer realm="ferry", error="insufficient_scope", scope="ferry:operate"$/,
      /needs the scope ferry:operate/,
    );
    expect(host.calls).not.toContain('pause orders');
    const operator = await issuer.sign({ scope: `${READ} ${OPERATE}` });
    const response = await call('POST', '/pipelines/orders/pause', operator);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ name: 'orders', state: 'paused' });
    expect(host.calls).toContain('pause orders');
  });

  it('keeps scopes apart: operate alone does not read', async () => {
    const operator = await issuer.sign({ scope: OPERATE });
    await expectRefused(
      await call('GET', '/pipelines', operator),
      403,
      /insufficient_scope", scope="ferry:read"/,
      /needs the scope ferry:read/,
    );
  });

  it('asks for a token when there is none (RFC 6750: no error code)', async () => {
    await expectRefused(await call('GET', '/pipelines'), 401, /^Bearer realm="ferry"$/, /token is required/);
    const basic = await fetch(`${base}/pipelines`, { headers: { authorization: 'Basic b3BzOnNlY3JldA==' } });
    await expectRefused(basic, 401, INVALID, /not a bearer token/);
  });

  it('refuses an unsecured token (alg none)', async () => {
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({
      iss: issuer.issuer,
      aud: issuer.audience,
      exp: now() + 600,
      scope: READ,
    })}.`;
    await expectRefused(await call('GET', '/pipelines', unsigned), 401, INVALID, BAD_ALG);
  });

  it('refuses HS256 tokens keyed with the public key (PEM or JWK bytes)', async () => {
    const pem = await exportSPKI(issuer.rsa.publicKey);
    for (const secret of [pem, JSON.stringify(issuer.rsa.jwk)]) {
      const forged = await new SignJWT({ scope: `${READ} ${OPERATE}` })
        .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
        .setIssuer(issuer.issuer)
        .setAudience(issuer.audience)
        .setExpirationTime('10m')
        .sign(new TextEncoder().encode(secret));
      await expectRefused(await call('POST', '/pipelines/ledger/resume', forged), 401, INVALID, BAD_ALG);
    }
    expect(host.calls).not.toContain('resume ledger');
  });

  it.each([
    ['a wrong audience', { aud: 'some-other-api' }, /unexpected "aud"/],
    ['a wrong issuer', { iss: 'https://evil.example.test/' }, /unexpected "iss"/],
    ['an expiry beyond the tolerance', { exp: now() - 120 }, /"exp" claim timestamp check failed/],
    ['a not-before in the future', { nbf: now() + 120 }, /"nbf" claim timestamp check failed/],
    ['no expiry at all', { exp: undefined }, /missing required "exp"/],
  ])('refuses a token with %s', async (_case, claims, reason) => {
    const token = await issuer.sign({ scope: READ, ...claims });
    await expectRefused(await call('GET', '/pipelines', token), 401, INVALID, reason);
  });

  it('accepts a token expired less than the clock tolerance ago (30 s)', async () => {
    const token = await issuer.sign({ scope: READ, iat: now() - 600, exp: now() - 10 });
    expect((await call('GET', '/pipelines', token)).status).toBe(200);
  });

  it('refuses a token from a key the JWKS does not publish (unknown kid)', async () => {
    const token = await issuer.sign({ scope: READ }, { key: 'stranger' });
    await expectRefused(await call('GET', '/pipelines', token), 401, INVALID, /no applicable key/);
  });

  it('refuses a tampered token (scope raised after signing)', async () => {
    const [header, , signature] = (await issuer.sign({ scope: READ })).split('.');
    const raised = b64({
      iss: issuer.issuer,
      aud: issuer.audience,
      exp: now() + 600,
      scope: `${READ} ${OPERATE}`,
    });
    await expectRefused(
      await call('DELETE', '/pipelines/ledger/offsets', `${header}.${raised}.${signature}`),
      401,
      INVALID,
      /signature verification failed/,
    );
    expect(host.calls).not.toContain('reset ledger');
  });

  it('serves the public routes without a token', async () => {
    expect(await (await call('GET', '/healthz')).json()).toEqual({ status: 'ok' });
    expect((await call('GET', '/readyz')).status).toBe(200);
    expect((await call('GET', '/openapi.json')).status).toBe(200);
    expect((await call('GET', '/docs')).status).toBe(200);
    expect((await call('GET', '/metrics')).status).toBe(401);
  });

  it('never writes a token to the log', () => {
    expect(tokensSent.length).toBeGreaterThan(10);
    const text = log.lines.join('');
    expect(text).toContain('bearer token refused');
    // The signature part is what would let someone replay a token (the alg-none token has none).
    for (const token of tokensSent) expect(text).not.toContain(token.split('.')[2] || token);
  });
});

describe('auth configuration', () => {
  it('serves /metrics without a token when publicMetrics is set', async () => {
    const open = await buildAdminServer({
      host,
      config: oauth2({ publicMetrics: true }),
      logger: log.logger,
    });
    const response = await open.inject('/metrics');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    expect(response.body).toContain('ferry_records_read_total');
    await open.close();
  });

  it('answers 503 (retryable) when the JWKS cannot be fetched', async () => {
    const config = oauth2({ jwksUri: `http://127.0.0.1:${await closedPort()}/jwks.json` });
    const down = await buildAdminServer({ host, config, logger: log.logger });
    const response = await down.inject({
      url: '/pipelines',
      headers: { authorization: `Bearer ${await issuer.sign({ scope: READ })}` },
    });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ code: 'SERVER_AUTH_UNAVAILABLE', retryable: true });
    await down.close();
  });

  it('with auth.mode none, lets anyone operate and says so loudly at start', async () => {
    const { logger, lines } = captureLogger();
    const config = serverConfigSchema.parse({ auth: { mode: 'none', acknowledgeUnauthenticated: true } });
    const open = await buildAdminServer({ host: fakeHost(), config, logger });
    const warnings = () =>
      lines.map((line) => JSON.parse(line)).filter((line) => /UNAUTHENTICATED/.test(line.msg));
    // Port 0 is "any free port": the warning names the port actually bound, so it waits for the listen.
    await open.listen({ host: '127.0.0.1', port: 0 });
    const { port } = open.server.address() as AddressInfo;
    expect(port).toBeGreaterThan(0);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ level: 'warn' });
    expect(warnings()[0].msg).toContain(
      `admin API is UNAUTHENTICATED (auth.mode: none): anyone who can reach 127.0.0.1:${port} can`,
    );
    expect((await open.inject({ method: 'POST', url: '/pipelines/orders/pause' })).statusCode).toBe(200);
    const spec = (await open.inject('/openapi.json')).json();
    expect(spec.components.securitySchemes).toEqual({});
    expect(spec.paths['/pipelines/{name}/pause'].post.security).toEqual([]);
    await open.close();
  });

  it('refuses to build a server with a route that does not say who may call it', async () => {
    const build = buildAdminServer({
      host,
      config: oauth2(),
      logger: log.logger,
      plugins: [
        async (extra) => {
          extra.get('/guarded', { config: { access: 'read' } }, async () => 'fine');
          extra.get('/forgotten', async () => 'oops');
        },
      ],
    });
    await expect(build).rejects.toThrow(/without config\.access.*GET \/forgotten/);
    await expect(build).rejects.not.toThrow(/guarded/);
  });

  it('lets extra routes that declare access through the same checks', async () => {
    const extended = await buildAdminServer({
      host,
      config: oauth2(),
      logger: log.logger,
      plugins: [
        async (extra) => {
          extra.get('/extra', { config: { access: 'operate' } }, async () => ({ ok: true }));
        },
      ],
    });
    const reader = await issuer.sign({ scope: READ });
    expect(
      (await extended.inject({ url: '/extra', headers: { authorization: `Bearer ${reader}` } })).statusCode,
    ).toBe(403);
    expect((await extended.inject('/extra')).statusCode).toBe(401);
    await extended.close();
  });
});

describe('remembering verified tokens (createTokenVerifier with a cache)', () => {
  const settings = () => ({
    issuer: issuer.issuer,
    jwksUri: issuer.jwksUri,
    audience: issuer.audience,
    algorithms: ['RS256' as const, 'ES256' as const],
    clockToleranceSeconds: 0,
  });

  it('answers a token seen lately without verifying it again; without a cache every call verifies', async () => {
    const token = await issuer.sign({ scope: READ });
    const cached = createTokenVerifier(settings(), { entries: 10, seconds: 60 });
    const first = await cached(token);
    expect(first.scopes.has(READ)).toBe(true);
    expect(await cached(token)).toBe(first);
    const uncached = createTokenVerifier(settings());
    expect(await uncached(token)).not.toBe(await uncached(token));
  });

  it('keeps a token no longer than its exp, nor than the seconds given, nor beyond the entries given', async () => {
    const cached = createTokenVerifier(settings(), { entries: 1, seconds: 60 });
    const short = await issuer.sign({ scope: READ, exp: now() + 2 });
    const principal = await cached(short);
    expect(await cached(short)).toBe(principal);
    await new Promise((done) => setTimeout(done, (now() + 3 - Date.now() / 1000) * 1000));
    await expect(cached(short)).rejects.toThrow(/exp/);
    // One entry: a second token pushes the first out.
    const [a, b] = [await issuer.sign({ sub: 'a' }), await issuer.sign({ sub: 'b' })];
    const principalA = await cached(a);
    await cached(b);
    expect(await cached(a)).not.toBe(principalA);
    // A second at most: verified again after it.
    const brief = createTokenVerifier(settings(), { entries: 10, seconds: 1 });
    const kept = await brief(a);
    expect(await brief(a)).toBe(kept);
    await new Promise((done) => setTimeout(done, 1100));
    expect(await brief(a)).not.toBe(kept);
  });

  it('never remembers a refused token', async () => {
    const cached = createTokenVerifier(settings(), { entries: 10, seconds: 60 });
    const stranger = await issuer.sign({ scope: READ }, { key: 'stranger' });
    await expect(cached(stranger)).rejects.toThrow();
    await expect(cached(stranger)).rejects.toThrow();
  });
});
