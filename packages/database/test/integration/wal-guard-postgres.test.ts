// The WAL a logical slot holds back on the real PostgreSQL: while a pipeline is behind or stopped, the
// server cannot recycle WAL and the legacy disk fills. The source reports what it holds (a gauge) and,
// past maxRetainedWalBytes, a problem the runtime logs and `ferry serve` puts on /readyz.
import { randomBytes } from 'node:crypto';
import { createLogger, runPipeline } from '@ferry/core';
import type { ChangeRecord } from '@ferry/core/sdk';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import {
  createDatabaseSlot,
  createDatabaseSource,
  type DatabaseSourceConfigInput,
  dropDatabaseSlot,
  type LogicalPosition,
  parseDatabaseSourceConfig,
} from '../../src/index.js';

describe('database source: logical slot WAL guard (postgres)', () => {
  const { host, port, user, password, database } = services.postgres;
  const connection = { type: 'postgres', host, port, username: user, password, database } as const;
  let admin: DataSource;
  const suffix = randomBytes(4).toString('hex');
  const table = `ferry_wal_${suffix}`;
  const config = (options: Partial<DatabaseSourceConfigInput> = {}) =>
    ({
      mode: 'logical',
      connection,
      tables: [{ name: table, key: ['id'] }],
      slot: `ferry_wal_${suffix}`,
      publication: `ferry_wal_${suffix}`,
      snapshot: 'never',
      ...options,
    }) as DatabaseSourceConfigInput & { mode: 'logical' };

  beforeAll(async () => {
    admin = new DataSource({ ...connection, logging: false });
    await admin.initialize();
    await admin.query(`CREATE TABLE ${table} (id BIGINT PRIMARY KEY, payload TEXT)`);
    await createDatabaseSlot(parseDatabaseSourceConfig(config()));
    // Changes nobody reads: the slot holds their WAL back.
    await admin.query(`INSERT INTO ${table} SELECT g, repeat('x', 200) FROM generate_series(1, 2000) AS g`);
  });

  afterAll(async () => {
    await dropDatabaseSlot(parseDatabaseSourceConfig(config()), {}, { dropPublication: true }).catch(
      () => undefined,
    );
    await admin?.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    if (admin?.isInitialized) await admin.destroy();
  });

  async function health(options: Partial<DatabaseSourceConfigInput> = {}) {
    const source = createDatabaseSource(config(options));
    try {
      return await source.health!(AbortSignal.timeout(10_000));
    } finally {
      await source.close();
    }
  }

  it('reports the WAL the slot holds back, with no problem under the limit', async () => {
    const report = await health();
    const [row] = (await admin.query(
      `SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), restart_lsn)::bigint AS retained
         FROM pg_replication_slots WHERE slot_name = $1`,
      [`ferry_wal_${suffix}`],
    )) as { retained: string }[];
    // At least the 2,000 rows of 200 bytes written since the slot was created, and no more than the server says.
    expect(report.gauges?.slot_retained_wal_bytes).toBeGreaterThan(400_000);
    expect(report.gauges?.slot_retained_wal_bytes).toBeLessThanOrEqual(Number(row?.retained));
    expect(report.problems).toEqual([]);
  });

  it('past maxRetainedWalBytes, says so with the size, the limit and the fix', async () => {
    const report = await health({ maxRetainedWalBytes: 100_000 });
    expect(report.problems).toHaveLength(1);
    expect(report.problems?.[0]).toMatchObject({ code: 'DB_SLOT_WAL_RETAINED' });
    expect(report.problems?.[0]?.message).toMatch(
      new RegExp(
        `replication slot ferry_wal_${suffix} .* holds back [\\d.]+ (KiB|MiB) of WAL \\(maxRetainedWalBytes 97.7 KiB\\).*drop-slot`,
      ),
    );
  });

  it('a running pipeline logs the warning when it starts, before it has read anything', async () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'warn',
      destination: { write: (line: string) => void lines.push(line) },
    });
    const reports: number[] = [];
    const stop = new AbortController();
    await runPipeline({
      name: 'wal-guard',
      source: createDatabaseSource(config({ maxRetainedWalBytes: 100_000 })),
      mapping: { canonicalType: 'test.row', map: () => null },
      sink: { type: 'memory', write: async () => {}, close: async () => {} },
      deadLetters: { type: 'memory', write: async () => {}, close: async () => {} },
      checkpoints: { type: 'memory', load: async () => undefined, save: async () => {} },
      logger,
      signal: stop.signal,
      observer: {
        sourceHealth(info) {
          reports.push(info.problems.length);
          stop.abort();
        },
      },
    });
    expect(reports[0]).toBe(1);
    expect(
      lines.some((line) => line.includes('legacy system at risk') && line.includes('DB_SLOT_WAL_RETAINED')),
    ).toBe(true);
  });
});

describe('database source: onWalLimit on a slot over its limit (postgres)', () => {
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

  /** A table of 5 rows read once by a pipeline; then 2,000 rows written while the pipeline is away. */
  async function behind(onWalLimit: 'warn' | 'resnapshot') {
    const name = `ferry_wl_${randomBytes(4).toString('hex')}`;
    await admin.query(`CREATE TABLE ${name} (id BIGINT PRIMARY KEY, payload TEXT)`);
    await admin.query(`INSERT INTO ${name} SELECT g, 'first' FROM generate_series(1, 5) AS g`);
    const config = {
      mode: 'logical',
      connection,
      tables: [{ name, key: ['id'] }],
      slot: name,
      publication: name,
      createSlot: true,
      maxRetainedWalBytes: 100_000,
      onWalLimit,
    } as DatabaseSourceConfigInput & { mode: 'logical' };
    cleanup.push(async () => {
      await dropDatabaseSlot(parseDatabaseSourceConfig(config), {}, { dropPublication: true });
      await admin.query(`DROP TABLE IF EXISTS ${name}`);
    });
    const first = await read(config, undefined);
    expect(first.records.filter((r) => r.op === 'read')).toHaveLength(5);
    const restart = await restartLsn(name);
    await admin.query(`INSERT INTO ${name} SELECT g, repeat('x', 200) FROM generate_series(6, 2005) AS g`);
    return { config, from: first.position, restart, name };
  }

  async function restartLsn(slot: string): Promise<string | undefined> {
    const [row] = (await admin.query(
      'SELECT restart_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    )) as { lsn: string }[];
    return row?.lsn;
  }

  async function read(
    config: DatabaseSourceConfigInput & { mode: 'logical' },
    from: LogicalPosition | undefined,
  ) {
    const lines: string[] = [];
    const log = createLogger({
      level: 'info',
      destination: { write: (line: string) => void lines.push(line) },
    });
    const source = createDatabaseSource(config);
    const records: ChangeRecord[] = [];
    let position = from;
    try {
      for await (const batch of source.read({
        from,
        signal: new AbortController().signal,
        once: true,
        log,
        caughtUp: () => undefined,
      })) {
        records.push(...batch.records);
        position = batch.position;
      }
    } finally {
      await source.close();
    }
    return { records, position, lines };
  }

  it('resnapshot: drops the slot, creates it again and snapshots every row, saying why', async () => {
    const { config, from, restart, name } = await behind('resnapshot');
    const again = await read(config, from);
    const ops = new Set(again.records.map((r) => r.op));
    expect([...ops]).toEqual(['read']);
    expect(again.records).toHaveLength(2005);
    expect(
      again.lines.some((l) => l.includes('"level":"error"') && l.includes('dropping it and starting again')),
    ).toBe(true);
    // A new slot: its restart LSN is past the WAL the old one held.
    const now = await restartLsn(name);
    expect(now).toBeDefined();
    expect(now).not.toBe(restart);
  });

  it('warn (the default): keeps the slot and streams what was written', async () => {
    const { config, from, restart, name } = await behind('warn');
    const again = await read(config, from);
    expect(again.records.filter((r) => r.op === 'create')).toHaveLength(2000);
    expect(again.records.some((r) => r.op === 'read')).toBe(false);
    expect(await restartLsn(name)).toBe(restart);
  });

  it('resnapshot without createSlot is refused at load, naming the option', () => {
    expect(() =>
      parseDatabaseSourceConfig({
        mode: 'logical',
        connection,
        tables: [{ name: 't', key: ['id'] }],
        onWalLimit: 'resnapshot',
      }),
    ).toThrow(/onWalLimit.*createSlot: true/s);
  });
});
