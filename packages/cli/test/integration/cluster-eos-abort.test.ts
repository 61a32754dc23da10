// Issue 17's exactly-once abort path, forced rather than hoped for: a `ferry serve --cluster` worker is
// killed (SIGKILL, by the FERRY_TEST_CRASH hook in @ferry/kafka) after the sends of a transaction and before
// its commit. Its records are on the broker (a read_uncommitted consumer sees them), never visible to a
// read_committed consumer; the other worker takes the pipeline over, fences the dead one's transactional
// id (which aborts the open transaction), resumes from the last committed checkpoint and sends those rows
// again, once.
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PipelineStatus } from '@ferry/server';
import Database from 'better-sqlite3';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { services } from '../../../../test/services/endpoints.js';
import { type Served, sqliteClusterPipeline, startServe } from './serve-helpers.js';

const brokers = [...services.kafka.brokers];
const tag = randomBytes(3).toString('hex');
const group = `ferry-eos-abort-${tag}`;
const pipeline = `eos-abort-${tag}`;
const topic = `eos-abort-${tag}`;
const checkpointTopic = `ferry-eos-abort-checkpoints-${tag}`;
const rows = 200;
const batchSize = 20;
/** The hooked worker dies at its third transaction: two are committed before it, several follow it. */
const crashAt = 3;

interface TopicRecord {
  partition: number;
  offset: bigint;
  key: string;
  value: string;
}

/**
 * Every record of a topic from the beginning to the end it has now, read_committed or read_uncommitted, by a
 * consumer group of the test's own. The end is known from the offsets, not guessed from a quiet spell:
 * kafkajs reports batches of only transaction markers or aborted records in END_BATCH_PROCESS.
 */
async function readAll(name: string, readUncommitted: boolean): Promise<TopicRecord[]> {
  const kafka = new Kafka({ brokers, clientId: 'ferry-test', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(name).finally(() => admin.disconnect());
  const ends = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  const remaining = new Set(offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => o.partition));
  const records: TopicRecord[] = [];
  if (remaining.size === 0) return records;
  const consumer = kafka.consumer({
    groupId: `ferry-test-${randomBytes(4).toString('hex')}`,
    readUncommitted,
    maxWaitTimeInMs: 200,
  });
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const end = ends.get(payload.partition);
    if (end !== undefined && BigInt(payload.lastOffset) >= end - 1n) remaining.delete(payload.partition);
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: name, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const end = ends.get(batch.partition) ?? 0n;
        for (const m of batch.messages) {
          if (BigInt(m.offset) >= end) continue;
          records.push({
            partition: batch.partition,
            offset: BigInt(m.offset),
            key: m.key?.toString() ?? '',
            value: m.value?.toString() ?? '',
          });
        }
      },
    });
    // Generous: a loaded 2-core machine joins a consumer group in seconds, not this long.
    await waitFor(
      () => remaining.size === 0,
      60_000,
      `${name} read to its end (${readUncommitted ? 'read_uncommitted' : 'read_committed'})`,
    );
    return records;
  } finally {
    await consumer.disconnect();
  }
}

const at = (r: TopicRecord) => `${r.partition}:${r.offset}`;
const rowId = (r: TopicRecord) => (JSON.parse(r.value) as { id: number }).id;
/** The row id a polling position has reached (one table). */
const positionId = (position: unknown) => {
  const tables = Object.values((position as { tables: Record<string, { id: number | string }> }).tables);
  expect(tables).toHaveLength(1);
  return Number(tables[0]!.id);
};

describe('ferry serve --cluster: a worker killed between a transaction’s sends and its commit (exactly-once)', () => {
  let dir: string;
  let db: Database.Database;
  let file: string;
  const workers: Served[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-eos-abort-'));
    db = new Database(join(dir, 'legacy.sqlite'));
    db.exec('CREATE TABLE cases (id INTEGER PRIMARY KEY, name TEXT)');
    file = join(dir, 'cases.yaml');
    // One page per transaction (maxInFlightBatches 1: nothing queues to be group-committed), so the
    // transaction the hook interrupts holds exactly one known page of rows.
    await writeFile(
      file,
      sqliteClusterPipeline({
        name: pipeline,
        table: 'cases',
        topic,
        checkpointTopic,
        source: `  batchSize: ${batchSize}\n  pollIntervalMs: 200`,
        extra: 'runtime: { maxInFlightBatches: 1 }',
        sink: 'delivery: exactly-once',
      }),
    );
  });

  afterAll(async () => {
    await Promise.allSettled(workers.map((w) => w.stop()));
    db?.close();
  });

  const serve = async (worker: string, env: Record<string, string> = {}) => {
    // The workers outlive startServe's default two minutes on a loaded machine: five, then killed.
    const served = await startServe(
      [file, '--cluster', group, '--worker', worker, '--allow-unauthenticated', '--port', '0'],
      env,
      300_000,
    );
    workers.push(served);
    return served;
  };
  const statuses = async (w: Served) =>
    ((await (await fetch(`${w.base}/pipelines`)).json()) as { pipelines: PipelineStatus[] }).pipelines;
  const running = async (w: Served) =>
    (await statuses(w)).filter((p) => p.state === 'running').map((p) => p.name);
  const clusterView = async (w: Served) =>
    (await (await fetch(`${w.base}/cluster`)).json()) as {
      leader: boolean;
      memberId: string | null;
      assigned: { pipeline: string }[];
      members: { worker: string; pipelines: string[] }[] | null;
    };

  it('leaves the aborted records to read_uncommitted only; the new owner resumes from the last commit and sends them once', async () => {
    // The hooked worker starts alone, so it owns the pipeline; the table is empty, so it commits nothing yet.
    const a = await serve('a', { FERRY_TEST_CRASH: `before-commit:${pipeline}:${crashAt}` });
    let died: CliResult | undefined;
    void a.exited.then((result) => {
      died = result;
    });
    await waitFor(async () => (await running(a)).includes(pipeline), 60_000, 'worker a to run the pipeline');
    const b = await serve('b');
    // b is a member (the leader lists both) and the assignor, sticky, left the pipeline on a.
    await waitFor(
      async () => {
        const views = await Promise.all([a, b].map(clusterView));
        const leader = views.find((v) => v.leader);
        return views[1]!.memberId !== null && leader?.members?.length === 2;
      },
      90_000,
      'worker b to join the group',
    );
    expect(await running(a)).toEqual([pipeline]);
    expect(await running(b)).toEqual([]);

    // Rows for ten transactions, visible at once (one SQLite transaction): pages of 20 by id.
    const insert = db.prepare('INSERT INTO cases (id, name) VALUES (?, ?)');
    db.transaction(() => {
      for (let id = 1; id <= rows; id += 1) insert.run(id, `case ${id}`);
    })();
    await waitFor(() => died !== undefined, 90_000, 'worker a to kill itself at its third commit');
    const killedAt = performance.now();
    workers.splice(workers.indexOf(a), 1);
    // Killed by the signal, not an exit; and by the hook (its last line), not by startServe's time limit.
    expect(died!.signal, died!.stderr).toBe('SIGKILL');
    expect(died!.code).toBeNull();
    const hookLine = died!.stderr
      .split('\n')
      .filter((line) => line.includes('FERRY_TEST_CRASH'))
      .map((line) => JSON.parse(line) as { transaction: number; events: number; position: unknown });
    expect(hookLine, died!.stderr).toHaveLength(1);
    const crash = hookLine[0]!;
    expect(crash.transaction).toBe(crashAt);
    expect(crash.events).toBe(batchSize);
    const abortedUpTo = positionId(crash.position);
    expect(abortedUpTo).toBe(crashAt * batchSize);

    // The new owner: b, once the group has dropped a (session timeout) and the rebalance gave it the pipeline.
    await waitFor(
      async () => (await clusterView(b)).assigned.some((x) => x.pipeline === pipeline),
      90_000,
      'worker b to be given the pipeline',
    );
    await waitFor(
      async () => {
        const status = (await statuses(b)).find((p) => p.name === pipeline);
        return status?.lastCheckpoint !== undefined && positionId(status.lastCheckpoint.position) === rows;
      },
      120_000,
      'worker b to commit every row',
    );
    const handoverMs = performance.now() - killedAt;

    const committed = await readAll(topic, false);
    const everything = await readAll(topic, true);
    // read_committed: every row exactly once, none of the aborted transaction's records.
    const committedIds = committed.map(rowId);
    expect(committedIds).toHaveLength(rows);
    expect(new Set(committedIds).size).toBe(rows);
    // read_uncommitted: those plus the aborted transaction's records, the only ones not committed.
    const committedAt = new Set(committed.map(at));
    const aborted = everything.filter((r) => !committedAt.has(at(r)));
    expect(everything).toHaveLength(rows + batchSize);
    expect(aborted.map(rowId).sort((x, y) => x - y)).toEqual(
      Array.from({ length: batchSize }, (_, i) => abortedUpTo - batchSize + 1 + i),
    );
    // Each aborted record was sent again once, after it (a higher offset in its partition): by the new owner,
    // since a was dead by then.
    for (const record of aborted) {
      const again = committed.filter((r) => rowId(r) === rowId(record));
      expect(again).toHaveLength(1);
      expect(again[0]!.partition).toBe(record.partition);
      expect(again[0]!.offset > record.offset).toBe(true);
    }

    // The checkpoints: the aborted transaction's checkpoint record is on the broker but never committed;
    // the committed ones rise steadily, the last before the crash being the one b resumed from.
    const checkpoints = (await readAll(checkpointTopic, true)).filter((r) => r.key === pipeline);
    const committedCheckpoints = (await readAll(checkpointTopic, false)).filter((r) => r.key === pipeline);
    const visible = new Set(committedCheckpoints.map(at));
    const abortedCheckpoints = checkpoints.filter((r) => !visible.has(at(r)));
    expect(abortedCheckpoints).toHaveLength(1);
    const abortedCheckpoint = abortedCheckpoints[0]!;
    expect(positionId((JSON.parse(abortedCheckpoint.value) as { position: unknown }).position)).toBe(
      abortedUpTo,
    );
    const committedPositions = committedCheckpoints.map((r) =>
      positionId((JSON.parse(r.value) as { position: unknown }).position),
    );
    expect(committedPositions).toEqual(
      Array.from({ length: rows / batchSize }, (_, i) => (i + 1) * batchSize),
    );
    const resumedFrom = committedPositions.filter(
      (_, i) => committedCheckpoints[i]!.offset < abortedCheckpoint.offset,
    );
    expect(resumedFrom.at(-1)).toBe(abortedUpTo - batchSize);
    // Not ahead of Kafka: b wrote exactly the rows after that checkpoint (it neither skipped the aborted
    // page nor repeated a committed one), and its last checkpoint is the last row, all of them in the topic.
    const onB = (await statuses(b)).find((p) => p.name === pipeline)!;
    expect(onB.counts.eventsWritten).toBe(rows - (abortedUpTo - batchSize));
    expect(positionId(onB.lastCheckpoint!.position)).toBe(Math.max(...committedIds));
    console.log(`eos abort: kill → new owner committed every row in ${Math.round(handoverMs)} ms`);

    expect((await b.stop()).code).toBe(0);
    workers.splice(workers.indexOf(b), 1);
    // The session timeout (10 s) plus a rebalance, then the reads: minutes are generous on a loaded machine.
  }, 360_000);
});
