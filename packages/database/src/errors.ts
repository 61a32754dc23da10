// Turns what PostgreSQL (pg), MySQL/MariaDB (mysql2), SQLite (better-sqlite3), Node's sockets and typeorm
// throw into FerryErrors with stable codes, saying whether retrying can help and what a person should do.
// Core's classifier kit walks the cause chain and knows Node's network codes; this file is the rule table.
import { type Classified, createErrorClassifier, type ErrorLink, FerryError } from '@ferry/core/sdk';

export const DatabaseErrorCodes = {
  /** The server cannot be reached or dropped the connection (retryable unless the address is wrong). */
  DB_CONNECTION_FAILED: 'DB_CONNECTION_FAILED',
  /** The server refused the user name or password. */
  DB_AUTH_FAILED: 'DB_AUTH_FAILED',
  /** The configured database does not exist on the server. */
  DB_DATABASE_NOT_FOUND: 'DB_DATABASE_NOT_FOUND',
  /** A configured table does not exist or is not visible to the user. */
  DB_TABLE_NOT_FOUND: 'DB_TABLE_NOT_FOUND',
  /** A configured column does not exist in its table. */
  DB_COLUMN_NOT_FOUND: 'DB_COLUMN_NOT_FOUND',
  /** The user may not read a configured table. */
  DB_PERMISSION_DENIED: 'DB_PERMISSION_DENIED',
  /** The database is locked by another writer (SQLite) or a lock could not be taken (retryable). */
  DB_BUSY: 'DB_BUSY',
  /** A deadlock or serialization failure; running the query again normally succeeds (retryable). */
  DB_CONFLICT: 'DB_CONFLICT',
  /** The server cancelled the query (statement timeout) (retryable). */
  DB_TIMEOUT: 'DB_TIMEOUT',
  /** Any other failure of a query; retrying will not help. */
  DB_QUERY_FAILED: 'DB_QUERY_FAILED',
  /** The saved checkpoint is not a position this source wrote. */
  DB_POSITION_INVALID: 'DB_POSITION_INVALID',
  /** A row image (journal, snapshot, poll) cannot be decoded; names the table and the column. */
  DB_IMAGE_INVALID: 'DB_IMAGE_INVALID',
  /** Trigger mode: the journal or a table's triggers are not installed. */
  DB_TRIGGERS_MISSING: 'DB_TRIGGERS_MISSING',
  /** Logical mode: the server's wal_level is not logical. */
  DB_LOGICAL_DISABLED: 'DB_LOGICAL_DISABLED',
  /** Logical mode: the user lacks the REPLICATION attribute (or replication connections are refused). */
  DB_REPLICATION_DENIED: 'DB_REPLICATION_DENIED',
  /** Logical mode: the replication slot is streaming to another process (retryable: it may be a restart). */
  DB_SLOT_IN_USE: 'DB_SLOT_IN_USE',
  /** Logical mode: the slot or the publication does not exist. */
  DB_SLOT_MISSING: 'DB_SLOT_MISSING',
  /** Logical mode: the slot lost WAL it still needed (max_slot_wal_keep_size); changes were lost. */
  DB_SLOT_INVALIDATED: 'DB_SLOT_INVALIDATED',
  /** Logical mode (a health report, not an error): the slot holds back more WAL than maxRetainedWalBytes. */
  DB_SLOT_WAL_RETAINED: 'DB_SLOT_WAL_RETAINED',
  /**
   * Logical mode: a table has no primary key and no replica identity; publishing it would make PostgreSQL
   * refuse the legacy application's UPDATE and DELETE on it.
   */
  DB_REPLICA_IDENTITY_MISSING: 'DB_REPLICA_IDENTITY_MISSING',
  /** Logical mode: the publication exists but lacks a configured table, or also publishes others. */
  DB_PUBLICATION_MISMATCH: 'DB_PUBLICATION_MISMATCH',
  /** Logical mode: no replication slot or WAL sender is free on the server. */
  DB_REPLICATION_CAPACITY: 'DB_REPLICATION_CAPACITY',
  /** Preflight warning: max_slot_wal_keep_size is unset, so a stalled slot can fill the server's disk. */
  DB_SLOT_WAL_UNBOUNDED: 'DB_SLOT_WAL_UNBOUNDED',
  /** Preflight warning: the capture user holds more than it needs (a superuser). */
  DB_PRIVILEGES_EXCESSIVE: 'DB_PRIVILEGES_EXCESSIVE',
  /** Preflight warning: a polling query has no usable index and scans the whole table. */
  DB_INDEX_MISSING: 'DB_INDEX_MISSING',
  /** Preflight warning: Ferry's clock and the database's differ by more than the polling delay allows. */
  DB_CLOCK_SKEW: 'DB_CLOCK_SKEW',
  /**
   * Binlog mode: the server writes no binary log Ferry can read (log_bin off, binlog_format not ROW,
   * binlog_row_image not FULL, binlog_row_metadata not FULL); the message names the settings to change.
   */
  DB_BINLOG_DISABLED: 'DB_BINLOG_DISABLED',
  /** Binlog mode: the binary log Ferry must resume from was purged; only a new snapshot can continue. */
  DB_BINLOG_PURGED: 'DB_BINLOG_PURGED',
  /** Binlog mode: another reader (a Ferry pipeline, or the server itself) uses the configured server id. */
  DB_SERVER_ID_IN_USE: 'DB_SERVER_ID_IN_USE',
} as const;

export type DatabaseErrorCode = (typeof DatabaseErrorCodes)[keyof typeof DatabaseErrorCodes];

/** Where a database error happened; every field is optional so any caller can say what it knows. */
export interface DatabaseErrorContext {
  /** What Ferry was doing: `connect`, `query`, `discover`. */
  operation?: string;
  /** The stream (`schema.table` or table) being read. */
  stream?: string;
  /** A description of the server without secrets, such as `postgres 127.0.0.1:5432/ferry`. */
  target?: string;
}

/** A FerryError raised by the database source; `details` holds the native code and SQLSTATE when known. */
export class DatabaseError extends FerryError {
  override readonly name = 'DatabaseError';
}

type Verdict = { code: DatabaseErrorCode; retryable: boolean };
type Rule = (link: ErrorLink) => Verdict | undefined;

const C = DatabaseErrorCodes;
const fatal = (code: DatabaseErrorCode): Verdict => ({ code, retryable: false });
const retry = (code: DatabaseErrorCode): Verdict => ({ code, retryable: true });

/** SQLite: extended codes (SQLITE_BUSY_SNAPSHOT) share their primary code's meaning. */
const SQLITE: Record<string, Verdict> = {
  SQLITE_BUSY: retry(C.DB_BUSY),
  SQLITE_LOCKED: retry(C.DB_BUSY),
  SQLITE_CANTOPEN: fatal(C.DB_CONNECTION_FAILED),
  SQLITE_AUTH: fatal(C.DB_PERMISSION_DENIED),
  SQLITE_PERM: fatal(C.DB_PERMISSION_DENIED),
};

const MYSQL: Record<string, Verdict> = {
  ER_ACCESS_DENIED_ERROR: fatal(C.DB_AUTH_FAILED),
  ER_ACCESS_DENIED_NO_PASSWORD_ERROR: fatal(C.DB_AUTH_FAILED),
  ER_DBACCESS_DENIED_ERROR: fatal(C.DB_AUTH_FAILED),
  ER_NOT_SUPPORTED_AUTH_MODE: fatal(C.DB_AUTH_FAILED),
  ER_BAD_DB_ERROR: fatal(C.DB_DATABASE_NOT_FOUND),
  ER_NO_SUCH_TABLE: fatal(C.DB_TABLE_NOT_FOUND),
  ER_BAD_FIELD_ERROR: fatal(C.DB_COLUMN_NOT_FOUND),
  ER_TABLEACCESS_DENIED_ERROR: fatal(C.DB_PERMISSION_DENIED),
  ER_COLUMNACCESS_DENIED_ERROR: fatal(C.DB_PERMISSION_DENIED),
  ER_LOCK_DEADLOCK: retry(C.DB_CONFLICT),
  // A lock (row or metadata) not granted within lock_wait_timeout: waiting, not a deadlock.
  ER_LOCK_WAIT_TIMEOUT: retry(C.DB_BUSY),
  ER_QUERY_TIMEOUT: retry(C.DB_TIMEOUT),
  // A replication client asked for a binary log (or a GTID) the server no longer has.
  ER_MASTER_FATAL_ERROR_READING_BINLOG: fatal(C.DB_BINLOG_PURGED),
  ER_SOURCE_FATAL_ERROR_READING_BINLOG: fatal(C.DB_BINLOG_PURGED),
  ER_STATEMENT_TIMEOUT: retry(C.DB_TIMEOUT),
  ...Object.fromEntries(
    [
      'PROTOCOL_CONNECTION_LOST',
      'PROTOCOL_SEQUENCE_TIMEOUT',
      'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
      'ER_CON_COUNT_ERROR',
      'ER_TOO_MANY_USER_CONNECTIONS',
      'ER_SERVER_SHUTDOWN',
      'ER_SERVER_GONE_ERROR',
      'CR_SERVER_GONE_ERROR',
      'CR_SERVER_LOST',
      'CR_CONNECTION_ERROR',
      'CR_CONN_HOST_ERROR',
    ].map((code) => [code, retry(C.DB_CONNECTION_FAILED)]),
  ),
};

/** PostgreSQL SQLSTATEs; then whole classes (08 connection, 28 authorization). */
const SQLSTATE: Record<string, Verdict> = {
  '40001': retry(C.DB_CONFLICT),
  '40P01': retry(C.DB_CONFLICT),
  '57P01': retry(C.DB_CONNECTION_FAILED),
  '57P02': retry(C.DB_CONNECTION_FAILED),
  '57P03': retry(C.DB_CONNECTION_FAILED),
  '53300': retry(C.DB_CONNECTION_FAILED),
  '57014': retry(C.DB_TIMEOUT),
  '55P03': retry(C.DB_BUSY),
  '3D000': fatal(C.DB_DATABASE_NOT_FOUND),
  '42P01': fatal(C.DB_TABLE_NOT_FOUND),
  '42703': fatal(C.DB_COLUMN_NOT_FOUND),
  '42501': fatal(C.DB_PERMISSION_DENIED),
};
const SQLSTATE_CLASS: Record<string, Verdict> = {
  '08': retry(C.DB_CONNECTION_FAILED),
  '28': fatal(C.DB_AUTH_FAILED),
};

/** Replication errors share generic SQLSTATEs; their text says which. */
const REPLICATION: [codes: RegExp, text: RegExp, verdict: Verdict][] = [
  [/^55000$/, /wal_level/i, fatal(C.DB_LOGICAL_DISABLED)],
  [/^55006$/, /replication slot .* is active/i, retry(C.DB_SLOT_IN_USE)],
  [/^42704$/, /(replication slot|publication) .* does not exist/i, fatal(C.DB_SLOT_MISSING)],
  [
    /^55000$/,
    /(has been invalidated|can no longer get changes|wal .* removed)/i,
    fatal(C.DB_SLOT_INVALIDATED),
  ],
  [/^(42501|28...)$/, /replication/i, fatal(C.DB_REPLICATION_DENIED)],
];

// Client libraries that report a dead connection without a code (pg, pg-pool, mysql2) say so in words.
const CONNECTION_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /client has encountered a connection error/i,
  /connection is not yet established/i,
  /connection is in closed state/i,
];

const rules: Rule[] = [
  ({ code, message }) => {
    if (!code?.startsWith('SQLITE_')) return undefined;
    const primary = code.split('_').slice(0, 2).join('_');
    if (primary !== 'SQLITE_ERROR') return SQLITE[primary] ?? fatal(C.DB_QUERY_FAILED);
    // SQLite has one code for every SQL error; only its text says which.
    if (/no such table/i.test(message)) return fatal(C.DB_TABLE_NOT_FOUND);
    if (/no such column/i.test(message)) return fatal(C.DB_COLUMN_NOT_FOUND);
    return fatal(C.DB_QUERY_FAILED);
  },
  (link) => {
    const { code } = link;
    if (code === undefined || !/^(ER_|PROTOCOL_|CR_)/.test(code)) return undefined;
    const errno = link.prop('errno');
    // Client-side codes (CR_*, 2000-2999) are about the connection; the rest are about the statement.
    if (typeof errno === 'number' && errno >= 2000 && errno < 3000 && MYSQL[code] === undefined)
      return retry(C.DB_CONNECTION_FAILED);
    // ER_SPECIFIC_ACCESS_DENIED_ERROR names the privilege: a replication one is the binlog reader's.
    if (/^ER_SPECIFIC_ACCESS_DENIED/.test(code) && /REPLICATION|BINLOG|REPLICA|SLAVE/i.test(link.message))
      return fatal(C.DB_REPLICATION_DENIED);
    return MYSQL[code] ?? fatal(C.DB_QUERY_FAILED);
  },
  ({ code, message }) => {
    // No SQLSTATE class starts with E; Node's errno codes (EPIPE) do, and are the kit's network verdicts.
    if (code === undefined || !/^[0-9A-DF-Z][0-9A-Z]{4}$/.test(code)) return undefined;
    for (const [codes, text, verdict] of REPLICATION)
      if (codes.test(code) && text.test(message)) return verdict;
    return SQLSTATE[code] ?? SQLSTATE_CLASS[code.slice(0, 2)] ?? fatal(C.DB_QUERY_FAILED);
  },
  ({ code, message }) =>
    code === undefined && CONNECTION_MESSAGES.some((pattern) => pattern.test(message))
      ? retry(C.DB_CONNECTION_FAILED)
      : undefined,
];

/** Classify anything a database call threw. FerryErrors pass through unchanged. */
export const classifyDatabaseError: (error: unknown, context?: DatabaseErrorContext) => FerryError =
  createErrorClassifier<DatabaseErrorCode, DatabaseErrorContext>({
    rules,
    network: { connection: C.DB_CONNECTION_FAILED },
    fallback: fatal(C.DB_QUERY_FAILED),
    build: buildError,
  });

/** For `.catch()`: classify what a call threw, saying where it happened, and throw that. */
export function rethrowAs(context: DatabaseErrorContext): (error: unknown) => never {
  return (error) => {
    throw classifyDatabaseError(error, context);
  };
}

function buildError(
  { verdict, link, chain, error }: Classified<DatabaseErrorCode>,
  context: DatabaseErrorContext,
): FerryError {
  const { code, retryable } = verdict;
  const native = link ?? chain[0];
  const details: Record<string, unknown> = { ...context };
  const nativeCode = native?.code;
  const errno = native?.prop('errno');
  const sqlState = native?.prop('sqlState');
  if (nativeCode !== undefined) details.nativeCode = nativeCode;
  if (typeof errno === 'number') details.errno = errno;
  if (typeof sqlState === 'string') details.sqlState = sqlState;
  const said = `${nativeCode === undefined ? '' : `${nativeCode}: `}${native?.message ?? String(error)}`;
  // typeorm's QueryFailedError copies the driver's code but also carries the SQL and its parameters (row
  // values): the driver's own error is the cause that gets logged.
  const cause = native?.prop('driverError') ?? native?.error ?? error;
  return new DatabaseError(code, message(code, retryable, said, context), { retryable, cause, details });
}

function message(
  code: DatabaseErrorCode,
  retryable: boolean,
  said: string,
  context: DatabaseErrorContext,
): string {
  const table = context.stream === undefined ? 'a configured table' : `table ${context.stream}`;
  const server = context.target === undefined ? 'the database' : context.target;
  const during = context.operation === undefined ? '' : ` during ${context.operation}`;
  const retry = retryable ? ' Ferry retries this with backoff.' : '';
  switch (code) {
    case 'DB_CONNECTION_FAILED':
      return (
        `cannot use the connection to ${server}${during} (${said}).` +
        (retryable
          ? ' Check that the server is running and reachable.'
          : ' Check connection.host, connection.port or, for SQLite, connection.database.') +
        retry
      );
    case 'DB_AUTH_FAILED':
      // MariaDB/MySQL refuse a connection to a database the user holds no privilege in: the password is fine.
      return /access denied for user .* to database/i.test(said)
        ? `${server} refused the connection to connection.database (${said}): the user holds no privilege there. Set connection.database to the database of the tables (tables[].schema may still name others), or grant the user its privileges there.`
        : `${server} refused the credentials (${said}). Check connection.username and connection.password.`;
    case 'DB_DATABASE_NOT_FOUND':
      return `${server} has no such database (${said}). Check connection.database.`;
    case 'DB_TABLE_NOT_FOUND':
      return (
        `${table} does not exist on ${server} or the user cannot see it (${said}). ` +
        'Check tables[].name and tables[].schema (`ferry discover` lists what the user can see).'
      );
    case 'DB_COLUMN_NOT_FOUND':
      return (
        `a configured column does not exist in ${table} (${said}). Check key, timestampColumn, ` +
        'incrementingColumn, createdColumn and columns against `ferry discover`.'
      );
    case 'DB_PERMISSION_DENIED': {
      // PostgreSQL names a schema when the user lacks USAGE on it; SELECT on the table does not help then.
      // The name runs to the end of the server's message and may hold spaces; quoted, it keeps its case.
      const schema = /permission denied for schema (.+)$/i.exec(said)?.[1];
      return schema === undefined
        ? `the user may not read ${table} on ${server} (${said}). Grant it SELECT on the table.`
        : `the user may not use schema ${schema} on ${server} (${said}). Grant it USAGE on the schema (GRANT USAGE ON SCHEMA "${schema.replaceAll('"', '""')}" TO <user>), and SELECT on the table.`;
    }
    case 'DB_BUSY':
      return (
        `${server} is locked by another session${during} (${said}): Ferry gave up waiting after ` +
        'connection.lockTimeoutMs (busyTimeoutMs for SQLite) rather than make the legacy application queue ' +
        `behind it.${retry}`
      );
    case 'DB_CONFLICT':
      return `a deadlock or serialization failure on ${table}${during} (${said}).${retry}`;
    case 'DB_TIMEOUT':
      return `the query on ${table} was cancelled by the server (${said}). An index on the tracking columns makes each poll cheaper.${retry}`;
    case 'DB_LOGICAL_DISABLED':
      return `${server} does not have logical decoding on (${said}). Set wal_level = logical in postgresql.conf and restart the server.`;
    case 'DB_REPLICATION_DENIED':
      return /^ER_/.test(said)
        ? `the user may not read the binary log of ${server} (${said}). GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO <user> (docs/database.md#privileges).`
        : `the user may not use replication on ${server} (${said}). ALTER ROLE <user> WITH REPLICATION, and allow replication connections for it in pg_hba.conf.`;
    case 'DB_BINLOG_PURGED':
      return `${server} no longer has the binary log this pipeline must resume from (${said}): changes since the last checkpoint are gone from the server. Start again with a new snapshot: \`ferry offsets reset\` with snapshot: initial, or set snapshot: when-needed; keep binary logs longer (binlog_expire_logs_seconds) than the pipeline may be stopped.`;
    case 'DB_SLOT_IN_USE':
      return `the replication slot is in use by another process on ${server} (${said}). Stop the other consumer (another ferry run of this pipeline? In a cluster, its previous owner until the server times it out: the new owner waits for it) or give this pipeline its own slot.${retry}`;
    case 'DB_SLOT_MISSING':
      return `${server}: ${said}. Run \`ferry database create-slot <pipeline.yaml>\` (or set createSlot: true) to create the slot and the publication.`;
    case 'DB_SLOT_INVALIDATED':
      return `the replication slot on ${server} lost WAL it still needed (${said}); changes since the last checkpoint are gone. Drop the slot, clear the pipeline checkpoint and start again with snapshot: initial (or raise max_slot_wal_keep_size).`;
    default:
      return `a query on ${table} failed${during} (${said}).`;
  }
}
