// SIGKILL of the built `ferry` CLI reading a MariaDB table's binary log to the file sink, three times while a
// writer commits a load of 30,000 row changes (inserts, updates and deletes, in multi-row transactions,
// some larger than a batch): once in the middle of the snapshot, once in the middle of the
// stream, once with the checkpoint inside a transaction split across batches. After a final --once run
// every committed change is in the event log, the state rebuilt from the log equals the table, and no event
// id stands for two different payloads.

import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEventLog } from '@ferry/core';
import type { CanonicalEvent } from '@ferry/core/sdk';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { services } from '../../../../test/services/endpoints.js';
import type { BinlogPosition } from '../../src/index.js';

/** Rows in the table before the first run: what the snapshot reads. */
const SEED = 5_000;
/** Row changes the writer commits (and a transaction's worth more at most). */
const WRITES = 30_000;
/** Rows one large transaction updates: three batches' worth, so its changes span several batches. */
const LARGE = 1_500;

interface Change {
  id: string;
  v: number | 'deleted';
}

describe('database source: binlog mariadb, SIGKILL through the CLI', () => {
  const { host, port, user, password, database } = services.mariadb;
  const suffix = randomBytes(4).toString('hex');
  const table = `ferry_binlog_crash_${suffix}`;
  const pipelineName = `crash-binlog-${suffix}`;
  // A replication client id of this test's own: two readers with one id make the server drop one.
  const serverId = randomInt(200_000, 900_000);
  let admin: DataSource;
  let dir: string;

  beforeAll(async () => {
    admin = new DataSource({
      type: 'mariadb',
      host,
      port,
      username: user,
      password,
      database,
      logging: false,
      poolSize: 4,
    });
    await admin.initialize();
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
    const pipeline = join(dir, 'pipeline.yaml');
    await writeFile(
      pipeline,
      [
        `pipeline: ${pipelineName}`,
        'source:',
        '  type: database',
        '  mode: binlog',
        `  connection: { type: mariadb, host: ${host}, port: ${port}, username: ${user}, password: "\${env:FERRY_CRASH_DB_PASSWORD}", database: ${database} }`,
        `  tables: [{ name: ${table}, key: [id] }]`,
        `  serverId: ${serverId}`,
        '  snapshot: initial',
        '  snapshotChunkSize: 250',
        // The snapshot takes about two seconds, so the first kill lands in it.
        '  maxRowsPerSecond: 2500',
        '  batchSize: 500',
        'mapping:',
        '  subject: id',
        '  fields: { id: id, v: v, name: name }',
        'contract: { type: test.crash, version: 1.0.0 }',
        'sink: { type: file, dir: ./events }',
        'deadLetters: { type: file, dir: ./dead-letters }',
        'checkpoints: { type: file, dir: ./checkpoints }',
        '',
      ].join('\n'),
    );
    const env = { FERRY_CRASH_DB_PASSWORD: password };
    const log = join(dir, 'events', 'test.crash.v1.jsonl');
    const checkpointFile = join(dir, 'checkpoints', `${pipelineName}.checkpoint.json`);
    const checkpoint = async (): Promise<BinlogPosition | undefined> => {
      const text = await readFile(checkpointFile, 'utf8').catch(() => undefined);
      return text === undefined ? undefined : (JSON.parse(text) as { position: BinlogPosition }).position;
    };
    // Lines in the event log, counted from where the last call stopped (the log grows to tens of MB).
    let counted = 0;
    let offset = 0;
    const buffer = Buffer.alloc(1 << 20);
    const lines = async () => {
      const handle = await open(log, 'r').catch(() => undefined);
      if (handle === undefined) return 0;
      try {
        for (;;) {
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
          if (bytesRead === 0) return counted;
          offset += bytesRead;
          for (let i = buffer.indexOf(10); i !== -1 && i < bytesRead; i = buffer.indexOf(10, i + 1))
            counted += 1;
        }
      } finally {
        await handle.close();
      }
    };

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
    const kill = async (run: ReturnType<typeof startCli>) => {
      run.child.kill('SIGKILL');
      const result = await run.done;
      expect(result.signal, result.stderr).toBe('SIGKILL');
      kills += 1;
      return lines();
    };

    const started = Date.now();
    let atSplit: BinlogPosition | undefined;
    const runs: ReturnType<typeof startCli>[] = [];
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
      for (const run of runs)
        if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
    }

    expect(writerFailure).toBeUndefined();

    // 4. A last run drains what was written.
    const last = startCli(['run', '--once', pipeline], env);
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      last.done,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          last.child.kill('SIGKILL');
          reject(new Error('the final --once run did not end within 90 s'));
        }, 90_000);
      }),
    ]).finally(() => clearTimeout(timer));
    expect(done.code, done.stderr).toBe(0);

    // No id stands for two payloads: a change read again after a kill is the same line byte for byte
    // (snapshot rows carry the snapshot's start as their time, stream rows their commit time).
    const text = await readFile(log, 'utf8');
    const events: CanonicalEvent[] = [];
    for await (const event of readEventLog(log)) events.push(event);
    const firstCopy = new Map<string, string>();
    let again = 0;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const id = (JSON.parse(line) as CanonicalEvent).id;
      const seen = firstCopy.get(id);
      if (seen !== undefined) {
        again += 1;
        expect(line, `event ${id} written again`).toBe(seen);
      }
      firstCopy.set(id, line);
    }

    // The state rebuilt from the log equals the table.
    const state = new Map<string, string>();
    for (const event of events) {
      if (event.ferryop === 'delete') state.delete(String(event.subject));
      else state.set(String(event.subject), JSON.stringify(event.data));
    }
    const rows = (await admin.query(`SELECT CAST(id AS CHAR) AS id, v, name FROM ${table} ORDER BY id`)) as {
      id: string;
      v: number;
      name: string;
    }[];
    expect(state.size).toBe(rows.length);
    for (const row of rows) expect(state.get(row.id), `row ${row.id}`).toBe(JSON.stringify(row));

    // Every committed change is in the stream (the writer started after the snapshot's coordinates): an
    // insert or update with its value, a delete as a delete.
    const streamed = new Set<string>();
    for (const event of events) {
      const data = event.data as { v: number } | undefined;
      if (event.ferryop === 'delete') streamed.add(`${event.subject}:deleted`);
      else if (event.ferryop !== 'read') streamed.add(`${event.subject}:${data?.v}`);
    }
    expect(committed.length).toBeGreaterThanOrEqual(WRITES);
    expect(committed.filter((c) => !streamed.has(`${c.id}:${c.v}`))).toEqual([]);
    console.log(
      `binlog crash: ${committed.length} committed row changes in ${transactions} transactions, ` +
        `${events.length} events (${again} written again after a kill), split checkpoint ${atSplit?.txn} ` +
        `skip ${atSplit?.skip}, ${Date.now() - started} ms`,
    );
  }, 170_000);
});
