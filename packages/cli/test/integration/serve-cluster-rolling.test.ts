// A rolling restart of a three-worker `ferry serve --cluster` under load (issue 17): each worker in turn is
// drained through another worker's admin API (its pipelines move before maintenance), stopped with SIGTERM
// and started again, while a writer keeps inserting rows. Afterwards:
// - no row is lost (every row of every table is in its topic, read_committed);
// - no pipeline was ever owned by two workers at once, proven from a ledger the test writes of every
//   committed checkpoint as (pipeline, worker, generation): in each pipeline's commit order the ownership
//   generation never goes back, and each generation belongs to one worker;
// - `ferry status --cluster` shows every worker and pipeline.
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterStatus, PipelineStatus } from '@ferry/server';
import Database from 'better-sqlite3';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { services } from '../../../../test/services/endpoints.js';
import { topicIds } from './kafka-topics.js';
import { type Served, sqliteClusterPipeline, startServe } from './serve-helpers.js';

const brokers = [...services.kafka.brokers];
const tag = randomBytes(3).toString('hex');
const group = `ferry-rolling-${tag}`;
const checkpointTopic = `ferry-rolling-checkpoints-${tag}`;
const tables = ['cases', 'hearings', 'orders'];
const names = tables.map((t) => `${t}-${tag}`);

interface LedgerEntry {
  offset: number;
  pipeline: string;
  worker: string;
  generation: number;
}

/** Every committed checkpoint of the test's pipelines, in commit order (read_committed, one partition). */
async function ledger(): Promise<LedgerEntry[]> {
  const kafka = new Kafka({ brokers, clientId: 'ferry-test', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const [end] = await admin.fetchTopicOffsets(checkpointTopic);
  await admin.disconnect();
  const high = Number(end!.high);
  const consumer = kafka.consumer({
    groupId: `ferry-test-${randomBytes(4).toString('hex')}`,
    maxWaitTimeInMs: 200,
  });
  const entries: LedgerEntry[] = [];
  let seen = -1;
  let last = Date.now();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: checkpointTopic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen = Number(message.offset);
        last = Date.now();
        const key = message.key?.toString() ?? '';
        if (!names.includes(key) || message.value === null) return;
        const value = JSON.parse(message.value.toString()) as {
          owner?: { worker: string; generation: number };
        };
        entries.push({
          offset: seen,
          pipeline: key,
          worker: value.owner?.worker ?? '(none)',
          generation: value.owner?.generation ?? -1,
        });
      },
    });
    // Transaction markers take offsets too, so the last record is one or more before the high watermark:
    // read until it is reached or nothing more has come for 5 s.
    await waitFor(
      () => seen >= high - 2 || (seen >= 0 && Date.now() - last > 5000),
      60_000,
      'the checkpoint topic read to its end',
    );
    return entries;
  } finally {
    await consumer.disconnect();
  }
}

describe('ferry serve --cluster: a rolling restart of three workers under load', () => {
  let dir: string;
  let db: Database.Database;
  const files: string[] = [];
  const live = new Map<string, Served>();
  let next = 1;

  const insertNext = () => {
    const id = next;
    next += 1;
    for (const table of tables)
      db.prepare(`INSERT INTO ${table} (id, name) VALUES (?, ?)`).run(id, `${table} ${id}`);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-rolling-'));
    db = new Database(join(dir, 'legacy.sqlite'));
    db.pragma('journal_mode = WAL');
    for (const table of tables) db.exec(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, name TEXT)`);
    for (const table of tables) {
      const file = join(dir, `${table}.yaml`);
      await writeFile(
        file,
        sqliteClusterPipeline({
          name: `${table}-${tag}`,
          table,
          topic: `${table}-${tag}`,
          checkpointTopic,
          source: '  pollIntervalMs: 100\n  batchSize: 20',
        }),
      );
      files.push(file);
    }
  });

  afterAll(async () => {
    await Promise.allSettled([...live.values()].map((w) => w.stop()));
    db?.close();
  });

  const start = async (worker: string) => {
    const served = await startServe(
      [...files, '--cluster', group, '--worker', worker, '--allow-unauthenticated', '--port', '0'],
      {},
      600_000,
    ); // the first workers live through the whole test: not killed at startServe's default 2 min
    live.set(worker, served);
    return served;
  };
  const running = async (w: Served) =>
    ((await (await fetch(`${w.base}/pipelines`)).json()) as { pipelines: PipelineStatus[] }).pipelines
      .filter((p) => p.state === 'running')
      .map((p) => p.name);
  /** Each pipeline running on exactly one live worker, and every live worker running one. */
  const balanced = async () => {
    const owned = await Promise.all([...live.values()].map(running));
    return owned.every((o) => o.length === 1) && new Set(owned.flat()).size === names.length;
  };

  it('loses no row and never lets two workers commit for one pipeline', async () => {
    for (const worker of ['w1', 'w2', 'w3']) await start(worker);
    await waitFor(balanced, 120_000, 'one pipeline on each of the three workers');
    // The writer: a row per table every 20 ms for as long as the restarts take.
    const writer = setInterval(insertNext, 20);
    try {
      for (const worker of ['w1', 'w2', 'w3']) {
        const other = [...live.entries()].find(([name]) => name !== worker)![1];
        // Drained through another worker: its pipeline moves before it stops.
        const asked = await fetch(`${other.base}/cluster/workers/${worker}/drain`, { method: 'POST' });
        expect(asked.status).toBe(202);
        await waitFor(
          async () => (await running(live.get(worker)!)).length === 0,
          90_000,
          `${worker} to hand its pipeline over`,
        );
        const stopped = await live.get(worker)!.stop();
        live.delete(worker);
        expect(stopped.code, stopped.stderr).toBe(0);
        // Back after "maintenance": a new process with the same name takes its share again.
        await start(worker);
        await waitFor(balanced, 120_000, `the cluster balanced again after ${worker} restarted`);
      }
    } finally {
      clearInterval(writer);
    }
    const rows = next - 1;
    expect(rows).toBeGreaterThan(100);
    for (const table of tables) expect((await topicIds(`${table}-${tag}`, rows)).ids.size, table).toBe(rows);

    // The ledger: every committed checkpoint as (pipeline, worker, generation), in commit order.
    const entries = await ledger();
    await writeFile(join(dir, 'ownership-ledger.jsonl'), entries.map((e) => JSON.stringify(e)).join('\n'));
    for (const pipeline of names) {
      const commits = entries.filter((e) => e.pipeline === pipeline);
      expect(commits.length, pipeline).toBeGreaterThan(3);
      expect(commits.every((c) => c.generation >= 1 && c.worker !== '(none)')).toBe(true);
      // Generations never go back, so the commits of two owners never interleave.
      for (let i = 1; i < commits.length; i += 1)
        expect(commits[i]!.generation, `${pipeline} at offset ${commits[i]!.offset}`).toBeGreaterThanOrEqual(
          commits[i - 1]!.generation,
        );
      const byGeneration = new Map<number, Set<string>>();
      for (const c of commits)
        byGeneration.set(c.generation, (byGeneration.get(c.generation) ?? new Set()).add(c.worker));
      for (const [generation, owners] of byGeneration)
        expect([...owners], `${pipeline} generation ${generation}`).toHaveLength(1);
      // Each pipeline moved at least once during the restarts.
      expect(byGeneration.size, pipeline).toBeGreaterThanOrEqual(2);
    }

    // `ferry status --cluster` from any worker: every worker and the pipeline it runs (once the last plan
    // and every worker's report are on the board).
    const [any] = [...live.values()];
    await waitFor(
      async () => {
        const view = (await (await fetch(`${any!.base}/cluster`)).json()) as ClusterStatus;
        const reported = (view.members ?? []).flatMap((m) =>
          m.pipelines.filter((p) => p.state === 'running'),
        );
        return view.members?.length === 3 && reported.length === 3;
      },
      30_000,
      'the board to show the three workers running',
    );
    const status = await runCli(['status', '--url', any!.base, '--cluster']);
    expect(status.code, status.stderr).toBe(0);
    for (const worker of ['w1', 'w2', 'w3']) expect(status.stdout).toMatch(new RegExp(`^${worker}\\s`, 'm'));
    for (const pipeline of names) expect(status.stdout).toMatch(new RegExp(`\\s${pipeline}\\s+running\\s`));
    // Each worker is ready (a worker's readiness is its own pipelines', so a Kubernetes readiness probe on
    // /readyz holds during and after the handovers).
    for (const served of live.values()) expect((await fetch(`${served.base}/readyz`)).status).toBe(200);
    const json = await runCli(['status', '--url', any!.base, '--cluster', '--json']);
    const view = JSON.parse(json.stdout) as ClusterStatus;
    expect(view.members?.map((m) => m.worker).sort()).toEqual(['w1', 'w2', 'w3']);
  }, 600_000);
});
