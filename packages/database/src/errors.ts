// Turns what PostgreSQL (pg), MySQL/MariaDB (mysql2), SQLite (better-sqlite3), Node's sockets and typeorm
// throw into FerryErrors with stable codes, saying whether retrying can help and what a person should do.
import { FerryError, isFerryError, isProgrammerError, TRANSIENT_NETWORK_CODES } from '@ferry/core/sdk';

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

interface Native {
  code: string | undefined;
  errno: number | undefined;
  sqlState: string | undefined;
  message: string;
  error: unknown;
}

const RETRYABLE_NETWORK = new Set([...TRANSIENT_NETWORK_CODES]);

const MYSQL_RETRYABLE_CONNECTION = new Set([
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
]);

// Client libraries that report a dead connection without a code (pg, pg-pool) are recognised by their text.
const CONNECTION_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /client has encountered a connection error/i,
  /connection is not yet established/i,
  /connection is in closed state/i,
];

type Verdict = { code: DatabaseErrorCode; retryable: boolean };

/** Classify anything a database call threw. FerryErrors pass through unchanged. */
export function classifyDatabaseError(error: unknown, context: DatabaseErrorContext = {}): FerryError {
  if (isFerryError(error)) return error;
  const native = unwrap(error);
  const verdict = isProgrammerError(native.error)
    ? undefined
    : (classifyNetwork(native) ??
      classifySqlite(native) ??
      classifyMysql(native) ??
      classifyPostgres(native) ??
      classifyByMessage(native));
  const { code, retryable } = verdict ?? { code: DatabaseErrorCodes.DB_QUERY_FAILED, retryable: false };
  const details: Record<string, unknown> = { ...context };
  if (native.code !== undefined) details.nativeCode = native.code;
  if (native.errno !== undefined) details.errno = native.errno;
  if (native.sqlState !== undefined) details.sqlState = native.sqlState;
  return new DatabaseError(code, message(code, retryable, native, context), {
    retryable,
    cause: native.error,
    details,
  });
}

function unwrap(error: unknown): Native {
  // typeorm's QueryFailedError keeps the driver's error (and its SQL and parameters): use the driver's.
  let current: unknown = error;
  for (let depth = 0; depth < 5; depth += 1) {
    if (current === null || typeof current !== 'object') break;
    const record = current as Record<string, unknown>;
    if (record.driverError !== undefined && record.driverError !== current) {
      current = record.driverError;
      continue;
    }
    // Node reports a refused dual-stack connect as an AggregateError whose own code may be missing.
    if (record.code === undefined && Array.isArray(record.errors) && record.errors.length > 0) {
      current = record.errors[0];
      continue;
    }
    if (record.code === undefined && record.cause !== undefined && record.cause !== current) {
      current = record.cause;
      continue;
    }
    break;
  }
  const record = current !== null && typeof current === 'object' ? (current as Record<string, unknown>) : {};
  const rawCode = record.code;
  return {
    code: typeof rawCode === 'string' ? rawCode : typeof rawCode === 'number' ? String(rawCode) : undefined,
    errno: typeof record.errno === 'number' ? record.errno : undefined,
    sqlState: typeof record.sqlState === 'string' ? record.sqlState : undefined,
    message:
      current instanceof Error
        ? current.message
        : typeof record.message === 'string'
          ? record.message
          : String(current),
    error: current,
  };
}

function classifyNetwork({ code }: Native): Verdict | undefined {
  if (code === undefined) return undefined;
  if (RETRYABLE_NETWORK.has(code)) return { code: DatabaseErrorCodes.DB_CONNECTION_FAILED, retryable: true };
  if (code === 'ENOTFOUND') return { code: DatabaseErrorCodes.DB_CONNECTION_FAILED, retryable: false };
  return undefined;
}

function classifySqlite({ code, message }: Native): Verdict | undefined {
  if (code === undefined || !code.startsWith('SQLITE_')) return undefined;
  // Extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_CANTOPEN_ISDIR) share their primary code's meaning.
  const primary = code.split('_').slice(0, 2).join('_');
  switch (primary) {
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return { code: DatabaseErrorCodes.DB_BUSY, retryable: true };
    case 'SQLITE_CANTOPEN':
      return { code: DatabaseErrorCodes.DB_CONNECTION_FAILED, retryable: false };
    case 'SQLITE_AUTH':
    case 'SQLITE_PERM':
      return { code: DatabaseErrorCodes.DB_PERMISSION_DENIED, retryable: false };
    case 'SQLITE_ERROR':
      // SQLite has one code for every SQL error; only its text says which.
      if (/no such table/i.test(message))
        return { code: DatabaseErrorCodes.DB_TABLE_NOT_FOUND, retryable: false };
      if (/no such column/i.test(message))
        return { code: DatabaseErrorCodes.DB_COLUMN_NOT_FOUND, retryable: false };
      return { code: DatabaseErrorCodes.DB_QUERY_FAILED, retryable: false };
    default:
      return { code: DatabaseErrorCodes.DB_QUERY_FAILED, retryable: false };
  }
}

function classifyMysql({ code, errno }: Native): Verdict | undefined {
  const mysqlCode = code !== undefined && /^(ER_|PROTOCOL_|CR_)/.test(code) ? code : undefined;
  if (mysqlCode === undefined) return undefined;
  if (MYSQL_RETRYABLE_CONNECTION.has(mysqlCode))
    return { code: DatabaseErrorCodes.DB_CONNECTION_FAILED, retryable: true };
  switch (mysqlCode) {
    case 'ER_ACCESS_DENIED_ERROR':
    case 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR':
    case 'ER_DBACCESS_DENIED_ERROR':
    case 'ER_NOT_SUPPORTED_AUTH_MODE':
      return { code: DatabaseErrorCodes.DB_AUTH_FAILED, retryable: false };
    case 'ER_BAD_DB_ERROR':
      return { code: DatabaseErrorCodes.DB_DATABASE_NOT_FOUND, retryable: false };
    case 'ER_NO_SUCH_TABLE':
      return { code: DatabaseErrorCodes.DB_TABLE_NOT_FOUND, retryable: false };
    case 'ER_BAD_FIELD_ERROR':
      return { code: DatabaseErrorCodes.DB_COLUMN_NOT_FOUND, retryable: false };
    case 'ER_TABLEACCESS_DENIED_ERROR':
    case 'ER_COLUMNACCESS_DENIED_ERROR':
      return { code: DatabaseErrorCodes.DB_PERMISSION_DENIED, retryable: false };
    case 'ER_LOCK_DEADLOCK':
    case 'ER_LOCK_WAIT_TIMEOUT':
      return { code: DatabaseErrorCodes.DB_CONFLICT, retryable: true };
    case 'ER_QUERY_TIMEOUT':
    case 'ER_STATEMENT_TIMEOUT':
      return { code: DatabaseErrorCodes.DB_TIMEOUT, retryable: true };
    default:
      // Client-side codes (CR_*, 2000-2999) are about the connection; the rest are about the statement.
      if (errno !== undefined && errno >= 2000 && errno < 3000) {
        return { code: DatabaseErrorCodes.DB_CONNECTION_FAILED, retryable: true };
      }
      return { code: DatabaseErrorCodes.DB_QUERY_FAILED, retryable: false };
  }
}

function classifyPostgres({ code, message }: Native): Verdict | undefined {
  if (code === undefined || !/^[0-9A-Z]{5}$/.test(code)) return undefined;
  const sqlClass = code.slice(0, 2);
  // Replication errors share generic SQLSTATEs; their text says which.
  if (code === '55000' && /wal_level/i.test(message))
    return { code: DatabaseErrorCodes.DB_LOGICAL_DISABLED, retryable: false };
  if (code === '55006' && /replication slot .* is active/i.test(message))
    return { code: DatabaseErrorCodes.DB_SLOT_IN_USE, retryable: true };
  if (code === '42704' && /replication slot .* does not exist/i.test(message))
    return { code: DatabaseErrorCodes.DB_SLOT_MISSING, retryable: false };
  if (code === '42704' && /publication .* does not exist/i.test(message))
    return { code: DatabaseErrorCodes.DB_SLOT_MISSING, retryable: false };
  if (code === '55000' && /(has been invalidated|can no longer get changes|wal .* removed)/i.test(message))
    return { code: DatabaseErrorCodes.DB_SLOT_INVALIDATED, retryable: false };
  if ((code === '42501' || sqlClass === '28') && /replication/i.test(message))
    return { code: DatabaseErrorCodes.DB_REPLICATION_DENIED, retryable: false };
  switch (code) {
    case '40001':
    case '40P01':
      return { code: DatabaseErrorCodes.DB_CONFLICT, retryable: true };
    case '57P01':
    case '57P02':
    case '57P03':
    case '53300':
      return { code: DatabaseErrorCodes.DB_CONNECTION_FAILED, retryable: true };
    case '57014':
      return { code: DatabaseErrorCodes.DB_TIMEOUT, retryable: true };
    case '55P03':
      return { code: DatabaseErrorCodes.DB_BUSY, retryable: true };
    case '3D000':
      return { code: DatabaseErrorCodes.DB_DATABASE_NOT_FOUND, retryable: false };
    case '42P01':
      return { code: DatabaseErrorCodes.DB_TABLE_NOT_FOUND, retryable: false };
    case '42703':
      return { code: DatabaseErrorCodes.DB_COLUMN_NOT_FOUND, retryable: false };
    case '42501':
      return { code: DatabaseErrorCodes.DB_PERMISSION_DENIED, retryable: false };
  }
  if (sqlClass === '08') return { code: DatabaseErrorCodes.DB_CONNECTION_FAILED, retryable: true };
  if (sqlClass === '28') return { code: DatabaseErrorCodes.DB_AUTH_FAILED, retryable: false };
  return { code: DatabaseErrorCodes.DB_QUERY_FAILED, retryable: false };
}

function classifyByMessage({ code, message }: Native): Verdict | undefined {
  if (code === undefined && CONNECTION_MESSAGES.some((pattern) => pattern.test(message))) {
    return { code: DatabaseErrorCodes.DB_CONNECTION_FAILED, retryable: true };
  }
  return undefined;
}

function message(
  code: DatabaseErrorCode,
  retryable: boolean,
  native: Native,
  context: DatabaseErrorContext,
): string {
  const table = context.stream === undefined ? 'a configured table' : `table ${context.stream}`;
  const server = context.target === undefined ? 'the database' : context.target;
  const during = context.operation === undefined ? '' : ` during ${context.operation}`;
  const said = native.code === undefined ? native.message : `${native.code}: ${native.message}`;
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
      return `${server} refused the credentials (${said}). Check connection.username and connection.password.`;
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
    case 'DB_PERMISSION_DENIED':
      return `the user may not read ${table} on ${server} (${said}). Grant it SELECT on the table.`;
    case 'DB_BUSY':
      return `${server} is locked by another session${during} (${said}).${retry}`;
    case 'DB_CONFLICT':
      return `a deadlock or serialization failure on ${table}${during} (${said}).${retry}`;
    case 'DB_TIMEOUT':
      return `the query on ${table} was cancelled by the server (${said}). An index on the tracking columns makes each poll cheaper.${retry}`;
    case 'DB_LOGICAL_DISABLED':
      return `${server} does not have logical decoding on (${said}). Set wal_level = logical in postgresql.conf and restart the server.`;
    case 'DB_REPLICATION_DENIED':
      return `the user may not use replication on ${server} (${said}). ALTER ROLE <user> WITH REPLICATION, and allow replication connections for it in pg_hba.conf.`;
    case 'DB_SLOT_IN_USE':
      return `the replication slot is in use by another process on ${server} (${said}). Stop the other consumer (another ferry run of this pipeline?) or give this pipeline its own slot.${retry}`;
    case 'DB_SLOT_MISSING':
      return `${server}: ${said}. Run \`ferry database create-slot <pipeline.yaml>\` (or set createSlot: true) to create the slot and the publication.`;
    case 'DB_SLOT_INVALIDATED':
      return `the replication slot on ${server} lost WAL it still needed (${said}); changes since the last checkpoint are gone. Drop the slot, clear the pipeline checkpoint and start again with snapshot: initial (or raise max_slot_wal_keep_size).`;
    default:
      return `a query on ${table} failed${during} (${said}).`;
  }
}
