// SIGKILL of the built `ferry` CLI reading a MariaDB table's binary log to the file sink, three times while a
// writer commits a load of 30,000 row changes (inserts, updates and deletes, in multi-row transactions,
// some larger than a batch): once in the middle of the snapshot, once in the middle of the
// stream, once with the checkpoint inside a transaction split across batches. After a final --once run
// every committed change is in the event log, the state rebuilt from the log equals the table, and no event
// id stands for two different payloads.

import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { services } from '../../../../test/services/endpoints.js';
import type { BinlogPosition } from '../../src/index.js';
import {
  type Change,
  type CliRun,
  connectAdmin,
  endWithin,
  expectEveryChangeDelivered,
  expectRebuiltTable,
  expectRewrittenLinesIdentical,
  lineCounter,
  readCheckpoint,
  readEvents,
  sigkill,
  signalIfRunning,
  tableRows,
  writePipeline,
} from '../cli-runs.js';

/** Rows in the table before the first run: what the snapshot reads. */
const SEED = 5_000;
/** Row changes the writer commits (and a transaction's worth more at most). */
const WRITES = 30_000;
/** Rows one large transaction updates: three batches' worth, so its changes span several batches. */
const LARGE = 1_500;

describe('database source: binlog mariadb, SIGKILL through the CLI', () => {
  const suffix = randomBytes(4).toString('hex');
  const table = `ferry_binlog_crash_${suffix}`;
  const pipelineName = `crash-binlog-${suffix}`;
  // A replication client id of this test's own: two readers with one id make the server drop one.
  const serverId = randomInt(200_000, 900_000);
  let admin: DataSource;
  let dir: string;

  beforeAll(async () => {
    admin = await connectAdmin('mariadb', services.mariadb, { poolSize: 4 });
    dir = await mkdtemp(join(tmpdir(), 'ferry-binlog-crash-'));
  });

  afterAll(async () => {
    await admin?.query(`DROP TABLE IF EXISTS ${table}`);
    await admin?.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('loses no change and keeps ids stable across kills mid-snapshot, mid-stream and mid-transaction', async () => {
    await admin.query(
      `CREATE TABLE ${table} (id BIGINT PRIMARY KEY, v INTEGER NOT NULL, name VARCHAR(100) NOT NULL)`,
    );
    const seed = Array.from({ length: SEED }, (_, i) => `(${i + 1}, 0, 'row ${i + 1}')`);
    await admin.query(`INSERT INTO ${table} VALUES ${seed.join(', ')}`);
    const { pipeline, log, checkpointFile, env } = await writePipeline({
      dir,
      name: pipelineName,
      connection: { type: 'mariadb', endpoint: services.mariadb },
      passwordEnv: 'FERRY_CRASH_DB_PASSWORD',
      table,
      source: [
        'mode: binlog',
        `serverId: ${serverId}`,
        'snapshot: initial',
        'snapshotChunkSize: 250',
        // The snapshot takes about two seconds, so the first kill lands in it.
        'maxRowsPerSecond: 2500',
        'batchSize: 500',
      ],
      contract: 'test.crash',
    });
    const checkpoint = () => readCheckpoint<BinlogPosition>(checkpointFile);
    const lines = lineCounter(log);

    // The writer: transactions that insert three rows in one statement, update four live rows in one
    // statement and delete one; every 30th updates LARGE consecutive rows at once. Only what a COMMIT
    // returned for counts as committed.
    const committed: Change[] = [];
    const live: number[] = Array.from({ length: SEED }, (_, i) => i + 1);
    const take = () => live.splice(randomInt(live.length), 1)[0] as number;
    let nextId = SEED + 1;
    let transactions = 0;
    let kills = 0;
    let writing = true;
    const writeOne = async () => {
      const changes: Change[] = [];
      if (transactions % 30 === 29) {
        const low = 1 + randomInt(Math.max(1, nextId - LARGE));
        await admin.transaction(async (m) => {
          await m.query(`UPDATE ${table} SET v = v + 1 WHERE id BETWEEN ? AND ?`, [low, low + LARGE - 1]);
          const rows = (await m.query(
            `SELECT CAST(id AS CHAR) AS id, v FROM ${table} WHERE id BETWEEN ? AND ?`,
            [low, low + LARGE - 1],
          )) as { id: string; v: number }[];
          for (const row of rows) changes.push({ id: row.id, v: Number(row.v) });
        });
      } else {
        const updated = [take(), take(), take(), take()];
        const deleted = take();
        const fresh = [nextId, nextId + 1, nextId + 2];
        nextId += 3;
        await admin.transaction(async (m) => {
          await m.query(
            `INSERT INTO ${table} VALUES ${fresh.map(() => '(?, 0, ?)').join(', ')}`,
            fresh.flatMap((id) => [id, `new ${id}`]),
          );
          await m.query(`UPDATE ${table} SET v = v + 1 WHERE id IN (?)`, [updated]);
          const rows = (await m.query(`SELECT CAST(id AS CHAR) AS id, v FROM ${table} WHERE id IN (?)`, [
            updated,
          ])) as { id: string; v: number }[];
          await m.query(`DELETE FROM ${table} WHERE id = ?`, [deleted]);
          for (const id of fresh) changes.push({ id: String(id), v: 0 });
          for (const row of rows) changes.push({ id: row.id, v: Number(row.v) });
          changes.push({ id: String(deleted), v: 'deleted' });
        });
        live.push(...updated, ...fresh);
      }
      transactions += 1;
      committed.push(...changes);
    };
    let writer: Promise<void> = Promise.resolve();
    let writerFailure: Error | undefined;
    // The writer waits at these counts until the runs have been killed that many times: every kill lands
    // while it writes, however fast the runs go.
    const gates = [
      { at: WRITES * 0.1, kills: 1 },
      { at: WRITES * 0.5, kills: 2 },
      { at: WRITES * 0.9, kills: 3 },
    ];
    const startWriter = () => {
      writer = (async () => {
        while (writing && committed.length < WRITES) {
          for (const gate of gates) {
            if (committed.length >= gate.at)
              await waitFor(() => kills >= gate.kills || !writing, 150_000, `kill ${gate.kills}`);
          }
          await writeOne();
          await new Promise((r) => setTimeout(r, 3));
        }
      })().catch((error: Error) => {
        writerFailure = error;
      });
    };
    /** The committed changes so far; throws (ending a wait) when the writer has failed. */
    const written = () => {
      if (writerFailure !== undefined) throw writerFailure;
      return committed.length;
    };
    const kill = async (run: CliRun) => {
      await sigkill(run);
      kills += 1;
      return lines();
    };

    const started = Date.now();
    let atSplit: BinlogPosition | undefined;
    const runs: CliRun[] = [];
    try {
      // 1. Killed in the middle of the snapshot, the writer going.
      const first = startCli(['run', pipeline], env);
      runs.push(first);
      await waitFor(async () => (await lines()) > 0, 60_000, 'the first snapshot events');
      // The snapshot's binlog coordinates were taken before its first rows: every change from here on is
      // after them.
      startWriter();
      await waitFor(async () => (await lines()) >= SEED / 5, 60_000, 'a fifth of the snapshot');
      const atFirstKill = await kill(first);
      expect(atFirstKill, 'killed before the snapshot ended').toBeLessThan(SEED);
      expect((await checkpoint())?.snapshot, 'the checkpoint is in the snapshot').toBeDefined();

      // 2. Restarted: it finishes the snapshot, streams, and is killed in the middle of the stream.
      const second = startCli(['run', pipeline], env);
      runs.push(second);
      await waitFor(
        async () => written() >= WRITES / 4 && (await lines()) >= atFirstKill + SEED + 1_000,
        90_000,
        'streamed changes',
      );
      const atSecondKill = await kill(second);
      expect((await checkpoint())?.snapshot, 'the snapshot is done').toBeUndefined();

      // 3. Restarted once the writer has left a backlog with large transactions in it, and killed while its
      // checkpoint stands inside one. The run is stopped (SIGSTOP) to read a checkpoint that cannot move,
      // and let go again when it is not split.
      await waitFor(() => written() >= (WRITES * 2) / 3, 90_000, 'a backlog of changes');
      const third = startCli(['run', pipeline], env);
      runs.push(third);
      await waitFor(async () => (await lines()) >= atSecondKill + 1_000, 90_000, 'streamed changes');
      await waitFor(
        async () => {
          if ((await checkpoint())?.txn === undefined) return false;
          third.child.kill('SIGSTOP');
          atSplit = await checkpoint();
          if (atSplit?.txn !== undefined) return true;
          third.child.kill('SIGCONT');
          return false;
        },
        60_000,
        'a checkpoint inside a transaction split across batches',
      );
      await kill(third);
      expect(await checkpoint()).toEqual(atSplit);
      expect(atSplit?.skip).toBeGreaterThan(0);
      await waitFor(() => written() >= WRITES, 90_000, `${WRITES} committed row changes`);
    } finally {
      writing = false;
      await writer;
      // A failed test must not leave a run reading the binary log with this server id.
      for (const run of runs) signalIfRunning(run, 'SIGKILL');
    }

    expect(writerFailure).toBeUndefined();

    // 4. A last run drains what was written.
    const last = startCli(['run', '--once', pipeline], env);
    const done = await endWithin(last, 90_000, 'the final --once run did not end within 90 s');
    expect(done.code, done.stderr).toBe(0);

    // No id stands for two payloads: a change read again after a kill is the same line byte for byte
    // (snapshot rows carry the snapshot's start as their time, stream rows their commit time).
    const again = await expectRewrittenLinesIdentical(log);
    const events = await readEvents(log);
    expectRebuiltTable(events, await tableRows(admin, table));
    // Every committed change is in the stream (the writer started after the snapshot's coordinates): an
    // insert or update with its value, a delete as a delete.
    expect(committed.length).toBeGreaterThanOrEqual(WRITES);
    expectEveryChangeDelivered(committed, events);
    console.log(
      `binlog crash: ${committed.length} committed row changes in ${transactions} transactions, ` +
        `${events.length} events (${again} written again after a kill), split checkpoint ${atSplit?.txn} ` +
        `skip ${atSplit?.skip}, ${Date.now() - started} ms`,
    );
  }, 170_000);
});
