// readDatabaseRows against the real PostgreSQL and MariaDB on loopback: keyset pages over a composite key, a
// session that refuses writes, and connection errors classified as the source classifies them.
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import { failure, readAll } from '../rows-helpers.js';

const backends = [{ type: 'postgres' as const }, { type: 'mariadb' as const }];

describe.each(backends)('readDatabaseRows ($type)', ({ type }) => {
  const { host, port, user, password, database } = services[type];
  const connection = { type, host, port, username: user, password, database } as const;
  const table = `rows_${randomBytes(4).toString('hex')}`;
  let admin: DataSource;

  beforeAll(async () => {
    admin = new DataSource({ ...connection, logging: false });
    await admin.initialize();
    const q = (name: string) => admin.driver.escape(name);
    await admin.query(
      `CREATE TABLE ${q(table)} (${q('region')} VARCHAR(8), ${q('id')} INTEGER, ${q('title')} VARCHAR(40), PRIMARY KEY (${q('region')}, ${q('id')}))`,
    );
    const values = Array.from({ length: 30 }, (_, i) => `('R${i % 4}', ${i}, 'case ${i}')`).reverse();
    await admin.query(`INSERT INTO ${q(table)} VALUES ${values.join(', ')}`);
  });

  afterAll(async () => {
    if (!admin?.isInitialized) return;
    await admin.query(`DROP TABLE IF EXISTS ${admin.driver.escape(table)}`);
    await admin.destroy();
  });

  it('reads every row once in key order, in pages', async () => {
    const { pages, rows } = await readAll({ connection, table, key: ['region', 'id'], pageSize: 7 });
    expect(pages).toEqual([7, 7, 7, 7, 2]);
    const keys = rows.map((r) => `${r.region}/${r.id}`);
    const expected = Array.from({ length: 30 }, (_, i) => ({ region: `R${i % 4}`, id: i }))
      .sort((a, b) => (a.region === b.region ? a.id - b.id : a.region < b.region ? -1 : 1))
      .map((k) => `${k.region}/${k.id}`);
    expect(keys).toEqual(expected);
    const query = await readAll({
      connection,
      query: `SELECT id, title FROM ${admin.driver.escape(table)} WHERE region = 'R1'`,
      key: ['id'],
      pageSize: 3,
    });
    expect(query.rows.map((r) => Number(r.id))).toEqual([1, 5, 9, 13, 17, 21, 25, 29]);
  });

  it('reads on a session that refuses writes', async () => {
    const q = (name: string) => admin.driver.escape(name);
    // Something with a side effect, reachable from a SELECT: a sequence (PostgreSQL), a locking read (MariaDB).
    const writing =
      type === 'postgres'
        ? `SELECT nextval('${table}_seq') AS id`
        : `SELECT ${q('id')} FROM ${q(table)} WHERE ${q('id')} = 1 FOR UPDATE`;
    if (type === 'postgres') await admin.query(`CREATE SEQUENCE ${table}_seq`);
    try {
      const error = await failure({ connection, query: writing, key: ['id'] });
      expect(error).toMatchObject({ code: 'DB_QUERY_FAILED', retryable: false });
      expect(String((error as Error).message)).toMatch(/read[- ]only/i);
    } finally {
      if (type === 'postgres') await admin.query(`DROP SEQUENCE IF EXISTS ${table}_seq`);
    }
  });

  it('classifies a refused password and a missing table as the source does', async () => {
    const auth = await failure({ connection: { ...connection, password: 'wrong' }, table, key: ['id'] });
    expect(auth).toMatchObject({ code: 'DB_AUTH_FAILED', retryable: false });
    const missing = await failure({ connection, table: `${table}_missing`, key: ['id'] });
    expect(missing).toMatchObject({ code: 'DB_TABLE_NOT_FOUND', retryable: false });
    const down = await failure({
      connection: { ...connection, port: 1, connectTimeoutMs: 1000 },
      table,
      key: ['id'],
    });
    expect(down).toMatchObject({ code: 'DB_CONNECTION_FAILED', retryable: true });
  });
});
