// Reads that a busy legacy server survives, on the real PostgreSQL and MariaDB: polls and snapshots paced to
// maxRowsPerSecond, and a snapshot in progress (the logical mode's REPEATABLE READ transaction, the trigger
// mode's chunks) never blocking the legacy application's own writes, each bounded by a lock timeout of its own.
import { randomBytes } from 'node:crypto';
import type { Clock } from '@ferry/core/sdk';
import { silentLogger } from '@ferry/core/sdk';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import {
  createDatabaseSource,
  type DatabaseSourceConfigInput,
  dropDatabaseSlot,
  parseDatabaseSourceConfig,
  uninstallDatabaseTriggers,
} from '../../src/index.js';
import { readOnce } from '../helpers.js';

/** A clock whose time moves only by the waits asked of it: the waits of a read add up to exactly its pacing. */
class WaitLog implements Clock {
  waited = 0;
  private readonly start = Date.now();
  now(): number {
    return this.start + this.waited;
  }
  async sleep(ms: number): Promise<void> {
    this.waited += ms;
  }
}

const ROWS = 300;
const backends = [{ type: 'postgres' as const }, { type: 'mariadb' as const }];

describe.each(backends)('database: gentle reads on $type', (backend) => {
  const { host, port, user, password, database } = services[backend.type];
  const connection = { type: backend.type, host, port, username: user, password, database } as const;
  let admin: DataSource;
  const cleanup: (() => Promise<unknown>)[] = [];
  const q = (name: string) => admin.driver.escape(name);

  beforeAll(async () => {
    admin = new DataSource({ ...connection, logging: false });
    await admin.initialize();
  });

  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    if (admin?.isInitialized) await admin.destroy();
  });

  async function table(): Promise<string> {
    const name = `ferry_gentle_${randomBytes(4).toString('hex')}`;
    await admin.query(`CREATE TABLE ${q(name)} (id INT PRIMARY KEY, name VARCHAR(50), seen INT NOT NULL)`);
    const values = Array.from({ length: ROWS }, (_, i) => `(${i + 1}, 'row ${i + 1}', ${i + 1})`).join(', ');
    await admin.query(`INSERT INTO ${q(name)} (id, name, seen) VALUES ${values}`);
    cleanup.push(() => admin.query(`DROP TABLE IF EXISTS ${q(name)}`));
    return name;
  }

  const modes =
    backend.type === 'postgres'
      ? (['polling', 'trigger', 'logical'] as const)
      : (['polling', 'trigger'] as const);

  function configFor(
    mode: (typeof modes)[number],
    name: string,
    extra: Partial<DatabaseSourceConfigInput> = {},
  ) {
    const common = { connection, maxRowsPerSecond: 100, ...extra };
    if (mode === 'polling')
      return { mode, ...common, tables: [{ name, key: ['id'], incrementingColumn: 'seen' }], batchSize: 50 };
    if (mode === 'trigger')
      return {
        mode,
        ...common,
        tables: [{ name, key: ['id'] }],
        journal: { table: `${name}_j` },
        installTriggers: true,
        snapshotChunkSize: 50,
      };
    return {
      mode,
      ...common,
      tables: [{ name, key: ['id'] }],
      slot: name,
      publication: name,
      createSlot: true,
      snapshotChunkSize: 50,
    };
  }

  function forget(mode: (typeof modes)[number], config: DatabaseSourceConfigInput): void {
    if (mode === 'trigger')
      cleanup.push(() =>
        uninstallDatabaseTriggers(parseDatabaseSourceConfig(config), {}, { dropJournal: true }),
      );
    if (mode === 'logical')
      cleanup.push(() => dropDatabaseSlot(parseDatabaseSourceConfig(config), {}, { dropPublication: true }));
  }

  it.each(modes)('%s: reading 300 rows at 100 rows/s waits exactly 3 s in all', async (mode) => {
    const name = await table();
    const config = configFor(mode, name) as DatabaseSourceConfigInput;
    forget(mode, config);
    const clock = new WaitLog();
    const source = createDatabaseSource(config, { clock });
    try {
      const { records } = await readOnce(source);
      expect(records).toHaveLength(ROWS);
    } finally {
      await source.close();
    }
    expect(clock.waited).toBe(3000);
  });

  const snapshotting = modes.filter((m) => m !== 'polling');
  it.each(snapshotting)(
    '%s: the legacy application writes freely while a snapshot is half read',
    async (mode) => {
      const name = await table();
      const config = configFor(mode, name, { maxRowsPerSecond: 0 }) as DatabaseSourceConfigInput;
      forget(mode, config);
      const source = createDatabaseSource(config);
      const stop = new AbortController();
      const batches = source
        .read({
          from: undefined,
          signal: stop.signal,
          once: true,
          log: silentLogger(),
          caughtUp: () => undefined,
        })
        [Symbol.asyncIterator]();
      const legacy = new DataSource({ ...connection, logging: false, poolSize: 1 });
      await legacy.initialize();
      try {
        // The snapshot has read its first chunk and holds whatever it holds between chunks.
        const first = await batches.next();
        expect(first.value?.records.length).toBe(50);
        // The legacy application's own writes, each with a patience of 3 s: none waits on Ferry.
        if (backend.type === 'postgres') await legacy.query("SET lock_timeout = '3s'");
        else await legacy.query('SET SESSION lock_wait_timeout = 3, innodb_lock_wait_timeout = 3');
        const started = performance.now();
        await legacy.query(`UPDATE ${q(name)} SET name = 'changed' WHERE id <= 100`);
        await legacy.query(`DELETE FROM ${q(name)} WHERE id = 299`);
        await legacy.query(`INSERT INTO ${q(name)} (id, name, seen) VALUES (301, 'new', 301)`);
        expect(performance.now() - started).toBeLessThan(3000);
        // And the snapshot goes on to the end.
        let rows = first.value?.records.length ?? 0;
        for (let next = await batches.next(); !next.done; next = await batches.next())
          rows += next.value.records.length;
        expect(rows).toBeGreaterThanOrEqual(ROWS - 1);
      } finally {
        stop.abort();
        await batches.return?.(undefined);
        await source.close();
        await legacy.destroy();
      }
    },
  );
});
