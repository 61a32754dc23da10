// Binlog mode on the real MariaDB (binlog on, ROW, FULL row image and metadata, started by the harness):
// snapshot then stream; inserts, updates, deletes, a multi-row transaction, a key change and an ALTER TABLE
// mid-stream; a transaction split across batches resumed mid-way; the binary log rotated while streaming;
// a purged binary log; the server id claimed by one pipeline at a time.
import { randomBytes } from 'node:crypto';
import type { ChangeRecord } from '@ferry/core/sdk';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import { type BinlogPosition, createDatabaseSource, DatabaseErrorCodes } from '../../src/index.js';
import { readOnce } from '../helpers.js';

const { host, port, user, password, database } = services.mariadb;
const connection = { type: 'mariadb', host, port, username: user, password, database } as const;

/** The state a consumer rebuilds from the records: the last image per key (deletes remove it). */
function stateOf(records: ChangeRecord[]): Map<string, Record<string, unknown>> {
  const state = new Map<string, Record<string, unknown>>();
  for (const record of records) {
    const key = JSON.stringify(record.key);
    if (record.op === 'delete') state.delete(key);
    else if (record.after !== undefined) state.set(key, record.after);
  }
  return state;
}

describe('binlog mode: MariaDB', () => {
  const suffix = randomBytes(4).toString('hex');
  const table = `ferry_binlog_${suffix}`;
  let admin: DataSource;
  const config = (extra: Record<string, unknown> = {}) => ({
    mode: 'binlog' as const,
    connection,
    tables: [{ name: table, key: ['id'] }],
    serverId: 100_000 + Number.parseInt(suffix.slice(0, 4), 16),
    ...extra,
  });

  beforeAll(async () => {
    admin = new DataSource({ ...connection, logging: false });
    await admin.initialize();
    await admin.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, name VARCHAR(40), qty INT)`);
    await admin.query(`INSERT INTO ${table} VALUES (1, 'one', 1), (2, 'two', 2), (3, 'three', 3)`);
  });

  afterAll(async () => {
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await admin.destroy();
  });

  it('snapshots, then streams every change once in commit order, following an ALTER TABLE', async () => {
    const source = createDatabaseSource(config({ snapshotChunkSize: 2 }));
    try {
      const first = await readOnce(source);
      expect(first.records.map((r) => [r.op, r.key.id])).toEqual([
        ['read', 1],
        ['read', 2],
        ['read', 3],
      ]);
      expect(first.position?.snapshot).toBeUndefined();

      await admin.query(`INSERT INTO ${table} VALUES (4, 'four', 4)`);
      await admin.query(`UPDATE ${table} SET qty = 20 WHERE id = 2`);
      await admin.query(`DELETE FROM ${table} WHERE id = 3`);
      await admin.transaction(async (m) => {
        await m.query(`INSERT INTO ${table} VALUES (5, 'five', 5), (6, 'six', 6)`);
        await m.query(`UPDATE ${table} SET qty = qty + 100 WHERE id IN (5, 6)`);
      });
      await admin.query(`UPDATE ${table} SET id = 10 WHERE id = 1`);
      await admin.query(`ALTER TABLE ${table} ADD COLUMN note VARCHAR(20) DEFAULT 'x', DROP COLUMN qty`);
      await admin.query(`INSERT INTO ${table} (id, name, note) VALUES (7, 'seven', 'n7')`);
      await admin.query(`ALTER TABLE ${table} CHANGE COLUMN name label VARCHAR(40)`);
      await admin.query(`UPDATE ${table} SET label = 'TWO' WHERE id = 2`);

      const second = await readOnce(source, first.position);
      expect(second.records.map((r) => [r.op, r.key.id])).toEqual([
        ['create', 4],
        ['update', 2],
        ['delete', 3],
        ['create', 5],
        ['create', 6],
        ['update', 5],
        ['update', 6],
        ['delete', 1],
        ['create', 10],
        ['create', 7],
        ['update', 2],
      ]);
      const deleted = second.records.find((r) => r.op === 'delete' && r.key.id === 3);
      expect(deleted?.before).toEqual({ id: 3, name: 'three', qty: 3 });
      // Rows written before the ALTER decode with the columns they were written with; after, with the new ones.
      expect(second.records[1]?.after).toEqual({ id: 2, name: 'two', qty: 20 });
      expect(second.records[9]?.after).toEqual({ id: 7, name: 'seven', note: 'n7' });
      expect(second.records[10]?.after).toEqual({ id: 2, label: 'TWO', note: 'x' });
      // A transaction's rows share its GTID in their origin.
      const [five, six] = [second.records[3], second.records[4]];
      expect(five?.origin.gtid).toMatch(/^\d+-\d+-\d+$/);
      expect(six?.origin.gtid).toBe(five?.origin.gtid);
      expect(second.position?.gtid).toMatch(/^\d+-\d+-\d+/);

      // The rows rebuilt from the records are the table's (rows untouched since the ALTER keep their image).
      const rows = (await admin.query(`SELECT * FROM ${table} ORDER BY id`)) as Record<string, unknown>[];
      const state = stateOf([...first.records, ...second.records]);
      expect([...state.keys()].sort()).toEqual(rows.map((r) => JSON.stringify({ id: r.id })).sort());
      expect(state.get('{"id":2}')).toEqual(rows.find((r) => r.id === 2));

      // Nothing new: a resumed read ends at once and reads nothing.
      const third = await readOnce(source, second.position);
      expect(third.records).toEqual([]);
    } finally {
      await source.close();
    }
  }, 60_000);
});
