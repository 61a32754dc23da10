// The `ferry` command imports a connector's implementation, and the libraries behind it, only when a pipeline
// builds that connector: every built-in plugin is registered from its light manifest (`@ferry/<pkg>/plugin`),
// and commands import what they alone need when they run. Checked in a fresh process on the built CLI (what
// `ferry` runs): the CommonJS libraries a process has loaded are the keys of its require cache.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const cliDist = join(import.meta.dirname, '..', '..', 'dist');

/** The node_modules packages a fresh process has loaded after running `script` (an ES module body). */
function loadedPackages(script: string): string[] {
  const out = execFileSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `${script}
const { createRequire } = await import('node:module');
const cache = Object.keys(createRequire(import.meta.url).cache);
console.log(JSON.stringify(cache));`,
    ],
    { cwd: cliDist, encoding: 'utf8' },
  );
  const files: string[] = JSON.parse(out.trim().split('\n').at(-1)!);
  const names = files.map((file) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1]).filter(Boolean);
  return [...new Set(names as string[])].sort();
}

// What only some pipelines or commands need: database drivers and typeorm, the Kafka client, SSH, SOAP, the
// admin server, the tracing SDK, TypeScript generation.
const HEAVY = [
  'typeorm',
  'pg',
  'mysql2',
  'better-sqlite3',
  'kafkajs',
  'ssh2',
  'ssh2-sftp-client',
  'soap',
  'fastify',
  '@opentelemetry/sdk-trace-node',
  'json-schema-to-typescript',
  'prettier',
];

describe('the ferry command loads what a pipeline uses', () => {
  it('imports no connector library when the program and the built-in plugins are loaded', () => {
    const loaded = loadedPackages(
      `const { main, defaultRegistry } = await import('./index.js'); defaultRegistry(); void main;`,
    );
    expect(loaded.filter((name) => HEAVY.includes(name))).toEqual([]);
  });

  it('writes a catalogue from pipeline files without building any of their connectors', () => {
    const quickstart = join(cliDist, '..', '..', '..', 'examples', 'quickstart', 'pipeline.yaml');
    const loaded = loadedPackages(`
const { main } = await import('./index.js');
const code = await main(['catalog', ${JSON.stringify(quickstart)}], { out() {}, err: (t) => console.error(t) });
if (code !== 0) throw new Error('ferry catalog exited ' + code);`);
    expect(loaded.filter((name) => HEAVY.includes(name))).toEqual([]);
  });

  it('imports the database source’s libraries once a pipeline builds it, and still no other connector’s', () => {
    const loaded = loadedPackages(`
const { defaultRegistry } = await import('./index.js');
const factory = defaultRegistry().sources.get('database');
const config = factory.configSchema.parse({
  connection: { type: 'better-sqlite3', database: ':memory:' },
  tables: [{ name: 't', key: ['id'], incrementingColumn: 'id' }],
});
await factory.create(config, {});`);
    expect(loaded).toContain('typeorm');
    expect(loaded.filter((name) => ['kafkajs', 'ssh2', 'soap', 'fastify'].includes(name))).toEqual([]);
  });
});
