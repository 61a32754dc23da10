// Polling change capture: each poll reads, per table, the rows whose tracking columns moved past the saved
// position, oldest first, one page per batch. Cheap and portable, but it sees only the latest state of a row
// and never sees a delete.
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
import { type DatabasePollingConfig, type DatabaseTableConfig, streamName } from './config.js';
import { classifyDatabaseError, rethrowAs } from './errors.js';
import {
  type CapturedTable,
  type CatalogueColumn,
  catalogueColumns,
  columnsNotFound,
  describeTable,
  IMAGE_ALIAS,
  missingTable,
  warnOmitted,
} from './internal/capture.js';
import { Connection, dialectOf } from './internal/connection.js';
import { decodeImageParts } from './internal/images.js';
import { RowPacer } from './internal/pace.js';
import { CREATED_ALIAS, ID_ALIAS, INTERNAL_COLUMNS, TableQueries, TS_ALIAS } from './internal/query.js';
import {
  normaliseRow,
  normaliseValue,
  parseOccurredAt,
  sequencePart,
  toWatermark,
} from './internal/values.js';
import { checkMode, type DatabasePosition, type TableWatermark } from './positions.js';

interface Page {
  records: ChangeRecord[];
  /** Watermark of the last row, or undefined when the page is empty. */
  watermark: TableWatermark | undefined;
  /** The page was full: more rows may be waiting. */
  full: boolean;
}

interface PolledTable {
  table: DatabaseTableConfig;
  stream: string;
  queries: TableQueries;
  image: CapturedTable | undefined;
}

type Row = Record<string, unknown>;

/** A pass source: each read polls every table until it is caught up; core decides when the next pass runs. */
export class DatabasePollingSource implements Source<DatabasePosition> {
  readonly type = 'database';
  readonly cadence: SourceCadence;
  private readonly connection: Connection;
  private readonly closed = new AbortController();
  private readonly clock: Clock;
  /** The tables' queries, built on the first pass and kept until a pass fails. */
  private prepared: Promise<{ dataSource: DataSource; tables: PolledTable[] }> | undefined;

  constructor(
    private readonly config: DatabasePollingConfig,
    context: SourceContext = {},
  ) {
    this.cadence = { kind: 'passes', intervalMs: config.pollIntervalMs };
    this.clock = context.clock ?? systemClock;
    this.connection = new Connection(config.connection, context.baseDir ?? process.cwd());
  }

  async discover(): Promise<StreamInfo[]> {
    const dataSource = await this.connection.open();
    const dialect = dialectOf(dataSource);
    const target = this.connection.target;
    const streams: StreamInfo[] = [];
    for (const table of this.config.tables) {
      const stream = streamName(table);
      const columns = await catalogueColumns(dataSource, dialect, table).catch(
        rethrowAs({ operation: 'discover', stream, target }),
      );
      if (columns.length === 0) throw await missingTable(dataSource, dialect, table, target);
      const found = {
        columns,
        primaryColumns: columns
          .filter((c) => c.primary !== undefined)
          .sort((a, b) => (a.primary ?? 0) - (b.primary ?? 0)),
      };
      const names = new Set(found.columns.map((c) => c.name.toLowerCase()));
      const missing = configuredColumns(table).filter((c) => !names.has(c.toLowerCase()));
      streams.push({
        name: stream,
        fields: found.columns.map((c) => ({
          name: c.name,
          type: c.type,
          nullable: c.nullable && !isRowidAlias(c, found.primaryColumns),
        })),
        // With `columns` set the records carry only some of these, so they are not the records' fields.
        ...(table.columns === undefined ? { recordFields: true } : {}),
        key: found.primaryColumns.map((c) => c.name),
        notes: [
          `captured by polling on ${trackingDescription(table)}; key ${table.key.join(', ')}`,
          ...(missing.length > 0 ? [`configured but not in the table: ${missing.join(', ')}`] : []),
        ],
      });
    }
    return streams;
  }

  async *read(ctx: ReadContext<DatabasePosition>): AsyncGenerator<Batch<DatabasePosition>> {
    checkMode(ctx.from, 'polling');
    const stop = AbortSignal.any([ctx.signal, this.closed.signal]);
    const target = this.connection.target;
    try {
      if (stop.aborted) return;
      this.prepared ??= this.prepare(ctx.log);
      const { dataSource, tables } = await this.prepared;
      let position: DatabasePosition = ctx.from ?? { tables: {} };
      for (const { table, stream } of tables) {
        if (table.timestampColumn !== undefined && position.tables[stream]?.ts === null) {
          // The table was tracked by its incrementing column alone; nothing in the position says which
          // timestamps were seen, so only a full re-read is safe.
          ctx.log.warn(
            { stream },
            'saved position has no timestamp for this table; reading it from the start',
          );
        }
      }
      const pacer = new RowPacer(this.config.maxRowsPerSecond, this.clock);
      // A page of each table in turn until no table has a full page left: a big backlog in one table does
      // not hold the others back.
      for (let behind = true; behind; ) {
        behind = false;
        for (const polled of tables) {
          if (stop.aborted) return;
          const { stream } = polled;
          const page = await this.poll(dataSource, polled, position.tables[stream]).catch(
            rethrowAs({ operation: 'query', stream, target }),
          );
          warnOmitted(page.records, ctx.log);
          behind ||= page.full;
          if (page.watermark === undefined) continue;
          // A new object each time: the runtime still holds earlier positions while their batches commit.
          position = { tables: { ...position.tables, [stream]: page.watermark } };
          yield { records: page.records, position };
          await pacer.read(page.records.length, stop);
        }
      }
    } catch (error) {
      // A table may have changed under us: the next pass describes the tables again.
      this.prepared = undefined;
      // A stop or close() interrupts queries; that ends the pass, it is not a failure.
      if (!stop.aborted) throw classifyDatabaseError(error, { operation: 'read', target });
    }
  }

  private async prepare(log: Logger): Promise<{ dataSource: DataSource; tables: PolledTable[] }> {
    const dataSource = await this.connection.open();
    const dialect = dialectOf(dataSource);
    // The preflight (check.ts) once per preparation: errors (a table the user cannot read) refuse the run
    // with the fix, warnings (no index for the poll, clock skew) are logged.
    const target = this.connection.target;
    refuseOnErrors(
      await preflight(dataSource, this.config, target, { purpose: 'run', clock: this.clock }),
      target,
      log,
    );
    const tables: PolledTable[] = [];
    for (const table of this.config.tables) {
      const stream = streamName(table);
      let image: CapturedTable | undefined;
      if (dialect.name === 'sqlite') {
        // A missing table is said at start, by name, rather than as an SQL error of the first poll.
        const operation = { operation: 'describe', stream, target: this.connection.target };
        const columns = await catalogueColumns(dataSource, dialect, table).catch(rethrowAs(operation));
        if (columns.length === 0) throw await missingTable(dataSource, dialect, table, operation.target);
      } else {
        // Rows as JSON images rendered by the database, decoded per column type: the same values as the
        // trigger and logical modes (microseconds, dates, intervals), not what the driver makes of them.
        const operation = { operation: 'describe', stream, target: this.connection.target };
        image = await describeTable(dataSource, dialect, table, operation.target).catch(rethrowAs(operation));
        // The image is keyed by the catalogue's names, so a configured name must be the column's exactly: said
        // at start, rather than as an SQL error (PostgreSQL) or a key of nulls (MariaDB, which matches any case).
        const names = new Set(image.columns.map((c) => c.name));
        const missing = configuredColumns(table).filter((c) => !names.has(c));
        if (missing.length > 0)
          throw columnsNotFound(table, 'configured', missing, [...names], operation.target);
        if (table.columns !== undefined) {
          const wanted = new Set(configuredColumns(table));
          image = { ...image, columns: image.columns.filter((c) => wanted.has(c.name)) };
        }
      }
      tables.push({ table, stream, queries: new TableQueries(dataSource, dialect, table, image), image });
    }
    return { dataSource, tables };
  }

  /** `SELECT 1` on a short-lived connection of its own; see Connection.probe. */
  probe(signal: AbortSignal): Promise<void> {
    return this.connection.probe(signal);
  }

  close(): Promise<void> {
    this.closed.abort();
    return this.connection.close();
  }

  private async poll(
    dataSource: DataSource,
    { table, stream, queries, image }: PolledTable,
    from: TableWatermark | undefined,
  ): Promise<Page> {
    const { batchSize, delayMs } = this.config;
    const page = queries.page(from, batchSize, delayMs);
    let rows = (await dataSource.query(page.sql, page.params)) as Row[];
    const full = rows.length >= batchSize;
    if (full && table.timestampColumn !== undefined && table.incrementingColumn === undefined) {
      // Without a tie-breaker the next page starts after the last timestamp, so the page must hold every row
      // of that timestamp: the rest of the group would otherwise be skipped for good.
      const last = rows[rows.length - 1]?.[TS_ALIAS];
      const group = queries.group(last);
      const rest = (await dataSource.query(group.sql, group.params)) as Row[];
      rows = [...rows.filter((row) => row[TS_ALIAS] !== last), ...rest];
    }
    if (rows.length === 0) return { records: [], watermark: undefined, full };

    const columns = columnLookup(rows[0] as Row);
    const records = rows.map((row) => toRecord(row, table, stream, columns, image));
    return { records, watermark: watermarkOf(rows[rows.length - 1] as Row, table), full };
  }
}

/** Config names to the row's property names: MySQL and SQLite match column names case-insensitively. */
function columnLookup(row: Row): (name: string) => string {
  const byLower = new Map<string, string>();
  for (const name of Object.keys(row)) {
    if (!byLower.has(name.toLowerCase())) byLower.set(name.toLowerCase(), name);
  }
  return (name) => (name in row ? name : (byLower.get(name.toLowerCase()) ?? name));
}

function watermarkOf(row: Row, table: DatabaseTableConfig): TableWatermark {
  return {
    ts: table.timestampColumn === undefined ? null : toWatermark(row[TS_ALIAS]),
    id: table.incrementingColumn === undefined ? null : toWatermark(row[ID_ALIAS]),
  };
}

function toRecord(
  row: Row,
  table: DatabaseTableConfig,
  stream: string,
  column: (name: string) => string,
  image: CapturedTable | undefined,
): ChangeRecord {
  const { ts, id } = watermarkOf(row, table);
  let after: Record<string, unknown>;
  let value: (name: string) => unknown;
  let omitted: string[] = [];
  if (image === undefined) {
    after = normaliseRow(row, INTERNAL_COLUMNS);
    value = (name) => normaliseValue(row[column(name)]);
  } else {
    const parts = decodeImageParts(row[IMAGE_ALIAS] as string | null, image.kinds, {
      stream,
      from: `poll, row at ${JSON.stringify({ ts, id })}`,
    });
    const decoded = parts?.values ?? {};
    omitted = parts?.omitted ?? [];
    if (table.columns === undefined) after = decoded;
    else {
      after = {};
      for (const c of image.columns) if (c.name in decoded) after[c.name] = decoded[c.name];
    }
    value = (name) => after[name] ?? null;
  }
  const key: Record<string, unknown> = {};
  for (const name of table.key) key[name] = value(name);
  const created = table.createdColumn !== undefined && Number(row[CREATED_ALIAS]) === 1;
  const occurredAt =
    table.timestampColumn === undefined ? undefined : parseOccurredAt(value(table.timestampColumn));
  return {
    stream,
    op: created ? 'create' : 'update',
    key,
    after,
    // Values too large for the database to put in the image are null; the origin says which they are.
    origin: { table: stream, ts, id, ...(omitted.length === 0 ? {} : { omitted }) },
    // The row's tracking values: a later version of the row has a later timestamp (or id).
    sequence: sequenceOf(...[ts, id].filter((v) => v !== null).map(sequencePart)),
    ...(occurredAt === undefined ? {} : { occurredAt }),
  };
}

function configuredColumns(table: DatabaseTableConfig): string[] {
  const names = [
    ...table.key,
    table.timestampColumn,
    table.incrementingColumn,
    table.createdColumn,
    ...(table.columns ?? []),
  ].filter((c): c is string => c !== undefined);
  return [...new Set(names)];
}

function trackingDescription(table: DatabaseTableConfig): string {
  if (table.timestampColumn !== undefined && table.incrementingColumn !== undefined) {
    return `${table.timestampColumn}, then ${table.incrementingColumn}`;
  }
  return table.timestampColumn ?? (table.incrementingColumn as string);
}

/**
 * SQLite's `INTEGER PRIMARY KEY` column is the table's rowid under another name: never NULL, although
 * `PRAGMA table_info` (and so typeorm) says it may be. Any other SQLite primary key may hold NULLs.
 */
function isRowidAlias(column: CatalogueColumn, primary: CatalogueColumn[]): boolean {
  return primary.length === 1 && primary[0] === column && column.type.toLowerCase() === 'integer';
}
