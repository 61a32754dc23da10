// Ferry never queues ahead of the legacy application for a lock, and never runs a statement unbounded, on
// the real PostgreSQL and MariaDB. The hazard: a statement of Ferry's that waits for a lock (triggers being
// installed while a legacy transaction is open) makes every later legacy statement on the table queue
// behind it, so one long legacy transaction plus Ferry stalls the whole application. With
// connection.lockTimeoutMs Ferry gives up (DB_BUSY, retryable) and the legacy write goes through.
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import {
  type DatabaseSourceConfigInput,
  installDatabaseTriggers,
  parseDatabaseSourceConfig,
} from '../../src/index.js';
import { Connection } from '../../src/internal/connection.js';

const backends = [{ type: 'postgres' as const }, { type: 'mariadb' as const }];

describe.each(backends)('database: lock and statement limits on $type', (backend) => {
  const { host, port, user, password, database } = services[backend.type];
  const connection = { type: backend.type, host, port, username: user, password, database } as const;
  const sessions: DataSource[] = [];
  const tables: string[] = [];

  /** A legacy application session of its own. */
  async function legacySession(): Promise<DataSource> {
    const session = new DataSource({ ...connection, logging: false, poolSize: 1 });
    await session.initialize();
    sessions.push(session);
    return session;
  }

  let admin: DataSource;
  beforeAll(async () => {
    admin = await legacySession();
  });

  afterAll(async () => {
    for (const table of tables) await admin.query(`DROP TABLE IF EXISTS ${admin.driver.escape(table)}`);
    for (const session of sessions) if (session.isInitialized) await session.destroy();
  });

  it('every session Ferry opens carries the statement and lock limits', async () => {
    const config = parseDatabaseSourceConfig({
      mode: 'polling',
      connection: { ...connection, statementTimeoutMs: 42_000, lockTimeoutMs: 2500 },
      tables: [{ name: 'whatever', key: ['id'], incrementingColumn: 'id' }],
    });
    const ferry = new Connection(config.connection, process.cwd());
    try {
      const dataSource = await ferry.open();
      // Two at once: both connections of the pool, not only the first one.
      const ask =
        backend.type === 'postgres'
          ? "SELECT current_setting('statement_timeout') AS statement, current_setting('lock_timeout') AS lock, pg_sleep(0.2)"
          : 'SELECT @@SESSION.max_statement_time AS statement, @@SESSION.lock_wait_timeout AS lck, @@SESSION.innodb_lock_wait_timeout AS innodb, SLEEP(0.2)';
      const rows = await Promise.all([dataSource.query(ask), dataSource.query(ask)]);
      for (const [row] of rows) {
        if (backend.type === 'postgres') expect(row).toMatchObject({ statement: '42s', lock: '2500ms' });
        else expect([row.statement, row.lck, row.innodb].map(Number)).toEqual([42, 3, 3]);
      }
    } finally {
      await ferry.close();
    }
  });

  it('installing triggers behind an open legacy transaction gives up, and the legacy write behind it goes through', async () => {
    const table = `ferry_lock_${randomBytes(4).toString('hex')}`;
    tables.push(table);
    const q = (name: string) => admin.driver.escape(name);
    await admin.query(`CREATE TABLE ${q(table)} (id INT PRIMARY KEY, name VARCHAR(50))`);
    await admin.query(`INSERT INTO ${q(table)} (id, name) VALUES (1, 'a')`);
    const config = parseDatabaseSourceConfig({
      mode: 'trigger',
      connection: { ...connection, lockTimeoutMs: 1000 },
      tables: [{ name: table, key: ['id'] }],
      journal: { table: `${table}_journal` },
    } satisfies DatabaseSourceConfigInput);
    tables.push(`${table}_journal`);

    // A legacy transaction left open on the table (a long batch job, a user at a form).
    const long = await legacySession();
    const runner = long.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    if (backend.type === 'postgres') await runner.query(`UPDATE ${q(table)} SET name = 'b' WHERE id = 1`);
    else await runner.query(`SELECT * FROM ${q(table)}`);

    try {
      const install = installDatabaseTriggers(config).then(
        () => 'installed',
        (error: unknown) => error,
      );
      // The next legacy write, from another session, with a patience of its own of 10 s.
      const writer = await legacySession();
      if (backend.type === 'postgres') await writer.query("SET lock_timeout = '10s'");
      else await writer.query('SET SESSION lock_wait_timeout = 10, innodb_lock_wait_timeout = 10');
      const started = performance.now();
      await writer.query(`INSERT INTO ${q(table)} (id, name) VALUES (2, 'c')`);
      const waited = performance.now() - started;
      // It waited at most for Ferry's lock timeout (1 s), never for the open transaction.
      expect(waited).toBeLessThan(8_000);
      expect(await install).toMatchObject({ code: 'DB_BUSY', retryable: true });
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
    // Once the legacy transaction is over, the same install goes through.
    await installDatabaseTriggers(config);
  });
});
