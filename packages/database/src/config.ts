// Options of the database source, declared once: the schema validates pipeline files, types the code and is
// the source of the option table in README.md.
import { z } from 'zod';

/**
 * Table, schema and column names are taken as the legacy system spells them: spaces, mixed case, reserved
 * words and non-ASCII letters included. They never reach SQL unquoted: each is quoted by the driver's own
 * quoting for its dialect (quote characters doubled), and case is kept exactly. What no database accepts,
 * or what would only hide a mistake, is refused here: an empty name and control characters (NUL among
 * them). The length limit depends on the server, so it is checked per connection type (`nameTooLong`).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

export const identifier = (what: string) =>
  z
    .string()
    .min(1, `${what} must not be empty`)
    .refine(
      (name) => !CONTROL_CHARACTERS.test(name),
      `${what} must not contain control characters (NUL, tab, line breaks)`,
    );

/** PostgreSQL truncates identifiers beyond 63 bytes (NAMEDATALEN - 1); MySQL and MariaDB refuse beyond 64 characters. */
export function nameTooLong(name: string, type: DatabaseConnectionConfig['type']): string | undefined {
  if (type === 'postgres') {
    const bytes = Buffer.byteLength(name, 'utf8');
    return bytes > 63 ? `is ${bytes} bytes long; PostgreSQL names are at most 63 bytes` : undefined;
  }
  if (type === 'mysql' || type === 'mariadb') {
    const characters = [...name].length;
    return characters > 64
      ? `is ${characters} characters long; ${type === 'mysql' ? 'MySQL' : 'MariaDB'} names are at most 64 characters`
      : undefined;
  }
  return undefined;
}

/** Every name of a mode's options that goes into SQL, with its path, checked against the server's limit. */
function checkNameLengths(
  config: {
    connection: DatabaseConnectionConfig;
    tables: readonly Record<string, unknown>[];
    journal?: { table: string; schema?: string | undefined };
    publication?: string;
  },
  ctx: z.RefinementCtx,
): void {
  const check = (value: unknown, path: (string | number)[]) => {
    if (typeof value !== 'string') return;
    const problem = nameTooLong(value, config.connection.type);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path, message: `the name ${problem}` });
  };
  for (const [index, table] of config.tables.entries()) {
    for (const [option, value] of Object.entries(table)) {
      if (Array.isArray(value)) {
        for (const [i, item] of value.entries()) check(item, ['tables', index, option, i]);
      } else check(value, ['tables', index, option]);
    }
  }
  if (config.journal !== undefined) {
    check(config.journal.table, ['journal', 'table']);
    check(config.journal.schema, ['journal', 'schema']);
  }
  check(config.publication, ['publication']);
}

const column = identifier('a column name');

const maxRowsPerSecond = z
  .number()
  .min(0)
  .default(0)
  .describe(
    'Rows read per second at most by polls and snapshots (each query is followed by the wait its rows need); 0 = no limit. Tables are read one query at a time.',
  );

const sqliteConnectionSchema = z
  .object({
    type: z.literal('better-sqlite3').describe('SQLite through the better-sqlite3 driver.'),
    database: z
      .string()
      .min(1)
      .describe(
        'Path of the SQLite file, relative to the pipeline file. It must exist; it is opened read-only.',
      ),
    busyTimeoutMs: z
      .number()
      .int()
      .min(0)
      .default(5000)
      .describe('How long a query waits on a locked database before failing with DB_BUSY (retried).'),
  })
  .strict();

const serverConnectionSchema = z
  .object({
    type: z.enum(['postgres', 'mysql', 'mariadb']).describe('The database server product.'),
    host: z.string().min(1).default('127.0.0.1').describe('Server host name or address.'),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe('Server port (default 5432 for postgres, 3306 for mysql and mariadb).'),
    username: z
      .string()
      .min(1)
      .describe(
        'User to connect as; it needs SELECT on the tables and, on PostgreSQL, USAGE on their schema (docs/database.md#privileges).',
      ),
    password: z
      .string()
      .optional()
      .describe(`Password; write it as a \${env:NAME} or \${file:path} reference, never as a literal.`),
    database: z.string().min(1).describe('Database name.'),
    connectTimeoutMs: z
      .number()
      .int()
      .min(100)
      .default(10_000)
      .describe('How long to wait for a connection before failing with DB_CONNECTION_FAILED (retried).'),
    statementTimeoutMs: z
      .number()
      .int()
      .min(1000)
      .default(300_000)
      .describe(
        'Longest any one of Ferry’s statements may run on the server before the server cancels it (DB_TIMEOUT, retried): PostgreSQL statement_timeout, MariaDB max_statement_time, MySQL max_execution_time (SELECTs).',
      ),
    lockTimeoutMs: z
      .number()
      .int()
      .min(1000)
      .default(5000)
      .describe(
        'Longest Ferry waits for a lock (a table lock, a row lock, a metadata lock) before giving up (DB_BUSY, retried), so a statement of Ferry’s never queues ahead of the legacy application: PostgreSQL lock_timeout, MariaDB/MySQL lock_wait_timeout and innodb_lock_wait_timeout (whole seconds, rounded up).',
      ),
  })
  .strict();

export const databaseConnectionSchema = z
  .discriminatedUnion('type', [sqliteConnectionSchema, serverConnectionSchema])
  .describe('Where the legacy database is.');

export const databaseTableSchema = z
  .object({
    name: identifier('a table name').describe('Table to capture.'),
    schema: identifier('a schema name')
      .optional()
      .describe('Schema (PostgreSQL), database (MySQL/MariaDB) or attached database (SQLite) of the table.'),
    key: z
      .array(column)
      .min(1)
      .describe('Columns that identify a row in the legacy system; they become the change record key.'),
    timestampColumn: column
      .optional()
      .describe('Last-modified column: rows whose value moved past the saved position are read again.'),
    incrementingColumn: column
      .optional()
      .describe(
        'Unique, ever-increasing integer column; orders rows that share a timestamp, or alone captures inserts.',
      ),
    createdColumn: column
      .optional()
      .describe("Creation-time column: op is 'create' when it equals timestampColumn, else 'update'."),
    columns: z
      .array(column)
      .min(1)
      .optional()
      .describe('Columns to read (default all); key and tracking columns are always added.'),
  })
  .strict();

const pollingConfigSchema = z
  .object({
    mode: z
      .literal('polling')
      // Filled in before the union picks a mode (below), so a file may leave it out; said here for the docs.
      .default('polling')
      .describe(
        'How changes are captured: polling (default) reads rows whose tracking columns moved forward; trigger reads a journal filled by triggers; logical streams PostgreSQL logical replication; binlog streams the MariaDB/MySQL binary log.',
      ),
    connection: databaseConnectionSchema,
    tables: z.array(databaseTableSchema).min(1).describe('Tables to capture; each is one stream.'),
    batchSize: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(500)
      .describe('Rows read per query; each page becomes one batch.'),
    maxRowsPerSecond,
    pollIntervalMs: z
      .number()
      .int()
      .min(10)
      .default(1000)
      .describe(
        'Time from the end of one pass (every table caught up) to the next when the pipeline has no `schedule`.',
      ),
    delayMs: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe(
        'Read only rows whose timestamp is at least this old by the database clock, so rows of transactions still in flight are not skipped.',
      ),
  })
  .strict()
  .superRefine((config, ctx) => {
    uniqueStreams(config.tables, ctx);
    checkNameLengths(config, ctx);
    for (const [index, table] of config.tables.entries()) {
      if (table.timestampColumn === undefined && table.incrementingColumn === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['tables', index],
          message: `table ${table.name} needs timestampColumn, incrementingColumn or both to know which rows are new`,
        });
      }
      if (table.createdColumn !== undefined && table.timestampColumn === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['tables', index, 'createdColumn'],
          message: 'createdColumn is compared with timestampColumn, so timestampColumn is required with it',
        });
      }
    }
  })
  .describe('Polling: read rows whose tracking columns moved forward.');

/** Tables captured by the trigger and logical modes: every column, identified by `key`. */
export const capturedTableSchema = z
  .object({
    name: identifier('a table name').describe('Table to capture.'),
    schema: identifier('a schema name')
      .optional()
      .describe('Schema (PostgreSQL), database (MySQL/MariaDB) or attached database (SQLite) of the table.'),
    key: z
      .array(column)
      .min(1)
      .describe(
        'Columns that identify a row (the primary key, or a surrogate for a table without one); they become the change record key and order the snapshot.',
      ),
  })
  .strict();

/** Logical mode's tables may also say how a table without a primary key identifies its rows to replication. */
export const logicalTableSchema = capturedTableSchema
  .extend({
    replicaIdentity: z
      .union([
        z.literal('full'),
        z.object({ index: identifier('an index name').describe('A unique index of the table.') }).strict(),
      ])
      .optional()
      .describe(
        "For a table without a primary key (or to get whole before images): 'full' makes `ferry database create-slot` run ALTER TABLE … REPLICA IDENTITY FULL; {index: name} runs REPLICA IDENTITY USING INDEX name. Without it such a table is refused, because publishing it would make PostgreSQL refuse the legacy application's UPDATE and DELETE.",
      ),
  })
  .strict();

const snapshotOption = z
  .enum(['initial', 'never', 'when-needed'])
  .default('initial')
  .describe(
    "initial: on first start read every row as op 'read', then stream changes; never: stream changes only; when-needed: like initial, and snapshot again when the saved position can no longer be streamed from.",
  );

const snapshotChunkSize = z
  .number()
  .int()
  .min(1)
  .max(100_000)
  .default(1000)
  .describe('Rows read per snapshot query; each chunk is one batch and its progress is checkpointed.');

/** The batch size of the stream modes (logical, binlog). */
const streamBatchSize = z
  .number()
  .int()
  .min(1)
  .max(100_000)
  .default(2000)
  .describe('Most changes in one batch; a batch also ends when no more changes are waiting.');

function uniqueStreams(
  tables: readonly { name: string; schema?: string | undefined }[],
  ctx: z.RefinementCtx,
): void {
  const seen = new Map<string, number>();
  for (const [index, table] of tables.entries()) {
    const stream = streamName(table);
    const first = seen.get(stream);
    if (first !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['tables', index, 'name'],
        message: `stream ${stream} is already configured at tables[${first}]; each table may appear once`,
      });
    } else {
      seen.set(stream, index);
    }
  }
}

const triggerConfigSchema = z
  .object({
    mode: z.literal('trigger').describe('Trigger journal: triggers record every change in a journal table.'),
    connection: databaseConnectionSchema,
    tables: z.array(capturedTableSchema).min(1).describe('Tables to capture; each is one stream.'),
    journal: z
      .object({
        table: identifier('a journal table name')
          .default('ferry_journal')
          .describe('Journal table the triggers write and the source reads and purges.'),
        schema: identifier('a schema name')
          .optional()
          .describe(
            'Schema (PostgreSQL) or database (MySQL/MariaDB) of the journal; default the connection’s.',
          ),
      })
      .strict()
      .default({ table: 'ferry_journal' })
      .describe('Where the change journal lives; one journal serves one pipeline (reading purges it).'),
    installTriggers: z
      .boolean()
      .default(false)
      .describe(
        'Create the journal and the triggers at start when they are missing. Off by default: run `ferry database install-triggers` instead.',
      ),
    snapshot: snapshotOption,
    snapshotChunkSize,
    maxRowsPerSecond,
    batchSize: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(1000)
      .describe('Journal rows read per query; each page becomes one batch.'),
    pollIntervalMs: z
      .number()
      .int()
      .min(10)
      .default(500)
      .describe(
        'Time from the end of one pass (the journal drained) to the next when the pipeline has no `schedule`.',
      ),
    gapTimeoutMs: z
      .number()
      .int()
      .min(0)
      .default(600_000)
      .describe(
        'How long a hole in the journal sequence (a transaction still in flight, or rolled back) is watched for a late row before it is given up.',
      ),
  })
  .strict()
  .superRefine((config, ctx) => {
    uniqueStreams(config.tables, ctx);
    checkNameLengths(config, ctx);
  })
  .describe('Trigger journal: triggers record every insert, update and delete in a journal table.');

const logicalConfigSchema = z
  .object({
    mode: z.literal('logical').describe('PostgreSQL logical replication (pgoutput).'),
    connection: databaseConnectionSchema,
    tables: z.array(logicalTableSchema).min(1).describe('Tables to capture; each is one stream.'),
    slot: z
      .string()
      .regex(/^[a-z0-9_]{1,63}$/, 'a slot name is lower-case letters, digits and _ (at most 63)')
      .default('ferry')
      .describe('Logical replication slot (pgoutput); one slot serves one pipeline.'),
    publication: identifier('a publication name')
      .default('ferry')
      .describe('Publication listing the captured tables.'),
    createSlot: z
      .boolean()
      .default(false)
      .describe(
        'Create the slot and the publication at start when they are missing. Off by default: run `ferry database create-slot` instead.',
      ),
    snapshot: snapshotOption,
    snapshotChunkSize,
    maxRowsPerSecond,
    batchSize: streamBatchSize,
    heartbeatIntervalMs: z
      .number()
      .int()
      .min(100)
      .default(10_000)
      .describe(
        'How often the slot is told how far the pipeline has checkpointed; while idle the slot is also moved to the end of the WAL so it does not hold WAL back.',
      ),
    maxRetainedWalBytes: z
      .number()
      .int()
      .min(1)
      .default(1024 ** 3)
      .describe(
        'WAL the slot may hold back on the server (ferry_source_gauge slot_retained_wal_bytes) before Ferry warns, reports DB_SLOT_WAL_RETAINED on /readyz and in ferry_source_problems: a pipeline behind or stopped keeps PostgreSQL from recycling WAL, and the legacy server’s disk fills.',
      ),
    onWalLimit: z
      .enum(['warn', 'resnapshot'])
      .default('warn')
      .describe(
        'What Ferry does when a read starts (at start, or again after a failure) and the slot holds back more than maxRetainedWalBytes: warn only, or resnapshot: drop the slot, create it again and snapshot every table, so the legacy disk is freed; changes in between reach consumers only as the snapshot’s current rows (deletes in between are not seen). resnapshot needs createSlot: true.',
      ),
  })
  .strict()
  .superRefine((config, ctx) => {
    uniqueStreams(config.tables, ctx);
    checkNameLengths(config, ctx);
    if (config.connection.type !== 'postgres') {
      ctx.addIssue({
        code: 'custom',
        path: ['connection', 'type'],
        message: 'mode logical needs PostgreSQL (connection.type: postgres); use mode trigger elsewhere',
      });
    }
    if (config.onWalLimit === 'resnapshot' && (!config.createSlot || config.snapshot === 'never')) {
      ctx.addIssue({
        code: 'custom',
        path: ['onWalLimit'],
        message:
          'onWalLimit: resnapshot drops the slot and snapshots again: it needs createSlot: true and a snapshot mode other than never',
      });
    }
  })
  .describe('PostgreSQL logical replication through a pgoutput slot and a publication.');

const binlogConfigSchema = z
  .object({
    mode: z.literal('binlog').describe('MariaDB/MySQL row-based binary log, read as a replication client.'),
    connection: databaseConnectionSchema,
    tables: z.array(capturedTableSchema).min(1).describe('Tables to capture; each is one stream.'),
    serverId: z
      .number()
      .int()
      .min(1)
      .max(4_294_967_295)
      .optional()
      .describe(
        'Server id the pipeline reads the binary log as; each reader of a server needs its own (a second one with the same id makes the server drop the first). Default: derived from the pipeline name, in 1073741824–2147483647. Ferry refuses to start when another Ferry pipeline is reading with the same id, or when it is the server’s own server_id.',
      ),
    snapshot: snapshotOption,
    snapshotChunkSize,
    maxRowsPerSecond,
    batchSize: streamBatchSize,
  })
  .strict()
  .superRefine((config, ctx) => {
    uniqueStreams(config.tables, ctx);
    checkNameLengths(config, ctx);
    if (config.connection.type !== 'mariadb' && config.connection.type !== 'mysql') {
      ctx.addIssue({
        code: 'custom',
        path: ['connection', 'type'],
        message:
          'mode binlog needs MariaDB or MySQL (connection.type: mariadb or mysql); use mode logical on PostgreSQL',
      });
    }
  })
  .describe('MariaDB/MySQL binary log (row-based replication), read as a replication client.');

/** The options of each mode, for documentation and `ferry validate`. */
export const databaseModeSchemas = {
  polling: pollingConfigSchema,
  trigger: triggerConfigSchema,
  logical: logicalConfigSchema,
  binlog: binlogConfigSchema,
} as const;

export const databaseSourceConfigSchema = z
  .preprocess(
    // `mode` may be left out: polling was the only mode once, and pipeline files written then stay valid.
    (value) =>
      value !== null && typeof value === 'object' && !Array.isArray(value) && !('mode' in value)
        ? { ...value, mode: 'polling' }
        : value,
    z.discriminatedUnion('mode', [
      pollingConfigSchema,
      triggerConfigSchema,
      logicalConfigSchema,
      binlogConfigSchema,
    ]),
  )
  .describe('Capture changes from database tables.');

export type DatabaseSourceConfig = z.output<typeof databaseSourceConfigSchema>;
/** Options as written; `mode` may be left out for polling. */
export type DatabaseSourceConfigInput =
  | (Omit<z.input<typeof pollingConfigSchema>, 'mode'> & { mode?: 'polling' })
  | z.input<typeof triggerConfigSchema>
  | z.input<typeof logicalConfigSchema>
  | z.input<typeof binlogConfigSchema>;
export type DatabasePollingConfig = z.output<typeof pollingConfigSchema>;
export type DatabaseTriggerConfig = z.output<typeof triggerConfigSchema>;
export type DatabaseLogicalConfig = z.output<typeof logicalConfigSchema>;
export type DatabaseBinlogConfig = z.output<typeof binlogConfigSchema>;
export type CapturedTableConfig = z.output<typeof capturedTableSchema>;
export type LogicalTableConfig = z.output<typeof logicalTableSchema>;
export type DatabaseConnectionConfig = z.output<typeof databaseConnectionSchema>;
export type DatabaseTableConfig = z.output<typeof databaseTableSchema>;

/** The stream a table's records carry: `schema.table`, or the table name alone. */
export function streamName(table: Pick<DatabaseTableConfig, 'name' | 'schema'>): string {
  return table.schema === undefined ? table.name : `${table.schema}.${table.name}`;
}
