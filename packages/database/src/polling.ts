// Polling change capture: each poll reads, per table, the rows whose tracking columns moved past the saved
// position, oldest first, one page per batch. Cheap and portable, but it sees only the latest state of a row
// and never sees a delete.
import {
  type Batch,
  type ChangeRecord,
  type ReadContext,
  type Source,
  type StreamInfo,
  sleep,
} from '@ferry/core/sdk';
import type { DataSource } from 'typeorm';
import { type DatabasePollingConfig, type DatabaseTableConfig, streamName } from './config.js';
import { classifyDatabaseError, DatabaseError, DatabaseErrorCodes } from './errors.js';
import { type CapturedTable, describeTable, IMAGE_ALIAS } from './internal/capture.js';
import { Connection, dialectOf } from './internal/connection.js';
import { decodeImage } from './internal/images.js';
import { CREATED_ALIAS, ID_ALIAS, INTERNAL_COLUMNS, TableQueries, TS_ALIAS } from './internal/query.js';
import {
  type DatabasePosition,
  normaliseRow,
  normaliseValue,
  parseOccurredAt,
  parsePosition,
  type TableWatermark,
  toWatermark,
} from './internal/values.js';

export interface DatabaseSourceContext {
  /** Directory that a relative SQLite path is resolved against: the pipeline file's directory. */
  baseDir?: string;
}

interface Page {
  records: ChangeRecord[];
  /** Watermark of the last row, or undefined when the page is empty. */
  watermark: TableWatermark | undefined;
  /** The page was full: more rows may be waiting. */
  full: boolean;
}

type Row = Record<string, unknown>;

export class DatabasePollingSource implements Source<DatabasePosition> {
  readonly type = 'database';
  private readonly connection: Connection;
  private readonly closed = new AbortController();

  constructor(
    private readonly config: DatabasePollingConfig,
    context: DatabaseSourceContext = {},
  ) {
    this.connection = new Connection(config.connection, context.baseDir ?? process.cwd());
  }

  async discover(): Promise<StreamInfo[]> {
    const dataSource = await this.connection.open();
    const runner = dataSource.createQueryRunner();
    try {
      const streams: StreamInfo[] = [];
      for (const table of this.config.tables) {
        const stream = streamName(table);
        const found = await runner.getTable(stream).catch((error: unknown) => {
          throw classifyDatabaseError(error, {
            operation: 'discover',
            stream,
            target: this.connection.target,
          });
        });
        if (found === undefined) throw this.tableNotFound(stream);
        const names = new Set(found.columns.map((c) => c.name.toLowerCase()));
        const missing = configuredColumns(table).filter((c) => !names.has(c.toLowerCase()));
        streams.push({
          name: stream,
          fields: found.columns.map((c) => ({ name: c.name, type: c.type, nullable: c.isNullable })),
          key: found.primaryColumns.map((c) => c.name),
          notes: [
            `captured by polling on ${trackingDescription(table)}; key ${table.key.join(', ')}`,
            ...(missing.length > 0 ? [`configured but not in the table: ${missing.join(', ')}`] : []),
          ],
        });
      }
      return streams;
    } finally {
      await runner.release();
    }
  }

  async *read(ctx: ReadContext<DatabasePosition>): AsyncGenerator<Batch<DatabasePosition>> {
    let position = parsePosition(ctx.from);
    const stop = AbortSignal.any([ctx.signal, this.closed.signal]);
    if (stop.aborted) return;
    let dataSource: DataSource;
    try {
      dataSource = await this.connection.open();
    } catch (error) {
      if (stop.aborted) return;
      throw error;
    }
    const dialect = dialectOf(dataSource);
    const tables: {
      table: DatabaseTableConfig;
      stream: string;
      queries: TableQueries;
      image?: CapturedTable;
    }[] = [];
    for (const table of this.config.tables) {
      const stream = streamName(table);
      let image: CapturedTable | undefined;
      if (dialect.name === 'postgres' || dialect.name === 'mysql') {
        // Rows as JSON images rendered by the database, decoded per column type: the same values as the trigger
        // and logical modes (microseconds, dates, intervals), not what the driver makes of them.
        try {
          image = await describeTable(dataSource, dialect, table, this.connection.target);
        } catch (error) {
          if (stop.aborted) return;
          throw classifyDatabaseError(error, {
            operation: 'describe',
            stream,
            target: this.connection.target,
          });
        }
        if (table.columns !== undefined) {
          const wanted = new Set(configuredColumns(table));
          image = { ...image, columns: image.columns.filter((c) => wanted.has(c.name)) };
        }
      }
      const queries = new TableQueries(dataSource, dialect, table, image);
      tables.push(image === undefined ? { table, stream, queries } : { table, stream, queries, image });
    }
    ctx.log.info(
      { streams: tables.map((t) => t.stream), target: this.connection.target, once: ctx.once },
      'database polling started',
    );
    for (const { table, stream } of tables) {
      const saved = position.tables[stream];
      if (saved !== undefined && table.timestampColumn !== undefined && saved.ts === null) {
        // The table was tracked by its incrementing column alone; nothing in the position says which
        // timestamps were seen, so only a full re-read is safe.
        ctx.log.warn({ stream }, 'saved position has no timestamp for this table; reading it from the start');
      }
    }

    for (;;) {
      let behind = false;
      for (const { table, stream, queries, image } of tables) {
        if (stop.aborted) return;
        let page: Page;
        try {
          page = await this.poll(dataSource, table, stream, queries, position.tables[stream], image);
        } catch (error) {
          // A stop or close() interrupts queries; that ends the read, it is not a failure.
          if (stop.aborted) return;
          throw classifyDatabaseError(error, { operation: 'query', stream, target: this.connection.target });
        }
        if (page.full) behind = true;
        if (page.watermark === undefined) continue;
        // A new object each time: the runtime still holds earlier positions while their batches commit.
        position = { tables: { ...position.tables, [stream]: page.watermark } };
        ctx.log.debug({ stream, rows: page.records.length, full: page.full }, 'database page read');
        yield { records: page.records, position };
      }
      if (behind) continue;
      ctx.caughtUp?.();
      if (ctx.once || stop.aborted) return;
      await sleep(this.config.pollIntervalMs, stop);
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

  private async poll(
    dataSource: DataSource,
    table: DatabaseTableConfig,
    stream: string,
    queries: TableQueries,
    from: TableWatermark | undefined,
    image: CapturedTable | undefined,
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

  private tableNotFound(stream: string): DatabaseError {
    return new DatabaseError(
      DatabaseErrorCodes.DB_TABLE_NOT_FOUND,
      `table ${stream} does not exist on ${this.connection.target} or the user cannot see it. ` +
        'Check tables[].name and tables[].schema; names are matched exactly, including case.',
      { details: { operation: 'discover', stream, target: this.connection.target } },
    );
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
  if (image === undefined) {
    after = normaliseRow(row, INTERNAL_COLUMNS);
    value = (name) => normaliseValue(row[column(name)]);
  } else {
    const decoded = decodeImage(row[IMAGE_ALIAS] as string | null, image.kinds) ?? {};
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
  const record: ChangeRecord = {
    stream,
    op: created ? 'create' : 'update',
    key,
    after,
    origin: { table: stream, ts, id },
  };
  if (table.timestampColumn !== undefined) {
    const occurredAt = parseOccurredAt(value(table.timestampColumn));
    if (occurredAt !== undefined) record.occurredAt = occurredAt;
  }
  return record;
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
