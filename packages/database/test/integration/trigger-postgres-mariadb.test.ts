// Trigger-journal capture against the real PostgreSQL and MariaDB on loopback: install on request, inserts,
// updates, deletes with before images, a multi-row transaction, resume with stable origins, purge on ack,
// and a snapshot taken while a writer keeps changing the table.
import { randomBytes } from 'node:crypto';
import type { ChangeRecord } from '@ferry/core/sdk';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import {
  createDatabaseSource,
  type DatabaseSourceConfigInput,
  installDatabaseTriggers,
  parseDatabaseSourceConfig,
  type TriggerPosition,
  uninstallDatabaseTriggers,
} from '../../src/index.js';
import { expectSequencesInOrder, identities, readOnce } from '../helpers.js';
import { rebuild } from '../state.js';

const backends = [
  { type: 'postgres' as const, decimal: 'NUMERIC(14,2)' },
  { type: 'mariadb' as const, decimal: 'DECIMAL(14,2)' },
];

describe.each(backends)('database source: trigger $type', (backend) => {
  const { host, port, user, password, database } = services[backend.type];
  const connection = { type: backend.type, host, port, username: user, password, database } as const;
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

  const q = (name: string) => admin.driver.escape(name);

  async function setup(rows = 2) {
    const suffix = randomBytes(4).toString('hex');
    const table = `ferry_trg_${suffix}`;
    const journal = `ferry_journal_${suffix}`;
    await admin.query(
      `CREATE TABLE ${q(table)} (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL, amount ${backend.decimal}, note TEXT)`,
    );
    for (let id = 1; id <= rows; id += 1) {
      await admin.query(
        `INSERT INTO ${q(table)} (id, name, amount, note) VALUES (${id}, 'row ${id}', ${id}.50, NULL)`,
      );
    }
    const config = (options: Partial<DatabaseSourceConfigInput> = {}) =>
      ({
        mode: 'trigger',
        connection,
        tables: [{ name: table, key: ['id'] }],
        journal: { table: journal },
        ...options,
      }) as DatabaseSourceConfigInput & { mode: 'trigger' };
    cleanup.push(async () => {
      await uninstallDatabaseTriggers(parseDatabaseSourceConfig(config()), {}, { dropJournal: true });
      await admin.query(`DROP TABLE IF EXISTS ${q(table)}`);
    });
    return { table, journal, config };
  }

  async function read(
    config: DatabaseSourceConfigInput & { mode: 'trigger' },
    from?: TriggerPosition,
    max?: number,
  ) {
    const source = createDatabaseSource(config);
    try {
      return await readOnce(source, from, max);
    } finally {
      await source.close();
    }
  }

  it('refuses to start without the journal, and installs only on request', async () => {
    const { config } = await setup();
    await expect(read(config())).rejects.toMatchObject({ code: 'DB_TRIGGERS_MISSING', retryable: false });
    const statements = await installDatabaseTriggers(parseDatabaseSourceConfig(config()));
    expect(statements.some((s) => /CREATE TRIGGER/.test(s))).toBe(true);
    // Installing again is harmless (triggers are replaced, the journal kept).
    await installDatabaseTriggers(parseDatabaseSourceConfig(config()));
    const first = await read(config());
    expect(first.records.map((r) => r.op)).toEqual(['read', 'read']);
  });

  it('installs with installTriggers: true, snapshots, then streams inserts, updates, deletes and a transaction', async () => {
    const { table, journal, config } = await setup();
    const first = await read(config({ installTriggers: true }));
    expect(first.records).toHaveLength(2);
    expect(first.records[0]).toMatchObject({
      stream: table,
      op: 'read',
      key: { id: '1' },
      after: { id: '1', name: 'row 1', amount: '1.50', note: null },
    });
    const afterSnapshot = JSON.parse(JSON.stringify(first.position)) as TriggerPosition;
    expect(afterSnapshot.snapshot).toBeUndefined();

    await admin.query(
      `INSERT INTO ${q(table)} (id, name, amount, note) VALUES (3, 'three', 12345678901.23, '')`,
    );
    await admin.query(`UPDATE ${q(table)} SET name = 'one!' WHERE id = 1`);
    await admin.query(`DELETE FROM ${q(table)} WHERE id = 2`);
    await admin.transaction(async (m) => {
      await m.query(`INSERT INTO ${q(table)} (id, name) VALUES (4, 'four')`);
      await m.query(`INSERT INTO ${q(table)} (id, name) VALUES (5, 'five')`);
      await m.query(`UPDATE ${q(table)} SET note = 'x' WHERE id = 3`);
    });

    const second = await read(config({ batchSize: 2 }), afterSnapshot);
    expect(second.records.map((r) => `${r.op}:${r.key.id}`)).toEqual([
      'create:3',
      'update:1',
      'delete:2',
      'create:4',
      'create:5',
      'update:3',
    ]);
    expect(second.batches.map((b) => b.records.length)).toEqual([2, 2, 2]);
    const [create3, update1, delete2] = second.records as [ChangeRecord, ChangeRecord, ChangeRecord];
    expect(create3.after).toMatchObject({ amount: '12345678901.23', note: '' });
    expect(update1.before).toMatchObject({ name: 'row 1' });
    expect(update1.after).toMatchObject({ name: 'one!' });
    expect(delete2.before).toMatchObject({ id: '2', name: 'row 2', amount: '2.50' });
    expect(delete2.after).toBeUndefined();
    expect(delete2.occurredAt).toBeInstanceOf(Date);
    const seqs = second.records.map((r) => r.origin.seq as number);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(second.records.every((r) => r.origin.table === table)).toBe(true);
    // The journal sequence is the record's sequence; snapshot rows sort before every journal row.
    expect(second.records.map((r) => r.sequence)).toEqual(seqs.map((seq) => String(seq).padStart(20, '0')));
    expect(first.records.every((r) => String(r.sequence) < String(second.records[0]?.sequence))).toBe(true);

    // A restart from the first batch's checkpoint reads the rest again with the same origins.
    const checkpoint = JSON.parse(JSON.stringify(second.batches[0]?.position)) as TriggerPosition;
    const resumed = await read(config({ batchSize: 2 }), checkpoint);
    expect(identities(resumed.records)).toEqual(identities(second.records.slice(2)));

    // Acknowledging purges what is checkpointed, up to the last position given; again is harmless.
    const source = createDatabaseSource(config());
    await source.acknowledge?.(second.batches.map((b) => b.position));
    await source.acknowledge?.([second.position as TriggerPosition]);
    await source.close();
    const [left] = (await admin.query(`SELECT COUNT(*) AS n FROM ${q(journal)}`)) as { n: unknown }[];
    expect(Number(left?.n)).toBe(0);
    const idle = await read(config(), second.position as TriggerPosition);
    expect(idle.records).toEqual([]);
  });

  it('snapshot batches carry progress: rows so far against the table estimate, exact at the end', async () => {
    const { table, config } = await setup(120);
    await admin.query(backend.type === 'postgres' ? `ANALYZE ${q(table)}` : `ANALYZE TABLE ${q(table)}`);
    const result = await read(config({ installTriggers: true, snapshotChunkSize: 25 }));
    // Journal batches after the snapshot carry no progress.
    const progress = result.batches.flatMap((b) => (b.progress ? [b.progress] : []));
    expect(progress.map((p) => p.done)).toEqual([25, 50, 75, 100, 120]);
    for (const p of progress) {
      expect(p).toMatchObject({ label: `snapshot ${table}`, unit: 'rows' });
      expect(p.done).toBeLessThanOrEqual(p.total!);
    }
    expect(progress.at(-1)).toMatchObject({ done: 120, total: 120 });
  });

  it('hands off from snapshot to journal with no change lost while a writer keeps writing', async () => {
    const { table, config } = await setup(600);
    await installDatabaseTriggers(parseDatabaseSourceConfig(config()));
    let writing = true;
    let next = 601;
    const writer = (async () => {
      while (writing) {
        const id = next;
        next += 1;
        await admin.transaction(async (m) => {
          await m.query(`INSERT INTO ${q(table)} (id, name, amount) VALUES (${id}, 'new ${id}', 1.00)`);
          await m.query(
            `UPDATE ${q(table)} SET name = 'changed ${id}', amount = amount + 1 WHERE id = ${(id % 600) + 1}`,
          );
          if (id % 7 === 0) await m.query(`DELETE FROM ${q(table)} WHERE id = ${((id * 13) % 600) + 1}`);
        });
      }
    })();
    // Read the snapshot in small chunks, restarting from each checkpoint as after a crash.
    const records: ChangeRecord[] = [];
    let position: TriggerPosition | undefined;
    try {
      for (let run = 0; run < 200; run += 1) {
        const result = await read(config({ snapshotChunkSize: 50 }), position, 3);
        records.push(...result.records);
        position = JSON.parse(JSON.stringify(result.position)) as TriggerPosition;
        if (position.snapshot === undefined && run > 3) break;
      }
    } finally {
      writing = false;
      await writer;
    }
    expect(position?.snapshot).toBeUndefined();
    const rest = await read(config(), position);
    records.push(...rest.records);
    // Across restarts too, a key's sequence never goes down: snapshot rows sort before the journal rows,
    // late rows of the holes the snapshot started with included.
    expectSequencesInOrder(records);
    const rows = (await admin.query(`SELECT id, name, amount FROM ${q(table)} ORDER BY id`)) as Record<
      string,
      unknown
    >[];
    const expected = new Map(rows.map((r) => [String(r.id), { name: r.name, amount: String(r.amount) }]));
    const state = rebuild(records);
    expect(state.size).toBe(expected.size);
    for (const [id, row] of expected) {
      expect(state.get(id), `row ${id}`).toMatchObject({ name: row.name, amount: row.amount });
    }
    expect(records.filter((r) => r.op === 'read').length).toBeGreaterThanOrEqual(550);
  });
});
