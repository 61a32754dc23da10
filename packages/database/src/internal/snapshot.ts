// The initial snapshot of the trigger and logical modes: chunk after chunk (the rows after the last key read,
// in key order, as `op: read` records), table after table, and the progress log of a long snapshot.
import { createHash } from 'node:crypto';
import type { Batch, BatchProgress, ChangeRecord, Clock, Logger } from '@ferry/core/sdk';
import type { DataSource } from 'typeorm';
import { rethrowAs } from '../errors.js';
import type { SnapshotProgress } from '../positions.js';
import { type CapturedTable, decodeSnapshotRow, keyOf, snapshotChunkQuery } from './capture.js';
import type { Dialect } from './connection.js';
import { RowPacer } from './pace.js';

export interface SnapshotChunk {
  records: ChangeRecord[];
  /** Key of the last row read, or null when the chunk is empty. */
  last: Record<string, unknown> | null;
  /** The chunk was full: more rows may follow. */
  full: boolean;
}

export async function readSnapshotChunk(
  dataSource: DataSource,
  dialect: Dialect,
  table: CapturedTable,
  after: Record<string, unknown> | null,
  limit: number,
  /** What every record of the snapshot carries: its origin's snapshot name and its sequence. */
  stamp: { origin: Record<string, unknown>; sequence: string },
  query: (sql: string, params: unknown[]) => Promise<unknown> = (sql, params) =>
    dataSource.query(sql, params),
): Promise<SnapshotChunk> {
  const { sql, params } = snapshotChunkQuery(dataSource, dialect, table, after, limit);
  const rows = (await query(sql, params)) as Record<string, unknown>[];
  const records = rows.map((row): ChangeRecord => {
    const { values: image, omitted } = decodeSnapshotRow(row, table);
    const key = keyOf(image, table);
    // The origin names the snapshot and the row's content: a chunk read again after a crash gets the same
    // event ids, unless a row changed in between (a resumed snapshot no longer has the original transaction),
    // and then the new version gets a new id rather than one id carrying two payloads.
    return {
      stream: table.stream,
      op: 'read',
      key,
      after: image,
      origin: {
        table: table.stream,
        ...stamp.origin,
        version: versionOf(image),
        // Values too large for the database to put in the image are null; the origin says which they are.
        ...(omitted.length === 0 ? {} : { omitted }),
      },
      sequence: stamp.sequence,
    };
  });
  const last = records.length === 0 ? null : (records[records.length - 1]?.key ?? null);
  return { records, last, full: rows.length >= limit };
}

export interface SnapshotStep {
  records: ChangeRecord[];
  /** Where the snapshot stands after these records; undefined once it is complete. */
  snapshot: SnapshotProgress | undefined;
  progress: BatchProgress;
  /** When the snapshot began, when its position says (older checkpoints do not). */
  sourceTime?: Date;
}

/**
 * The snapshot from `start` on, one step per chunk that has rows (and one for the end, rows or not), for the
 * source to turn into batches. `readChunk` reads the rows of a table after a key.
 */
export async function* snapshotSteps(
  start: SnapshotProgress,
  byStream: ReadonlyMap<string, CapturedTable>,
  readChunk: (table: CapturedTable, after: Record<string, unknown> | null) => Promise<SnapshotChunk>,
  log: SnapshotProgressLog,
  stop: AbortSignal,
): AsyncGenerator<SnapshotStep> {
  let progress: SnapshotProgress | undefined = start;
  const since: { startedAt?: string } = start.startedAt === undefined ? {} : { startedAt: start.startedAt };
  while (progress !== undefined && !stop.aborted) {
    const stream = progress.pending[0];
    const table = stream === undefined ? undefined : byStream.get(stream);
    // A table no longer configured is skipped; the next table starts from its first key.
    const rest: string[] = progress.pending.slice(1);
    // Every step carries the start of the snapshot on: a resumed snapshot keeps the time it began.
    const nextTable: SnapshotProgress | undefined =
      rest.length === 0 ? undefined : { pending: rest, after: null, ...since };
    if (table === undefined) {
      progress = nextTable;
      continue;
    }
    const chunk = await readChunk(table, progress.after);
    const next =
      chunk.full && chunk.last !== null
        ? { pending: progress.pending, after: chunk.last, ...since }
        : nextTable;
    const counted = await log.chunk(table, chunk.records.length, next?.pending[0] !== stream);
    progress = next;
    if (chunk.records.length > 0 || next === undefined) {
      // The snapshot's start is its records' time: read again from a checkpoint, a chunk keeps its bytes.
      const at = start.startedAt;
      yield {
        records: chunk.records,
        snapshot: next,
        progress: counted,
        ...(at === undefined ? {} : { sourceTime: new Date(at) }),
      };
    }
  }
}

/** What every mode's snapshot needs to turn its steps into batches. */
export interface SnapshotRun<P extends { snapshot?: SnapshotProgress | undefined }> {
  log: Logger;
  dataSource: DataSource;
  dialect: Dialect;
  tables: readonly CapturedTable[];
  /** The position the snapshot starts from; its `snapshot` says where the snapshot stands. */
  position: P & { snapshot: SnapshotProgress };
  /** Origin and sequence of every snapshot record (see readSnapshotChunk). */
  stamp: { origin: Record<string, unknown>; sequence: string };
  chunkSize: number;
  maxRowsPerSecond: number;
  clock: Clock;
  target: string;
  stop: AbortSignal;
  /** Where the chunk queries run: the snapshot's transaction (default: the pool). */
  query?: (sql: string, params: unknown[]) => Promise<unknown>;
  /** Looks at each step's records before they are yielded (trigger mode warns about omitted values). */
  inspect?: (records: ChangeRecord[]) => void;
}

/**
 * The snapshot as batches: chunks read (paced by `maxRowsPerSecond`), progress logged, and each batch's
 * position the start position with the snapshot's progress after its chunk (no `snapshot` after the last).
 */
export async function* snapshotBatches<P extends { snapshot?: SnapshotProgress | undefined }>(
  run: SnapshotRun<P>,
): AsyncGenerator<Batch<P>> {
  const { dataSource, dialect, stamp, stop } = run;
  const pacer = new RowPacer(run.maxRowsPerSecond, run.clock);
  const chunk = async (table: CapturedTable, after: Record<string, unknown> | null) => {
    const read = await readSnapshotChunk(
      dataSource,
      dialect,
      table,
      after,
      run.chunkSize,
      stamp,
      run.query,
    ).catch(rethrowAs({ operation: 'snapshot', stream: table.stream, target: run.target }));
    await pacer.read(read.records.length, stop);
    return read;
  };
  const log = new SnapshotProgressLog(run.log, dataSource, dialect);
  const byStream = new Map(run.tables.map((t) => [t.stream, t]));
  let position: P = run.position;
  for await (const step of snapshotSteps(run.position.snapshot, byStream, chunk, log, stop)) {
    position = withSnapshot(position, step.snapshot);
    run.inspect?.(step.records);
    yield {
      records: step.records,
      position,
      progress: step.progress,
      ...(step.sourceTime ? { sourceTime: step.sourceTime } : {}),
    };
  }
}

/** The position with the snapshot's progress replaced (or removed, once the snapshot is done). */
export function withSnapshot<P extends { snapshot?: SnapshotProgress | undefined }>(
  position: P,
  snapshot: SnapshotProgress | undefined,
): P {
  const { snapshot: _old, ...rest } = position;
  return (snapshot === undefined ? rest : { ...rest, snapshot }) as P;
}

/** A short digest of a row image: the same content always gives the same version. */
function versionOf(image: Record<string, unknown>): string {
  return createHash('sha1').update(JSON.stringify(image)).digest('base64url').slice(0, 16);
}

/**
 * Logs snapshot progress at info every `intervalMs`: table, rows read in this run, the table's estimated row
 * count, the rate and the time left. After a resume the rows read before the crash are not counted, so the
 * time left is an upper bound. Each chunk also gets the progress for its batch (progress bars, status).
 */
export class SnapshotProgressLog {
  private stream: string | undefined;
  private rows = 0;
  private total: number | undefined;
  private started = 0;
  private lastLog = 0;

  constructor(
    private readonly log: Logger,
    private readonly dataSource: DataSource,
    private readonly dialect: Dialect,
    private readonly intervalMs = 5000,
  ) {}

  /** Count a chunk of `table`; `done` when it was the table's last. */
  async chunk(table: CapturedTable, rows: number, done: boolean): Promise<BatchProgress> {
    const now = Date.now();
    if (this.stream !== table.stream) {
      this.stream = table.stream;
      this.rows = 0;
      this.started = now;
      this.lastLog = now;
      this.total = await estimateRows(this.dataSource, this.dialect, table).catch(() => undefined);
      this.log.info({ table: table.stream, total: this.total }, 'snapshot of table starting');
    }
    this.rows += rows;
    const progress = this.progress(table, done);
    if (!done && now - this.lastLog < this.intervalMs) return progress;
    this.lastLog = now;
    const seconds = Math.max(0.001, (now - this.started) / 1000);
    const rate = Math.round(this.rows / seconds);
    const fields: Record<string, unknown> = { table: table.stream, rows: this.rows, rowsPerSecond: rate };
    if (this.total !== undefined) {
      fields.total = this.total;
      if (!done) {
        fields.percent = Math.min(100, Math.round((this.rows / Math.max(1, this.total)) * 1000) / 10);
        if (rate > 0) fields.etaSeconds = Math.max(0, Math.round((this.total - this.rows) / rate));
      }
    }
    this.log.info(fields, done ? 'snapshot of table done' : 'snapshot progress');
    return progress;
  }

  /**
   * The estimate is the catalogue's and may be stale: it is raised to the rows read so far, so `done` never
   * passes `total`, and the table's last chunk makes it exact.
   */
  private progress(table: CapturedTable, done: boolean): BatchProgress {
    const progress: BatchProgress = { label: `snapshot ${table.stream}`, done: this.rows, unit: 'rows' };
    if (done) progress.total = this.rows;
    else if (this.total !== undefined) progress.total = Math.max(this.total, this.rows);
    return progress;
  }
}

/** The catalogue's row estimate (PostgreSQL, MySQL) or a count (SQLite); undefined when unknown. */
async function estimateRows(
  dataSource: DataSource,
  dialect: Dialect,
  table: CapturedTable,
): Promise<number | undefined> {
  let value: unknown;
  if (dialect.name === 'postgres') {
    const [row] = (await dataSource.query(
      'SELECT reltuples::bigint AS n FROM pg_class WHERE oid = to_regclass($1)',
      [table.sql],
    )) as { n: unknown }[];
    value = row?.n;
  } else if (dialect.name === 'mysql') {
    const [row] = (await dataSource.query(
      'SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?',
      [table.config.schema ?? null, table.config.name],
    )) as { n: unknown }[];
    value = row?.n;
  } else {
    const [row] = (await dataSource.query(`SELECT COUNT(*) AS n FROM ${table.sql}`)) as { n: unknown }[];
    value = row?.n;
  }
  const n = Number(value);
  // PostgreSQL says -1 for a table never analysed.
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}
