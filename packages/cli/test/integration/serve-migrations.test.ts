// `ferry serve --migration`: the built CLI runs a migration's shadow runs next to a pipeline, with the real
// clock (a legacy job every minute, no grace, so a slot is due at once), and the admin API shows its gate
// and runs; /metrics, /openapi.json and `ferry status --url` show them too.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { sftpListPipeline, startServe } from './serve-helpers.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** The value of one sample in a Prometheus text exposition (undefined when absent). */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length, line.lastIndexOf(' '));
    if (wanted.every((w) => labelText.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

const event = (id: string, subject: string, data: Record<string, unknown>) =>
  JSON.stringify({
    specversion: '1.0',
    id,
    source: '/ferry/serve-migrations',
    type: 'test.thing.updated',
    subject,
    time: '2026-01-01T02:00:00Z',
    data,
  });

/**
 * A migration in a fresh folder: a legacy job every minute (no grace: each slot is due as it begins), its
 * output a CSV of 4 rows, the stream a file event log where key 3's name differs (parity 75%, so no run is
 * clean). Shadowing starts two slots before the current one: those two are missed (their next slot has
 * begun), the current one is compared.
 */
async function migrationFolder(name: string): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-serve-migrations-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'ref.csv'), 'ID,NAME,AMT\n1,alice,10\n2,bob,20\n3,carol,30\n4,dan,40\n');
  await writeFile(
    join(dir, 'events.jsonl'),
    `${[
      event('a', '1', { name: 'alice', amt: 10 }),
      event('b', '2', { name: 'bob', amt: 20 }),
      event('c', '3', { name: 'carl', amt: 30 }),
      event('d', '4', { name: 'dan', amt: 40 }),
    ].join('\n')}\n`,
  );
  const minute = Math.floor(Date.now() / 60_000) * 60_000;
  const file = join(dir, 'migration.yaml');
  await writeFile(
    file,
    [
      `migration: ${name}`,
      'legacy:',
      '  job: things every minute',
      "  schedule: { cron: '* * * * *', timezone: UTC }",
      '  graceMs: 0',
      '  output: { reference: ref.csv, key: [ID] }',
      'stream:',
      '  type: test.thing',
      '  events: { file: events.jsonl }',
      'fields: { name: NAME, amt: AMT }',
      'gate: { runs: 2, threshold: 1 }',
      'ledger: { type: sqlite, path: ledger.db }',
      `start: '${new Date(minute - 120_000).toISOString()}'`,
    ].join('\n'),
  );
  return { dir, file };
}

interface Run {
  slot: string;
  cutoff: string;
  status: string;
  parity: number;
  clean: boolean;
  unexplained: number;
}
interface Gate {
  open: boolean;
  required: number;
  cleanRuns: number;
  cleanDays: number;
  reasons: string[];
}

describe('ferry serve --migration', () => {
  it('runs the shadow runs next to the pipelines; the admin API and /metrics show the gate and the runs', async () => {
    const { file } = await migrationFolder('things');
    const { file: pipeline } = await sftpListPipeline('serve-migrations-lists');
    const serve = await startServe([
      pipeline,
      '--migration',
      file,
      '--allow-unauthenticated',
      '--port',
      '0',
      '--log-level',
      'warn',
    ]);
    cleanups.push(() => serve.stop());
    const get = async (path: string) => {
      const response = await fetch(`${serve.base}${path}`);
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const listed = async () =>
      (await get('/migrations')).body.migrations as { name: string; lastRun?: Run; gate: Gate }[];

    // The first pass records the two missed slots and compares the current one.
    await waitFor(
      async () => (await listed())[0]?.lastRun?.status === 'complete',
      60_000,
      'the first complete shadow run',
    );
    const list = await get('/migrations');
    expect(list.status).toBe(200);
    expect(list.body.migrations).toEqual([
      expect.objectContaining({
        name: 'things',
        legacyJob: 'things every minute',
        phase: 'shadowing',
        status: 'shadowing 1 day',
        gate: expect.objectContaining({ open: false, required: 2, threshold: 1, cleanRuns: 0, cleanDays: 0 }),
        lastRun: expect.objectContaining({ status: 'complete', parity: 0.75, clean: false, unexplained: 1 }),
        refreshedAt: expect.any(String),
      }),
    ]);

    const one = await get('/migrations/things');
    expect(one.status).toBe(200);
    const view = one.body as {
      name: string;
      gate: Gate;
      runs: Run[];
      topFields: {
        field: string;
        differing: number;
        samples: { key: string; reference: string; stream: string }[];
      }[];
      notes: unknown[];
      inventory: { migration: string; topics: string[]; phase: string };
    };
    expect(view.name).toBe('things');
    const missed = view.runs.filter((r) => r.status === 'missed');
    const complete = view.runs.filter((r) => r.status === 'complete');
    expect(missed.length).toBeGreaterThanOrEqual(2);
    expect(complete.length).toBeGreaterThanOrEqual(1);
    expect(complete.every((r) => r.parity === 0.75 && !r.clean)).toBe(true);
    // Why the gate is closed, slot by slot: the last two due slots, each missed or not clean.
    expect(view.gate.open).toBe(false);
    expect(view.gate.reasons).toHaveLength(2);
    expect(view.gate.reasons.at(-1)).toBe(
      `${complete.at(-1)!.slot}: parity 75.00% below 100.00%; 1 difference not explained`,
    );
    expect(view.topFields).toEqual([
      expect.objectContaining({
        field: 'name',
        differing: complete.length,
        samples: expect.arrayContaining([
          expect.objectContaining({ key: '3', reference: 'carol', stream: 'carl' }),
        ]),
      }),
    ]);
    expect(view.notes).toEqual([]);
    expect(view.inventory).toMatchObject({ migration: 'things', phase: 'shadowing' });

    // A name no file has: 404 in the admin API's error shape; a name that cannot be one: 400.
    const unknown = await get('/migrations/nobody');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({
      code: 'SHADOW_MIGRATION_NOT_FOUND',
      message: "no migration 'nobody' here; serving things",
      retryable: false,
    });
    expect((await get('/migrations/Not_A_Name')).status).toBe(400);

    // The gauges are read from the same view; the counter counts the runs as they were recorded.
    const metrics = await (await fetch(`${serve.base}/metrics`)).text();
    const labels = { migration: 'things' };
    expect(sample(metrics, 'ferry_migration_gate_open', labels)).toBe(0);
    expect(sample(metrics, 'ferry_migration_clean_runs', labels)).toBe(0);
    expect(sample(metrics, 'ferry_migration_clean_parity_days', labels)).toBe(0);
    expect(sample(metrics, 'ferry_migration_parity', labels)).toBe(0.75);
    const cutoff = sample(metrics, 'ferry_migration_last_cutoff_timestamp_seconds', labels);
    const after = (await get('/migrations/things')).body as { runs: Run[] };
    expect(
      after.runs.filter((r) => r.status === 'complete').map((r) => Date.parse(r.cutoff) / 1000),
    ).toContain(cutoff);
    const runs = (status: string, clean: string) =>
      sample(metrics, 'ferry_migration_runs_total', { ...labels, status, clean });
    expect(runs('missed', 'false')).toBeGreaterThanOrEqual(2);
    expect(runs('complete', 'false')).toBeGreaterThanOrEqual(1);
    expect(runs('complete', 'true')).toBe(0);

    // The routes are in the OpenAPI document like the built-in ones.
    const openapi = (await get('/openapi.json')).body as {
      paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown> }>>;
    };
    expect(openapi.paths['/migrations']?.get?.operationId).toBe('listMigrations');
    expect(openapi.paths['/migrations/{migration}']?.get?.operationId).toBe('getMigration');
    expect(Object.keys(openapi.paths['/migrations/{migration}']!.get!.responses)).toEqual(
      expect.arrayContaining(['200', '400', '404', '500']),
    );

    // `ferry status --url` lists the migration after the pipelines, with why its gate is closed.
    const status = await runCli(['status', '--url', serve.base]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^MIGRATION\s+STATUS\s+GATE\s+CLEAN RUNS\s+LAST RUN\s+PARITY$/m);
    expect(status.stdout).toMatch(
      /^things\s+shadowing 1 day\s+closed\s+0\/2 \(0 d\)\s+\S+ complete\s+75\.00%$/m,
    );
    expect(status.stdout).toMatch(
      /^ {2}gate closed: \S+: parity 75\.00% below 100\.00%; 1 difference not explained$/m,
    );
    const statusJson = JSON.parse((await runCli(['status', '--url', serve.base, '--json'])).stdout);
    expect(statusJson.migrations).toEqual([expect.objectContaining({ name: 'things', phase: 'shadowing' })]);

    // The pipeline is served as before.
    expect((await get('/pipelines/serve-migrations-lists')).status).toBe(200);
    const stopped = await serve.stop();
    expect(stopped.code, stopped.stderr).toBe(0);
  }, 180_000);

  it('refuses to start when two migration files name the same migration (exit 2)', async () => {
    const first = await migrationFolder('twice');
    const second = await migrationFolder('twice');
    const { file: pipeline } = await sftpListPipeline('serve-migrations-bad');
    const result = await runCli([
      'serve',
      pipeline,
      '--migration',
      first.file,
      '--migration',
      second.file,
      '--allow-unauthenticated',
      '--port',
      '0',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(second.file);
    expect(result.stderr).toContain(`twice is already the migration of ${first.file}`);
    expect(result.stdout).not.toContain('admin API on');
  }, 60_000);
});
