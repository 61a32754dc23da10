// Binlog mode on the real MariaDB (binlog on, ROW, FULL row image and metadata, started by the harness):
// snapshot then stream; inserts, updates, deletes, a multi-row transaction, a key change and an ALTER TABLE
// mid-stream; a transaction split across batches resumed mid-way; the binary log rotated while streaming;
// a purged binary log; the server id claimed by one pipeline at a time.
import { randomBytes } from 'node:crypto';
import type { ChangeRecord } from '@ferry/core/sdk';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import {
  type BinlogPosition,
  checkDatabaseSource,
  createDatabaseSource,
  DatabaseErrorCodes,
  parseDatabaseSourceConfig,
} from '../../src/index.js';
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
      const [stream] = (await source.discover?.()) ?? [];
      expect(stream).toMatchObject({
        name: table,
        key: ['id'],
        fields: [
          { name: 'id', type: 'int' },
          { name: 'name', type: 'text' },
          { name: 'qty', type: 'int' },
        ],
      });
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

  it('resumes a transaction split across batches mid-way, each change once with the same identity', async () => {
    const split = `${table}_split`;
    await admin.query(`CREATE TABLE ${split} (id INT PRIMARY KEY, v INT)`);
    const settings = config({ tables: [{ name: split, key: ['id'] }], batchSize: 3, snapshot: 'never' });
    const source = createDatabaseSource(settings);
    try {
      const start = await readOnce(source);
      await admin.transaction(async (m) => {
        for (let id = 1; id <= 10; id += 1) await m.query(`INSERT INTO ${split} VALUES (${id}, ${id})`);
      });
      await admin.query(`UPDATE ${split} SET v = 0 WHERE id = 1`);
      const whole = await readOnce(source, start.position);
      expect(whole.records.map((r) => r.key.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1]);
      // Two batches of three, then a crash: the checkpoint says the transaction is six changes in.
      const partial = await readOnce(source, start.position, 2);
      const at = partial.position as BinlogPosition;
      expect(at.skip).toBe(6);
      expect(at.txn).toBe(whole.records[0]?.origin.gtid);
      const rest = await readOnce(source, at);
      const all = [...partial.records, ...rest.records];
      expect(all.map((r) => [r.origin, r.sequence])).toEqual(
        whole.records.map((r) => [r.origin, r.sequence]),
      );
    } finally {
      await source.close();
      await admin.query(`DROP TABLE IF EXISTS ${split}`);
    }
  }, 60_000);

  it('follows the binary log across FLUSH LOGS', async () => {
    const rotating = `${table}_rot`;
    await admin.query(`CREATE TABLE ${rotating} (id INT PRIMARY KEY, v INT)`);
    const source = createDatabaseSource(
      config({ tables: [{ name: rotating, key: ['id'] }], snapshot: 'never' }),
    );
    try {
      const start = (await readOnce(source)).position as BinlogPosition;
      for (let id = 1; id <= 3; id += 1) {
        await admin.query(`INSERT INTO ${rotating} VALUES (${id}, 0)`);
        await admin.query('FLUSH BINARY LOGS');
      }
      const read = await readOnce(source, start);
      expect(read.records.map((r) => r.key.id)).toEqual([1, 2, 3]);
      const end = read.position as BinlogPosition;
      expect(end.file > start.file).toBe(true);
      // Resuming in the newest file reads nothing again.
      expect((await readOnce(source, end)).records).toEqual([]);
      // Health: how far behind the end of the log the last position read is, in bytes of log.
      const signal = new AbortController().signal;
      const before = (await source.health?.(signal))?.gauges?.binlog_behind_bytes ?? Number.NaN;
      await admin.query(
        `INSERT INTO ${rotating} VALUES ${Array.from({ length: 50 }, (_, i) => `(${100 + i}, ${i})`).join(', ')}`,
      );
      await admin.query('FLUSH BINARY LOGS');
      const after = await source.health?.(signal);
      expect(after?.gauges?.binlog_behind_bytes).toBeGreaterThanOrEqual(before + 400);
      expect(after?.gauges?.binlog_files).toBeGreaterThan(1);
    } finally {
      await source.close();
      await admin.query(`DROP TABLE IF EXISTS ${rotating}`);
    }
  }, 60_000);

  it('refuses a server id another pipeline is reading with, or the server’s own', async () => {
    const serverId = 500_000 + Number.parseInt(suffix.slice(0, 4), 16);
    const first = createDatabaseSource(config({ serverId, snapshot: 'never' }));
    const second = createDatabaseSource(config({ serverId, snapshot: 'never' }));
    const controller = new AbortController();
    const reading = (async () => {
      for await (const _ of first.read({
        from: undefined,
        signal: controller.signal,
        once: false,
        log: (await import('@ferry/core/sdk')).silentLogger(),
        caughtUp: () => undefined,
      })) {
        // streams until aborted
      }
    })();
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const error = await readOnce(second).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: DatabaseErrorCodes.DB_SERVER_ID_IN_USE, retryable: true });
    } finally {
      controller.abort();
      await reading.catch(() => undefined);
      await first.close();
      await second.close();
    }
    // Once the first has stopped, the id is free again.
    const third = createDatabaseSource(config({ serverId, snapshot: 'never' }));
    try {
      await expect(readOnce(third)).resolves.toBeDefined();
    } finally {
      await third.close();
    }
    const [own] = (await admin.query('SELECT @@server_id AS id')) as { id: number }[];
    const self = createDatabaseSource(config({ serverId: Number(own?.id), snapshot: 'never' }));
    try {
      await expect(readOnce(self)).rejects.toMatchObject({ code: DatabaseErrorCodes.DB_SERVER_ID_IN_USE });
    } finally {
      await self.close();
    }
  }, 60_000);

  it('runs with only REPLICATION SLAVE, REPLICATION CLIENT and SELECT, and ferry check names what is missing', async () => {
    const who = `ferry_bl_${suffix}`;
    const weak = `ferry_bw_${suffix}`;
    await admin.query(`CREATE USER '${who}'@'127.0.0.1' IDENTIFIED BY 'pw'`);
    await admin.query(`GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '${who}'@'127.0.0.1'`);
    await admin.query(`GRANT SELECT ON \`${database}\`.\`${table}\` TO '${who}'@'127.0.0.1'`);
    await admin.query(`CREATE USER '${weak}'@'127.0.0.1' IDENTIFIED BY 'pw'`);
    await admin.query(`GRANT SELECT ON \`${database}\`.\`${table}\` TO '${weak}'@'127.0.0.1'`);
    const as = (username: string) =>
      config({ connection: { ...connection, username, password: 'pw' }, snapshotChunkSize: 100 });
    const source = createDatabaseSource(as(who));
    try {
      expect(await checkDatabaseSource(parseDatabaseSourceConfig(as(who)))).toEqual([]);
      const first = await readOnce(source);
      expect(first.records.length).toBeGreaterThan(0);
      await admin.query(`INSERT INTO ${table} (id, label) VALUES (90, 'least')`);
      const second = await readOnce(source, first.position);
      expect(second.records.map((r) => [r.op, r.key.id])).toEqual([['create', 90]]);

      const findings = await checkDatabaseSource(parseDatabaseSourceConfig(as(weak)));
      expect(findings).toEqual([
        expect.objectContaining({
          severity: 'error',
          code: DatabaseErrorCodes.DB_REPLICATION_DENIED,
          fix: `GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '${weak}'@'127.0.0.1';`,
        }),
      ]);
      await expect(readOnce(createDatabaseSource(as(weak)))).rejects.toMatchObject({
        code: DatabaseErrorCodes.DB_REPLICATION_DENIED,
        retryable: false,
      });
    } finally {
      await source.close();
      await admin.query(`DROP USER IF EXISTS '${who}'@'127.0.0.1'`);
      await admin.query(`DROP USER IF EXISTS '${weak}'@'127.0.0.1'`);
    }
  }, 60_000);
});
