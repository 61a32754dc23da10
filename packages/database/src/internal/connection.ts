// One typeorm DataSource per source, opened on first use and closed once, with the few SQL fragments that
// differ between the supported databases.
import { access, constants } from 'node:fs/promises';
import { resolve } from 'node:path';
import { withDeadline } from '@ferry/core/sdk';
import { DataSource, type DataSourceOptions } from 'typeorm';
import type { MysqlDriver } from 'typeorm/driver/mysql/MysqlDriver.js';
import type { DatabaseConnectionConfig } from '../config.js';
import { classifyDatabaseError, DatabaseError, DatabaseErrorCodes } from '../errors.js';

/** A readiness probe never waits longer than this, whatever the configured connect timeout. */
export const PROBE_TIMEOUT_MS = 5000;

export type DialectName = 'sqlite' | 'postgres' | 'mysql';

export interface Dialect {
  name: DialectName;
  /** Quote an identifier (already validated by the config schema) the driver's way. */
  escape(identifier: string): string;
  /**
   * The tracking column rendered as text by the database itself, or undefined to use the driver's value.
   * Drivers turn timestamps into JavaScript Dates, which drop microseconds and shift by time zone; the
   * database's own text compares back exactly.
   */
  asText(expression: string): string | undefined;
  /** `expression` is at least `delayParam` milliseconds older than the database clock. */
  olderThan(expression: string, delayParam: string): string;
}

export function dialectOf(dataSource: DataSource): Dialect {
  const type = dataSource.options.type;
  const quote = (identifier: string) => dataSource.driver.escape(identifier);
  if (type === 'postgres') {
    return {
      name: 'postgres',
      escape: quote,
      asText: (expression) => `CAST(${expression} AS VARCHAR)`,
      olderThan: (expression, delay) =>
        `${expression} <= CURRENT_TIMESTAMP - (CAST(${delay} AS INTEGER) * INTERVAL '1 millisecond')`,
    };
  }
  if (type === 'mysql' || type === 'mariadb') {
    return {
      name: 'mysql',
      escape: quote,
      asText: (expression) => `CAST(${expression} AS CHAR)`,
      olderThan: (expression, delay) =>
        `${expression} <= CURRENT_TIMESTAMP(6) - INTERVAL ${delay} MICROSECOND`,
    };
  }
  return {
    name: 'sqlite',
    escape: quote,
    // SQLite returns what was stored (text or a number), which already compares back exactly.
    asText: () => undefined,
    // SQLite has no date type; julianday() reads the ISO 8601 text its date functions write.
    olderThan: (expression, delay) =>
      `julianday(${expression}) <= julianday('now') - (${delay} / 86400000.0)`,
  };
}

/** The delay parameter in the unit `olderThan` expects. */
export function delayParameter(dialect: Dialect, delayMs: number): number {
  return dialect.name === 'mysql' ? delayMs * 1000 : delayMs;
}

/** A description of the server for messages and logs; never includes the password. */
export function describeTarget(connection: DatabaseConnectionConfig, baseDir: string): string {
  if (connection.type === 'better-sqlite3') return `sqlite ${resolve(baseDir, connection.database)}`;
  return `${connection.type} ${connection.host}:${connection.port ?? defaultPort(connection.type)}/${connection.database}`;
}

function defaultPort(type: 'postgres' | 'mysql' | 'mariadb'): number {
  return type === 'postgres' ? 5432 : 3306;
}

function dataSourceOptions(
  connection: DatabaseConnectionConfig,
  baseDir: string,
  writable: boolean,
  poolSize: number,
  connectTimeoutMs?: number,
): DataSourceOptions {
  // Query logging prints parameters (typeorm#5497), and parameters are row values: keep it off.
  const common = { logging: false, synchronize: false, entities: [], migrationsRun: false };
  switch (connection.type) {
    case 'better-sqlite3':
      return {
        ...common,
        type: 'better-sqlite3',
        database: resolve(baseDir, connection.database),
        // Polling has no business writing to the legacy database; the trigger mode purges its journal.
        readonly: !writable,
        fileMustExist: true,
        timeout: connection.busyTimeoutMs,
      };
    case 'postgres':
      return {
        ...common,
        type: 'postgres',
        host: connection.host,
        port: connection.port ?? defaultPort(connection.type),
        username: connection.username,
        ...(connection.password === undefined ? {} : { password: connection.password }),
        database: connection.database,
        connectTimeoutMS: connectTimeoutMs ?? connection.connectTimeoutMs,
        applicationName: 'ferry',
        installExtensions: false,
        poolSize,
        // Sent as startup parameters, so every session of the pool has them from its first statement.
        extra: { statement_timeout: connection.statementTimeoutMs, lock_timeout: connection.lockTimeoutMs },
      };
    default:
      return {
        ...common,
        type: connection.type,
        host: connection.host,
        port: connection.port ?? defaultPort(connection.type),
        username: connection.username,
        ...(connection.password === undefined ? {} : { password: connection.password }),
        database: connection.database,
        connectTimeout: connectTimeoutMs ?? connection.connectTimeoutMs,
        poolSize,
      };
  }
}

/** The pool's connections (mysql2): each new one is announced before it serves its first query. */
interface MysqlPool {
  on(event: 'connection', listener: (connection: { query(sql: string): unknown }) => void): void;
}

/**
 * MariaDB and MySQL have no startup parameters: every connection of the pool runs the limits as its first
 * command (the connection opened by initialize() gets them here; later ones when the pool creates them).
 */
async function limitMysqlSessions(
  dataSource: DataSource,
  config: Exclude<DatabaseConnectionConfig, { type: 'better-sqlite3' }>,
): Promise<void> {
  // Asked, not taken from typeorm's driver.version: that drops the `-MariaDB` suffix this choice needs.
  const version = String((await dataSource.query('SELECT VERSION() AS v'))[0]?.v ?? '');
  const lockSeconds = Math.max(1, Math.ceil(config.lockTimeoutMs / 1000));
  const statement = /mariadb/i.test(version)
    ? `max_statement_time = ${config.statementTimeoutMs / 1000}`
    : `max_execution_time = ${config.statementTimeoutMs}`;
  const sql = `SET SESSION ${statement}, lock_wait_timeout = ${lockSeconds}, innodb_lock_wait_timeout = ${lockSeconds}`;
  const driver = dataSource.driver as MysqlDriver;
  (driver.pool as MysqlPool).on('connection', (connection) => void connection.query(sql));
  await dataSource.query(sql);
}

/** Opens the DataSource lazily (once, even when asked concurrently) and closes it at most once. */
export class Connection {
  private opening: Promise<DataSource> | undefined;
  private closing: Promise<void> | undefined;
  readonly target: string;

  constructor(
    private readonly config: DatabaseConnectionConfig,
    private readonly baseDir: string,
    private readonly writable = false,
  ) {
    this.target = describeTarget(config, baseDir);
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  open(): Promise<DataSource> {
    if (this.closing !== undefined) return Promise.reject(this.closedError());
    if (this.opening === undefined) {
      // Polling runs one query at a time; a second connection serves discover() alongside it.
      const opening = this.connect(dataSourceOptions(this.config, this.baseDir, this.writable, 2), 'connect');
      this.opening = opening;
      // A failed open is forgotten so the runtime's retry opens a fresh connection.
      opening.catch(() => {
        if (this.opening === opening) this.opening = undefined;
      });
    }
    return this.opening;
  }

  /**
   * Check that the database answers `SELECT 1`, on a short-lived connection of its own: the source's pool
   * is never borrowed, so a busy or stuck read neither delays the probe nor is delayed by it.
   */
  probe(signal: AbortSignal): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(this.closedError());
    const late = (cancelled: boolean) =>
      new DatabaseError(
        DatabaseErrorCodes.DB_CONNECTION_FAILED,
        `${this.target} did not answer the readiness probe ` +
          `${cancelled ? 'before it was cancelled' : `within ${PROBE_TIMEOUT_MS} ms`}. ` +
          'Check that the server is running and reachable.',
        { retryable: true, details: { operation: 'probe', target: this.target } },
      );
    return withDeadline((bound) => this.check(bound), signal, PROBE_TIMEOUT_MS, late);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const dataSource = await this.opening?.catch(() => undefined);
      if (dataSource?.isInitialized) await dataSource.destroy();
    })();
    return this.closing;
  }

  private async check(signal: AbortSignal): Promise<void> {
    // Read-only even for trigger mode (a probe changes nothing), and never waiting past the probe's deadline.
    const connectTimeoutMs =
      this.config.type === 'better-sqlite3'
        ? undefined
        : Math.min(this.config.connectTimeoutMs, PROBE_TIMEOUT_MS);
    const options = dataSourceOptions(this.config, this.baseDir, false, 1, connectTimeoutMs);
    const dataSource = await this.connect(options, 'probe');
    try {
      if (!signal.aborted) await dataSource.query('SELECT 1');
    } catch (error) {
      throw classifyDatabaseError(error, { operation: 'probe', target: this.target });
    } finally {
      await dataSource.destroy().catch(() => undefined);
    }
  }

  private closedError(): DatabaseError {
    return new DatabaseError(
      DatabaseErrorCodes.DB_CONNECTION_FAILED,
      `the connection to ${this.target} is closed`,
    );
  }

  private async connect(options: DataSourceOptions, operation: string): Promise<DataSource> {
    if (this.config.type === 'better-sqlite3') {
      // Checked here because typeorm would otherwise create the missing directory before failing.
      const file = resolve(this.baseDir, this.config.database);
      try {
        await access(file, constants.R_OK);
      } catch (error) {
        throw new DatabaseError(
          DatabaseErrorCodes.DB_CONNECTION_FAILED,
          `the SQLite database ${file} cannot be read (${(error as NodeJS.ErrnoException).code}). ` +
            'connection.database is relative to the pipeline file; check the path and its permissions.',
          { cause: error, details: { operation, target: this.target } },
        );
      }
    }
    const dataSource = new DataSource(options);
    try {
      await dataSource.initialize();
      if (this.config.type === 'mysql' || this.config.type === 'mariadb')
        await limitMysqlSessions(dataSource, this.config);
    } catch (error) {
      await dataSource.destroy().catch(() => undefined);
      throw classifyDatabaseError(error, { operation, target: this.target });
    }
    // If close() arrived during open(), it awaits this promise and destroys what it resolves to.
    return dataSource;
  }
}
