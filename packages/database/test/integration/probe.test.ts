// The readiness probe of the database source against the real PostgreSQL and MariaDB, a SQLite file, a port
// nothing listens on and a server that accepts connections but never answers. Nothing here is skipped.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FerryError, type Source } from '@ferry/core/sdk';
import { closedPort, settled, silentServer } from '@ferry/testkit';
import { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import { createDatabaseSource, type DatabaseSourceConfigInput } from '../../src/index.js';
import { keysOf, readOnce } from '../helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A hung server's port, closed after the test. */
async function hungPort(): Promise<number> {
  const server = await silentServer();
  cleanups.push(server.close);
  return server.port;
}

function track<S extends Source<never>>(source: S): S {
  cleanups.push(() => source.close());
  return source;
}

const probeOf = (source: Source<never>, signal = new AbortController().signal) => {
  if (source.probe === undefined) throw new Error('the database source has no probe');
  return source.probe(signal);
};

describe.each(['postgres', 'mariadb'] as const)('database source probe: %s', (type) => {
  const { host, port, user, password, database } = services[type];
  const connection = { type, host, port, username: user, password, database } as const;
  let admin: DataSource;
  const tables: string[] = [];

  beforeAll(async () => {
    admin = new DataSource({ ...connection, logging: false });
    await admin.initialize();
  });

  afterAll(async () => {
    if (!admin?.isInitialized) return;
    for (const table of tables) await admin.query(`DROP TABLE IF EXISTS ${admin.driver.escape(table)}`);
    await admin.destroy();
  });

  const polling = (options: Partial<DatabaseSourceConfigInput> = {}, table = 'ferry_probe_absent') =>
    track(
      createDatabaseSource({
        connection,
        tables: [{ name: table, key: ['id'], incrementingColumn: 'id' }],
        ...options,
      } as DatabaseSourceConfigInput & { mode?: 'polling' }) as Source<never>,
    );

  it('resolves against the live server in every mode, without touching the configured tables', async () => {
    // The table does not exist: the probe checks the server, reading and installing nothing.
    await expect(probeOf(polling())).resolves.toBeUndefined();
    const trigger = track(
      createDatabaseSource({
        mode: 'trigger',
        connection,
        tables: [{ name: 'ferry_probe_absent', key: ['id'] }],
        journal: { table: `ferry_probe_journal_${randomBytes(3).toString('hex')}` },
      }) as Source<never>,
    );
    await expect(probeOf(trigger)).resolves.toBeUndefined();
    if (type === 'postgres') {
      const logical = track(
        createDatabaseSource({
          mode: 'logical',
          connection,
          tables: [{ name: 'ferry_probe_absent', key: ['id'] }],
          slot: 'ferry_probe_absent',
          publication: 'ferry_probe_absent',
        }) as Source<never>,
      );
      await expect(probeOf(logical)).resolves.toBeUndefined();
    }
  });

  it('rejects quickly with DB_CONNECTION_FAILED (retryable) when nothing listens on the port', async () => {
    const source = track(
      createDatabaseSource({
        connection: { ...connection, port: await closedPort() },
        tables: [{ name: 'ferry_probe_absent', key: ['id'], incrementingColumn: 'id' }],
      }) as Source<never>,
    );
    const { error, ms } = await settled(probeOf(source));
    expect(error).toBeInstanceOf(FerryError);
    expect(error).toMatchObject({ code: 'DB_CONNECTION_FAILED', retryable: true });
    expect(ms).toBeLessThan(10_000);
  });

  it('rejects with DB_AUTH_FAILED (not retryable) when the server refuses the password', async () => {
    const { error } = await settled(probeOf(polling({ connection: { ...connection, password: 'wrong' } })));
    expect(error).toMatchObject({ code: 'DB_AUTH_FAILED', retryable: false });
  });

  it('does not disturb a read that runs alongside several probes', async () => {
    const table = `ferry_probe_${randomBytes(4).toString('hex')}`;
    tables.push(table);
    const name = admin.driver.escape(table);
    await admin.query(`CREATE TABLE ${name} (id BIGINT PRIMARY KEY, name VARCHAR(40) NOT NULL)`);
    const rows = 3000;
    for (let start = 1; start <= rows; start += 500) {
      const values = Array.from({ length: 500 }, (_, i) => `(${start + i}, 'row ${start + i}')`).join(', ');
      await admin.query(`INSERT INTO ${name} (id, name) VALUES ${values}`);
    }
    const source = polling({ batchSize: 50 }, table);
    let reading = true;
    let probes = 0;
    const probing = (async () => {
      // Several at once first, then one after another for as long as the read runs (and at least one more:
      // on a loaded machine the read can end before the first four have answered).
      await Promise.all([1, 2, 3, 4].map(() => probeOf(source)));
      probes += 4;
      for (let i = 0; (reading || probes < 5) && i < 200; i += 1) {
        await probeOf(source);
        probes += 1;
      }
    })();
    const read = readOnce(source as never).finally(() => {
      reading = false;
    });
    const [result] = await Promise.all([read, probing]);
    const expected = Array.from({ length: rows }, (_, i) => `${table}:${i + 1}`);
    expect(keysOf(result.records).sort()).toEqual(expected.sort());
    expect(result.batches.length).toBeGreaterThanOrEqual(rows / 50);
    expect(probes).toBeGreaterThanOrEqual(5);
  });
});

describe('database source probe: bounds', () => {
  const { user, password, database } = services.postgres;
  const hung = async (connectTimeoutMs: number) =>
    track(
      createDatabaseSource({
        connection: {
          type: 'postgres',
          host: '127.0.0.1',
          port: await hungPort(),
          username: user,
          password,
          database,
          connectTimeoutMs,
        },
        tables: [{ name: 'ferry_probe_absent', key: ['id'], incrementingColumn: 'id' }],
      }) as Source<never>,
    );

  it('gives up on a server that never answers within about 5 s, whatever connectTimeoutMs says', async () => {
    const { error, ms } = await settled(probeOf(await hung(60_000)));
    expect(error).toMatchObject({ code: 'DB_CONNECTION_FAILED', retryable: true });
    expect(ms).toBeGreaterThanOrEqual(4000);
    expect(ms).toBeLessThan(10_000);
  });

  it('settles as soon as the caller aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const { error, ms } = await settled(probeOf(await hung(60_000), controller.signal));
    expect(error).toMatchObject({ code: 'DB_CONNECTION_FAILED', retryable: true });
    expect((error as Error).message).toMatch(/cancelled/);
    expect(ms).toBeLessThan(2000);
  });

  it('refuses once the source is closed', async () => {
    const source = await hung(1000);
    await source.close();
    await expect(probeOf(source)).rejects.toMatchObject({ code: 'DB_CONNECTION_FAILED' });
  });
});

describe('database source probe: sqlite', () => {
  async function legacyFile(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-probe-'));
    const file = join(dir, 'legacy.db');
    const writer = new DataSource({ type: 'better-sqlite3', database: file, logging: false });
    await writer.initialize();
    await writer.query('CREATE TABLE ITEMS (ID INTEGER PRIMARY KEY, NAME TEXT NOT NULL)');
    const values = Array.from({ length: 500 }, (_, i) => `(${i + 1}, 'item ${i + 1}')`).join(', ');
    await writer.query(`INSERT INTO ITEMS VALUES ${values}`);
    await writer.destroy();
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return file;
  }

  const sqlite = (database: string, mode: 'polling' | 'trigger' = 'polling') =>
    track(
      createDatabaseSource({
        mode,
        connection: { type: 'better-sqlite3', database },
        tables: [{ name: 'ITEMS', key: ['ID'], ...(mode === 'polling' ? { incrementingColumn: 'ID' } : {}) }],
        batchSize: 20,
      } as DatabaseSourceConfigInput) as Source<never>,
    );

  it('resolves on the file, alongside a read that still gets every row', async () => {
    const source = sqlite(await legacyFile());
    const [result] = await Promise.all([
      readOnce(source as never),
      ...Array.from({ length: 5 }, () => probeOf(source)),
    ]);
    expect(result.records).toHaveLength(500);
    await expect(probeOf(source)).resolves.toBeUndefined();
  });

  it('resolves for trigger mode without creating the journal it would need', async () => {
    const file = await legacyFile();
    await expect(probeOf(sqlite(file, 'trigger'))).resolves.toBeUndefined();
    const check = new DataSource({ type: 'better-sqlite3', database: file, logging: false });
    await check.initialize();
    const names = (await check.query("SELECT name FROM sqlite_master WHERE type = 'table'")) as {
      name: string;
    }[];
    await check.destroy();
    expect(names.map((n) => n.name)).toEqual(['ITEMS']);
  });

  it('rejects with DB_CONNECTION_FAILED when the file is missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-probe-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const { error, ms } = await settled(probeOf(sqlite(join(dir, 'missing.db'))));
    expect(error).toMatchObject({ code: 'DB_CONNECTION_FAILED', retryable: false });
    expect(ms).toBeLessThan(10_000);
  });
});
