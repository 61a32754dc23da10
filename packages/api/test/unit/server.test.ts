// The read API over a real SQLite store and the example justice contracts, called over loopback HTTP:
// reads, pages, filters, sparse fieldsets, ETag/304, 410 after a delete, problems with stable codes, and the
// security of the admin API (RFC 6750 challenges; missing, expired, wrong-audience, alg none and HS-confusion
// tokens refused; a scope per collection; deny by default) and a per-client rate limit.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadContractRepository } from '@ferry/contracts';
import { silentLogger } from '@ferry/core';
import type { FastifyInstance } from 'fastify';
import { exportSPKI, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, type Issuer, startIssuer } from '../../../server/test/unit/fixtures.js';
import { apiConfigSchema, buildApiServer, collectionsOf, EntityStore } from '../../src/index.js';
import { event } from '../store-suite.js';

const CONTRACTS = resolve(import.meta.dirname, '../../../../examples/justice-model/contracts');
const READ = 'offenders:v1:read';

function offender(id: string, family: string, born: string, prison: string, active = true) {
  return {
    offenderId: id,
    name: { family, given: 'A' },
    dateOfBirth: born,
    location: { prisonId: prison },
    active,
  };
}

describe('read API', () => {
  let issuer: Issuer;
  let store: EntityStore;
  let app: FastifyInstance;
  let limited: FastifyInstance;
  let base: string;
  let limitedBase: string;

  const call = (path: string, token?: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    });

  beforeAll(async () => {
    issuer = await startIssuer();
    store = await EntityStore.open({
      type: 'sqlite',
      path: join(mkdtempSync(join(tmpdir(), 'ferry-api-')), 'a.db'),
    });
    const ids = ['A1000AA', 'A1001AA', 'A1002AA', 'A1003AA', 'A1004AA'];
    await store.apply(
      'test',
      [
        ...ids.map((id, i) =>
          event(
            id,
            'created',
            offender(id, `FAMILY${i}`, `19${70 + i * 5}-01-01`, i % 2 ? 'MDI' : 'LEI', i !== 3),
            '1',
          ),
        ),
        event('A1004AA', 'deleted', offender('A1004AA', 'FAMILY4', '1990-01-01', 'LEI'), '2'),
      ].map((e) => ({ ...e, dataschema: 'urn:ferry:contract:justice.offender:1.0.0' })),
      { 'justice.offender.v1/0': '6' },
    );
    const repo = await loadContractRepository(CONTRACTS);
    const config = (extra: Record<string, unknown> = {}) =>
      apiConfigSchema.parse({
        api: 'justice',
        store: { type: 'sqlite', path: 'unused.db' },
        contracts: { repository: CONTRACTS },
        streams: [{ file: 'unused.jsonl' }],
        entities: [{ type: 'justice.offender', filters: ['dateOfBirth', 'location.prisonId', 'active'] }],
        auth: { mode: 'oauth2', issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience },
        pageSize: { default: 2, max: 3 },
        ...extra,
      });
    const build = async (c: ReturnType<typeof config>) => {
      const server = await buildApiServer({
        config: c,
        collections: collectionsOf(c, repo, 'api.yaml'),
        store,
        logger: silentLogger(),
        freshness: () => ({
          appliedAt: '2026-01-01T00:00:00.000Z',
          positions: { 'justice.offender.v1/0': '6' },
        }),
      });
      const address = await server.listen({ host: '127.0.0.1', port: 0 });
      return { server, address };
    };
    ({ server: app, address: base } = await build(config()));
    ({ server: limited, address: limitedBase } = await build(
      config({ rateLimit: { requests: 3, windowSeconds: 60 } }),
    ));
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await limited?.close();
    await store?.close();
    await issuer?.close();
  });

  it('serves an entity with ETag, Last-Modified and freshness, and 304 when unchanged', async () => {
    const token = await issuer.sign({ scope: READ });
    const response = await call('/v1/offenders/A1001AA', token);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ offenderId: 'A1001AA', name: { family: 'FAMILY1' } });
    const etag = response.headers.get('etag');
    expect(etag).toMatch(/^".+"$/);
    expect(response.headers.get('last-modified')).toMatch(/GMT$/);
    expect(response.headers.get('ferry-applied-at')).toBe('2026-01-01T00:00:00.000Z');
    expect(response.headers.get('ferry-position')).toBe('justice.offender.v1%2F0=6');
    const again = await call('/v1/offenders/A1001AA', token, { 'if-none-match': etag as string });
    expect(again.status).toBe(304);
    const sparse = await call('/v1/offenders/A1001AA?fields=offenderId,active', token);
    expect(await sparse.json()).toEqual({ offenderId: 'A1001AA', active: true });
  });

  it('serves an event of a new minor version of the contract in the same collection, new fields and all', async () => {
    const token = await issuer.sign({ scope: READ });
    const newer = {
      ...event(
        'A1002AA',
        'updated',
        { ...offender('A1002AA', 'FAMILY2', '1980-01-01', 'LEI'), alias: 'NEW' },
        '5',
      ),
      dataschema: 'urn:ferry:contract:justice.offender:1.1.0',
    };
    await store.apply('test', [newer]);
    const response = await call('/v1/offenders/A1002AA', token);
    expect(await response.json()).toMatchObject({ offenderId: 'A1002AA', alias: 'NEW' });
  });

  it('answers 410 for a recently deleted id and 404 for an unknown one, as problems', async () => {
    const token = await issuer.sign({ scope: READ });
    const gone = await call('/v1/offenders/A1004AA', token);
    expect(gone.status).toBe(410);
    expect(gone.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await gone.json()).toMatchObject({ status: 410, code: 'API_GONE' });
    const missing = await call('/v1/offenders/Z9999ZZ', token);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ status: 404, code: 'API_NOT_FOUND' });
  });

  it('pages with a cursor, filters on declared fields, and names a bad parameter', async () => {
    const token = await issuer.sign({ scope: READ });
    const first = (await (await call('/v1/offenders', token)).json()) as {
      items: { offenderId: string }[];
      next: string;
    };
    expect(first.items.map((o) => o.offenderId)).toEqual(['A1000AA', 'A1001AA']);
    const second = (await (await call(`/v1/offenders?cursor=${first.next}`, token)).json()) as {
      items: { offenderId: string }[];
      next: string | null;
    };
    expect(second.items.map((o) => o.offenderId)).toEqual(['A1002AA', 'A1003AA']);
    expect(second.next).toBeNull();
    const filtered = (await (
      await call('/v1/offenders?location.prisonId=LEI&dateOfBirth[gte]=1975-01-01&limit=3', token)
    ).json()) as { items: { offenderId: string }[] };
    expect(filtered.items.map((o) => o.offenderId)).toEqual(['A1002AA']);
    const inactive = (await (await call('/v1/offenders?active=false', token)).json()) as {
      items: { offenderId: string }[];
    };
    expect(inactive.items.map((o) => o.offenderId)).toEqual(['A1003AA']);
    for (const [query, parameter] of [
      ['gender=male', 'gender'],
      ['location.prisonId[gt]=A', 'location.prisonId[gt]'],
      ['active=yes', 'active'],
      ['limit=4', 'limit'],
      ['cursor=%%%', 'cursor'],
    ] as const) {
      const bad = await call(`/v1/offenders?${query}`, token);
      expect(bad.status, query).toBe(400);
      expect(await bad.json(), query).toMatchObject({ code: 'API_BAD_PARAMETER', parameter });
    }
  });

  it('refuses what the admin API refuses: no token, expired, wrong audience, alg none, HS-confusion', async () => {
    const none = await call('/v1/offenders/A1001AA');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="justice"');
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const pem = await exportSPKI(issuer.rsa.publicKey);
    const forged = await new SignJWT({ scope: READ })
      .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
      .setIssuer(issuer.issuer)
      .setAudience(issuer.audience)
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(pem));
    const tokens = [
      await issuer.sign({ scope: READ, exp: now - 120 }),
      await issuer.sign({ scope: READ, aud: 'someone-else' }),
      await issuer.sign({ scope: READ }, { key: 'stranger' }),
      `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: issuer.issuer, aud: issuer.audience, exp: now + 600, scope: READ })}.`,
      forged,
    ];
    for (const token of tokens) {
      const refused = await call('/v1/offenders/A1001AA', token);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
      expect(await refused.json()).toMatchObject({ code: 'API_UNAUTHENTICATED' });
    }
    // A valid token without the collection's scope (deny by default).
    const other = await call('/v1/offenders/A1001AA', await issuer.sign({ scope: 'hearings:v1:read' }));
    expect(other.status).toBe(403);
    expect(other.headers.get('www-authenticate')).toMatch(/insufficient_scope", scope="offenders:v1:read"/);
    expect(await other.json()).toMatchObject({ code: 'API_FORBIDDEN' });
  });

  it('answers 503 API_AUTH_UNAVAILABLE when the issuer’s key set cannot be fetched, not 401', async () => {
    const repo = await loadContractRepository(CONTRACTS);
    const c = apiConfigSchema.parse({
      api: 'justice',
      store: { type: 'sqlite', path: 'unused.db' },
      contracts: { repository: CONTRACTS },
      streams: [{ file: 'unused.jsonl' }],
      entities: [{ type: 'justice.offender' }],
      auth: {
        mode: 'oauth2',
        issuer: issuer.issuer,
        jwksUri: `http://127.0.0.1:${await closedPort()}/jwks.json`,
        audience: issuer.audience,
      },
    });
    const server = await buildApiServer({
      config: c,
      collections: collectionsOf(c, repo, 'api.yaml'),
      store,
      logger: silentLogger(),
      freshness: () => ({ appliedAt: undefined, positions: {} }),
    });
    try {
      const address = await server.listen({ host: '127.0.0.1', port: 0 });
      const response = await fetch(`${address}/v1/offenders/A1001AA`, {
        headers: { authorization: `Bearer ${await issuer.sign({ scope: READ })}` },
      });
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ code: 'API_AUTH_UNAVAILABLE' });
    } finally {
      await server.close();
    }
  });

  it('limits each client, answering 429 with Retry-After', async () => {
    const token = await issuer.sign({ scope: READ, sub: 'busy-client' });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 5; i += 1) {
      const response = await fetch(`${limitedBase}/v1/offenders/A1001AA`, {
        headers: { authorization: `Bearer ${token}` },
      });
      statuses.push(response.status);
      if (response.status === 429) {
        retryAfter = response.headers.get('retry-after');
        expect(await response.json()).toMatchObject({ code: 'API_RATE_LIMITED', status: 429 });
      }
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    // Another client has its own allowance.
    const other = await issuer.sign({ scope: READ, sub: 'quiet-client' });
    const fresh = await fetch(`${limitedBase}/v1/offenders/A1001AA`, {
      headers: { authorization: `Bearer ${other}` },
    });
    expect(fresh.status).toBe(200);
  });

  it('serves its OpenAPI document and reference page without a token', async () => {
    const response = await call('/openapi.json');
    expect(response.status).toBe(200);
    const document = (await response.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toEqual(['/v1/offenders', '/v1/offenders/{id}']);
    expect((await call('/docs')).status).toBeLessThan(400);
  });
});
