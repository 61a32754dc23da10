// The reference side of `ferry reconcile`: rows of a SQL table or query (read by @ferry/database a page at a
// time by key, so any size streams), or of a CSV or JSON Lines file, read as a stream.
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, FerryError, isFerryError } from '@ferry/core';
import {
  type DatabaseConnectionConfigInput,
  describeDatabaseConnection,
  parseDatabaseConnection,
  readDatabaseRows,
} from '@ferry/database';
import { parse } from 'csv-parse';
import { lineBatches, objectBatches } from './reconcile-lines.js';
import { usage } from './reconcile-usage.js';

export type SqlConnection = DatabaseConnectionConfigInput;

export type ReferenceSpec =
  | { kind: 'sql'; connection: SqlConnection; table?: string; query?: string; pageSize?: number }
  | { kind: 'csv'; path: string; delimiter?: string }
  | { kind: 'jsonl'; path: string };

export type Row = Record<string, unknown>;

/** Where the reference is, for the report; never includes a password. */
export function describeReference(spec: ReferenceSpec): string {
  if (spec.kind !== 'sql') return `${spec.kind} ${spec.path}`;
  const where = describeDatabaseConnection(spec.connection);
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
  try {
    parseDatabaseConnection(connection);
  } catch (error) {
    if (error instanceof ConfigError) throw usage('--reference', issues(error));
    throw error;
  }
  return {
    kind: 'sql',
    connection,
    ...(options.table === undefined ? {} : { table: options.table }),
    ...(options.query === undefined ? {} : { query: options.query }),
    ...(options.pageSize === undefined ? {} : { pageSize: Math.max(1, Math.floor(options.pageSize)) }),
  };
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
  const parts = spec.table?.split('.') ?? [];
  if (parts.length > 2) throw usage('--table', `'${spec.table}' is not table or schema.table`);
  const [schema, table] = parts.length === 2 ? parts : [undefined, parts[0]];
  try {
    yield* readDatabaseRows({
      connection: spec.connection,
      ...(table === undefined ? {} : { table }),
      ...(schema === undefined ? {} : { schema }),
      ...(spec.query === undefined ? {} : { query: spec.query }),
      key,
      ...(spec.pageSize === undefined ? {} : { pageSize: spec.pageSize }),
    });
  } catch (error) {
    if (error instanceof ConfigError) throw usage(flagOf(error.issues[0]?.path ?? ''), issues(error));
    // The database's own code says what went wrong and whether trying again can help; the command's
    // code stays the one its users script against.
    const code = isFerryError(error) ? error.code : undefined;
    throw new FerryError(
      'RECONCILE_REFERENCE_FAILED',
      `${describeReference(spec)}: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
        retryable: isFerryError(error) && error.retryable,
        ...(code === undefined ? {} : { details: { code } }),
      },
    );
  }
}

/** The command-line option behind a path of the rows options. */
function flagOf(path: string): string {
  if (path.startsWith('rows.key')) return '--key';
  if (path.startsWith('rows.query')) return '--query';
  if (path.startsWith('rows.pageSize')) return '--page-size';
  if (path.startsWith('rows.connection')) return '--reference';
  return '--table';
}

function issues(error: ConfigError): string {
  return error.issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ');
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
