// The reference side of `ferry reconcile`: rows of a SQL table or query (through typeorm, a page at a time
// by key so any size streams), or of a CSV or JSON Lines file, read as a stream.
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, FerryError } from '@ferry/core';
import { parse } from 'csv-parse';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { lineBatches, objectBatches } from './reconcile-lines.js';

export type SqlConnection =
  | { type: 'better-sqlite3'; database: string }
  | {
      type: 'postgres' | 'mysql' | 'mariadb';
      host: string;
      port?: number;
      username: string;
      password?: string;
      database: string;
    };

export type ReferenceSpec =
  | { kind: 'sql'; connection: SqlConnection; table?: string; query?: string; pageSize?: number }
  | { kind: 'csv'; path: string; delimiter?: string }
  | { kind: 'jsonl'; path: string };

export type Row = Record<string, unknown>;

/** Where the reference is, for the report; never includes a password. */
export function describeReference(spec: ReferenceSpec): string {
  if (spec.kind !== 'sql') return `${spec.kind} ${spec.path}`;
  const c = spec.connection;
  const where =
    c.type === 'better-sqlite3'
      ? `sqlite ${c.database}`
      : `${c.type} ${c.host}:${c.port ?? defaultPort(c.type)}/${c.database}`;
  return `${where} (${spec.table === undefined ? 'query' : `table ${spec.table}`})`;
}

/**
 * Parse `--reference`: `sqlite:<path>`, `postgres://user:pass@host:port/db`, `mysql://…`, `mariadb://…`, or
 * a file ending in .csv, .jsonl or .ndjson. A password missing from the URL is `options.password`.
 */
export function parseReference(
  where: string,
  options: { table?: string; query?: string; delimiter?: string; password?: string; pageSize?: number },
): ReferenceSpec {
  if (where.startsWith('sqlite:')) {
    return sqlSpec({ type: 'better-sqlite3', database: resolve(where.slice('sqlite:'.length)) }, options);
  }
  const url = /^(postgres|postgresql|mysql|mariadb):\/\//.exec(where);
  if (url) {
    const parsed = new URL(where);
    const type = url[1] === 'postgresql' ? 'postgres' : (url[1] as 'postgres' | 'mysql' | 'mariadb');
    const password = parsed.password === '' ? options.password : decodeURIComponent(parsed.password);
    return sqlSpec(
      {
        type,
        host: parsed.hostname || '127.0.0.1',
        ...(parsed.port === '' ? {} : { port: Number(parsed.port) }),
        username: decodeURIComponent(parsed.username),
        ...(password === undefined ? {} : { password }),
        database: decodeURIComponent(parsed.pathname.replace(/^\//, '')),
      },
      options,
    );
  }
  if (/\.csv$/i.test(where)) {
    return {
      kind: 'csv',
      path: resolve(where),
      ...(options.delimiter === undefined ? {} : { delimiter: options.delimiter }),
    };
  }
  if (/\.(jsonl|ndjson)$/i.test(where)) return { kind: 'jsonl', path: resolve(where) };
  throw usage(
    '--reference',
    `'${where}' is not sqlite:<path>, a postgres/mysql/mariadb URL, or a .csv/.jsonl file`,
  );
}

function sqlSpec(
  connection: SqlConnection,
  options: { table?: string; query?: string; pageSize?: number },
): ReferenceSpec {
  if ((options.table === undefined) === (options.query === undefined)) {
    throw usage('--table', 'a SQL reference needs exactly one of --table or --query');
  }
  return {
    kind: 'sql',
    connection,
    ...(options.table === undefined ? {} : { table: options.table }),
    ...(options.query === undefined ? {} : { query: options.query }),
    ...(options.pageSize === undefined ? {} : { pageSize: Math.max(1, Math.floor(options.pageSize)) }),
  };
}

/** A wrong option: a ConfigError so the exit code is 2, like every other usage error. */
class ReconcileUsageError extends ConfigError {
  constructor(path: string, message: string) {
    super(undefined, [{ path, message }], 'RECONCILE_USAGE');
    // ConfigError words its message for pipeline files; this is about a command-line option.
    this.message = `${path}: ${message}`;
  }
}

export function usage(path: string, message: string): ConfigError {
  return new ReconcileUsageError(path, message);
}

/** The reference rows, streamed in batches. `key` names the key columns: a SQL reference is paged in their order. */
export function readReference(spec: ReferenceSpec, key: string[]): AsyncIterable<Row[]> {
  switch (spec.kind) {
    case 'sql':
      return readSql(spec, key);
    case 'csv':
      return readCsv(spec.path, spec.delimiter);
    case 'jsonl':
      return readJsonl(spec.path);
  }
}

async function* readSql(spec: Extract<ReferenceSpec, { kind: 'sql' }>, key: string[]): AsyncIterable<Row[]> {
  const dataSource = new DataSource(dataSourceOptions(spec.connection));
  try {
    await dataSource.initialize();
  } catch (error) {
    throw referenceError(spec, 'cannot connect', error, true);
  }
  try {
    const quote = (name: string) => dataSource.driver.escape(name);
    const postgres = spec.connection.type === 'postgres';
    const inner = spec.query ?? `SELECT * FROM ${spec.table!.split('.').map(quote).join('.')}`;
    const keyList = key.map((k) => `ferry_ref.${quote(k)}`).join(', ');
    const pageSize = spec.pageSize ?? 5000;
    let last: unknown[] | undefined;
    for (;;) {
      // Keyset paging: each page is an indexed range when the reference is a keyed table, and memory holds
      // one page whatever the size of the whole.
      const placeholders = key.map((_, i) => (postgres ? `$${i + 1}` : '?')).join(', ');
      const where =
        last === undefined
          ? ''
          : key.length === 1
            ? `WHERE ${keyList} > ${placeholders}`
            : `WHERE (${keyList}) > (${placeholders})`;
      const sql = `SELECT * FROM (${inner.replace(/;\s*$/, '')}) ferry_ref ${where} ORDER BY ${keyList} LIMIT ${pageSize}`;
      let rows: Row[];
      try {
        rows = (await dataSource.query(sql, last ?? [])) as Row[];
      } catch (error) {
        throw referenceError(spec, 'query failed', error, false);
      }
      if (rows.length > 0) yield rows;
      if (rows.length < pageSize) return;
      const tail = rows[rows.length - 1]!;
      last = key.map((k) => tail[k]);
    }
  } finally {
    await dataSource.destroy();
  }
}

function referenceError(spec: ReferenceSpec, what: string, error: unknown, retryable: boolean): FerryError {
  const reason = error instanceof Error ? error.message : String(error);
  return new FerryError('RECONCILE_REFERENCE_FAILED', `${describeReference(spec)}: ${what}: ${reason}`, {
    cause: error,
    retryable,
  });
}

function dataSourceOptions(connection: SqlConnection): DataSourceOptions {
  const common = { logging: false, synchronize: false, entities: [], migrationsRun: false };
  if (connection.type === 'better-sqlite3') {
    return {
      ...common,
      type: 'better-sqlite3',
      database: connection.database,
      readonly: true,
      fileMustExist: true,
    };
  }
  return {
    ...common,
    type: connection.type,
    host: connection.host,
    port: connection.port ?? defaultPort(connection.type),
    username: connection.username,
    ...(connection.password === undefined ? {} : { password: connection.password }),
    database: connection.database,
    poolSize: 1,
  } as DataSourceOptions;
}

function defaultPort(type: 'postgres' | 'mysql' | 'mariadb'): number {
  return type === 'postgres' ? 5432 : 3306;
}

async function* readCsv(path: string, delimiter: string | undefined): AsyncIterable<Row[]> {
  const parser = createReadStream(path).pipe(
    parse({
      columns: true,
      bom: true,
      skip_empty_lines: true,
      ...(delimiter === undefined ? {} : { delimiter }),
    }),
  );
  try {
    yield* objectBatches<Row>(parser);
  } catch (error) {
    throw new FerryError('RECONCILE_REFERENCE_FAILED', `csv ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

async function* readJsonl(path: string): AsyncIterable<Row[]> {
  for await (const { first, lines } of lineBatches(path)) {
    const rows: Row[] = [];
    for (let i = 0; i < lines.length; i += 1) {
      const text = lines[i]!;
      if (text.trim() === '') continue;
      try {
        rows.push(JSON.parse(text) as Row);
      } catch (error) {
        throw new FerryError(
          'RECONCILE_REFERENCE_FAILED',
          `jsonl ${path}:${first + i}: ${(error as Error).message}`,
          {
            cause: error,
            details: { path, line: first + i },
          },
        );
      }
    }
    yield rows;
  }
}
