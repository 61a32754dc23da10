// Polling against a real SQLite file: what is read first, what a resume reads, how pages split, how a pass
// ends and stops, the records' sequences, and what its errors, positions and options say.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createFileCheckpointStore,
  createFileDeadLetterSink,
  createFileSink,
  createRegistry,
  parsePipelineConfig,
  readEventLog,
  runPipeline,
} from '@ferry/core';
import { FerryError, sequenceOf, silentLogger } from '@ferry/core/sdk';
import { MemoryCheckpoints, MemoryDeadLetters, MemorySink } from '@ferry/testkit';
import { DataSource } from 'typeorm';
import { afterEach, describe, expect, it } from 'vitest';
import {
  classifyDatabaseError,
  createDatabaseSource,
  type DatabasePosition,
  type DatabaseSourceConfigInput,
  databaseModeSchemas,
  databasePositionSchema,
  databaseSourceConfigSchema,
  databaseSourceFactory,
} from '../../src/index.js';
import { normaliseValue, parseOccurredAt, sequencePart } from '../../src/internal/values.js';
import { identities, keysOf, readOnce } from '../helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Legacy {
  dir: string;
  exec(sql: string, params?: unknown[]): Promise<unknown>;
}

/** A legacy SQLite file in a fresh directory, with a writer connection the test uses like the legacy app. */
async function legacyDatabase(...ddl: string[]): Promise<Legacy> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-db-'));
  const writer = new DataSource({ type: 'better-sqlite3', database: join(dir, 'legacy.db'), logging: false });
  await writer.initialize();
  for (const statement of ddl) await writer.query(statement);
  cleanups.push(async () => {
    await writer.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, exec: (sql, params = []) => writer.query(sql, params) };
}

const OFFENDERS = `CREATE TABLE OFFENDERS (
  OFF_ID INTEGER PRIMARY KEY,
  NAME TEXT NOT NULL,
  CREATE_DATETIME TEXT NOT NULL,
  MODIFY_DATETIME TEXT
)`;

async function insertOffender(
  legacy: Legacy,
  id: number,
  name: string,
  ts: string,
  created = ts,
): Promise<void> {
  await legacy.exec(
    'INSERT INTO OFFENDERS (OFF_ID, NAME, CREATE_DATETIME, MODIFY_DATETIME) VALUES (?, ?, ?, ?)',
    [id, name, created, ts],
  );
}

function offendersSource(legacy: Legacy, overrides: Partial<PollingInput> = {}, table = {}) {
  const source = createDatabaseSource(
    {
      connection: { type: 'better-sqlite3', database: './legacy.db' },
      tables: [
        {
          name: 'OFFENDERS',
          key: ['OFF_ID'],
          timestampColumn: 'MODIFY_DATETIME',
          incrementingColumn: 'OFF_ID',
          createdColumn: 'CREATE_DATETIME',
          ...table,
        },
      ],
      ...overrides,
    },
    { baseDir: legacy.dir },
  );
  cleanups.push(() => source.close());
  return source;
}

/** Options of the polling mode as written. */
type PollingInput = Extract<DatabaseSourceConfigInput, { mode?: 'polling' }>;

describe('database source: polling SQLite', () => {
  it('reads every row on a first run, oldest first, with a JSON position', async () => {
    const legacy = await legacyDatabase(OFFENDERS);
    await insertOffender(legacy, 2, 'Bea', '2024-01-01 10:00:02');
    await insertOffender(legacy, 1, 'Al', '2024-01-01 10:00:01');
    await insertOffender(legacy, 3, 'Cy', '2024-01-01 10:00:03');
    const source = offendersSource(legacy);

    const { batches, records, position } = await readOnce(source);

    expect(batches).toHaveLength(1);
    expect(records.map((r) => r.key)).toEqual([{ OFF_ID: 1 }, { OFF_ID: 2 }, { OFF_ID: 3 }]);
    expect(records[0]).toEqual({
      stream: 'OFFENDERS',
      op: 'create',
      key: { OFF_ID: 1 },
      after: {
        OFF_ID: 1,
        NAME: 'Al',
        CREATE_DATETIME: '2024-01-01 10:00:01',
        MODIFY_DATETIME: '2024-01-01 10:00:01',
      },
      occurredAt: new Date('2024-01-01T10:00:01Z'),
      origin: { table: 'OFFENDERS', ts: '2024-01-01 10:00:01', id: 1 },
      // The tracking values: the timestamp as stored (fraction padded), then the id zero-padded.
      sequence: '2024-01-01 10:00:01.000000000.00000000000000000001',
    });
    expect(position).toEqual({ tables: { OFFENDERS: { ts: '2024-01-01 10:00:03', id: 3 } } });
    expect(JSON.parse(JSON.stringify(position))).toEqual(position);
  });

  it('resumes from a saved position with only the newer rows', async () => {
    const legacy = await legacyDatabase(OFFENDERS);
    await insertOffender(legacy, 1, 'Al', '2024-01-01 10:00:01');
    await insertOffender(legacy, 2, 'Bea', '2024-01-01 10:00:02');
    const first = await readOnce(offendersSource(legacy));
    await insertOffender(legacy, 3, 'Cy', '2024-01-01 10:00:03');
    await insertOffender(legacy, 4, 'Di', '2024-01-01 10:00:04');

    // Through JSON, as a checkpoint store would keep it.
    const saved = JSON.parse(JSON.stringify(first.position)) as DatabasePosition;
    const second = await readOnce(offendersSource(legacy), saved);

    expect(keysOf(second.records)).toEqual(['OFFENDERS:3', 'OFFENDERS:4']);
    const third = await readOnce(offendersSource(legacy), second.position);
    expect(third.records).toEqual([]);
    expect(third.position).toEqual(second.position);
  });

  it('reads an updated row (timestamp bumped) exactly once more, as an update', async () => {
    const legacy = await legacyDatabase(OFFENDERS);
    await insertOffender(legacy, 1, 'Al', '2024-01-01 10:00:01');
    await insertOffender(legacy, 2, 'Bea', '2024-01-01 10:00:02');
    await insertOffender(legacy, 3, 'Cy', '2024-01-01 10:00:03');
    const first = await readOnce(offendersSource(legacy));
    await legacy.exec(
      "UPDATE OFFENDERS SET NAME = 'Al Jr', MODIFY_DATETIME = '2024-01-02 09:00:00' WHERE OFF_ID = 1",
    );

    const second = await readOnce(offendersSource(legacy), first.position);

    expect(second.records).toHaveLength(1);
    expect(second.records[0]).toMatchObject({
      op: 'update',
      key: { OFF_ID: 1 },
      after: { NAME: 'Al Jr', MODIFY_DATETIME: '2024-01-02 09:00:00' },
      origin: { table: 'OFFENDERS', ts: '2024-01-02 09:00:00', id: 1 },
    });
    // A different version of the row has a different origin, hence a different event id, and sorts after it.
    expect(second.records[0]?.origin).not.toEqual(first.records[0]?.origin);
    expect(String(second.records[0]?.sequence) > String(first.records[0]?.sequence)).toBe(true);
    // Read again from the same position: the same records with the same sequences.
    const again = await readOnce(offendersSource(legacy), first.position);
    expect(identities(again.records)).toEqual(identities(second.records));
  });

  it('loses and repeats nothing when a run of equal timestamps spans pages and the run resumes between them', async () => {
    const legacy = await legacyDatabase(OFFENDERS);
    await insertOffender(legacy, 1, 'first', '2024-01-01 09:00:00');
    for (let id = 2; id <= 11; id += 1) await insertOffender(legacy, id, `same-${id}`, '2024-01-01 10:00:00');
    await insertOffender(legacy, 12, 'last', '2024-01-01 11:00:00');

    const seen: string[] = [];
    let position: DatabasePosition | undefined;
    for (let run = 0; run < 20; run += 1) {
      // A new source per page, resuming from the position of the last one: a restart between every page.
      const result = await readOnce(offendersSource(legacy, { batchSize: 3 }), position, 1);
      if (result.records.length === 0) break;
      expect(result.records.length).toBeLessThanOrEqual(3);
      seen.push(...keysOf(result.records));
      position = JSON.parse(JSON.stringify(result.position)) as DatabasePosition;
    }

    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => `OFFENDERS:${i + 1}`));
  });

  it('with a timestamp column alone, extends a page to the whole run of equal timestamps', async () => {
    const legacy = await legacyDatabase(OFFENDERS);
    for (let id = 1; id <= 5; id += 1) await insertOffender(legacy, id, `a-${id}`, '2024-01-01 10:00:00');
    for (let id = 6; id <= 7; id += 1) await insertOffender(legacy, id, `b-${id}`, '2024-01-01 10:00:05');

    const seen: string[] = [];
    let position: DatabasePosition | undefined;
    for (let run = 0; run < 10; run += 1) {
      const source = offendersSource(legacy, { batchSize: 2 }, { incrementingColumn: undefined });
      const result = await readOnce(source, position, 1);
      if (result.records.length === 0) break;
      seen.push(...keysOf(result.records));
      position = JSON.parse(JSON.stringify(result.position)) as DatabasePosition;
    }

    expect(seen).toEqual(Array.from({ length: 7 }, (_, i) => `OFFENDERS:${i + 1}`));
    expect(position).toEqual({ tables: { OFFENDERS: { ts: '2024-01-01 10:00:05', id: null } } });
  });

  it('with an incrementing column alone, reads new rows in id order', async () => {
    const legacy = await legacyDatabase(OFFENDERS);
    for (let id = 1; id <= 5; id += 1) await insertOffender(legacy, id, `n-${id}`, '2024-01-01 10:00:00');
    const source = () =>
      offendersSource(legacy, { batchSize: 2 }, { timestampColumn: undefined, createdColumn: undefined });

    const first = await readOnce(source());
    expect(first.batches.map((b) => b.records.length)).toEqual([2, 2, 1]);
    await insertOffender(legacy, 6, 'n-6', '2020-01-01 00:00:00');
    const second = await readOnce(source(), first.position);

    expect(keysOf(second.records)).toEqual(['OFFENDERS:6']);
    expect(second.position).toEqual({ tables: { OFFENDERS: { ts: null, id: 6 } } });
    expect(second.records[0]?.op).toBe('update');
  });

  it('a pass ends when every table is caught up, in once mode or not, without waiting for the poll interval', async () => {
    const legacy = await legacyDatabase(
      OFFENDERS,
      'CREATE TABLE ALIASES (ALIAS_ID INTEGER PRIMARY KEY, TS TEXT)',
    );
    for (let id = 1; id <= 5; id += 1) await insertOffender(legacy, id, `n-${id}`, `2024-01-01 10:00:0${id}`);
    await legacy.exec("INSERT INTO ALIASES VALUES (1, '2024-01-01 10:00:00')");
    const source = offendersSource(legacy, {
      batchSize: 2,
      pollIntervalMs: 60_000,
      tables: [
        {
          name: 'OFFENDERS',
          schema: 'main',
          key: ['OFF_ID'],
          timestampColumn: 'MODIFY_DATETIME',
          incrementingColumn: 'OFF_ID',
        },
        { name: 'ALIASES', key: ['ALIAS_ID'], incrementingColumn: 'ALIAS_ID' },
      ],
    });
    expect(source.cadence).toEqual({ kind: 'passes', intervalMs: 60_000 });

    const started = Date.now();
    const { records, batches, position } = await readOnce(source, undefined, Number.POSITIVE_INFINITY, false);

    expect(Date.now() - started).toBeLessThan(5000);
    expect(records.filter((r) => r.stream === 'main.OFFENDERS')).toHaveLength(5);
    expect(records.filter((r) => r.stream === 'ALIASES')).toHaveLength(1);
    // A page of each table in turn, and every position carries every table read so far.
    expect(batches.map((b) => b.records[0]?.stream)).toEqual([
      'main.OFFENDERS',
      'ALIASES',
      'main.OFFENDERS',
      'main.OFFENDERS',
    ]);
    expect(batches[1]?.position.tables).toHaveProperty('ALIASES');
    expect(position).toEqual({
      tables: {
        'main.OFFENDERS': { ts: '2024-01-01 10:00:05', id: 5 },
        ALIASES: { ts: null, id: 1 },
      },
    });
  });

  it('stops a pass at once when aborted or closed, and closes twice without error', async () => {
    const legacy = await legacyDatabase(OFFENDERS);
    for (let id = 1; id <= 3; id += 1) await insertOffender(legacy, id, `n-${id}`, `2024-01-01 10:00:0${id}`);
    const pass = (source: ReturnType<typeof offendersSource>, signal: AbortSignal) =>
      source
        .read({ from: undefined, signal, once: false, log: silentLogger(), caughtUp: () => undefined })
        [Symbol.asyncIterator]();

    const controller = new AbortController();
    const aborted = pass(offendersSource(legacy, { batchSize: 1 }), controller.signal);
    expect((await aborted.next()).value?.records).toHaveLength(1);
    controller.abort();
    expect((await aborted.next()).done).toBe(true);

    const source = offendersSource(legacy, { batchSize: 1 });
    const closed = pass(source, new AbortController().signal);
    expect((await closed.next()).value?.records).toHaveLength(1);
    await source.close();
    await source.close();
    expect((await closed.next()).done).toBe(true);
  });

  it('reads a WAL-mode database that the legacy application keeps writing', async () => {
    const legacy = await legacyDatabase('PRAGMA journal_mode = WAL', OFFENDERS);
    await insertOffender(legacy, 1, 'Al', '2024-01-01 10:00:01');
    const first = await readOnce(offendersSource(legacy));
    await insertOffender(legacy, 2, 'Bea', '2024-01-01 10:00:02');

    const second = await readOnce(offendersSource(legacy), first.position);

    expect(keysOf(first.records)).toEqual(['OFFENDERS:1']);
    expect(keysOf(second.records)).toEqual(['OFFENDERS:2']);
  });

  it("says 'create' when the created column equals the timestamp column, else 'update'", async () => {
    const legacy = await legacyDatabase(OFFENDERS);
    await insertOffender(legacy, 1, 'new', '2024-01-01 10:00:00', '2024-01-01 10:00:00');
    await insertOffender(legacy, 2, 'changed', '2024-01-02 10:00:00', '2024-01-01 10:00:00');
    await legacy.exec(
      "INSERT INTO OFFENDERS (OFF_ID, NAME, CREATE_DATETIME, MODIFY_DATETIME) VALUES (3, 'x', '2024-01-01', '2024-01-03 10:00:00')",
    );

    const { records } = await readOnce(offendersSource(legacy));

    expect(records.map((r) => [r.key.OFF_ID, r.op])).toEqual([
      [1, 'create'],
      [2, 'update'],
      [3, 'update'],
    ]);
  });

  it('normalises values to JSON and takes occurredAt from the timestamp column', async () => {
    const legacy = await legacyDatabase(
      'CREATE TABLE CASES (CASE_ID INTEGER PRIMARY KEY, PHOTO BLOB, AMOUNT REAL, NOTE TEXT, MODIFIED TEXT NOT NULL)',
    );
    await legacy.exec('INSERT INTO CASES VALUES (?, ?, ?, ?, ?)', [
      7,
      Buffer.from('scan'),
      12.5,
      null,
      '2024-03-04T05:06:07.890+02:00',
    ]);
    const source = offendersSource(legacy, {
      tables: [
        { name: 'CASES', key: ['CASE_ID'], timestampColumn: 'MODIFIED', incrementingColumn: 'CASE_ID' },
      ],
    });

    const { records } = await readOnce(source);

    expect(records[0]?.after).toEqual({
      CASE_ID: 7,
      PHOTO: Buffer.from('scan').toString('base64'),
      AMOUNT: 12.5,
      NOTE: null,
      MODIFIED: '2024-03-04T05:06:07.890+02:00',
    });
    expect(records[0]?.occurredAt?.toISOString()).toBe('2024-03-04T03:06:07.890Z');

    expect(normaliseValue(new Date('2024-01-02T03:04:05.678Z'))).toBe('2024-01-02T03:04:05.678Z');
    expect(normaliseValue(12345678901234567890n)).toBe('12345678901234567890');
    expect(normaliseValue(Buffer.from([0, 255]))).toBe('AP8=');
    expect(parseOccurredAt('2024-01-02 03:04:05')?.toISOString()).toBe('2024-01-02T03:04:05.000Z');
    expect(parseOccurredAt('2024-01-02 03:04:05.123456+00')?.toISOString()).toBe('2024-01-02T03:04:05.123Z');
    expect(parseOccurredAt(1_700_000_000)).toBeUndefined();
    expect(parseOccurredAt('not a date')).toBeUndefined();
  });

  it('reads only the configured columns, plus the key and tracking columns', async () => {
    const legacy = await legacyDatabase(OFFENDERS);
    await insertOffender(legacy, 1, 'Al', '2024-01-01 10:00:01');

    const { records } = await readOnce(
      offendersSource(legacy, {}, { columns: ['NAME'], createdColumn: undefined }),
    );

    expect(records[0]?.after).toEqual({ NAME: 'Al', OFF_ID: 1, MODIFY_DATETIME: '2024-01-01 10:00:01' });
  });

  it('leaves rows newer than delayMs for a later poll', async () => {
    const legacy = await legacyDatabase(OFFENDERS);
    await insertOffender(legacy, 1, 'old', '2020-01-01 00:00:00');
    await legacy.exec(
      "INSERT INTO OFFENDERS VALUES (2, 'just now', strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now'))",
    );

    const delayed = await readOnce(offendersSource(legacy, { delayMs: 60_000 }));
    const immediate = await readOnce(offendersSource(legacy, { delayMs: 0 }));

    expect(keysOf(delayed.records)).toEqual(['OFFENDERS:1']);
    expect(keysOf(immediate.records)).toEqual(['OFFENDERS:1', 'OFFENDERS:2']);
  });

  it('skips rows whose timestamp is NULL instead of losing the position', async () => {
    const legacy = await legacyDatabase(OFFENDERS);
    await legacy.exec("INSERT INTO OFFENDERS VALUES (1, 'never modified', '2024-01-01', NULL)");
    await insertOffender(legacy, 2, 'Bea', '2024-01-01 10:00:02');

    const { records, position } = await readOnce(offendersSource(legacy));

    expect(keysOf(records)).toEqual(['OFFENDERS:2']);
    expect(position).toEqual({ tables: { OFFENDERS: { ts: '2024-01-01 10:00:02', id: 2 } } });
  });

  it('describes the configured tables through discover()', async () => {
    const legacy = await legacyDatabase(OFFENDERS);
    const source = offendersSource(legacy, {}, { columns: ['NAME', 'NICKNAME'] });

    const streams = await source.discover?.();

    expect(streams).toHaveLength(1);
    expect(streams?.[0]).toMatchObject({
      name: 'OFFENDERS',
      key: ['OFF_ID'],
      fields: [
        { name: 'OFF_ID', type: 'integer', nullable: false },
        { name: 'NAME', type: 'text', nullable: false },
        { name: 'CREATE_DATETIME', type: 'text', nullable: false },
        { name: 'MODIFY_DATETIME', type: 'text', nullable: true },
      ],
    });
    expect(streams?.[0]?.notes?.join('\n')).toContain('configured but not in the table: NICKNAME');
  });

  it('discover() says only what SQLite guarantees: a rowid alias is never null, other primary keys may be', async () => {
    const legacy = await legacyDatabase(
      'CREATE TABLE MOVES (MOVE_REF TEXT PRIMARY KEY, SEQ INT, MODIFY_DATETIME TEXT NOT NULL)',
      'CREATE TABLE LEGS (TRIP INTEGER, LEG INTEGER, MODIFY_DATETIME TEXT, PRIMARY KEY (TRIP, LEG))',
    );
    const source = createDatabaseSource(
      {
        connection: { type: 'better-sqlite3', database: './legacy.db' },
        tables: [
          { name: 'MOVES', key: ['MOVE_REF'], timestampColumn: 'MODIFY_DATETIME' },
          { name: 'LEGS', key: ['TRIP', 'LEG'], timestampColumn: 'MODIFY_DATETIME' },
        ],
      },
      { baseDir: legacy.dir },
    );
    try {
      const [moves, legs] = (await source.discover?.()) ?? [];
      // SQLite lets a TEXT (or INT, or composite) primary key hold NULL; only INTEGER PRIMARY KEY is the rowid.
      expect(moves?.fields?.find((f) => f.name === 'MOVE_REF')?.nullable).toBe(true);
      expect(legs?.fields?.filter((f) => f.nullable).map((f) => f.name)).toEqual([
        'TRIP',
        'LEG',
        'MODIFY_DATETIME',
      ]);
    } finally {
      await source.close();
    }
  });

  it('fails with DB_TABLE_NOT_FOUND, not retryable, naming the table', async () => {
    const legacy = await legacyDatabase(OFFENDERS);
    const source = offendersSource(legacy, {}, { name: 'OFFENDRES' });

    const error = await readOnce(source).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(FerryError);
    expect(error).toMatchObject({ code: 'DB_TABLE_NOT_FOUND', retryable: false });
    expect((error as Error).message).toContain('OFFENDRES');
    expect((error as Error).message).toContain('tables[].name');
    await expect(source.discover?.()).rejects.toMatchObject({ code: 'DB_TABLE_NOT_FOUND' });
  });

  it('fails with DB_COLUMN_NOT_FOUND when a tracking column is misspelt', async () => {
    const legacy = await legacyDatabase(OFFENDERS);
    const source = offendersSource(legacy, {}, { timestampColumn: 'MODIFIED_DATETIME' });

    await expect(readOnce(source)).rejects.toMatchObject({ code: 'DB_COLUMN_NOT_FOUND', retryable: false });
  });

  it('refuses a missing SQLite file without creating it', async () => {
    const legacy = await legacyDatabase(OFFENDERS);
    const source = offendersSource(legacy, {
      connection: { type: 'better-sqlite3', database: 'nope/missing.db' },
    });

    const error = await readOnce(source).catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'DB_CONNECTION_FAILED', retryable: false });
    expect((error as Error).message).toContain(join(legacy.dir, 'nope/missing.db'));
    await expect(
      import('node:fs/promises').then((fs) => fs.access(join(legacy.dir, 'nope'))),
    ).rejects.toThrow();
  });

  it('declares its positions: core refuses a malformed checkpoint before the read, the source one of another mode', async () => {
    const legacy = await legacyDatabase(OFFENDERS);
    await insertOffender(legacy, 1, 'Al', '2024-01-01 10:00:01');
    const run = async (checkpoint: unknown) => {
      const checkpoints = new MemoryCheckpoints();
      await checkpoints.save('offenders', checkpoint);
      const sink = new MemorySink();
      const error = await runPipeline({
        name: 'offenders',
        source: offendersSource(legacy),
        mapping: {
          canonicalType: 'justice.offender',
          map: (r) => ({ subject: String(r.key.OFF_ID), data: r.after }),
        },
        sink,
        deadLetters: new MemoryDeadLetters(),
        checkpoints,
        positionSchema: databasePositionSchema,
        once: true,
        retry: { retries: 0 },
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      return { error, events: sink.events.length };
    };

    const malformed = await run({ file: 'x.csv', line: 3 });
    expect(malformed.error).toMatchObject({ code: 'CHECKPOINT_INVALID', retryable: false });
    expect((malformed.error as Error).message).toContain('tables');
    expect(malformed.events).toBe(0);
    const badValue = await run({ tables: { OFFENDERS: { ts: true, id: 1 } } });
    expect((badValue.error as Error).message).toContain('tables.OFFENDERS.ts');

    // A trigger checkpoint fits the schema of the database source but not this polling source.
    const otherMode = await run({ mode: 'trigger', seq: 4, gaps: [] });
    expect(otherMode.error).toMatchObject({ code: 'DB_POSITION_INVALID', retryable: false });
    expect((otherMode.error as Error).message).toContain('database trigger position');
    expect(otherMode.events).toBe(0);

    for (const position of [
      { tables: { OFFENDERS: { ts: '2024-01-01 10:00:01', id: 1 } } },
      {
        mode: 'trigger',
        seq: 12,
        gaps: [{ seq: 10, at: 1 }],
        snapshot: { pending: ['t'], after: { id: 3 } },
      },
      { mode: 'logical', lsn: '0/1E07D68', xid: 10401, skip: 2 },
    ]) {
      expect(databasePositionSchema.safeParse(position).success, JSON.stringify(position)).toBe(true);
    }
  });

  it('gives sequences that sort like the tracking values, whatever the timestamp text looks like', () => {
    const sequence = (ts: string | number | null, id: string | number | null) =>
      sequenceOf(...[ts, id].filter((v) => v !== null).map(sequencePart));
    const ordered = [
      sequence('2024-01-01 10:00:00', 123_456_789_012_345),
      sequence('2024-01-01 10:00:00.000001', 1),
      sequence('2024-01-01 10:00:00.5', '9'),
      sequence('2024-01-01 10:00:00.5', '10'),
      sequence('2024-01-01 10:00:01', 2),
    ];
    expect([...ordered].sort()).toEqual(ordered);
    expect(sequence(null, '18446744073709551615')).toBe('18446744073709551615');
    expect([sequence(null, 99), sequence(null, 100)].sort()).toEqual([
      sequence(null, 99),
      sequence(null, 100),
    ]);
  });

  it('runs under the pipeline runtime: a second run over the same checkpoint writes nothing new', async () => {
    const legacy = await legacyDatabase(OFFENDERS);
    for (let id = 1; id <= 7; id += 1) await insertOffender(legacy, id, `n-${id}`, `2024-01-01 10:00:0${id}`);
    const run = () =>
      runPipeline({
        name: 'offenders',
        source: offendersSource(legacy, { batchSize: 3 }),
        mapping: {
          canonicalType: 'justice.offender',
          map: (record) => ({ subject: String(record.key.OFF_ID), data: record.after }),
        },
        sink: createFileSink({ dir: join(legacy.dir, 'events') }),
        deadLetters: createFileDeadLetterSink({ dir: join(legacy.dir, 'dlq'), pipeline: 'offenders' }),
        checkpoints: createFileCheckpointStore({ dir: join(legacy.dir, 'checkpoints') }),
        once: true,
      });

    const first = await run();
    const second = await run();
    await insertOffender(legacy, 8, 'n-8', '2024-01-01 10:00:09');
    const third = await run();

    expect([first.eventsWritten, second.eventsWritten, third.eventsWritten]).toEqual([7, 0, 1]);
    const events = [];
    for await (const event of readEventLog(join(legacy.dir, 'events', 'justice.offender.v1.jsonl')))
      events.push(event);
    expect(events.map((e) => e.subject)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
    expect(new Set(events.map((e) => e.id)).size).toBe(8);
  });
});

describe('database source: options', () => {
  const valid = {
    connection: { type: 'better-sqlite3', database: './legacy.db' },
    tables: [{ name: 'OFFENDERS', key: ['OFF_ID'], incrementingColumn: 'OFF_ID' }],
  };
  const issues = (input: unknown) => {
    const result = databaseSourceConfigSchema.safeParse(input);
    return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('applies the defaults', () => {
    expect(databaseSourceConfigSchema.parse(valid)).toMatchObject({
      mode: 'polling',
      batchSize: 500,
      pollIntervalMs: 1000,
      delayMs: 0,
      connection: { busyTimeoutMs: 5000 },
    });
  });

  it.each([
    ['an empty table name', { name: '' }, 'tables.0.name', 'a table name must not be empty'],
    ['a NUL in a schema name', { schema: 'main\u0000x' }, 'tables.0.schema', 'control characters'],
    ['a line break in a key column', { key: ['OFF\nID'] }, 'tables.0.key.0', 'control characters'],
    ['a tab in a tracking column', { timestampColumn: 'TS\t' }, 'tables.0.timestampColumn', 'control'],
  ])('refuses %s, naming its path', (_what, table, path, message) => {
    const found = issues({ ...valid, tables: [{ ...valid.tables[0], ...table }] });
    expect(found.some((i) => i.startsWith(`${path}:`) && i.includes(message))).toBe(true);
  });

  it('accepts the names legacy systems have: spaces, mixed case, reserved words, non-ASCII, quotes', () => {
    for (const name of [
      'Agency Locations',
      'MOVEMENTS_LOG',
      'order',
      'user',
      'Bücher',
      'x"; DROP TABLE y; --',
    ]) {
      expect(issues({ ...valid, tables: [{ ...valid.tables[0], name, schema: name }] }), name).toEqual([]);
    }
  });

  it("refuses a name beyond the server's limit: 63 bytes on PostgreSQL, 64 characters on MariaDB", () => {
    const server = { host: 'db', username: 'u', database: 'd' };
    const pg = { ...valid, connection: { type: 'postgres', ...server } };
    const maria = { ...valid, connection: { type: 'mariadb', ...server } };
    const table = (name: string) => [{ ...valid.tables[0], name }];
    // 32 two-byte letters: 32 characters, 64 bytes.
    expect(issues({ ...pg, tables: table('ü'.repeat(32)) })).toEqual([
      'tables.0.name: the name is 64 bytes long; PostgreSQL names are at most 63 bytes',
    ]);
    expect(issues({ ...pg, tables: table('u'.repeat(63)) })).toEqual([]);
    expect(issues({ ...maria, tables: table('ü'.repeat(64)) })).toEqual([]);
    expect(issues({ ...maria, tables: table('ü'.repeat(65)) })).toEqual([
      'tables.0.name: the name is 65 characters long; MariaDB names are at most 64 characters',
    ]);
    expect(
      issues({
        ...pg,
        mode: 'trigger',
        tables: [{ name: 'T', key: ['K'] }],
        journal: { table: 'j'.repeat(64) },
      }),
    ).toEqual(['journal.table: the name is 64 bytes long; PostgreSQL names are at most 63 bytes']);
  });

  it('rejects a table with neither a timestamp nor an incrementing column', () => {
    expect(issues({ ...valid, tables: [{ name: 'OFFENDERS', key: ['OFF_ID'] }] })).toEqual([
      'tables.0: table OFFENDERS needs timestampColumn, incrementingColumn or both to know which rows are new',
    ]);
  });

  it('rejects contradictions: createdColumn without timestampColumn, a table listed twice', () => {
    const twice = issues({
      ...valid,
      tables: [valid.tables[0], { ...valid.tables[0], createdColumn: 'CREATED' }],
    });
    expect(twice).toContain(
      'tables.1.createdColumn: createdColumn is compared with timestampColumn, so timestampColumn is required with it',
    );
    expect(twice.some((i) => i.startsWith('tables.1.name: stream OFFENDERS is already configured'))).toBe(
      true,
    );
  });

  it('rejects unknown options and connection fields of another database type', () => {
    expect(issues({ ...valid, pollInterval: 5 })).toEqual([': Unrecognized key: "pollInterval"']);
    expect(
      issues({ ...valid, connection: { type: 'better-sqlite3', database: 'x', host: 'h' } }),
    ).toHaveLength(1);
    expect(issues({ ...valid, connection: { type: 'oracle', database: 'x' } })).toHaveLength(1);
  });

  it('throws a ConfigError from createDatabaseSource on invalid options', () => {
    expect(() =>
      createDatabaseSource({
        ...valid,
        tables: [{ name: '', key: ['a'], incrementingColumn: 'a' }],
      } as DatabaseSourceConfigInput),
    ).toThrow(/source\.tables\[0\]\.name: a table name must not be empty/);
  });

  it('validates the source section of a pipeline file, naming the line of a bad table name', async () => {
    const registry = createRegistry();
    registry.sources.set(databaseSourceFactory.type, databaseSourceFactory);
    const yaml = (name: string) =>
      [
        'pipeline: offenders',
        'source:',
        '  type: database',
        '  connection: { type: better-sqlite3, database: ./legacy.db }',
        '  tables:',
        `    - name: "${name}"`,
        '      key: [OFF_ID]',
        '      incrementingColumn: OFF_ID',
        'mapping: { fields: { id: { from: OFF_ID } }, subject: id }',
        'contract: { type: justice.offender, version: 1.0.0 }',
      ].join('\n');

    const loaded = await parsePipelineConfig(yaml('OFFENDERS'), '/pipelines/offenders.yaml', registry);
    expect(loaded.source.options).toMatchObject({ mode: 'polling', batchSize: 500 });
    expect(loaded.notes[0]).toMatch(/^source \(database\): polling cannot see deletes/);

    const error = await parsePipelineConfig(
      yaml('OFFENDERS\\u0000'),
      '/pipelines/offenders.yaml',
      registry,
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CONFIG_INVALID' });
    expect((error as Error).message).toContain('offenders.yaml:6:');
    expect((error as Error).message).toContain(
      'source.tables[0].name: a table name must not contain control characters',
    );
  });

  it('documents every option and tells validate that deletes are invisible', () => {
    const config = databaseSourceConfigSchema.parse(valid);
    const notes = databaseSourceFactory.notes?.(config) ?? [];
    expect(notes[0]).toMatch(/^polling cannot see deletes/);
    expect(notes.join('\n')).toContain('updates to existing rows are not seen');
    for (const [mode, schema] of Object.entries(databaseModeSchemas)) {
      for (const [name, option] of Object.entries(schema.shape)) {
        expect(option.description, `${mode}.${name}`).toBeTruthy();
      }
    }
  });
});

describe('classifyDatabaseError', () => {
  const cases: [string, Record<string, unknown>, string, boolean][] = [
    [
      'wal_level not logical',
      { code: '55000', message: 'logical decoding requires wal_level >= logical' },
      'DB_LOGICAL_DISABLED',
      false,
    ],
    [
      'slot active elsewhere',
      { code: '55006', message: 'replication slot "ferry" is active for PID 4242' },
      'DB_SLOT_IN_USE',
      true,
    ],
    [
      'slot missing',
      { code: '42704', message: 'replication slot "ferry" does not exist' },
      'DB_SLOT_MISSING',
      false,
    ],
    [
      'no REPLICATION attribute',
      { code: '42501', message: 'must be superuser or replication role to start walsender' },
      'DB_REPLICATION_DENIED',
      false,
    ],
    [
      'slot invalidated',
      { code: '55000', message: 'can no longer get changes from replication slot "ferry"' },
      'DB_SLOT_INVALIDATED',
      false,
    ],
    [
      'connection refused',
      { code: 'ECONNREFUSED', errno: -111, syscall: 'connect' },
      'DB_CONNECTION_FAILED',
      true,
    ],
    ['connection reset', { code: 'ECONNRESET' }, 'DB_CONNECTION_FAILED', true],
    ['timeout', { code: 'ETIMEDOUT' }, 'DB_CONNECTION_FAILED', true],
    ['broken pipe', { code: 'EPIPE' }, 'DB_CONNECTION_FAILED', true],
    ['unknown host', { code: 'ENOTFOUND' }, 'DB_CONNECTION_FAILED', false],
    ['pg connection failure (08006)', { code: '08006', severity: 'FATAL' }, 'DB_CONNECTION_FAILED', true],
    ['pg cannot connect now (08001)', { code: '08001' }, 'DB_CONNECTION_FAILED', true],
    ['pg serialization failure', { code: '40001' }, 'DB_CONFLICT', true],
    ['pg deadlock', { code: '40P01' }, 'DB_CONFLICT', true],
    ['pg admin shutdown', { code: '57P01' }, 'DB_CONNECTION_FAILED', true],
    ['pg crash shutdown', { code: '57P02' }, 'DB_CONNECTION_FAILED', true],
    ['pg cannot connect now (57P03)', { code: '57P03' }, 'DB_CONNECTION_FAILED', true],
    ['pg bad password', { code: '28P01' }, 'DB_AUTH_FAILED', false],
    ['pg no such role', { code: '28000' }, 'DB_AUTH_FAILED', false],
    ['pg undefined table', { code: '42P01' }, 'DB_TABLE_NOT_FOUND', false],
    ['pg undefined column', { code: '42703' }, 'DB_COLUMN_NOT_FOUND', false],
    ['pg syntax error', { code: '42601' }, 'DB_QUERY_FAILED', false],
    ['pg permission denied', { code: '42501' }, 'DB_PERMISSION_DENIED', false],
    ['pg unknown database', { code: '3D000' }, 'DB_DATABASE_NOT_FOUND', false],
    ['pg statement timeout', { code: '57014' }, 'DB_TIMEOUT', true],
    [
      'mysql access denied',
      { code: 'ER_ACCESS_DENIED_ERROR', errno: 1045, sqlState: '28000' },
      'DB_AUTH_FAILED',
      false,
    ],
    [
      'mysql connection lost',
      { code: 'PROTOCOL_CONNECTION_LOST', fatal: true },
      'DB_CONNECTION_FAILED',
      true,
    ],
    ['mysql deadlock', { code: 'ER_LOCK_DEADLOCK', errno: 1213, sqlState: '40001' }, 'DB_CONFLICT', true],
    ['mysql lock wait timeout', { code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205 }, 'DB_BUSY', true],
    ['mysql no such table', { code: 'ER_NO_SUCH_TABLE', errno: 1146 }, 'DB_TABLE_NOT_FOUND', false],
    ['mysql bad column', { code: 'ER_BAD_FIELD_ERROR', errno: 1054 }, 'DB_COLUMN_NOT_FOUND', false],
    ['mysql unknown database', { code: 'ER_BAD_DB_ERROR', errno: 1049 }, 'DB_DATABASE_NOT_FOUND', false],
    ['mysql syntax error', { code: 'ER_PARSE_ERROR', errno: 1064 }, 'DB_QUERY_FAILED', false],
    [
      'binary log purged (1236)',
      {
        code: 'ER_MASTER_FATAL_ERROR_READING_BINLOG',
        errno: 1236,
        message:
          'Could not find GTID state requested by slave in any binlog files. Probably the slave state is too old and required binlog files have been purged.',
      },
      'DB_BINLOG_PURGED',
      false,
    ],
    [
      'binary log read without REPLICATION SLAVE',
      {
        code: 'ER_SPECIFIC_ACCESS_DENIED_ERROR',
        errno: 1227,
        message:
          'Access denied; you need (at least one of) the REPLICATION SLAVE privilege(s) for this operation',
      },
      'DB_REPLICATION_DENIED',
      false,
    ],
    ['sqlite busy', { code: 'SQLITE_BUSY' }, 'DB_BUSY', true],
    ['sqlite busy (extended)', { code: 'SQLITE_BUSY_SNAPSHOT' }, 'DB_BUSY', true],
    ['sqlite locked', { code: 'SQLITE_LOCKED' }, 'DB_BUSY', true],
    ['sqlite cannot open', { code: 'SQLITE_CANTOPEN' }, 'DB_CONNECTION_FAILED', false],
    [
      'sqlite error',
      { code: 'SQLITE_ERROR', message: 'near "SELEC": syntax error' },
      'DB_QUERY_FAILED',
      false,
    ],
    [
      'sqlite no such table',
      { code: 'SQLITE_ERROR', message: 'no such table: OFF' },
      'DB_TABLE_NOT_FOUND',
      false,
    ],
    [
      'sqlite no such column',
      { code: 'SQLITE_ERROR', message: 'no such column: TS' },
      'DB_COLUMN_NOT_FOUND',
      false,
    ],
    ['pg connection ended', { message: 'Connection terminated unexpectedly' }, 'DB_CONNECTION_FAILED', true],
    [
      'mysql2 command on a closed connection',
      { message: "Can't add new command when connection is in closed state" },
      'DB_CONNECTION_FAILED',
      true,
    ],
    ['anything else', { message: 'something odd' }, 'DB_QUERY_FAILED', false],
  ];

  it.each(cases)('%s', (_name, fields, code, retryable) => {
    const native = Object.assign(new Error(String(fields.message ?? 'native error')), fields);
    const error = classifyDatabaseError(native, {
      operation: 'query',
      stream: 'main.OFFENDERS',
      target: 'sqlite x.db',
    });
    expect(error).toBeInstanceOf(FerryError);
    expect({ code: error.code, retryable: error.retryable }).toEqual({ code, retryable });
    expect(error.cause).toBe(native);
    expect(error.details).toMatchObject({ operation: 'query', stream: 'main.OFFENDERS' });
  });

  it('looks through typeorm and aggregate wrappers to the driver error', () => {
    const driverError = Object.assign(new Error('relation "offenders" does not exist'), { code: '42P01' });
    const wrapped = Object.assign(new Error('wrapped'), {
      driverError,
      query: 'SELECT secret',
      parameters: ['x'],
    });
    const error = classifyDatabaseError(wrapped, { stream: 'offenders' });
    expect(error.code).toBe('DB_TABLE_NOT_FOUND');
    expect(error.cause).toBe(driverError);
    expect(error.message).toContain('table offenders does not exist');
    expect(error.message).not.toContain('SELECT secret');

    const refused = new AggregateError([
      Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' }),
    ]);
    expect(classifyDatabaseError(refused, {})).toMatchObject({
      code: 'DB_CONNECTION_FAILED',
      retryable: true,
    });
  });

  it('says USAGE on the schema, not SELECT, when PostgreSQL denies the schema (issue 16)', () => {
    const schema = classifyDatabaseError(
      Object.assign(new Error('permission denied for schema NOMIS LEGACY'), { code: '42501' }),
      { stream: 'NOMIS LEGACY.MOVEMENTS' },
    );
    expect(schema.code).toBe('DB_PERMISSION_DENIED');
    expect(schema.message).toContain('GRANT USAGE ON SCHEMA "NOMIS LEGACY" TO <user>');
    expect(schema.message).not.toContain('Grant it SELECT on the table.');
    const table = classifyDatabaseError(
      Object.assign(new Error('permission denied for table MOVEMENTS'), { code: '42501' }),
      { stream: 'NOMIS_LEGACY.MOVEMENTS' },
    );
    expect(table.message).toContain('Grant it SELECT on the table.');
    const database = classifyDatabaseError(
      Object.assign(new Error("Access denied for user 'ro'@'%' to database 'ferry'"), {
        code: 'ER_DBACCESS_DENIED_ERROR',
        errno: 1044,
      }),
      {},
    );
    expect(database.code).toBe('DB_AUTH_FAILED');
    expect(database.message).toContain('Set connection.database to the database of the tables');
  });

  it('passes FerryErrors through and never retries programmer errors', () => {
    const ferry = new FerryError('X', 'x', { retryable: true });
    expect(classifyDatabaseError(ferry, {})).toBe(ferry);
    expect(classifyDatabaseError(new TypeError('x is not a function'), {})).toMatchObject({
      code: 'DB_QUERY_FAILED',
      retryable: false,
    });
  });
});
