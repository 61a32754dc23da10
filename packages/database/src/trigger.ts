// Trigger-journal change capture: triggers installed on request record every insert, update and delete of
// the captured tables (op, before and after images) in a journal table with an increasing sequence; the
// source reads the journal in sequence order and purges what the pipeline has checkpointed.
import {
  type Batch,
  type ChangeRecord,
  type Clock,
  type Logger,
  type ReadContext,
  type Source,
  type SourceCadence,
  type SourceContext,
  type StreamInfo,
  sequenceOf,
  systemClock,
} from '@ferry/core/sdk';
import type { DataSource } from 'typeorm';
import { preflight, refuseOnErrors } from './check.js';
import type { DatabaseTriggerConfig } from './config.js';
import { classifyDatabaseError, DatabaseError, DatabaseErrorCodes, rethrowAs } from './errors.js';
import {
  type CapturedTable,
  describeTables,
  installStatements,
  type JournalNames,
  journalNames,
  journalUpgradeStatements,
  keyOf,
  missingCapture,
  param,
  warnOmitted,
} from './internal/capture.js';
import { Connection, type Dialect, dialectOf } from './internal/connection.js';
import { decodeImageParts } from './internal/images.js';
import { snapshotBatches, withSnapshot } from './internal/snapshot.js';
import { parseOccurredAt } from './internal/values.js';
import { checkMode, type TriggerGap, type TriggerPosition } from './positions.js';

type Row = Record<string, unknown>;

/** Most sequence numbers recorded as gaps below one row: a bigger jump is a purge, not transactions in flight. */
const MAX_NEW_GAPS = 1000;
/** Gaps queried by value; beyond this the journal is read from the oldest gap and filtered. */
const MAX_LISTED_GAPS = 500;

interface Prepared {
  dataSource: DataSource;
  dialect: Dialect;
  tables: CapturedTable[];
  names: JournalNames;
}

/**
 * A pass source: each read finishes (or continues) the snapshot and drains the journal, then ends; core
 * decides when the next pass runs.
 */
export class DatabaseTriggerSource implements Source<TriggerPosition> {
  readonly type = 'database';
  readonly cadence: SourceCadence;
  private readonly connection: Connection;
  private readonly clock: Clock;
  private readonly closed = new AbortController();
  private names: JournalNames | undefined;
  /** Tables described and the journal checked on the first pass, kept until a pass fails. */
  private prepared: Promise<Prepared> | undefined;

  constructor(
    private readonly config: DatabaseTriggerConfig,
    context: SourceContext = {},
  ) {
    this.cadence = { kind: 'passes', intervalMs: config.pollIntervalMs };
    this.clock = context.clock ?? systemClock;
    // Writable: acknowledging purges the journal.
    this.connection = new Connection(config.connection, context.baseDir ?? process.cwd(), true);
  }

  async discover(): Promise<StreamInfo[]> {
    const { dataSource, dialect, tables, names } = await this.prepare('discover');
    const missing = await missingCapture(dataSource, dialect, names, tables);
    return tables.map((table) => ({
      name: table.stream,
      fields: table.columns.map((c) => ({ name: c.name, type: c.kind })),
      recordFields: true,
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
    checkMode(ctx.from, 'trigger');
    const stop = AbortSignal.any([ctx.signal, this.closed.signal]);
    const target = this.connection.target;
    try {
      if (stop.aborted) return;
      this.prepared ??= this.prepare('start').then(async (prepared) => {
        // The preflight (check.ts): errors refuse the run before anything is installed, warnings are logged.
        refuseOnErrors(
          await preflight(prepared.dataSource, this.config, target, { purpose: 'run', clock: this.clock }),
          target,
          ctx.log,
        );
        await this.ensureCapture(prepared, ctx.log);
        return prepared;
      });
      const { dataSource, dialect, tables, names } = await this.prepared;
      const byStream = new Map(tables.map((t) => [t.stream, t]));
      let position: TriggerPosition =
        ctx.from ??
        (this.config.snapshot === 'never'
          ? { mode: 'trigger', seq: 0, gaps: [] }
          : await this.snapshotStart(dataSource, names, tables).catch(
              rethrowAs({ operation: 'start', target }),
            ));

      if (position.snapshot !== undefined) {
        // Snapshot rows sort before every journal row read after them, the late rows of the gaps included.
        const stamp = {
          origin: { snapshot: `seq:${position.seq}` },
          sequence: sequenceOf(Math.min(position.seq, ...position.gaps.map((g) => g.seq - 1))),
        };
        for await (const batch of snapshotBatches({
          log: ctx.log,
          dataSource,
          dialect,
          tables,
          position: { ...position, snapshot: position.snapshot },
          stamp,
          chunkSize: this.config.snapshotChunkSize,
          maxRowsPerSecond: this.config.maxRowsPerSecond,
          clock: this.clock,
          target,
          stop,
          inspect: (records) => warnOmitted(records, ctx.log),
        })) {
          position = batch.position;
          yield batch;
        }
        if (stop.aborted) return;
        position = withSnapshot(position, undefined);
      }

      // The journal, page after page, until a page is not full: the pass is caught up.
      for (let full = true; full && !stop.aborted; ) {
        const page = await this.readJournal(dataSource, names, byStream, position, ctx.log).catch(
          rethrowAs({ operation: 'journal', target }),
        );
        full = page.full;
        if (page.position === position) continue;
        position = page.position;
        yield { records: page.records, position };
      }
    } catch (error) {
      // The tables or the journal may have changed under us: the next pass looks again.
      this.prepared = undefined;
      // A stop or close() interrupts queries; that ends the pass, it is not a failure.
      if (!stop.aborted) throw classifyDatabaseError(error, { operation: 'read', target });
    }
  }

  /**
   * Purge what is checkpointed: every journal row up to the last position, except the gaps still watched.
   * Idempotent (core also acknowledges the loaded checkpoint at start).
   */
  async acknowledge(positions: readonly TriggerPosition[]): Promise<void> {
    const position = positions.at(-1);
    if (position === undefined || this.connection.closed) return;
    const dataSource = await this.connection.open();
    const names = this.names ?? (await journalNames(dataSource, dialectOf(dataSource), this.config.journal));
    const gaps = position.gaps.map((g) => g.seq);
    const at = (index: number) => param(dataSource, index);
    const [where, params]: [string, unknown[]] =
      gaps.length === 0
        ? [`seq <= ${at(0)}`, [position.seq]]
        : gaps.length <= MAX_LISTED_GAPS
          ? [
              `seq <= ${at(0)} AND seq NOT IN (${gaps.map((_, i) => at(i + 1)).join(', ')})`,
              [position.seq, ...gaps],
            ]
          : [`seq < ${at(0)}`, [Math.min(...gaps)]];
    try {
      await dataSource.query(`DELETE FROM ${names.table} WHERE ${where}`, params);
    } catch (error) {
      const failure = classifyDatabaseError(error, { operation: 'purge', target: this.connection.target });
      // No journal (yet, or any more): nothing to purge; the read says what is missing.
      if (failure.code !== DatabaseErrorCodes.DB_TABLE_NOT_FOUND) throw failure;
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

  private async prepare(operation: string): Promise<Prepared> {
    const dataSource = await this.connection.open();
    const dialect = dialectOf(dataSource);
    const target = this.connection.target;
    try {
      const tables = await describeTables(dataSource, dialect, this.config.tables, target);
      this.names ??= await journalNames(dataSource, dialect, this.config.journal);
      return { dataSource, dialect, tables, names: this.names };
    } catch (error) {
      throw classifyDatabaseError(error, { operation, target });
    }
  }

  private async ensureCapture({ dataSource, dialect, names, tables }: Prepared, log: Logger): Promise<void> {
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
    await installCapture(dataSource, dialect, names, tables, this.config.journal).catch(
      rethrowAs({ operation: 'install-triggers', target: this.connection.target }),
    );
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
      const at = this.clock.now();
      for (let s = floor + 1; s < seq; s += 1) if (!present.has(s)) gaps.push({ seq: s, at });
    }
    return {
      mode: 'trigger',
      seq,
      gaps,
      snapshot: { pending: tables.map((t) => t.stream), after: null, startedAt: new Date().toISOString() },
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
    const now = this.clock.now();
    let gaps = from.gaps.filter((g) => now - g.at < this.config.gapTimeoutMs);
    if (gaps.length < from.gaps.length) {
      log.warn(
        { expired: from.gaps.length - gaps.length, gapTimeoutMs: this.config.gapTimeoutMs },
        'journal sequence gaps given up: no row appeared for them (rolled back, or a transaction longer than gapTimeoutMs)',
      );
    }
    const text = (column: string) =>
      dialect.name === 'sqlite'
        ? column
        : `CAST(${column} AS ${dialect.name === 'postgres' ? 'TEXT' : 'CHAR'})`;
    // MariaDB images are read as the bytes stored (LONGBLOB; a LONGTEXT journal of an older install gives
    // text) and decoded as UTF-8 here, where a bad byte is an error naming the row instead of a silent '?'.
    const image = (column: string) => (dialect.name === 'mysql' ? column : text(column));
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
      `SELECT seq, stream, op, ${image('before_image')} AS before_image, ${image('after_image')} AS after_image,
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
    warnOmitted(records, log);
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
    const common = { stream, sequence: sequenceOf(seq), ...(occurredAt === undefined ? {} : { occurredAt }) };
    // A TRUNCATE removes every row; core has no truncate op, so it is a delete without a key.
    if (op === 't') return { ...common, op: 'delete', key: {}, origin: { ...origin, truncate: true } };
    const omitted = new Set<string>();
    const image = (value: unknown, which: string) => {
      const parts = decodeImageParts(value as string | Uint8Array | null, table.kinds, {
        stream,
        from: `journal seq ${seq}, ${which} image`,
        advice:
          'Run `ferry database install-triggers <pipeline.yaml>` again: triggers installed by this version ' +
          'encode every column type; then skip this row by purging it from the journal, or report its type.',
      });
      for (const name of parts?.omitted ?? []) omitted.add(name);
      return parts?.values;
    };
    const before = image(row.before_image, 'before');
    const after = image(row.after_image, 'after');
    // Values too large for the database to put in the image are null; the origin says which they are.
    if (omitted.size > 0) origin.omitted = [...omitted];
    return {
      ...common,
      op: op === 'c' ? 'create' : op === 'd' ? 'delete' : 'update',
      key: keyOf(after ?? before, table),
      origin,
      ...(before === undefined ? {} : { before }),
      ...(after === undefined ? {} : { after }),
    };
  }
}

/**
 * Create the journal and the triggers in one transaction where the database allows it (and turn an older
 * MariaDB journal's text images into bytes); returns the statements run.
 */
export async function installCapture(
  dataSource: DataSource,
  dialect: Dialect,
  names: JournalNames,
  tables: CapturedTable[],
  journal: { table: string; schema?: string | undefined },
): Promise<string[]> {
  const statements = [
    ...installStatements(dialect, names, tables),
    ...(await journalUpgradeStatements(dataSource, dialect, names, journal)),
  ];
  // MySQL commits DDL implicitly; PostgreSQL and SQLite install all or nothing.
  if (dialect.name === 'mysql') {
    for (const sql of statements) await dataSource.query(sql);
    return statements;
  }
  await dataSource.transaction(async (manager) => {
    for (const sql of statements) await manager.query(sql);
  });
  return statements;
}
