// The polling scenario against the real PostgreSQL and MariaDB that test/services/up.sh runs on loopback.
// A server that is down fails these tests; nothing here is skipped.
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import {
  createDatabaseSource,
  type DatabasePosition,
  type DatabaseSourceConfigInput,
} from '../../src/index.js';
import { identities, keysOf, readOnce } from '../helpers.js';

interface Backend {
  type: 'postgres' | 'mariadb';
  timestamp: string;
  binary: string;
  now: string;
}

const backends: Backend[] = [
  { type: 'postgres', timestamp: 'TIMESTAMP(6)', binary: 'BYTEA', now: 'CURRENT_TIMESTAMP' },
  { type: 'mariadb', timestamp: 'DATETIME(6)', binary: 'BLOB', now: 'CURRENT_TIMESTAMP(6)' },
];

/** Options of the polling mode as written. */
type PollingInput = Extract<DatabaseSourceConfigInput, { mode?: 'polling' }>;

describe.each(backends)('database source: polling $type', (backend) => {
  const { host, port, user, password, database } = services[backend.type];
  const connection = { type: backend.type, host, port, username: user, password, database } as const;
  let admin: DataSource;
  const created: string[] = [];

  beforeAll(async () => {
    admin = new DataSource({ ...connection, logging: false });
    await admin.initialize();
  });

  afterAll(async () => {
    if (!admin?.isInitialized) return;
    for (const table of created) await admin.query(`DROP TABLE IF EXISTS ${admin.driver.escape(table)}`);
    await admin.destroy();
  });

  const param = (index: number) => admin.driver.createParameter(`p${index}`, index);

  /** A fresh table for one test, named uniquely so tests never see each other's rows. */
  async function offendersTable(): Promise<string> {
    const name = `ferry_poll_${randomBytes(4).toString('hex')}`;
    created.push(name);
    await admin.query(
      `CREATE TABLE ${admin.driver.escape(name)} (
        off_id BIGINT PRIMARY KEY,
        name VARCHAR(100) NOT NULL,
        photo ${backend.binary},
        create_datetime ${backend.timestamp} NOT NULL,
        modify_datetime ${backend.timestamp} NOT NULL
      )`,
    );
    return name;
  }

  async function insert(table: string, id: number, name: string, modified: string, createdAt = modified) {
    const values = [0, 1, 2, 3, 4].map(param).join(', ');
    await admin.query(
      `INSERT INTO ${admin.driver.escape(table)} (off_id, name, photo, create_datetime, modify_datetime) VALUES (${values})`,
      [id, name, Buffer.from(name), createdAt, modified],
    );
  }

  function source(table: string, options: Partial<PollingInput> = {}) {
    return createDatabaseSource({
      connection,
      tables: [
        {
          name: table,
          key: ['off_id'],
          timestampColumn: 'modify_datetime',
          incrementingColumn: 'off_id',
          createdColumn: 'create_datetime',
        },
      ],
      ...options,
    });
  }

  async function readAll(table: string, from?: DatabasePosition, options: Partial<PollingInput> = {}) {
    const s = source(table, options);
    try {
      return await readOnce(s, from);
    } finally {
      await s.close();
    }
  }

  it('reads, resumes with only newer rows, and sees an update once', async () => {
    const table = await offendersTable();
    // Microseconds matter: a driver Date would round these to the same millisecond and read rows again.
    await insert(table, 1, 'Al', '2024-01-01 10:00:00.000001');
    await insert(table, 2, 'Bea', '2024-01-01 10:00:00.000002');
    await insert(table, 3, 'Cy', '2024-01-01 10:00:00.000002');

    const first = await readAll(table, undefined, { batchSize: 2 });
    expect(keysOf(first.records)).toEqual([`${table}:1`, `${table}:2`, `${table}:3`]);
    expect(first.batches.map((b) => b.records.length)).toEqual([2, 1]);
    expect(first.records[0]).toMatchObject({
      stream: table,
      op: 'create',
      after: { name: 'Al', photo: Buffer.from('Al').toString('base64') },
      origin: { table, ts: '2024-01-01 10:00:00.000001' },
    });
    expect(first.records[0]?.occurredAt).toBeInstanceOf(Date);
    expect(typeof first.records[0]?.after?.modify_datetime).toBe('string');
    // The timestamp as the database renders it (fraction padded to nine digits), then the id zero-padded.
    expect(first.records.map((r) => r.sequence)).toEqual([
      '2024-01-01 10:00:00.000001000.00000000000000000001',
      '2024-01-01 10:00:00.000002000.00000000000000000002',
      '2024-01-01 10:00:00.000002000.00000000000000000003',
    ]);
    const saved = JSON.parse(JSON.stringify(first.position)) as DatabasePosition;

    const idle = await readAll(table, saved);
    expect(idle.records).toEqual([]);

    await insert(table, 4, 'Di', '2024-01-01 10:00:00.000003');
    await admin.query(
      `UPDATE ${admin.driver.escape(table)} SET name = ${param(0)}, modify_datetime = ${param(1)} WHERE off_id = 1`,
      ['Al Jr', '2024-01-02 09:00:00.5'],
    );
    const second = await readAll(table, saved);
    expect(keysOf(second.records)).toEqual([`${table}:4`, `${table}:1`]);
    expect(second.records.map((r) => r.op)).toEqual(['create', 'update']);
    expect(second.records[1]?.after?.name).toBe('Al Jr');
    expect(second.records[1]?.sequence).toBe('2024-01-02 09:00:00.500000000.00000000000000000001');
    // The same pass read again gives the same records, origins and sequences.
    const again = await readAll(table, saved);
    expect(identities(again.records)).toEqual(identities(second.records));

    const third = await readAll(table, second.position);
    expect(third.records).toEqual([]);
  });

  it('loses and repeats nothing when equal timestamps span pages and the run resumes between them', async () => {
    const table = await offendersTable();
    for (let id = 1; id <= 7; id += 1) await insert(table, id, `same-${id}`, '2024-01-01 10:00:00.123456');
    await insert(table, 8, 'later', '2024-01-01 10:00:00.123457');

    const seen: string[] = [];
    let position: DatabasePosition | undefined;
    for (let run = 0; run < 10; run += 1) {
      const s = source(table, { batchSize: 3 });
      const result = await readOnce(s, position, 1).finally(() => s.close());
      if (result.records.length === 0) break;
      seen.push(...keysOf(result.records));
      position = JSON.parse(JSON.stringify(result.position)) as DatabasePosition;
    }
    expect(seen).toEqual(Array.from({ length: 8 }, (_, i) => `${table}:${i + 1}`));
  });

  it('leaves rows newer than delayMs (by the database clock) for a later poll', async () => {
    const table = await offendersTable();
    await insert(table, 1, 'old', '2020-01-01 00:00:00');
    await admin.query(
      `INSERT INTO ${admin.driver.escape(table)} (off_id, name, create_datetime, modify_datetime) VALUES (2, 'now', ${backend.now}, ${backend.now})`,
    );

    const delayed = await readAll(table, undefined, { delayMs: 60_000 });
    expect(keysOf(delayed.records)).toEqual([`${table}:1`]);
    const rest = await readAll(table, delayed.position);
    expect(keysOf(rest.records)).toEqual([`${table}:2`]);
  });

  it('describes the table through discover()', async () => {
    const table = await offendersTable();
    const s = source(table);
    try {
      const [stream] = (await s.discover?.()) ?? [];
      expect(stream?.name).toBe(table);
      expect(stream?.key).toEqual(['off_id']);
      expect(stream?.fields?.map((f) => f.name)).toEqual([
        'off_id',
        'name',
        'photo',
        'create_datetime',
        'modify_datetime',
      ]);
    } finally {
      await s.close();
    }
  });

  it('fails with DB_TABLE_NOT_FOUND for a missing table and DB_AUTH_FAILED for a wrong password', async () => {
    const missing = `ferry_missing_${randomBytes(4).toString('hex')}`;
    await expect(readAll(missing)).rejects.toMatchObject({ code: 'DB_TABLE_NOT_FOUND', retryable: false });

    const table = await offendersTable();
    const wrong = createDatabaseSource({
      connection: { ...connection, password: 'not-the-password' },
      tables: [{ name: table, key: ['off_id'], incrementingColumn: 'off_id' }],
    });
    const error = await readOnce(wrong)
      .catch((e: unknown) => e)
      .finally(() => wrong.close());
    expect(error).toMatchObject({ code: 'DB_AUTH_FAILED', retryable: false });
    expect((error as Error).message).not.toContain('not-the-password');
  });

  it('fails with a retryable DB_CONNECTION_FAILED when nothing listens on the port', async () => {
    const s = createDatabaseSource({
      connection: { ...connection, port: 1, connectTimeoutMs: 2000 },
      tables: [{ name: 'anything', key: ['id'], incrementingColumn: 'id' }],
    });
    await expect(readOnce(s).finally(() => s.close())).rejects.toMatchObject({
      code: 'DB_CONNECTION_FAILED',
      retryable: true,
    });
  });
});
