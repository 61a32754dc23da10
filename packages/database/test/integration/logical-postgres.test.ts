// Logical replication (pgoutput) against the real PostgreSQL on loopback: slot and publication created on
// request, snapshot then stream, before images with REPLICA IDENTITY FULL, truncates, transactions with
// their xid, resume mid-stream with the same origins and sequences, snapshot rows sorting before every streamed
// change, and the flush LSN moving only on acknowledge (the checkpoint acknowledged again at start is harmless).
import { randomBytes } from 'node:crypto';
import type { ChangeRecord } from '@ferry/core/sdk';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import {
  createDatabaseSource,
  type DatabaseSourceConfigInput,
  dropDatabaseSlot,
  type LogicalPosition,
  parseDatabaseSourceConfig,
} from '../../src/index.js';
import { expectSequencesInOrder, identities, readOnce } from '../helpers.js';
import { rebuild } from '../state.js';

describe('database source: logical postgres', () => {
  const { host, port, user, password, database } = services.postgres;
  const connection = { type: 'postgres', host, port, username: user, password, database } as const;
  let admin: DataSource;
  const cleanup: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    admin = new DataSource({ ...connection, logging: false });
    await admin.initialize();
  });

  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    if (admin?.isInitialized) await admin.destroy();
  });

  async function setup(rows = 2) {
    const suffix = randomBytes(4).toString('hex');
    const table = `ferry_lr_${suffix}`;
    await admin.query(
      `CREATE TABLE ${table} (id BIGINT PRIMARY KEY, name TEXT NOT NULL, amount NUMERIC(14,2))`,
    );
    await admin.query(`ALTER TABLE ${table} REPLICA IDENTITY FULL`);
    for (let id = 1; id <= rows; id += 1)
      await admin.query(`INSERT INTO ${table} VALUES (${id}, 'row ${id}', ${id}.50)`);
    const config = (options: Partial<DatabaseSourceConfigInput> = {}) =>
      ({
        mode: 'logical',
        connection,
        tables: [{ name: table, key: ['id'] }],
        slot: `ferry_${suffix}`,
        publication: `ferry_${suffix}`,
        createSlot: true,
        ...options,
      }) as DatabaseSourceConfigInput & { mode: 'logical' };
    cleanup.push(async () => {
      await dropDatabaseSlot(parseDatabaseSourceConfig(config()), {}, { dropPublication: true });
      await admin.query(`DROP TABLE IF EXISTS ${table}`);
    });
    return { table, slot: `ferry_${suffix}`, config };
  }

  async function read(
    config: DatabaseSourceConfigInput & { mode: 'logical' },
    from?: LogicalPosition,
    max?: number,
  ) {
    const source = createDatabaseSource(config);
    try {
      return await readOnce(source, from, max);
    } finally {
      await source.close();
    }
  }

  async function confirmedFlush(slot: string): Promise<string> {
    const [row] = (await admin.query(
      'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    )) as { lsn: string }[];
    return row?.lsn ?? '';
  }

  it('names the fix when the slot is missing and createSlot is off', async () => {
    const { config } = await setup();
    const error = await read(config({ createSlot: false })).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'DB_SLOT_MISSING', retryable: false });
    expect((error as Error).message).toContain('ferry database create-slot');
  });

  it('snapshots, then streams inserts, updates with before images, deletes, truncates and transactions', async () => {
    const { table, slot, config } = await setup();
    const first = await read(config());
    expect(first.records.map((r) => [r.op, r.key.id])).toEqual([
      ['read', '1'],
      ['read', '2'],
    ]);
    expect(first.records[0]?.after).toEqual({ id: '1', name: 'row 1', amount: '1.50' });
    const afterSnapshot = JSON.parse(JSON.stringify(first.position)) as LogicalPosition;
    expect(afterSnapshot.snapshot).toBeUndefined();

    await admin.query(`INSERT INTO ${table} VALUES (3, 'three', 123456789012.34)`);
    await admin.query(`UPDATE ${table} SET name = 'one!' WHERE id = 1`);
    await admin.query(`DELETE FROM ${table} WHERE id = 2`);
    await admin.transaction(async (m) => {
      await m.query(`INSERT INTO ${table} VALUES (4, 'four', NULL)`);
      await m.query(`INSERT INTO ${table} VALUES (5, 'five', NULL)`);
      await m.query(`UPDATE ${table} SET amount = 0 WHERE id = 3`);
    });
    await admin.query(`TRUNCATE ${table}`);
    await admin.query(`INSERT INTO ${table} VALUES (6, 'six', 6)`);

    const before = await confirmedFlush(slot);
    // Core acknowledges the loaded checkpoint before it reads: that confirms nothing past it.
    const atStart = createDatabaseSource(config());
    await atStart.acknowledge?.([afterSnapshot]);
    await atStart.close();
    const second = await read(config({ batchSize: 2 }), afterSnapshot);
    expect(second.records.map((r) => `${r.op}:${r.key.id ?? '*'}`)).toEqual([
      'create:3',
      'update:1',
      'delete:2',
      'create:4',
      'create:5',
      'update:3',
      'delete:*',
      'create:6',
    ]);
    const [create3, update1, delete2, create4, create5, update3, truncate] = second.records as ChangeRecord[];
    expect(create3?.after).toEqual({ id: '3', name: 'three', amount: '123456789012.34' });
    expect(update1?.before).toEqual({ id: '1', name: 'row 1', amount: '1.50' });
    expect(update1?.after).toEqual({ id: '1', name: 'one!', amount: '1.50' });
    expect(delete2?.before).toEqual({ id: '2', name: 'row 2', amount: '2.50' });
    expect(truncate?.origin.truncate).toBe(true);
    // One transaction: one xid and commit LSN, changes numbered in order.
    const txn = [create4, create5, update3].map((r) => r?.origin);
    expect(new Set(txn.map((o) => o?.xid)).size).toBe(1);
    expect(new Set(txn.map((o) => o?.lsn)).size).toBe(1);
    expect(txn.map((o) => o?.seq)).toEqual([1, 2, 3]);
    expect(create3?.occurredAt).toBeInstanceOf(Date);
    // Sequence: the commit LSN, then the change's number in its transaction. The snapshot's rows (the slot's
    // LSN, then 0) sort before every change streamed after it.
    const lsnOf = (text: string) => {
      const [hi, lo] = text.split('/');
      return ((BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`)).toString().padStart(20, '0');
    };
    expect(second.records.map((r) => r.sequence)).toEqual(
      second.records.map((r) => `${lsnOf(String(r.origin.lsn))}.${String(r.origin.seq).padStart(20, '0')}`),
    );
    const snapshotSequence = String(first.records[0]?.sequence);
    expect(first.records.every((r) => r.sequence === snapshotSequence)).toBe(true);
    expect(second.records.every((r) => String(r.sequence) > snapshotSequence)).toBe(true);
    // Nothing was acknowledged: the slot is at most at the position the read started from (a stream confirms
    // its starting checkpoint; that position can be past `before` when other databases wrote WAL meanwhile).
    const toLsn = (text: string) => {
      const [hi, lo] = text.split('/');
      return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
    };
    const flushed = toLsn(await confirmedFlush(slot));
    expect(flushed >= toLsn(before) && flushed <= toLsn(afterSnapshot.lsn)).toBe(true);

    // A restart from a checkpoint inside the transaction (batchSize 2 splits it) redelivers the rest with
    // the same origins.
    const split = second.batches.findIndex(
      (b) => (b.position as LogicalPosition).xid === create4?.origin.xid,
    );
    expect(split).toBeGreaterThanOrEqual(0);
    const checkpoint = JSON.parse(JSON.stringify(second.batches[split]?.position)) as LogicalPosition;
    expect(checkpoint.xid).toBe(create4?.origin.xid);
    const done = second.batches.slice(0, split + 1).reduce((n, b) => n + b.records.length, 0);
    const resumed = await read(config({ batchSize: 2 }), checkpoint);
    expect(identities(resumed.records)).toEqual(identities(second.records.slice(done)));

    // Acknowledging moves the slot's flush LSN to the checkpoint.
    const source = createDatabaseSource(config());
    const reader = source.read({
      from: second.position as LogicalPosition,
      signal: new AbortController().signal,
      once: true,
      log: (await import('@ferry/core')).silentLogger(),
      caughtUp: () => undefined,
    });
    const iterator = reader[Symbol.asyncIterator]();
    const pending = iterator.next();
    // Every committed position, oldest first: the last one counts.
    await source.acknowledge?.(second.batches.map((b) => b.position as LogicalPosition));
    await pending;
    await iterator.return?.(undefined);
    await source.close();
    const lsn = (second.position as LogicalPosition).lsn;
    expect(await confirmedFlush(slot)).toBe(lsn);
  });

  it('snapshot batches carry progress: rows so far against reltuples, exact at the end', async () => {
    const { table, config } = await setup(120);
    await admin.query(`ANALYZE ${table}`);
    const result = await read(config({ snapshotChunkSize: 25 }));
    const progress = result.batches
      .filter((b) => b.records.some((r) => r.op === 'read'))
      .map((b) => b.progress!);
    expect(progress.map((p) => p.done)).toEqual([25, 50, 75, 100, 120]);
    for (const p of progress) {
      expect(p).toMatchObject({ label: `snapshot ${table}`, unit: 'rows', total: 120 });
      expect(p.done).toBeLessThanOrEqual(p.total!);
    }
  });

  it('hands off from the exported snapshot to the stream with no gap while a writer keeps writing', async () => {
    const { table, config } = await setup(2000);
    let writing = true;
    let next = 2001;
    const writer = (async () => {
      while (writing) {
        const id = next;
        next += 1;
        await admin.transaction(async (m) => {
          await m.query(`INSERT INTO ${table} VALUES (${id}, 'new ${id}', 1)`);
          await m.query(
            `UPDATE ${table} SET name = 'changed ${id}', amount = amount + 1 WHERE id = ${(id % 2000) + 1}`,
          );
          if (id % 7 === 0) await m.query(`DELETE FROM ${table} WHERE id = ${((id * 13) % 2000) + 1}`);
        });
      }
    })();
    const records: ChangeRecord[] = [];
    let position: LogicalPosition | undefined;
    try {
      // The first run reads the whole snapshot in the slot's exported snapshot while the writer writes.
      const first = await read(config({ snapshotChunkSize: 100 }));
      records.push(...first.records);
      position = first.position as LogicalPosition;
    } finally {
      writing = false;
      await writer;
    }
    const rest = await read(config(), position);
    records.push(...rest.records);
    expectSequencesInOrder(records);
    // No double: a row read by the snapshot is never created again by the stream (the writer inserts new ids).
    const read_ = new Set(records.filter((r) => r.op === 'read').map((r) => String(r.key.id)));
    const created = records.filter((r) => r.op === 'create').map((r) => String(r.key.id));
    expect(read_.size).toBeGreaterThanOrEqual(1900);
    expect(created.length).toBeGreaterThan(0);
    expect(created.filter((id) => read_.has(id))).toEqual([]);
    const rows = (await admin.query(`SELECT id, name, amount::text AS amount FROM ${table}`)) as Record<
      string,
      unknown
    >[];
    const state = rebuild(records);
    expect(state.size).toBe(rows.length);
    for (const row of rows) {
      expect(state.get(String(row.id)), `row ${row.id}`).toMatchObject({
        name: row.name,
        amount: row.amount,
      });
    }
  });
});
