// Every example's api.yaml loads, names only contracts and filter fields the example model has, and gives the
// collections its comments promise; a mistake in one is reported with the file and the path.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadContractRepository } from '@ferry/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectionsOf, loadApiConfig } from '../../src/index.js';

const examples = resolve(import.meta.dirname, '../../../../examples');
const env = {
  COURT_LISTS_API_ISSUER: 'https://login.example/realms/courts',
  COURT_LISTS_API_JWKS_URI: 'https://login.example/realms/courts/certs',
  PRISON_ROLL_PG_PASSWORD: 'not-a-real-password-0123456789',
  PRISON_ROLL_API_ISSUER: 'https://login.example/realms/prisons',
  PRISON_ROLL_API_JWKS_URI: 'https://login.example/realms/prisons/certs',
};

describe('the examples’ api.yaml', () => {
  beforeAll(() => {
    Object.assign(process.env, env);
  });
  afterAll(() => {
    for (const name of Object.keys(env)) delete process.env[name];
  });

  it.each([
    ['quickstart', ['/v1/offenders'], 'sqlite'],
    ['court-lists-sftp', ['/v1/hearings'], 'sqlite'],
    ['prison-roll-cdc', ['/v1/offenders'], 'postgres'],
  ])('%s', async (example, paths, store) => {
    const { config, file } = await loadApiConfig(join(examples, example, 'api.yaml'));
    expect(config.store.type).toBe(store);
    const collections = collectionsOf(
      config,
      await loadContractRepository(config.contracts.repository),
      file,
    );
    expect(collections.map((c) => `/v${c.major}/${c.path}`)).toEqual(paths);
  });

  it('names the file and the path of a filter the contract does not have', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-api-config-'));
    const file = join(dir, 'api.yaml');
    writeFileSync(
      file,
      [
        'api: broken',
        'store: { type: sqlite, path: a.db }',
        `contracts: { repository: ${join(examples, 'justice-model', 'contracts')} }`,
        'streams: [{ file: events.jsonl }]',
        'entities:',
        '  - { type: justice.offender, filters: [dateOfBirth, dateOfBirh] }',
        'auth: { mode: none, acknowledgeUnauthenticated: true }',
        '',
      ].join('\n'),
    );
    const { config } = await loadApiConfig(file);
    expect(() => collectionsOf(config, { dir: '', types: new Map(), schemas: new Map() }, file)).toThrow(
      /entities\[0\]\.type: no contract justice\.offender/,
    );
    const repo = await loadContractRepository(config.contracts.repository);
    expect(() => collectionsOf(config, repo, file)).toThrow(
      /api\.yaml[\s\S]*entities\[0\]\.filters\[1\]: justice\.offender 1\.\d+\.\d+ has no field dateOfBirh/,
    );
    writeFileSync(file, 'api: Broken Name\n');
    await expect(loadApiConfig(file)).rejects.toThrow(/api\.yaml[\s\S]*api/);
  });
});
