// Trigger-journal change capture: triggers installed on request record every insert, update and delete of
// the captured tables (op, before and after images) in a journal table with an increasing sequence; the
// source reads the journal in sequence order and purges what the pipeline has checkpointed.
import {
  type Batch,
  type ChangeRecord,
  type Logger,
  type ReadContext,
  type Source,
  type StreamInfo,
  sleep,
} from '@ferry/core/sdk';
import type { DataSource } from 'typeorm';
import type { DatabaseTriggerConfig } from './config.js';
import { classifyDatabaseError, DatabaseError, DatabaseErrorCodes } from './errors.js';
import {
  type CapturedTable,
  describeTable,
  installStatements,
  type JournalNames,
  journalNames,
  keyOf,
  missingCapture,
  param,
} from './internal/capture.js';
import { Connection, type Dialect, dialectOf } from './internal/connection.js';
import { decodeImage } from './internal/images.js';
import {
  parseTriggerPosition,
  type SnapshotProgress,
  type TriggerGap,
  type TriggerPosition,
} from './internal/positions.js';
import { readSnapshotChunk, SnapshotProgressLog } from './internal/snapshot.js';
import { parseOccurredAt } from './internal/values.js';
import type { DatabaseSourceContext } from './polling.js';

type Row = Record<string, unknown>;

/** Most sequence numbers recorded as gaps below one row: a bigger jump is a purge, not transactions in flight. */
const MAX_NEW_GAPS = 1000;
/** Gaps queried by value; beyond this the journal is read from the oldest gap and filtered. */
const MAX_LISTED_GAPS = 500;

export class DatabaseTriggerSource implements Source<TriggerPosition> {
  readonly type = 'database';
  private readonly connection: Connection;
  private readonly closed = new AbortController();
  private names: JournalNames | undefined;

  constructor(
    private readonly config: DatabaseTriggerConfig,
    context: DatabaseSourceContext = {},
  ) {
    // Writable: acknowledging purges the journal.
    this.connection = new Connection(config.connection, context.baseDir ?? process.cwd(), true);
  }

  async discover(): Promise<StreamInfo[]> {
    const { dataSource, dialect, tables, names } = await this.prepare('discover');
    const missing = await missingCapture(dataSource, dialect, names, tables);
    return tables.map((table) => ({
      name: table.stream,
      fields: table.columns.map((c) => ({ name: c.name, type: c.kind })),
      key: table.config.key,
      notes: [
        `captured by triggers into ${names.table}`,
        ...(missing.includes(table.stream) || missing.includes('journal')
          ? ['triggers are not installed: run `ferry database install-triggers <pipeline.yaml>`']
          : []),
      ],
    }));
  }

  async *read(ctx: ReadContext<TriggerPosition>): AsyncGenerator<Batch<TriggerPosition>> {
    const stop = AbortSignal.any([ctx.signal, this.closed.signal]);
    if (stop.aborted) return;
    let prepared: Awaited<ReturnType<DatabaseTriggerSource['prepare']>>;
    try {
      prepared = await this.prepare('start');
    } catch (error) {
      if (stop.aborted) return;
      throw error;
    }
    const { dataSource, dialect, tables, names } = prepared;
    await this.ensureCapture(dataSource, dialect, names, tables, ctx.log);
    const byStream = new Map(tables.map((t) => [t.stream, t]));

    const saved = parseTriggerPosition(ctx.from);
    let position: TriggerPosition;
    try {
      position =
        saved ??
        (this.config.snapshot === 'never'
          ? { mode: 'trigger', seq: 0, gaps: [] }
          : await this.snapshotStart(dataSource, names, tables));
      ctx.log.info(
        { seq: position.seq, gaps: position.gaps.length, snapshot: position.snapshot !== undefined },
        'trigger capture starting',
      );
    } catch (error) {
      if (stop.aborted) return;
      throw classifyDatabaseError(error, { operation: 'start', target: this.connection.target });
    }

    const progressLog = new SnapshotProgressLog(ctx.log, dataSource, dialect);
    while (position.snapshot !== undefined) {
      if (stop.aborted) return;
      const progress: SnapshotProgress = position.snapshot;
      const stream = progress.pending[0];
      const table = stream === undefined ? undefined : byStream.get(stream);
      if (table === undefined) {
        position = withSnapshot(position, nextTable(progress));
        continue;
      }
      let chunk: Awaited<ReturnType<typeof readSnapshotChunk>>;
      try {
        chunk = await readSnapshotChunk(
          dataSource,
          dialect,
          table,
          progress.after,
          this.config.snapshotChunkSize,
          {
            snapshot: `seq:${position.seq}`,
          },
        );
      } catch (error) {
        if (stop.aborted) return;
        throw classifyDatabaseError(error, { operation: 'snapshot', stream, target: this.connection.target });
      }
      const snapshot =
        chunk.full && chunk.last !== null
          ? { pending: progress.pending, after: chunk.last }
          : nextTable(progress);
      position = withSnapshot(position, snapshot);
      const counted = await progressLog.chunk(table, chunk.records.length, snapshot?.pending[0] !== stream);
      if (chunk.records.length > 0 || snapshot === undefined)
        yield { records: chunk.records, position, progress: counted };
    }

    for (;;) {
      if (stop.aborted) return;
      let page: { records: ChangeRecord[]; position: TriggerPosition; full: boolean };
      try {
        page = await this.readJournal(dataSource, names, byStream, position, ctx.log);
      } catch (error) {
        if (stop.aborted) return;
        throw classifyDatabaseError(error, { operation: 'journal', target: this.connection.target });
      }
      if (page.position !== position) {
        position = page.position;
        yield { records: page.records, position };
      }
      if (page.full) continue;
      ctx.caughtUp?.();
      if (ctx.once || stop.aborted) return;
      await sleep(this.config.pollIntervalMs, stop);
    }
  }

  /** Purge what is checkpointed: every journal row up to the position, except the gaps still watched. */
  async acknowledge(position: TriggerPosition): Promise<void> {
    if (this.connection.closed) return;
    const dataSource = await this.connection.open();
    const names = this.names ?? (await journalNames(dataSource, dialectOf(dataSource), this.config.journal));
    const gaps = position.gaps.map((g) => g.seq);
    try {
      if (gaps.length === 0) {
        await dataSource.query(`DELETE FROM ${names.table} WHERE seq <= ${param(dataSource, 0)}`, [
          position.seq,
        ]);
      } else if (gaps.length <= MAX_LISTED_GAPS) {
        const list = gaps.map((_, i) => param(dataSource, i + 1)).join(', ');
        await dataSource.query(
          `DELETE FROM ${names.table} WHERE seq <= ${param(dataSource, 0)} AND seq NOT IN (${list})`,
          [position.seq, ...gaps],
        );
      } else {
        await dataSource.query(`DELETE FROM ${names.table} WHERE seq < ${param(dataSource, 0)}`, [
          Math.min(...gaps),
        ]);
      }
    } catch (error) {
      throw classifyDatabaseError(error, { operation: 'purge', target: this.connection.target });
    }
  }

  /** `SELECT 1` on a short-lived connection of its own; see Connection.probe. */
  probe(signal: AbortSignal): Promise<void> {
    return this.connection.probe(signal);
  }

  close(): Promise<void> {
    this.closed.abort();
    return this.connection.close();
  }

  private async prepare(operation: string) {
    const dataSource = await this.connection.open();
    const dialect = dialectOf(dataSource);
    try {
      const tables: CapturedTable[] = [];
      for (const table of this.config.tables)
        tables.push(await describeTable(dataSource, dialect, table, this.connection.target));
      this.names ??= await journalNames(dataSource, dialect, this.config.journal);
      return { dataSource, dialect, tables, names: this.names };
    } catch (error) {
      throw classifyDatabaseError(error, { operation, target: this.connection.target });
    }
  }

  private async ensureCapture(
    dataSource: DataSource,
    dialect: Dialect,
    names: JournalNames,
    tables: CapturedTable[],
    log: Logger,
  ): Promise<void> {
    const missing = await missingCapture(dataSource, dialect, names, tables);
    if (missing.length === 0) return;
    if (!this.config.installTriggers) {
      throw new DatabaseError(
        DatabaseErrorCodes.DB_TRIGGERS_MISSING,
        `trigger capture is not installed on ${this.connection.target} (missing: ${missing.join(', ')}). ` +
          'Run `ferry database install-triggers <pipeline.yaml>` with a user allowed to create tables and ' +
          'triggers, or set installTriggers: true.',
        { details: { missing, target: this.connection.target } },
      );
    }
    log.warn({ missing, journal: names.table }, 'installing the trigger journal (installTriggers: true)');
    await installCapture(dataSource, dialect, names, tables).catch((error: unknown) => {
      throw classifyDatabaseError(error, { operation: 'install-triggers', target: this.connection.target });
    });
  }

  /**
   * Where streaming starts after the snapshot: the highest sequence already in the journal, plus the holes
   * below it (transactions still in flight), which are read if their rows appear later.
   */
  private async snapshotStart(
    dataSource: DataSource,
    names: JournalNames,
    tables: CapturedTable[],
  ): Promise<TriggerPosition> {
    const [top] = (await dataSource.query(`SELECT MAX(seq) AS seq FROM ${names.table}`)) as Row[];
    const seq = top?.seq == null ? 0 : Number(top.seq);
    const gaps: TriggerGap[] = [];
    if (seq > 0) {
      const floor = Math.max(0, seq - MAX_NEW_GAPS);
      const rows = (await dataSource.query(
        `SELECT seq FROM ${names.table} WHERE seq > ${param(dataSource, 0)} ORDER BY seq`,
        [floor],
      )) as Row[];
      const present = new Set(rows.map((r) => Number(r.seq)));
      const at = Date.now();
      for (let s = floor + 1; s < seq; s += 1) if (!present.has(s)) gaps.push({ seq: s, at });
    }
    return {
      mode: 'trigger',
      seq,
      gaps,
      snapshot: { pending: tables.map((t) => t.stream), after: null },
    };
  }

  private async readJournal(
    dataSource: DataSource,
    names: JournalNames,
    byStream: Map<string, CapturedTable>,
    from: TriggerPosition,
    log: Logger,
  ): Promise<{ records: ChangeRecord[]; position: TriggerPosition; full: boolean }> {
    const dialect = dialectOf(dataSource);
    const now = Date.now();
    let gaps = from.gaps.filter((g) => now - g.at < this.config.gapTimeoutMs);
    if (gaps.length < from.gaps.length) {
      log.warn(
        { expired: from.gaps.length - gaps.length, gapTimeoutMs: this.config.gapTimeoutMs },
        'journal sequence gaps given up: no row appeared for them (rolled back, or a transaction longer than gapTimeoutMs)',
      );
    }
    const text = (column: string) =>
      dialect.name === 'postgres'
        ? `CAST(${column} AS TEXT)`
        : dialect.name === 'mysql'
          ? `CAST(${column} AS CHAR)`
          : column;
    const params: unknown[] = [from.seq];
    let where = `seq > ${param(dataSource, 0)}`;
    if (gaps.length > 0 && gaps.length <= MAX_LISTED_GAPS) {
      where += ` OR seq IN (${gaps
        .map((g) => {
          params.push(g.seq);
          return param(dataSource, params.length - 1);
        })
        .join(', ')})`;
    } else if (gaps.length > 0) {
      params[0] = Math.min(...gaps.map((g) => g.seq)) - 1;
    }
    params.push(this.config.batchSize);
    const rows = (await dataSource.query(
      `SELECT seq, stream, op, ${text('before_image')} AS before_image, ${text('after_image')} AS after_image,
              ${text('changed_at')} AS changed_at
         FROM ${names.table} WHERE ${where} ORDER BY seq LIMIT ${param(dataSource, params.length - 1)}`,
      params,
    )) as Row[];
    const full = rows.length >= this.config.batchSize;
    if (rows.length === 0)
      return { records: [], position: gaps.length === from.gaps.length ? from : { ...from, gaps }, full };

    const gapSet = new Set(gaps.map((g) => g.seq));
    const records: ChangeRecord[] = [];
    let seq = from.seq;
    const newGaps: TriggerGap[] = [];
    const filled = new Set<number>();
    for (const row of rows) {
      const rowSeq = Number(row.seq);
      if (rowSeq <= from.seq) {
        // Below the position: a late row filling a gap, or (when gaps are too many to list) one already read.
        if (!gapSet.has(rowSeq)) continue;
        filled.add(rowSeq);
      } else {
        const holes = rowSeq - seq - 1;
        if (holes > MAX_NEW_GAPS) {
          log.warn({ from: seq, to: rowSeq }, 'journal sequence jumped; only the last holes are watched');
        }
        for (let s = Math.max(seq + 1, rowSeq - MAX_NEW_GAPS); s < rowSeq; s += 1)
          newGaps.push({ seq: s, at: now });
        seq = rowSeq;
      }
      const record = this.toRecord(row, byStream);
      if (record !== undefined) records.push(record);
    }
    gaps = [...gaps.filter((g) => !filled.has(g.seq)), ...newGaps];
    return { records, position: { mode: 'trigger', seq, gaps }, full };
  }

  private toRecord(row: Row, byStream: Map<string, CapturedTable>): ChangeRecord | undefined {
    const stream = String(row.stream);
    const table = byStream.get(stream);
    // A table captured earlier but no longer configured: its rows are purged with the rest.
    if (table === undefined) return undefined;
    const seq = Number(row.seq);
    const op = String(row.op).trim();
    const origin: Record<string, unknown> = { table: stream, seq };
    const occurredAt = parseOccurredAt(row.changed_at);
    if (op === 't') {
      // A TRUNCATE removes every row; core has no truncate op, so it is a delete without a key.
      const record: ChangeRecord = { stream, op: 'delete', key: {}, origin: { ...origin, truncate: true } };
      if (occurredAt !== undefined) record.occurredAt = occurredAt;
      return record;
    }
    const before = decodeImage(row.before_image as string | null, table.kinds);
    const after = decodeImage(row.after_image as string | null, table.kinds);
    const record: ChangeRecord = {
      stream,
      op: op === 'c' ? 'create' : op === 'd' ? 'delete' : 'update',
      key: keyOf(after ?? before, table),
      origin,
    };
    if (before !== undefined) record.before = before;
    if (after !== undefined) record.after = after;
    if (occurredAt !== undefined) record.occurredAt = occurredAt;
    return record;
  }
}

function nextTable(progress: SnapshotProgress): SnapshotProgress | undefined {
  const pending = progress.pending.slice(1);
  return pending.length === 0 ? undefined : { pending, after: null };
}

function withSnapshot(position: TriggerPosition, snapshot: SnapshotProgress | undefined): TriggerPosition {
  const { snapshot: _old, ...rest } = position;
  return snapshot === undefined ? rest : { ...rest, snapshot };
}

/** Create the journal and the triggers in one transaction where the database allows it. */
export async function installCapture(
  dataSource: DataSource,
  dialect: Dialect,
  names: JournalNames,
  tables: CapturedTable[],
): Promise<void> {
  const statements = installStatements(dialect, names, tables);
  // MySQL commits DDL implicitly; PostgreSQL and SQLite install all or nothing.
  if (dialect.name === 'mysql') {
    for (const sql of statements) await dataSource.query(sql);
    return;
  }
  await dataSource.transaction(async (manager) => {
    for (const sql of statements) await manager.query(sql);
  });
}
