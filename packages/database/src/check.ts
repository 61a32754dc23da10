// The read-only preflight of the database source (`ferry check`, and the same checks before create-slot,
// install-triggers and at the start of a run): what would stop a run, or harm the legacy database, found by
// reading the catalogue with the pipeline's own credentials. Nothing here writes; a PostgreSQL session is
// read-only and the one planner setting used (`enable_seqscan`) is local to a transaction rolled back.
import {
  type Clock,
  type Logger,
  type PreflightFinding,
  type SourceContext,
  systemClock,
} from '@ferry/core/sdk';
import type { DataSource } from 'typeorm';
import {
  type DatabaseBinlogConfig,
  type DatabaseLogicalConfig,
  type DatabasePollingConfig,
  type DatabaseSourceConfig,
  type DatabaseTriggerConfig,
  streamName,
} from './config.js';
import { classifyDatabaseError, DatabaseError, DatabaseErrorCodes } from './errors.js';
import { journalNames, missingTable, param, qualified } from './internal/capture.js';
import { Connection, type Dialect, dialectOf } from './internal/connection.js';
import { TableQueries } from './internal/query.js';

export type { PreflightFinding } from '@ferry/core/sdk';

/**
 * What the checks prepare for: `run` (also `ferry check`): everything a run needs, the set-up included unless
 * the pipeline creates it (`createSlot`, `installTriggers`), in which case the privileges to create it;
 * `create-slot` and `install-triggers`: what that command needs and must not do.
 */
export type DatabaseCheckPurpose = 'run' | 'create-slot' | 'install-triggers';

export interface DatabaseCheckOptions {
  purpose?: DatabaseCheckPurpose;
  /** Ferry's clock, compared with the database's (injectable so a test can skew it). */
  clock?: Clock;
}

type Row = Record<string, unknown>;
const C = DatabaseErrorCodes;
/** The error a run raises for a finding, when there is one with more details than the finding's text. */
const explained = new WeakMap<PreflightFinding, DatabaseError>();

/** `ferry check`: connect with the pipeline's credentials on a connection of its own, change nothing, report. */
export async function checkDatabaseSource(
  config: DatabaseSourceConfig,
  context: SourceContext = {},
  options: DatabaseCheckOptions = {},
): Promise<PreflightFinding[]> {
  const connection = new Connection(config.connection, context.baseDir ?? process.cwd());
  try {
    const dataSource = await connection.open();
    // A read-only session: the checks only read, and the server holds them to it.
    const dialect = dialectOf(dataSource).name;
    if (dialect === 'postgres')
      await dataSource.query('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY');
    else if (dialect === 'mysql') await dataSource.query('SET SESSION TRANSACTION READ ONLY');
    return await preflight(dataSource, config, connection.target, {
      clock: options.clock ?? context.clock ?? systemClock,
      purpose: options.purpose ?? 'run',
    });
  } catch (error) {
    throw classifyDatabaseError(error, { operation: 'check', target: connection.target });
  } finally {
    await connection.close();
  }
}

/** One line per finding: `stream CODE: what is wrong. Fix: …`. */
export function formatFinding(finding: PreflightFinding): string {
  return `${finding.severity === 'error' ? 'error' : 'warning'} ${finding.stream ?? '-'} ${finding.code}: ${finding.message} Fix: ${finding.fix}`;
}

/**
 * Log the warnings and, when there is an error, throw it: the first error's code, every error's line. Used
 * before create-slot and install-triggers and at the start of a run.
 */
export function refuseOnErrors(findings: PreflightFinding[], target: string, log?: Logger): void {
  for (const finding of findings) {
    if (finding.severity === 'warning')
      log?.warn({ code: finding.code, stream: finding.stream, fix: finding.fix }, finding.message);
  }
  const errors = findings.filter((f) => f.severity === 'error');
  const first = errors[0];
  if (first === undefined) return;
  const error = errors.length === 1 ? explained.get(first) : undefined;
  if (error !== undefined) throw error;
  throw new DatabaseError(
    first.code,
    errors.length === 1
      ? `${first.message} Fix: ${first.fix}`
      : `${errors.length} problems on ${target} (\`ferry check <pipeline.yaml>\` lists them): ${errors.map(formatFinding).join('; ')}`,
    { details: { target, findings: errors } },
  );
}

/** The checks, on an open connection (the source's own at the start of a run). */
export async function preflight(
  dataSource: DataSource,
  config: DatabaseSourceConfig,
  target: string,
  options: { purpose: DatabaseCheckPurpose; clock: Clock },
): Promise<PreflightFinding[]> {
  const dialect = dialectOf(dataSource);
  // SQLite is a file Ferry opens read-only (polling) or the one writer owns: there is no server to check.
  if (dialect.name === 'sqlite') return [];
  const checks = new Checks(dataSource, dialect, target);
  await checks.user();
  if (config.mode === 'logical') await checks.logical(config, options.purpose);
  else if (config.mode === 'trigger') await checks.trigger(config, options.purpose);
  else if (config.mode === 'binlog') await checks.binlog(config);
  else await checks.polling(config, options.clock);
  return checks.findings;
}

interface PgTable {
  stream: string;
  /** The table's name escaped and qualified, for the fix. */
  sql: string;
  schema: string;
  oid: number;
  usage: boolean;
  select: boolean;
  owner: boolean;
  hasPrimaryKey: boolean;
  /** pg_class.relreplident: d(efault), n(othing), f(ull), i(ndex). */
  replident: string;
}

class Checks {
  readonly findings: PreflightFinding[] = [];
  private userName = '';
  private superuser = false;
  private replication = false;
  /** MariaDB/MySQL: `'user'@'host'` as information_schema writes grantees. */
  private grantee = '';

  constructor(
    private readonly dataSource: DataSource,
    private readonly dialect: Dialect,
    private readonly target: string,
  ) {}

  private q(name: string): string {
    return this.dialect.escape(name);
  }

  private add(
    severity: PreflightFinding['severity'],
    code: string,
    stream: string | undefined,
    message: string,
    fix: string,
  ): void {
    this.findings.push({ severity, code, ...(stream === undefined ? {} : { stream }), message, fix });
  }

  /** DB_TABLE_NOT_FOUND said as a run says it: as typed, with the tables whose names differ only in case. */
  private async notFound(table: { name: string; schema?: string | undefined }, fix: string): Promise<void> {
    const error = await missingTable(this.dataSource, this.dialect, table, this.target);
    this.add('error', C.DB_TABLE_NOT_FOUND, streamName(table), error.message, fix);
    const finding = this.findings.at(-1);
    if (finding !== undefined) explained.set(finding, error);
  }

  private async query(sql: string, params: unknown[] = []): Promise<Row[]> {
    return (await this.dataSource.query(sql, params)) as Row[];
  }

  private p(index: number): string {
    return param(this.dataSource, index);
  }

  async user(): Promise<void> {
    if (this.dialect.name === 'postgres') {
      const [row] = await this.query(
        'SELECT current_user AS u, rolsuper AS su, rolreplication AS repl FROM pg_roles WHERE rolname = current_user',
      );
      this.userName = String(row?.u ?? '');
      this.superuser = row?.su === true;
      this.replication = row?.repl === true;
      if (this.superuser) {
        this.add(
          'warning',
          C.DB_PRIVILEGES_EXCESSIVE,
          undefined,
          `${this.userName} is a superuser on ${this.target}: more than capture needs (a mistake in a pipeline could change anything).`,
          'capture with a user holding only the privileges listed in docs/database.md#privileges',
        );
      }
      return;
    }
    const [row] = await this.query('SELECT CURRENT_USER() AS u');
    const current = String(row?.u ?? '');
    const at = current.lastIndexOf('@');
    this.userName = current;
    this.grantee = `'${current.slice(0, at)}'@'${current.slice(at + 1)}'`;
    const global = await this.query(
      'SELECT PRIVILEGE_TYPE AS p FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?',
      [this.grantee],
    );
    const privileges = new Set(global.map((r) => String(r.p)));
    this.superuser = privileges.has('SUPER') || privileges.has('DELETE') || privileges.has('DROP');
    if (this.superuser) {
      this.add(
        'warning',
        C.DB_PRIVILEGES_EXCESSIVE,
        undefined,
        `${current} holds ${[...privileges].filter((p) => ['SUPER', 'DELETE', 'DROP'].includes(p)).join(', ')} on every database of ${this.target}: more than capture needs.`,
        'capture with a user holding only the privileges listed in docs/database.md#privileges',
      );
    }
  }

  // ---- PostgreSQL catalogue ----

  private async pgTable(table: { name: string; schema?: string | undefined }): Promise<PgTable | undefined> {
    const stream = streamName(table);
    const sql = qualified(this.dialect, table.name, table.schema);
    const select = `SELECT n.nspname AS schema, c.oid::int AS oid, c.relreplident AS replident,
        has_schema_privilege(n.oid, 'USAGE') AS usage, has_table_privilege(c.oid, 'SELECT') AS sel,
        pg_has_role(c.relowner, 'USAGE') AS owner,
        EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS pk
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace`;
    // A schema named in the pipeline is looked up by name (so a schema the user may not use is still found
    // and named); an unqualified table resolves through the search path, as the queries will.
    const rows =
      table.schema === undefined
        ? await this.query(`${select} WHERE c.oid = to_regclass(${this.p(0)})`, [sql])
        : await this.query(`${select} WHERE n.nspname = ${this.p(0)} AND c.relname = ${this.p(1)}`, [
            table.schema,
            table.name,
          ]);
    const row = rows[0];
    if (row === undefined) {
      await this.notFound(
        table,
        'check tables[].name and tables[].schema (names are matched exactly, including case)',
      );
      return undefined;
    }
    const info: PgTable = {
      stream,
      sql,
      schema: String(row.schema),
      oid: Number(row.oid),
      usage: row.usage === true,
      select: row.sel === true,
      owner: row.owner === true,
      hasPrimaryKey: row.pk === true,
      replident: String(row.replident),
    };
    if (!info.usage) {
      this.add(
        'error',
        C.DB_PERMISSION_DENIED,
        stream,
        `${this.userName} has no USAGE on schema ${info.schema}, so it cannot reach ${stream} (SELECT on the table is not enough).`,
        `GRANT USAGE ON SCHEMA ${this.q(info.schema)} TO ${this.q(this.userName)};`,
      );
    }
    if (!info.select) {
      this.add(
        'error',
        C.DB_PERMISSION_DENIED,
        stream,
        `${this.userName} may not SELECT from ${stream}.`,
        `GRANT SELECT ON ${sql} TO ${this.q(this.userName)};`,
      );
    }
    return info;
  }

  // ---- MariaDB/MySQL catalogue ----

  /** The privileges the current user holds on a table, directly, on its database or globally. */
  private async mysqlPrivileges(schema: string, table: string): Promise<Set<string>> {
    const rows = await this.query(
      `SELECT PRIVILEGE_TYPE AS p FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?
       UNION SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? AND ? LIKE TABLE_SCHEMA
       UNION SELECT PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES
              WHERE GRANTEE = ? AND TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
      [this.grantee, this.grantee, schema, this.grantee, schema, table],
    );
    return new Set(rows.map((r) => String(r.p)));
  }

  private async mysqlSchema(schema: string | undefined): Promise<string> {
    if (schema !== undefined) return schema;
    const [row] = await this.query('SELECT DATABASE() AS db');
    return String(row?.db ?? '');
  }

  /** Checks SELECT (and any of `more`) on a MariaDB/MySQL table; false when the table cannot be seen. */
  private async mysqlTable(
    table: { name: string; schema?: string | undefined },
    more: string[] = [],
  ): Promise<Set<string> | undefined> {
    const stream = streamName(table);
    const schema = await this.mysqlSchema(table.schema);
    const sql = `${this.q(schema)}.${this.q(table.name)}`;
    const who = this.grantee;
    const privileges = await this.mysqlPrivileges(schema, table.name);
    const exists = await this.query(
      'SELECT 1 AS x FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
      [schema, table.name],
    );
    if (exists.length === 0) {
      await this.notFound(
        table,
        `check tables[].name and tables[].schema; if it exists: GRANT SELECT ON ${sql} TO ${who};`,
      );
      return undefined;
    }
    // SELECT is tried (a query that reads no row): information_schema does not show what a role grants.
    const canSelect = await this.query(`SELECT 1 AS x FROM ${sql} WHERE 1 = 0`).then(
      () => true,
      () => false,
    );
    if (canSelect) privileges.add('SELECT');
    const roles = await this.query('SELECT ROLE_NAME AS r FROM information_schema.ENABLED_ROLES').catch(
      () => [] as Row[],
    );
    for (const privilege of ['SELECT', ...more]) {
      if (privileges.has(privilege)) continue;
      // What a role grants cannot be seen: then a missing privilege is a doubt, not a refusal.
      const viaRole = privilege !== 'SELECT' && roles.length > 0;
      this.add(
        viaRole ? 'warning' : 'error',
        C.DB_PERMISSION_DENIED,
        stream,
        viaRole
          ? `${this.userName} holds no ${privilege} on ${stream} directly; it may hold it through a role (${roles.map((r) => String(r.r)).join(', ')}), which cannot be checked.`
          : `${this.userName} lacks ${privilege} on ${stream}.`,
        `GRANT ${privilege} ON ${sql} TO ${who};`,
      );
    }
    return privileges;
  }

  // ---- Binlog mode ----

  /**
   * The server's binary log must be one Ferry can decode exactly, and the user must be allowed to read it:
   * each setting that is not so is an error naming the line to put in the server's configuration.
   */
  async binlog(config: DatabaseBinlogConfig): Promise<void> {
    const rows = await this.query(
      `SHOW GLOBAL VARIABLES WHERE Variable_name IN
        ('log_bin', 'binlog_format', 'binlog_row_image', 'binlog_row_metadata', 'server_id')`,
    );
    const settings = new Map(rows.map((r) => [String(r.Variable_name).toLowerCase(), String(r.Value)]));
    const wanted: [name: string, value: string, why: string][] = [
      ['log_bin', 'ON', 'the server writes no binary log'],
      ['binlog_format', 'ROW', 'only row events say which rows changed and how'],
      ['binlog_row_image', 'FULL', 'updates and deletes must carry every column, not only the changed ones'],
      [
        'binlog_row_metadata',
        'FULL',
        'each table map must carry its column names and charsets, so rows written before an ALTER TABLE decode with the definition they were written with',
      ],
    ];
    const wrong = wanted.filter(([name, value]) => {
      const have = settings.get(name);
      return have !== undefined && have.toUpperCase() !== value && !(name === 'log_bin' && have === '1');
    });
    if (!settings.has('binlog_row_metadata')) {
      this.add(
        'warning',
        C.DB_BINLOG_DISABLED,
        undefined,
        `${this.target} has no binlog_row_metadata setting (MariaDB before 10.5, MySQL before 8.0.1): rows are decoded with the current table definition, so rows written before an ALTER TABLE may decode wrongly.`,
        'upgrade the server, or do not change captured tables while changes before the change are still being read',
      );
    }
    for (const [name, value, why] of wrong) {
      const have = settings.get(name);
      this.add(
        'error',
        C.DB_BINLOG_DISABLED,
        undefined,
        `${this.target} runs with ${name} = ${have}; binlog mode needs ${name} = ${value} (${why}).`,
        name === 'log_bin'
          ? 'set log_bin = <base name> (and server_id) under [mysqld] in the server configuration and restart it'
          : `set ${name} = ${value} under [mysqld] in the server configuration (and SET GLOBAL ${name} = '${value}' to apply it to new sessions without a restart)`,
      );
    }
    if (config.serverId !== undefined && settings.get('server_id') === String(config.serverId)) {
      this.add(
        'error',
        C.DB_SERVER_ID_IN_USE,
        undefined,
        `serverId ${config.serverId} is the server_id of ${this.target} itself.`,
        'set source.serverId to a number no server or replica of this topology uses',
      );
    }
    const global = new Set(
      (
        await this.query(
          'SELECT PRIVILEGE_TYPE AS p FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?',
          [this.grantee],
        )
      ).map((r) => String(r.p)),
    );
    // MariaDB 10.5+ shows REPLICATION CLIENT as BINLOG MONITOR.
    const missing = [
      ['REPLICATION SLAVE', ['REPLICATION SLAVE', 'REPLICATION REPLICA']],
      ['REPLICATION CLIENT', ['REPLICATION CLIENT', 'BINLOG MONITOR', 'SUPER']],
    ].filter(([, names]) => !(names as string[]).some((n) => global.has(n)));
    if (missing.length > 0) {
      this.add(
        'error',
        C.DB_REPLICATION_DENIED,
        undefined,
        `${this.userName} lacks ${missing.map(([name]) => name).join(' and ')} on *.*, which reading the binary log needs.`,
        `GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO ${this.grantee};`,
      );
    }
    for (const table of config.tables) await this.mysqlTable(table);
  }

  // ---- Logical mode ----

  async logical(config: DatabaseLogicalConfig, purpose: DatabaseCheckPurpose): Promise<void> {
    const [settings] = await this.query(
      `SELECT current_setting('wal_level') AS wal_level,
              current_setting('max_replication_slots')::int AS max_slots,
              (SELECT count(*)::int FROM pg_replication_slots) AS slots,
              current_setting('max_wal_senders')::int AS max_senders,
              (SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'walsender') AS senders,
              current_setting('max_slot_wal_keep_size') AS keep,
              current_database() AS db`,
    );
    const s = settings ?? {};
    if (s.wal_level !== 'logical') {
      this.add(
        'error',
        C.DB_LOGICAL_DISABLED,
        undefined,
        `${this.target} runs with wal_level = ${String(s.wal_level)}; logical replication needs logical.`,
        'ALTER SYSTEM SET wal_level = logical; then restart the server',
      );
    }
    if (!this.replication && !this.superuser) {
      this.add(
        'error',
        C.DB_REPLICATION_DENIED,
        undefined,
        `${this.userName} lacks the REPLICATION attribute, needed to create and stream from a slot.`,
        `ALTER ROLE ${this.q(this.userName)} WITH REPLICATION; (and a pg_hba.conf line allowing it replication connections)`,
      );
    }
    const slots = await this.query(
      `SELECT wal_status, active FROM pg_replication_slots WHERE slot_name = ${this.p(0)}`,
      [config.slot],
    );
    const slot = slots[0];
    if (slot === undefined) {
      if (Number(s.slots) >= Number(s.max_slots)) {
        this.add(
          'error',
          C.DB_REPLICATION_CAPACITY,
          undefined,
          `every replication slot of ${this.target} is taken (${String(s.slots)} of max_replication_slots = ${String(s.max_slots)}); the slot ${config.slot} cannot be created.`,
          'drop an unused slot (SELECT pg_drop_replication_slot(name)) or raise max_replication_slots and restart',
        );
      }
      if (purpose === 'run' && !config.createSlot) {
        this.add(
          'error',
          C.DB_SLOT_MISSING,
          undefined,
          `the replication slot ${config.slot} does not exist on ${this.target}.`,
          'ferry database create-slot <pipeline.yaml> (or set createSlot: true)',
        );
      }
    } else if (slot.wal_status === 'lost') {
      this.add(
        'error',
        C.DB_SLOT_INVALIDATED,
        undefined,
        `the replication slot ${config.slot} lost WAL it still needed.`,
        'ferry database drop-slot <pipeline.yaml>, clear the checkpoint (ferry offsets reset) and start again with snapshot: initial',
      );
    }
    if (slot?.active !== true && Number(s.senders) >= Number(s.max_senders)) {
      this.add(
        'error',
        C.DB_REPLICATION_CAPACITY,
        undefined,
        `every WAL sender of ${this.target} is busy (${String(s.senders)} of max_wal_senders = ${String(s.max_senders)}).`,
        'stop an unused replication client or raise max_wal_senders and restart',
      );
    }
    if (String(s.keep) === '-1') {
      this.add(
        'warning',
        C.DB_SLOT_WAL_UNBOUNDED,
        undefined,
        `max_slot_wal_keep_size is unset on ${this.target}: while Ferry is stopped or its sink is unreachable the slot keeps every WAL file, and can fill the server's disk.`,
        "ALTER SYSTEM SET max_slot_wal_keep_size = '10GB'; SELECT pg_reload_conf(); (size it to the disk; a slot past it is invalidated, DB_SLOT_INVALIDATED)",
      );
    }

    const tables: { config: DatabaseLogicalConfig['tables'][number]; info: PgTable }[] = [];
    for (const table of config.tables) {
      const info = await this.pgTable(table);
      if (info !== undefined) tables.push({ config: table, info });
    }

    const [publication] = await this.query(
      `SELECT oid::int AS oid, puballtables AS alltables FROM pg_publication WHERE pubname = ${this.p(0)}`,
      [config.publication],
    );
    const willCreate = publication === undefined && (purpose === 'create-slot' || config.createSlot);
    if (publication === undefined && !willCreate) {
      this.add(
        'error',
        C.DB_SLOT_MISSING,
        undefined,
        `the publication ${config.publication} does not exist on ${this.target}.`,
        'ferry database create-slot <pipeline.yaml> (or set createSlot: true)',
      );
    }
    // The set-up run now (create-slot, or a run with createSlot) creates the publication and sets replica
    // identities: both need the tables' owner.
    const settingUp = purpose === 'create-slot' || (purpose === 'run' && config.createSlot);
    if (willCreate) {
      const [db] = await this.query("SELECT has_database_privilege(current_database(), 'CREATE') AS ok");
      if (db?.ok !== true) {
        this.add(
          'error',
          C.DB_PERMISSION_DENIED,
          undefined,
          `${this.userName} may not create the publication ${config.publication} (it needs CREATE on database ${String(s.db)}).`,
          `run create-slot as the tables' owner, or GRANT CREATE ON DATABASE ${this.q(String(s.db))} TO ${this.q(this.userName)};`,
        );
      }
    }
    for (const { config: table, info } of tables) {
      const missing = (info.replident === 'd' && !info.hasPrimaryKey) || info.replident === 'n';
      if (table.replicaIdentity !== undefined) {
        const identity = table.replicaIdentity;
        let applied: boolean;
        if (identity === 'full') applied = info.replident === 'f';
        else {
          await this.replicaIndex(info, identity.index);
          applied = info.replident === 'i' && (await this.identityIndex(info.oid)) === identity.index;
        }
        if (!applied && settingUp && !info.owner) {
          this.add(
            'error',
            C.DB_PERMISSION_DENIED,
            info.stream,
            `${this.userName} does not own ${info.stream}, so it cannot set its replica identity.`,
            "run `ferry database create-slot <pipeline.yaml>` as the table's owner",
          );
        } else if (!applied && !settingUp && missing) {
          this.add(
            'error',
            C.DB_REPLICA_IDENTITY_MISSING,
            info.stream,
            `${info.stream} has no primary key and its replicaIdentity is not applied yet: publishing it breaks the legacy application's UPDATE and DELETE.`,
            'ferry database create-slot <pipeline.yaml> (it applies replicaIdentity before publishing)',
          );
        }
      } else if (missing) {
        this.add(
          'error',
          C.DB_REPLICA_IDENTITY_MISSING,
          info.stream,
          `${info.stream} has no primary key and no replica identity: once it is published, PostgreSQL refuses the legacy application's UPDATE and DELETE on it ("cannot update table … because it does not have a replica identity and publishes updates").`,
          `set replicaIdentity: full on the table in the pipeline (create-slot then runs ALTER TABLE ${info.sql} REPLICA IDENTITY FULL), or replicaIdentity: {index: <a unique index on NOT NULL columns>}, or add a primary key`,
        );
      }
      if (willCreate && !info.owner) {
        this.add(
          'error',
          C.DB_PERMISSION_DENIED,
          info.stream,
          `${this.userName} does not own ${info.stream}, and only an owner may add it to a publication.`,
          "run `ferry database create-slot <pipeline.yaml>` as the table's owner (the run itself needs only REPLICATION and SELECT)",
        );
      }
    }
    if (publication !== undefined)
      await this.publication(
        config,
        Number(publication.oid),
        publication.alltables === true,
        tables.map((t) => t.info),
      );
  }

  private async identityIndex(oid: number): Promise<string | undefined> {
    const [row] = await this.query(
      `SELECT ic.relname AS name FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = ${this.p(0)} AND i.indisreplident`,
      [oid],
    );
    return row === undefined ? undefined : String(row.name);
  }

  private async replicaIndex(info: PgTable, index: string): Promise<void> {
    const [row] = await this.query(
      `SELECT i.indisunique AS uniq, i.indpred IS NULL AS whole, i.indimmediate AS immediate
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = ${this.p(0)} AND ic.relname = ${this.p(1)}`,
      [info.oid, index],
    );
    if (row === undefined || row.uniq !== true || row.whole !== true || row.immediate !== true) {
      this.add(
        'error',
        C.DB_REPLICA_IDENTITY_MISSING,
        info.stream,
        `replicaIdentity names index ${index}, which is not a unique, non-partial, non-deferrable index of ${info.stream}.`,
        `CREATE UNIQUE INDEX ${this.q(index)} ON ${info.sql} (<NOT NULL columns>); or replicaIdentity: full`,
      );
    }
  }

  private async publication(
    config: DatabaseLogicalConfig,
    oid: number,
    allTables: boolean,
    tables: PgTable[],
  ): Promise<void> {
    const name = config.publication;
    if (allTables) {
      this.add(
        'warning',
        C.DB_PUBLICATION_MISMATCH,
        undefined,
        `the publication ${name} is FOR ALL TABLES: every table of the database is decoded, and any keyless table in it refuses UPDATE and DELETE.`,
        `give the pipeline a publication of its own (publication: <name>) and let create-slot create it`,
      );
      return;
    }
    const rows = await this.query(
      `SELECT pr.prrelid::int AS oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
         FROM pg_publication_rel pr JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE pr.prpubid = ${this.p(0)}`,
      [oid],
    );
    const published = new Set(rows.map((r) => Number(r.oid)));
    for (const table of tables) {
      if (published.has(table.oid)) continue;
      this.add(
        'error',
        C.DB_PUBLICATION_MISMATCH,
        table.stream,
        `the publication ${name} exists but does not publish ${table.stream}: its changes would never arrive.`,
        `ALTER PUBLICATION ${this.q(name)} ADD TABLE ${table.sql}; (as the table's owner), or use a publication of the pipeline's own`,
      );
    }
    const ours = new Set(tables.map((t) => t.oid));
    const others = rows.filter((r) => !ours.has(Number(r.oid))).map((r) => String(r.name));
    if (others.length > 0) {
      this.add(
        'warning',
        C.DB_PUBLICATION_MISMATCH,
        undefined,
        `the publication ${name} also publishes ${others.join(', ')}, which this pipeline does not capture: their changes are decoded for nothing, and it is shared with whoever added them.`,
        `give the pipeline a publication of its own (publication: <name>), or ALTER PUBLICATION ${this.q(name)} DROP TABLE ${others.join(', ')}; if nobody else uses them`,
      );
    }
  }

  // ---- Trigger mode ----

  async trigger(config: DatabaseTriggerConfig, purpose: DatabaseCheckPurpose): Promise<void> {
    const names = await journalNames(this.dataSource, this.dialect, config.journal);
    const journalStream = streamName({ name: config.journal.table, schema: config.journal.schema });
    if (this.dialect.name === 'postgres') {
      const tables: PgTable[] = [];
      for (const table of config.tables) {
        const info = await this.pgTable(table);
        if (info !== undefined) tables.push(info);
      }
      const journalSchema = config.journal.schema ?? (await this.currentSchema());
      const [journal] = await this.query(
        `SELECT c.oid::int AS oid, has_table_privilege(c.oid, 'SELECT') AS sel,
                has_table_privilege(c.oid, 'DELETE') AS del, has_schema_privilege(n.oid, 'USAGE') AS usage
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ${this.p(0)} AND c.relname = ${this.p(1)}`,
        [journalSchema, config.journal.table],
      );
      const untriggered: PgTable[] = [];
      for (const table of tables) {
        const rows = await this.query(
          `SELECT 1 AS x FROM pg_trigger WHERE tgrelid = ${this.p(0)} AND tgname LIKE ${this.p(1)} AND NOT tgisinternal`,
          [table.oid, `${names.triggerPrefix}\\_%`],
        );
        if (rows.length === 0) untriggered.push(table);
      }
      const missing = journal === undefined || untriggered.length > 0;
      // Install privileges are needed by install-triggers, and by a run that installs what is missing.
      const install =
        purpose === 'install-triggers' || (purpose === 'run' && config.installTriggers && missing);
      if (purpose === 'run' && !config.installTriggers) {
        if (journal === undefined) this.triggersMissing(`the journal ${names.table} does not exist`);
        else
          for (const table of untriggered)
            this.triggersMissing(`${table.stream} has no Ferry trigger`, table.stream);
      }
      if (install && journal === undefined) {
        const [row] = await this.query(`SELECT has_schema_privilege(${this.p(0)}, 'CREATE') AS ok`, [
          journalSchema,
        ]);
        if (row?.ok !== true) {
          this.add(
            'error',
            C.DB_PERMISSION_DENIED,
            journalStream,
            `${this.userName} may not create the journal in schema ${journalSchema}.`,
            `GRANT CREATE ON SCHEMA ${this.q(journalSchema)} TO ${this.q(this.userName)}; or run install-triggers as a user who may`,
          );
        }
      }
      if (install) {
        for (const table of tables.filter((t) => !t.owner)) {
          this.add(
            'error',
            C.DB_PERMISSION_DENIED,
            table.stream,
            `${this.userName} does not own ${table.stream}, so it cannot create its triggers.`,
            "run `ferry database install-triggers <pipeline.yaml>` as the table's owner",
          );
        }
      }
      if (purpose === 'run' && journal !== undefined) {
        const lacking = [
          journal.usage === true ? undefined : `USAGE on schema ${journalSchema}`,
          journal.sel === true ? undefined : 'SELECT',
          journal.del === true ? undefined : 'DELETE',
        ].filter((m) => m !== undefined);
        if (lacking.length > 0) {
          this.add(
            'error',
            C.DB_PERMISSION_DENIED,
            journalStream,
            `${this.userName} lacks ${lacking.join(', ')} on the journal ${names.table} (read, then purged after each checkpoint).`,
            `${journal.usage === true ? '' : `GRANT USAGE ON SCHEMA ${this.q(journalSchema)} TO ${this.q(this.userName)}; `}GRANT SELECT, DELETE ON ${names.table} TO ${this.q(this.userName)};`,
          );
        }
      }
      return;
    }
    // MariaDB/MySQL. information_schema.TRIGGERS lists triggers only to users holding TRIGGER, so a
    // least-privileged reader cannot tell whether they are installed; the journal is what is checked.
    const journalSchemaName = await this.mysqlSchema(config.journal.schema);
    const hasJournal =
      (
        await this.query(
          'SELECT 1 AS x FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
          [journalSchemaName, config.journal.table],
        )
      ).length > 0;
    const install =
      purpose === 'install-triggers' || (purpose === 'run' && config.installTriggers && !hasJournal);
    const more = install ? ['TRIGGER'] : [];
    for (const table of config.tables) await this.mysqlTable(table, more);
    const journalSchema = journalSchemaName;
    if (!hasJournal) {
      if (!install) this.triggersMissing(`the journal ${names.table} does not exist`);
      else {
        const privileges = await this.mysqlPrivileges(journalSchema, config.journal.table);
        if (!privileges.has('CREATE')) {
          this.add(
            'error',
            C.DB_PERMISSION_DENIED,
            journalStream,
            `${this.userName} may not create the journal in database ${journalSchema}.`,
            `GRANT CREATE ON ${this.q(journalSchema)}.* TO ${this.grantee};`,
          );
        }
      }
    } else if (purpose === 'run') {
      await this.mysqlTable({ name: config.journal.table, schema: journalSchema }, ['DELETE']);
    }
    if (install) {
      const [row] = await this.query(
        'SELECT @@log_bin AS log_bin, @@log_bin_trust_function_creators AS trust',
      );
      const global = await this.query(
        'SELECT PRIVILEGE_TYPE AS p FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?',
        [this.grantee],
      );
      const superPrivilege = global.some((r) => r.p === 'SUPER');
      if (Number(row?.log_bin) === 1 && Number(row?.trust) !== 1 && !superPrivilege) {
        this.add(
          'error',
          C.DB_PERMISSION_DENIED,
          undefined,
          `binary logging is on and ${this.userName} lacks SUPER, so the server refuses to create triggers.`,
          'SET GLOBAL log_bin_trust_function_creators = 1; (or run install-triggers as a user with SUPER)',
        );
      }
    }
  }

  private errorCount(): number {
    return this.findings.filter((f) => f.severity === 'error').length;
  }

  private triggersMissing(what: string, stream?: string): void {
    this.add(
      'error',
      C.DB_TRIGGERS_MISSING,
      stream,
      `trigger capture is not installed: ${what}.`,
      'ferry database install-triggers <pipeline.yaml> (as a user allowed to create them), or set installTriggers: true',
    );
  }

  private async currentSchema(): Promise<string> {
    const [row] = await this.query('SELECT current_schema() AS s');
    return String(row?.s ?? 'public');
  }

  // ---- Polling ----

  async polling(config: DatabasePollingConfig, clock: Clock): Promise<void> {
    for (const table of config.tables) {
      const errors = this.errorCount();
      if (this.dialect.name === 'postgres') await this.pgTable(table);
      else await this.mysqlTable(table);
      // The query plan is worth asking for only when the user can read the table.
      if (this.errorCount() > errors) continue;
      await this.index(config, table).catch(() => undefined);
    }
    if (config.tables.some((t) => t.timestampColumn !== undefined))
      await this.clockSkew(config.delayMs, clock).catch(() => undefined);
  }

  /** Warn when the first poll's query has no index to use (EXPLAIN shows a full scan). */
  private async index(
    config: DatabasePollingConfig,
    table: DatabasePollingConfig['tables'][number],
  ): Promise<void> {
    const stream = streamName(table);
    const query = new TableQueries(this.dataSource, this.dialect, table).page(
      undefined,
      config.batchSize,
      config.delayMs,
    );
    let fullScan: boolean;
    if (this.dialect.name === 'postgres') {
      const runner = this.dataSource.createQueryRunner();
      try {
        // With sequential scans priced out, the planner uses any index that can serve the query, so a Seq Scan
        // left in the plan means there is none (a small table would otherwise be scanned by choice).
        await runner.query('BEGIN READ ONLY');
        await runner.query('SET LOCAL enable_seqscan = off');
        const rows = (await runner.query(`EXPLAIN ${query.sql}`, query.params)) as Row[];
        // A Sort means no index gives the poll its order, so every matching row is read to find the first
        // page (an Incremental Sort is fine: an index gives the leading column).
        fullScan = rows.some((r) => /Seq Scan|(?:^|->)\s*Sort\b/.test(String(r['QUERY PLAN'])));
      } finally {
        await runner.query('ROLLBACK').catch(() => undefined);
        await runner.release();
      }
    } else {
      const rows = await this.query(`EXPLAIN ${query.sql}`, query.params);
      fullScan = rows.some((r) => String(r.type) === 'ALL' || /filesort/i.test(String(r.Extra)));
      if (fullScan) {
        // The optimizer scans a small table by choice; an index that leads with the tracking column serves it
        // once the table grows.
        const lead = table.timestampColumn ?? table.incrementingColumn;
        const schema = await this.mysqlSchema(table.schema);
        const indexed = await this.query(
          `SELECT 1 AS x FROM information_schema.STATISTICS
            WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND SEQ_IN_INDEX = 1 AND COLUMN_NAME = ?`,
          [schema, table.name, lead],
        );
        fullScan = indexed.length === 0;
      }
    }
    if (!fullScan) return;
    const columns = [table.timestampColumn, table.incrementingColumn].filter((c) => c !== undefined);
    const indexName = `ferry_poll_${table.name}`.slice(0, 63);
    this.add(
      'warning',
      C.DB_INDEX_MISSING,
      stream,
      `no index serves the poll of ${stream} on ${columns.join(', ')}: every poll reads the whole table (EXPLAIN shows a full scan).`,
      `CREATE INDEX ${this.q(indexName)} ON ${qualified(this.dialect, table.name, table.schema)} (${columns.map((c) => this.q(c)).join(', ')});`,
    );
  }

  /** Warn when Ferry's clock and the database's differ by more than half of delayMs (at least a second). */
  private async clockSkew(delayMs: number, clock: Clock): Promise<void> {
    const sql =
      this.dialect.name === 'postgres'
        ? 'SELECT (extract(epoch from clock_timestamp()) * 1000)::float8 AS ms'
        : 'SELECT UNIX_TIMESTAMP(NOW(6)) * 1000 AS ms';
    const before = clock.now();
    const [row] = await this.query(sql);
    const after = clock.now();
    const skew = Number(row?.ms) - (before + after) / 2;
    const allowed = Math.max(1000, delayMs / 2);
    if (!Number.isFinite(skew) || Math.abs(skew) <= allowed) return;
    this.add(
      'warning',
      C.DB_CLOCK_SKEW,
      undefined,
      `the database's clock is ${Math.round(Math.abs(skew))} ms ${skew > 0 ? 'ahead of' : 'behind'} Ferry's (delayMs = ${delayMs}): timestamps written by hosts on Ferry's clock can fall outside the delay margin, and lag is misreported.`,
      `synchronise both hosts with NTP, or raise delayMs above ${Math.round(Math.abs(skew) * 2)}`,
    );
  }
}
