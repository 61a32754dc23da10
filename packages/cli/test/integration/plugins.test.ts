// A connector from a plugin package works with every command exactly as a built-in does: the built CLI,
// a pipeline project in a temporary folder whose node_modules holds the plugin (written here), and
// validate, run, discover, offsets, dlq, docs and serve against it.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliBin, repoRoot, runCli } from '../../../../examples/quickstart/test/cli.js';
import { startServe } from './serve-helpers.js';

const plugin = `// A plugin source for tests: counts from 1 to \`to\`; every third number has no label.
import { defineFactory, definePlugin, PLUGIN_API_VERSION, sequenceOf } from '@ferry/core/sdk';
import { z } from 'zod';

export const ferryPlugin = definePlugin({
  apiVersion: PLUGIN_API_VERSION,
  name: '@acme/ferry-source-counter',
  sources: [
    defineFactory({
      type: 'counter',
      description: 'Counts from 1 to \`to\` (a plugin source for tests).',
      configSchema: z.object({ to: z.number().int().min(1).describe('The last number.') }).strict(),
      positionSchema: z.object({ n: z.number().int().min(0) }).strict(),
      notes: (config) => ['counts to ' + config.to],
      create: (config) => ({
        type: 'counter',
        cadence: { kind: 'passes', intervalMs: 60_000 },
        async discover() {
          return [{ name: 'numbers', key: ['n'], fields: [{ name: 'n', type: 'integer' }, { name: 'label', type: 'string', nullable: true }] }];
        },
        async *read(ctx) {
          const records = [];
          for (let n = (ctx.from?.n ?? 0) + 1; n <= config.to; n += 1) {
            const label = n % 3 === 0 ? null : 'number ' + n;
            records.push({ stream: 'numbers', op: 'read', key: { n }, after: { n, label }, origin: { n }, sequence: sequenceOf(n) });
          }
          if (records.length > 0) yield { records, position: { n: config.to } };
        },
        async close() {},
      }),
    }),
  ],
});
`;

let dir: string;
let pipeline: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-plugin-cli-'));
  const modules = join(dir, 'node_modules');
  // What `npm install` would leave in the project: the plugin, and the @ferry/core and zod it imports.
  await mkdir(join(modules, '@acme', 'ferry-source-counter'), { recursive: true });
  await mkdir(join(modules, '@ferry'), { recursive: true });
  await symlink(join(repoRoot, 'packages', 'core'), join(modules, '@ferry', 'core'));
  await symlink(join(repoRoot, 'node_modules', 'zod'), join(modules, 'zod'));
  await writeFile(
    join(modules, '@acme', 'ferry-source-counter', 'package.json'),
    JSON.stringify({
      name: '@acme/ferry-source-counter',
      version: '0.3.0',
      type: 'module',
      exports: { '.': './index.js' },
      peerDependencies: { '@ferry/core': '^0.1.0' },
    }),
  );
  await writeFile(join(modules, '@acme', 'ferry-source-counter', 'index.js'), plugin);
  pipeline = join(dir, 'counter.yaml');
  await writeFile(
    pipeline,
    `pipeline: counter
source:
  type: counter
  plugin: '@acme/ferry-source-counter'
  to: 6
mapping:
  subject: n
  fields:
    n: { from: n, type: string }
    label: { from: label, required: true }
contract:
  type: test.number
  version: 1.0.0
`,
  );
});

describe('a plugin connector through the CLI', () => {
  it('validate names the plugin and checks its options', async () => {
    const ok = await runCli(['validate', pipeline]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("valid pipeline 'counter'");
    expect(ok.stdout).toMatch(
      /note: plugin @acme\/ferry-source-counter 0\.3\.0 \(plugin API 1\) from .*ferry-source-counter\/index\.js: source counter/,
    );
    expect(ok.stdout).toContain('note: source (counter): counts to 6');

    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, (await readFile(pipeline, 'utf8')).replace('to: 6', 'to: six'));
    const refused = await runCli(['validate', bad]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/CONFIG_INVALID: .*bad\.yaml:5:\d+ source\.to: expected number/s);
  });

  it('run, offsets, dlq and discover use it like a built-in', async () => {
    const run = await runCli(['run', pipeline, '--once']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('counter: read 6 records, wrote 4 events, 2 dead letters');
    const events = (await readFile(join(dir, '.ferry', 'events', 'test.number.v1.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { subject: string; source: string; data: unknown });
    expect(events.map((e) => e.subject)).toEqual(['1', '2', '4', '5']);
    expect(events[0]).toMatchObject({
      source: '/ferry/counter/numbers',
      data: { n: '1', label: 'number 1' },
    });

    const shown = await runCli(['offsets', 'show', pipeline]);
    expect(JSON.parse(shown.stdout)).toEqual({ pipeline: 'counter', position: { n: 6 } });
    // The plugin's position schema guards `offsets set` as a built-in's does.
    const wrong = await runCli(['offsets', 'set', pipeline, '--position', '{"n":"two"}']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('CHECKPOINT_INVALID');
    expect((await runCli(['offsets', 'set', pipeline, '--position', '{"n":2}'])).code).toBe(0);

    const letters = await runCli(['dlq', 'list', pipeline, '--json']);
    expect(letters.code).toBe(0);
    expect(
      letters.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { code: string; origin: { n: number } })
        .map((l) => [l.code, l.origin.n]),
    ).toEqual([
      ['MAPPING_REQUIRED_FIELD', 3],
      ['MAPPING_REQUIRED_FIELD', 6],
    ]);

    const discovered = await runCli(['discover', pipeline]);
    expect(discovered.code).toBe(0);
    expect(discovered.stdout).toContain('numbers  key: n\n  n: integer\n  label: string (nullable)');
  });

  it('docs prints the plugin’s option table from its zod schema', async () => {
    const docs = await runCli(['docs', pipeline]);
    expect(docs.code).toBe(0);
    expect(docs.stdout).toContain('## `source.type: counter`');
    expect(docs.stdout).toContain('(plugin `@acme/ferry-source-counter`)');
    expect(docs.stdout).toContain('| `source.to` | integer | required | The last number. |');
    expect(docs.stdout).toContain('## `sink.type: file`');

    // Without a pipeline file, --plugin resolves from the working directory: the project's, not Ferry's.
    const args = [cliBin, 'docs', '--type', 'counter', '--plugin', '@acme/ferry-source-counter'];
    const byType = await promisify(execFile)(process.execPath, args, { cwd: dir });
    expect(byType.stdout).toMatch(/^## `source\.type: counter`/);
    const elsewhere = await runCli(args.slice(1));
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain('PLUGIN_NOT_FOUND: --plugin: cannot find');
    expect(elsewhere.stderr).toContain("cannot find plugin package '@acme/ferry-source-counter'");
  });

  it('serve runs it and reports it like a built-in', async () => {
    const serve = await startServe([
      pipeline,
      '--allow-unauthenticated',
      '--port',
      '0',
      '--log-level',
      'warn',
    ]);
    try {
      const status = (await (await fetch(`${serve.base}/pipelines/counter`)).json()) as {
        source: string;
      };
      expect(status.source).toBe('counter');
    } finally {
      const result = await serve.stop();
      expect(result.stderr).not.toContain('PLUGIN_');
    }
  });
});
