// SIGKILL of the built `ferry` CLI streaming a PostgreSQL table by logical replication to the file sink, once
// in the middle of the snapshot and once in the middle of the stream, while a writer keeps changing rows:
// after a final --once run every committed change is in the event log, the state rebuilt from the log equals
// the table, and no event id stands for two different payloads.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { services } from '../../../../test/services/endpoints.js';
import { dropSlotWhenIdle } from '../../../../test/services/slots.js';
import {
  type Change,
  connectAdmin,
  endWithin,
  expectEveryChangeDelivered,
  expectRebuiltTable,
  expectRewrittenLinesIdentical,
  lineCounter,
  readEvents,
  sigkill,
  tableRows,
  writePipeline,
} from '../cli-runs.js';

const ROWS = 30_000;

describe('database source: logical postgres, SIGKILL through the CLI', () => {
  let admin: DataSource;
  const suffix = randomBytes(4).toString('hex');
  const table = `ferry_crash_${suffix}`;
  const slot = `ferry_crash_${suffix}`;
  let dir: string;

  beforeAll(async () => {
    admin = await connectAdmin('postgres', services.postgres);
    dir = await mkdtemp(join(tmpdir(), 'ferry-crash-'));
  });

  afterAll(async () => {
    await dropSlotWhenIdle((sql, params) => admin.query(sql, params), slot);
    await admin.query(`DROP PUBLICATION IF EXISTS ${slot}`);
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await admin.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('loses no change and keeps ids stable across kills mid-snapshot and mid-stream', async () => {
    await admin.query(
      `CREATE TABLE ${table} (id BIGINT PRIMARY KEY, v INTEGER NOT NULL, name TEXT NOT NULL)`,
    );
    await admin.query(`ALTER TABLE ${table} REPLICA IDENTITY FULL`);
    await admin.query(`INSERT INTO ${table} SELECT g, 0, 'row ' || g FROM generate_series(1, ${ROWS}) AS g`);
    const { pipeline, log, env } = await writePipeline({
      dir,
      name: `crash-${suffix}`,
      connection: { type: 'postgres', endpoint: services.postgres },
      passwordEnv: 'FERRY_CRASH_PG_PASSWORD',
      table,
      source: [
        'mode: logical',
        `slot: ${slot}`,
        `publication: ${slot}`,
        'createSlot: true',
        'snapshotChunkSize: 250',
        'batchSize: 500',
        'heartbeatIntervalMs: 1000',
      ],
      contract: 'test.crash',
    });
    const lines = lineCounter(log);

    // The writer: small transactions updating random rows, inserting new ones and deleting some of those.
    const committed: Change[] = [];
    let writing = false;
    let nextId = ROWS + 1;
    const inserted: number[] = [];
    let writer: Promise<void> = Promise.resolve();
    const startWriter = () => {
      writing = true;
      writer = (async () => {
        while (writing) {
          const ids = new Set<number>();
          while (ids.size < 3) ids.add(1 + Math.floor(Math.random() * ROWS));
          const changes: { id: number; v: Change['v'] }[] = [];
          await admin.transaction(async (m) => {
            for (const id of ids) {
              const [row] = (await m.query(`UPDATE ${table} SET v = v + 1 WHERE id = $1 RETURNING v`, [
                id,
              ])) as [{ v: number }[], number];
              const v = row[0]?.v as number;
              changes.push({ id, v });
            }
            const id = nextId++;
            await m.query(`INSERT INTO ${table} VALUES ($1, 0, $2)`, [id, `new ${id}`]);
            changes.push({ id, v: 0 });
            if (inserted.length > 5 && Math.random() < 0.3) {
              const gone = inserted.splice(Math.floor(Math.random() * inserted.length), 1)[0] as number;
              await m.query(`DELETE FROM ${table} WHERE id = $1`, [gone]);
              changes.push({ id: gone, v: 'deleted' });
            }
          });
          for (const c of changes) {
            committed.push(c);
            if (c.v === 0) inserted.push(c.id);
          }
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
    };

    try {
      // 1. Killed in the middle of the snapshot.
      const first = startCli(['run', pipeline], env);
      await waitFor(
        async () =>
          (
            (await admin.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [
              slot,
            ])) as unknown[]
          ).length > 0,
        30_000,
        'the slot to be created',
      );
      // The slot's row appears before it reaches its consistent point; once snapshot events arrive it has, so
      // from here every committed change must be in the stream.
      await waitFor(async () => (await lines()) > 0, 60_000, 'the first snapshot events');
      startWriter();
      await waitFor(async () => (await lines()) >= ROWS / 5, 60_000, 'a fifth of the snapshot');
      await sigkill(first);
      const atFirstKill = await lines();
      expect(atFirstKill).toBeLessThan(ROWS);

      // 2. Restarted: it finishes the snapshot, streams, and is killed in the middle of the stream.
      const second = startCli(['run', pipeline], env);
      await waitFor(async () => (await lines()) >= atFirstKill + ROWS + 300, 120_000, 'streamed changes');
      await sigkill(second);
    } finally {
      writing = false;
      await writer;
    }

    // 3. A last run drains what was written.
    const third = startCli(['run', '--once', pipeline], env);
    const done = await endWithin(third, 120_000, 'the final --once run did not end within 120 s');
    expect(done.code, done.stderr).toBe(0);

    const events = await readEvents(log);
    // No id stands for two payloads, and a change read again after a kill is the same line byte for byte
    // (snapshot rows take the snapshot's start as their time, stream rows their commit time).
    await expectRewrittenLinesIdentical(log);
    expectRebuiltTable(events, await tableRows(admin, table));
    // Every committed change is in the log: an update or insert with its value (or a snapshot read of a later
    // value, for changes made before the slot existed), every delete as a delete.
    expect(committed.length).toBeGreaterThan(300);
    expectEveryChangeDelivered(committed, events, { snapshotReads: true });
  }, 400_000);
});
