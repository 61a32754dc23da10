// The served OpenAPI document, checked by tools that are not Ferry's: it lints clean with Redocly's
// recommended rules (@redocly/openapi-core), and a client generated from it by openapi-typescript (types) and
// openapi-fetch (calls) type-checks with tsc and calls every endpoint, getting what the document says.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadContractRepository } from '@ferry/contracts';
import { silentLogger } from '@ferry/core';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import type { FastifyInstance } from 'fastify';
import createClient from 'openapi-fetch';
import openapiTS, { astToString } from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiConfigSchema,
  buildApiServer,
  collectionsOf,
  EntityStore,
  openApiDocument,
} from '../../src/index.js';
import { event } from '../store-suite.js';

const CONTRACTS = resolve(import.meta.dirname, '../../../../examples/justice-model/contracts');
const GENERATED = resolve(import.meta.dirname, '../generated');

describe('the read API’s OpenAPI document', () => {
  let store: EntityStore;
  let app: FastifyInstance;
  let base: string;
  let document: Record<string, unknown>;

  beforeAll(async () => {
    store = await EntityStore.open({
      type: 'sqlite',
      path: join(mkdtempSync(join(tmpdir(), 'ferry-api-')), 'a.db'),
    });
    const offender = (id: string) => ({
      offenderId: id,
      name: { family: 'SMITH', given: 'JOHN' },
      dateOfBirth: '1975-06-01',
      location: { prisonId: 'LEI' },
      active: true,
    });
    await store.apply(
      'test',
      ['A1234BC', 'B2345CD'].map((id) => ({
        ...event(id, 'created', offender(id), '1'),
        dataschema: 'urn:ferry:contract:justice.offender:1.0.0',
      })),
    );
    const config = apiConfigSchema.parse({
      api: 'justice',
      store: { type: 'sqlite', path: 'unused.db' },
      contracts: { repository: CONTRACTS },
      streams: [{ file: 'unused.jsonl' }],
      entities: [
        { type: 'justice.offender', filters: ['dateOfBirth', 'location.prisonId', 'active'] },
        { type: 'justice.hearing' },
      ],
      auth: { mode: 'none', acknowledgeUnauthenticated: true },
    });
    app = await buildApiServer({
      config,
      collections: collectionsOf(config, await loadContractRepository(CONTRACTS), 'api.yaml'),
      store,
      logger: silentLogger(),
      freshness: () => ({ appliedAt: undefined, positions: {} }),
    });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    document = (await (await fetch(`${base}/openapi.json`)).json()) as Record<string, unknown>;
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await store?.close();
  });

  it('lints clean with Redocly’s recommended rules, with and without bearer authentication', async () => {
    const config = await createConfig({ extends: ['recommended'] });
    const collections = collectionsOf(
      apiConfigSchema.parse({
        api: 'justice',
        store: { type: 'sqlite', path: 'unused.db' },
        contracts: { repository: CONTRACTS },
        streams: [{ file: 'unused.jsonl' }],
        entities: [{ type: 'justice.offender', filters: ['dateOfBirth'] }],
        auth: { mode: 'none', acknowledgeUnauthenticated: true },
      }),
      await loadContractRepository(CONTRACTS),
      'api.yaml',
    );
    const secured = openApiDocument(collections, { title: 'justice', version: '1.0.0', bearer: true });
    for (const served of [document, secured]) {
      const problems = await lintFromString({
        source: JSON.stringify(served),
        absoluteRef: `${base}/openapi.json`,
        config,
      });
      const errors = problems.filter((p) => p.severity === 'error');
      expect(errors.map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`)).toEqual([]);
    }
  });

  it('yields a client (openapi-typescript + openapi-fetch) that type-checks and calls every endpoint', async () => {
    mkdirSync(GENERATED, { recursive: true });
    writeFileSync(join(GENERATED, 'read-api.d.ts'), astToString(await openapiTS(document as never)));
    // The calls below, written against the generated types: tsc proves they fit the served document.
    writeFileSync(
      join(GENERATED, 'client.ts'),
      [
        "import createClient from 'openapi-fetch';",
        "import type { paths } from './read-api.js';",
        'export async function callAll(baseUrl: string) {',
        '  const client = createClient<paths>({ baseUrl });',
        "  const one = await client.GET('/v1/offenders/{id}', { params: { path: { id: 'A1234BC' } } });",
        '  const family: string | undefined = one.data?.name.family;',
        "  const page = await client.GET('/v1/offenders', { params: { query: { limit: 1, 'location.prisonId': 'LEI', 'dateOfBirth[gte]': '1970-01-01' } } });",
        '  const next: string | null | undefined = page.data?.next;',
        "  const hearings = await client.GET('/v1/hearings', {});",
        "  const missing = await client.GET('/v1/hearings/{id}', { params: { path: { id: 'none' } } });",
        '  return { family, next, first: page.data?.items[0]?.offenderId, hearings: hearings.data?.items.length, missing: missing.error };',
        '}',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(GENERATED, 'tsconfig.json'),
      JSON.stringify({
        extends: '../../../../tsconfig.base.json',
        compilerOptions: { noEmit: true, rootDir: '.', types: [] },
        include: ['*.ts'],
      }),
    );
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    execFileSync(process.execPath, [tsc, '-p', join(GENERATED, 'tsconfig.json')], { stdio: 'pipe' });

    // The same calls at run time (openapi-fetch is a plain fetch wrapper; the types were the check above).
    const client = createClient<Record<string, never>>({ baseUrl: base }) as unknown as {
      // biome-ignore lint/suspicious/noExplicitAny: the run-time calls are untyped; tsc checked their typed twins above.
      GET(path: string, init: unknown): Promise<{ data?: any; error?: any; response: Response }>;
    };
    const one = await client.GET('/v1/offenders/{id}', { params: { path: { id: 'A1234BC' } } });
    expect(one.data?.name.family).toBe('SMITH');
    const page = await client.GET('/v1/offenders', {
      params: { query: { limit: 1, 'location.prisonId': 'LEI', 'dateOfBirth[gte]': '1970-01-01' } },
    });
    expect(page.data?.items.map((o: { offenderId: string }) => o.offenderId)).toEqual(['A1234BC']);
    expect(typeof page.data?.next).toBe('string');
    const hearings = await client.GET('/v1/hearings', {});
    expect(hearings.data).toEqual({ items: [], next: null });
    const missing = await client.GET('/v1/hearings/{id}', { params: { path: { id: 'none' } } });
    expect(missing.response.status).toBe(404);
    expect(missing.error).toMatchObject({ code: 'API_NOT_FOUND', status: 404 });
  }, 120_000);
});
