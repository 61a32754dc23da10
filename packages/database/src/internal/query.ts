// The SQL of one poll of one table. Names are escaped by the driver (and were validated by the schema);
// every value is a bound parameter in the driver's own placeholder style.
import type { DataSource } from 'typeorm';
import type { DatabaseTableConfig } from '../config.js';
import type { TableWatermark } from '../positions.js';
import { type CapturedTable, IMAGE_ALIAS, imageSql } from './capture.js';
import { type Dialect, delayParameter } from './connection.js';

/** Internal columns added to the select list; stripped from the record's `after`. */
export const TS_ALIAS = '__ferry_ts';
export const ID_ALIAS = '__ferry_id';
export const CREATED_ALIAS = '__ferry_created';
export const INTERNAL_COLUMNS: ReadonlySet<string> = new Set([TS_ALIAS, ID_ALIAS, CREATED_ALIAS]);
/** Table alias of the polled table when rows are read as JSON images. */
const ROW_ALIAS = '__ferry_row';

export interface Query {
  sql: string;
  params: unknown[];
}

class Parameters {
  readonly values: unknown[] = [];
  constructor(private readonly dataSource: DataSource) {}

  add(value: unknown): string {
    this.values.push(value);
    return this.dataSource.driver.createParameter(`p${this.values.length}`, this.values.length - 1);
  }
}

/** Builds the queries for one configured table. */
export class TableQueries {
  private readonly from: string;
  private readonly select: string;
  private readonly ts: string | undefined;
  private readonly id: string | undefined;
  private readonly order: string;

  constructor(
    private readonly dataSource: DataSource,
    private readonly dialect: Dialect,
    table: DatabaseTableConfig,
    /** Read rows as JSON images rendered by the database (PostgreSQL, MySQL), as the other modes do. */
    image?: CapturedTable,
  ) {
    const q = (name: string) => dialect.escape(name);
    this.from = table.schema === undefined ? q(table.name) : `${q(table.schema)}.${q(table.name)}`;
    if (image !== undefined) this.from += ` ${q(ROW_ALIAS)}`;
    this.ts = table.timestampColumn === undefined ? undefined : q(table.timestampColumn);
    this.id = table.incrementingColumn === undefined ? undefined : q(table.incrementingColumn);

    const wanted =
      image !== undefined
        ? [
            `${
              dialect.name === 'postgres'
                ? `to_json(${q(ROW_ALIAS)})::text`
                : `CAST(${imageSql(dialect, image, q(ROW_ALIAS))} AS CHAR)`
            } AS ${q(IMAGE_ALIAS)}`,
          ]
        : table.columns === undefined
          ? ['*']
          : [
              ...new Set(
                [
                  ...table.columns,
                  ...table.key,
                  table.timestampColumn,
                  table.incrementingColumn,
                  table.createdColumn,
                ].filter((c): c is string => c !== undefined),
              ),
            ].map(q);
    if (this.ts !== undefined) wanted.push(`${dialect.asText(this.ts) ?? this.ts} AS ${q(TS_ALIAS)}`);
    if (this.id !== undefined) wanted.push(`${this.id} AS ${q(ID_ALIAS)}`);
    if (this.ts !== undefined && table.createdColumn !== undefined) {
      // Compared in SQL: the driver's Dates would hide a microsecond difference between the two columns.
      wanted.push(
        `CASE WHEN ${q(table.createdColumn)} = ${this.ts} THEN 1 ELSE 0 END AS ${q(CREATED_ALIAS)}`,
      );
    }
    this.select = wanted.join(', ');

    // Timestamp alone cannot order rows that share a value; the key makes pages and replays deterministic.
    const order = [this.ts, this.id].filter((c): c is string => c !== undefined);
    if (this.id === undefined) order.push(...table.key.map(q));
    this.order = order.join(', ');
  }

  /** Rows after `from`, oldest first, at most `limit`. */
  page(from: TableWatermark | undefined, limit: number, delayMs: number): Query {
    const params = new Parameters(this.dataSource);
    const where: string[] = [];
    const { ts, id } = this;
    if (ts !== undefined) where.push(`${ts} IS NOT NULL`);
    if (id !== undefined) where.push(`${id} IS NOT NULL`);
    if (ts !== undefined && from?.ts != null) {
      const at = params.add(from.ts);
      if (id !== undefined && from.id != null) {
        // Same as (ts > :ts OR (ts = :ts AND id > :id)), written so an index on (ts, id) can seek to :ts.
        where.push(`${ts} >= ${at} AND (${ts} > ${params.add(from.ts)} OR ${id} > ${params.add(from.id)})`);
      } else {
        where.push(`${ts} > ${at}`);
      }
    } else if (ts === undefined && id !== undefined && from?.id != null) {
      where.push(`${id} > ${params.add(from.id)}`);
    }
    if (ts !== undefined && delayMs > 0) {
      where.push(this.dialect.olderThan(ts, params.add(delayParameter(this.dialect, delayMs))));
    }
    const limitParam = params.add(limit);
    return {
      sql: `SELECT ${this.select} FROM ${this.from} WHERE ${where.join(' AND ')} ORDER BY ${this.order} LIMIT ${limitParam}`,
      params: params.values,
    };
  }

  /** Every row whose timestamp equals `ts`: completes a page that ended inside a group of equal timestamps. */
  group(ts: unknown): Query {
    if (this.ts === undefined) throw new Error('group() needs a timestamp column');
    const params = new Parameters(this.dataSource);
    return {
      sql: `SELECT ${this.select} FROM ${this.from} WHERE ${this.ts} = ${params.add(ts)} ORDER BY ${this.order}`,
      params: params.values,
    };
  }
}
