// The rows a legacy database holds now, read a page at a time on a read-only connection: for tools that
// compare or export its contents (`ferry reconcile`). Change capture is the source's job, not this.
import { parseComponentOptions } from '@ferry/core/sdk';
import { z } from 'zod';
import {
  type DatabaseConnectionConfig,
  databaseConnectionSchema,
  identifier,
  nameTooLong,
} from './config.js';
import { classifyDatabaseError } from './errors.js';
import { qualified } from './internal/capture.js';
import { Connection, describeTarget, dialectOf } from './internal/connection.js';

// Names are quoted by the driver, as in pipeline files; see `identifier` in config.ts.
const name = identifier;

export const databaseRowsConfigSchema = z
  .object({
    connection: databaseConnectionSchema,
    table: name('a table name').optional().describe('Table to read; or `query`.'),
    schema: name('a schema name').optional().describe('Schema (or MySQL database) of `table`.'),
    query: z
      .string()
      .min(1)
      .optional()
      .describe('A SELECT to read instead of a table; it must not end in ORDER BY or LIMIT of its own.'),
    key: z
      .array(name('a key column'))
      .min(1)
      .describe('Columns that identify a row: the rows are paged in their order (keyset paging).'),
    pageSize: z.number().int().min(1).default(5000).describe('Rows read per query.'),
  })
  .strict()
  .refine((c) => (c.table === undefined) !== (c.query === undefined), {
    message: 'give exactly one of table or query',
    path: ['table'],
  })
  .refine((c) => c.schema === undefined || c.table !== undefined, {
    message: 'schema only goes with table',
    path: ['schema'],
  })
  .superRefine((c, ctx) => {
    const names: [string | undefined, (string | number)[]][] = [
      [c.table, ['table']],
      [c.schema, ['schema']],
      ...c.key.map((k, i): [string, (string | number)[]] => [k, ['key', i]]),
    ];
    for (const [value, path] of names) {
      const problem = value === undefined ? undefined : nameTooLong(value, c.connection.type);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', path, message: `the name ${problem}` });
    }
  });

export type DatabaseRowsConfigInput = z.input<typeof databaseRowsConfigSchema>;
export type DatabaseRowsConfig = z.output<typeof databaseRowsConfigSchema>;
export type DatabaseConnectionConfigInput = z.input<typeof databaseConnectionSchema>;
export type DatabaseRow = Record<string, unknown>;

export interface DatabaseRowsContext {
  /** What a relative SQLite path is relative to (default the working directory). */
  baseDir?: string;
}

/** Validate connection options the way a pipeline file is validated (ConfigError), defaults applied. */
export function parseDatabaseConnection(connection: DatabaseConnectionConfigInput): DatabaseConnectionConfig {
  return parseComponentOptions(databaseConnectionSchema, connection, 'connection');
}

/** Where a connection goes, for messages and reports; never includes the password. */
export function describeDatabaseConnection(
  connection: DatabaseConnectionConfigInput,
  context: DatabaseRowsContext = {},
): string {
  return describeTarget(parseDatabaseConnection(connection), context.baseDir ?? process.cwd());
}

/**
 * Every row of a table or query, in pages of `pageSize` in key order. Keyset paging (`WHERE (key) > (last)
 * ORDER BY key LIMIT n`) keeps one page in memory whatever the size, and makes each page an index range
 * when the key is indexed. Options are validated as a pipeline file's are (ConfigError); what the database
 * throws leaves through classifyDatabaseError, as the source's errors do.
 */
export async function* readDatabaseRows(
  config: DatabaseRowsConfigInput,
  context: DatabaseRowsContext = {},
): AsyncIterable<DatabaseRow[]> {
  const {
    connection: connectionConfig,
    table,
    schema,
    query,
    key,
    pageSize,
  } = parseComponentOptions(databaseRowsConfigSchema, config, 'rows');
  const connection = new Connection(connectionConfig, context.baseDir ?? process.cwd());
  const where = { target: connection.target, ...(table === undefined ? {} : { stream: table }) };
  try {
    const dataSource = await connection.open();
    const runner = dataSource.createQueryRunner();
    try {
      const run = async (sql: string, params: unknown[] = []): Promise<DatabaseRow[]> => {
        try {
          return (await runner.query(sql, params)) as DatabaseRow[];
        } catch (error) {
          throw classifyDatabaseError(error, { operation: 'query', ...where });
        }
      };
      const dialect = dialectOf(dataSource);
      // A SQLite reference is opened read-only; a server session is made read-only, so a query that calls
      // something with side effects fails instead of changing the legacy data.
      if (dialect.name === 'postgres') await run('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY');
      if (dialect.name === 'mysql') await run('SET SESSION TRANSACTION READ ONLY');
      const inner = query ?? `SELECT * FROM ${qualified(dialect, table!, schema)}`;
      const keys = key.map((k) => `ferry_rows.${dialect.escape(k)}`).join(', ');
      let last: unknown[] | undefined;
      for (;;) {
        const params = last ?? [];
        const placeholders = params.map((_, i) => dataSource.driver.createParameter(`p${i}`, i)).join(', ');
        const after =
          last === undefined
            ? ''
            : key.length === 1
              ? `WHERE ${keys} > ${placeholders}`
              : `WHERE (${keys}) > (${placeholders})`;
        const rows = await run(
          `SELECT * FROM (${inner.replace(/;\s*$/, '')}) ferry_rows ${after} ORDER BY ${keys} LIMIT ${pageSize}`,
          params,
        );
        if (rows.length > 0) yield rows;
        if (rows.length < pageSize) return;
        const tail = rows[rows.length - 1]!;
        last = key.map((k) => tail[k]);
      }
    } finally {
      await runner.release();
    }
  } finally {
    await connection.close();
  }
}
