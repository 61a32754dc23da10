// What the trigger and logical modes share: a captured table's columns and how each is represented, the SQL
// that renders a row as a JSON image, keyset-paged snapshot queries, and the journal's DDL (tables, triggers).
import { createHash } from 'node:crypto';
import type { ChangeRecord, Logger } from '@ferry/core/sdk';
import type { DataSource } from 'typeorm';
import { type CapturedTableConfig, streamName } from '../config.js';
import { DatabaseError, DatabaseErrorCodes } from '../errors.js';
import type { Dialect } from './connection.js';
import {
  type ColumnKind,
  decodeImageParts,
  isVariableSize,
  mysqlKind,
  OMITTED_KEY,
  pgKind,
  sqliteKind,
} from './images.js';

export interface CapturedTable {
  config: CapturedTableConfig;
  stream: string;
  /** The table's name escaped (and schema-qualified) for SQL. */
  sql: string;
  columns: ColumnKind[];
  kinds: Map<string, ColumnKind>;
}

type Row = Record<string, unknown>;

export function param(dataSource: DataSource, index: number): string {
  return dataSource.driver.createParameter(`p${index}`, index);
}

export function qualified(dialect: Dialect, name: string, schema: string | undefined): string {
  return schema === undefined ? dialect.escape(name) : `${dialect.escape(schema)}.${dialect.escape(name)}`;
}

/** A configured table as typed: `"schema"."name"`, so spaces, dots and case are visible in messages. */
export function typedName(table: { name: string; schema?: string | undefined }): string {
  const quote = (name: string) => JSON.stringify(name);
  return table.schema === undefined ? quote(table.name) : `${quote(table.schema)}.${quote(table.name)}`;
}

export function tableNotFound(
  table: { name: string; schema?: string | undefined },
  target: string,
  similar: readonly { schema: string | undefined; name: string }[] = [],
): DatabaseError {
  const stream = streamName(table);
  const hint =
    similar.length === 0
      ? ''
      : ` ${similar.map(typedName).join(', ')} ${similar.length === 1 ? 'exists' : 'exist'}: names are ` +
        'matched exactly, including case, so write the name as the database spells it.';
  return new DatabaseError(
    DatabaseErrorCodes.DB_TABLE_NOT_FOUND,
    `table ${typedName(table)} does not exist on ${target} or the user cannot see it.${hint} Check ` +
      'tables[].name and tables[].schema; names are matched exactly, including case.',
    {
      details: {
        stream,
        table: table.name,
        ...(table.schema === undefined ? {} : { schema: table.schema }),
        target,
        ...(similar.length === 0 ? {} : { similar: similar.map(typedName) }),
      },
    },
  );
}

/**
 * DB_TABLE_NOT_FOUND for a configured table the catalogue does not list, with the tables whose names differ
 * only in case (`movements_log` configured, `"MOVEMENTS_LOG"` there): the usual mistake with quoted names.
 */
export async function missingTable(
  dataSource: DataSource,
  dialect: Dialect,
  table: { name: string; schema?: string | undefined },
  target: string,
): Promise<DatabaseError> {
  let rows: Row[] = [];
  try {
    if (dialect.name === 'postgres') {
      rows = (await dataSource.query(
        `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE lower(c.relname) = lower($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
            AND (CASE WHEN $2::text IS NULL THEN n.nspname = ANY (current_schemas(false))
                      ELSE lower(n.nspname) = lower($2::text) END)
          ORDER BY 1, 2 LIMIT 5`,
        [table.name, table.schema ?? null],
      )) as Row[];
    } else if (dialect.name === 'mysql') {
      rows = (await dataSource.query(
        `SELECT TABLE_SCHEMA AS \`schema\`, TABLE_NAME AS name FROM information_schema.TABLES
          WHERE LOWER(TABLE_SCHEMA) = LOWER(COALESCE(?, DATABASE())) AND LOWER(TABLE_NAME) = LOWER(?)
          ORDER BY 1, 2 LIMIT 5`,
        [table.schema ?? null, table.name],
      )) as Row[];
    }
  } catch {
    // The hint is a courtesy: a catalogue the user cannot read leaves the plain error.
  }
  const similar = rows
    .map((r) => ({
      // The schema is shown as the user wrote it: left out when the table was configured without one.
      schema: table.schema === undefined ? undefined : String(r.schema),
      name: String(r.name),
    }))
    .filter((t) => t.name !== table.name || t.schema !== table.schema);
  return tableNotFound(table, target, similar);
}

/**
 * DB_COLUMN_NOT_FOUND for configured columns the table does not have (matched exactly, including case),
 * with the columns whose names differ only in case.
 */
export function columnsNotFound(
  table: { name: string; schema?: string | undefined },
  what: string,
  missing: readonly string[],
  columns: readonly string[],
  target: string,
): DatabaseError {
  const stream = streamName(table);
  const quote = (name: string) => JSON.stringify(name);
  const similar = missing.flatMap((m) =>
    columns
      .filter((c) => c !== m && c.toLowerCase() === m.toLowerCase())
      .map((c) => `${quote(m)} is ${quote(c)}`),
  );
  return new DatabaseError(
    DatabaseErrorCodes.DB_COLUMN_NOT_FOUND,
    `${what} column ${missing.map(quote).join(', ')} does not exist in table ${typedName(table)} on ${target}.` +
      (similar.length === 0
        ? ''
        : ` Names are matched exactly, including case: ${similar.join(', ')} in the table.`) +
      ' Check the column names against `ferry discover`.',
    { details: { operation: 'describe', stream, target, columns: [...missing] } },
  );
}

/** A column as the catalogue lists it, for `discover`. */
export interface CatalogueColumn {
  name: string;
  type: string;
  nullable: boolean;
  /** Position in the primary key (1-based), or undefined when not part of it. */
  primary: number | undefined;
}

/**
 * A table's columns from the catalogue, by bound parameters (typeorm's own table loader writes names into
 * string literals, which a quote in a legacy name would break). Empty when the table does not exist.
 */
export async function catalogueColumns(
  dataSource: DataSource,
  dialect: Dialect,
  table: { name: string; schema?: string | undefined },
): Promise<CatalogueColumn[]> {
  let rows: Row[];
  if (dialect.name === 'postgres') {
    rows = (await dataSource.query(
      `SELECT a.attname AS name, format_type(a.atttypid, NULL) AS type, NOT a.attnotnull AS nullable,
              -- int2vector subscripts start at 0: the position is counted from the array's lower bound.
              array_position(i.indkey::int2[], a.attnum) - array_lower(i.indkey::int2[], 1) + 1 AS pk
         FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
        WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum`,
      [qualified(dialect, table.name, table.schema)],
    )) as Row[];
  } else if (dialect.name === 'mysql') {
    rows = (await dataSource.query(
      `SELECT c.COLUMN_NAME AS name, c.DATA_TYPE AS type, c.IS_NULLABLE = 'YES' AS nullable, s.SEQ_IN_INDEX AS pk
         FROM information_schema.COLUMNS c LEFT JOIN information_schema.STATISTICS s
           ON s.TABLE_SCHEMA = c.TABLE_SCHEMA AND s.TABLE_NAME = c.TABLE_NAME AND s.COLUMN_NAME = c.COLUMN_NAME
          AND s.INDEX_NAME = 'PRIMARY'
        WHERE ${mysqlTableIs('c')} ORDER BY c.ORDINAL_POSITION`,
      mysqlTableParams(table),
    )) as Row[];
  } else {
    rows = (
      (await dataSource.query('SELECT name, type, "notnull" AS nn, pk FROM pragma_table_info(?, ?)', [
        table.name,
        table.schema ?? 'main',
      ])) as Row[]
    ).map((r) => ({ ...r, type: String(r.type).toLowerCase(), nullable: Number(r.nn) === 0 }));
  }
  return rows.map((r) => ({
    name: String(r.name),
    type: String(r.type),
    nullable: r.nullable === true || Number(r.nullable) === 1,
    primary: r.pk == null || Number(r.pk) === 0 ? undefined : Number(r.pk),
  }));
}

/**
 * The MySQL/MariaDB catalogue filter for one table, exact in case: depending on server and version,
 * information_schema may compare names case-insensitively and find `movements_log` for `MOVEMENTS_LOG`,
 * which the server's own lookup (case-sensitive on Linux) then refuses. The plain equality stays so the
 * server can look the table up directly instead of opening every table.
 */
function mysqlTableIs(alias: string): string {
  return `${alias}.TABLE_SCHEMA = COALESCE(?, DATABASE()) AND ${alias}.TABLE_NAME = ?
      AND CAST(${alias}.TABLE_SCHEMA AS BINARY) = CAST(COALESCE(?, DATABASE()) AS BINARY)
      AND CAST(${alias}.TABLE_NAME AS BINARY) = CAST(? AS BINARY)`;
}

function mysqlTableParams(table: { name: string; schema?: string | undefined }): unknown[] {
  const schema = table.schema ?? null;
  return [schema, table.name, schema, table.name];
}

/** The configured tables' columns, from the catalogue. */
export async function describeTables(
  dataSource: DataSource,
  dialect: Dialect,
  tables: readonly CapturedTableConfig[],
  target: string,
): Promise<CapturedTable[]> {
  const described: CapturedTable[] = [];
  for (const table of tables) described.push(await describeTable(dataSource, dialect, table, target));
  return described;
}

/** Read a table's columns from the catalogue; a missing table is DB_TABLE_NOT_FOUND. */
export async function describeTable(
  dataSource: DataSource,
  dialect: Dialect,
  table: CapturedTableConfig,
  target: string,
): Promise<CapturedTable> {
  const stream = streamName(table);
  const sql = qualified(dialect, table.name, table.schema);
  let columns: ColumnKind[];
  if (dialect.name === 'postgres') {
    const rows = (await dataSource.query(
      `SELECT a.attname AS name, t.typname AS typname, t.typcategory AS category, e.typname AS element
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
        WHERE a.attrelid = to_regclass(${param(dataSource, 0)}) AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum`,
      [sql],
    )) as Row[];
    columns = rows.map((r) =>
      pgKind(
        String(r.name),
        String(r.typname),
        String(r.category),
        r.element == null ? undefined : String(r.element),
      ),
    );
  } else if (dialect.name === 'mysql') {
    const rows = (await dataSource.query(
      `SELECT c.COLUMN_NAME AS name, c.DATA_TYPE AS dt, c.COLUMN_TYPE AS ct, c.CHARACTER_SET_NAME AS cs
         FROM information_schema.COLUMNS c
        WHERE ${mysqlTableIs('c')} ORDER BY c.ORDINAL_POSITION`,
      mysqlTableParams(table),
    )) as Row[];
    const json = await mariadbJsonColumns(dataSource, table);
    columns = rows.map((r) => {
      const kind = mysqlKind(String(r.name), String(r.dt), String(r.ct), r.cs == null ? null : String(r.cs));
      return json.has(kind.name) && kind.kind === 'text' ? { ...kind, kind: 'json' } : kind;
    });
  } else {
    const rows = (await dataSource.query('SELECT name, type FROM pragma_table_info(?, ?)', [
      table.name,
      table.schema ?? 'main',
    ])) as Row[];
    columns = rows.map((r) => sqliteKind(String(r.name), String(r.type)));
  }
  if (columns.length === 0) throw await missingTable(dataSource, dialect, table, target);
  const names = new Set(columns.map((c) => c.name));
  const missing = table.key.filter((k) => !names.has(k));
  if (missing.length > 0) throw columnsNotFound(table, 'key', missing, [...names], target);
  return { config: table, stream, sql, columns, kinds: new Map(columns.map((c) => [c.name, c])) };
}

/**
 * MariaDB's JSON is LONGTEXT with a `json_valid` check: the columns that have one. MySQL's JSON is a type of
 * its own, and its CHECK_CONSTRAINTS has no TABLE_NAME (nor any before 8.0.16): none.
 */
async function mariadbJsonColumns(dataSource: DataSource, table: CapturedTableConfig): Promise<Set<string>> {
  const rows = (await dataSource
    .query(
      `SELECT CHECK_CLAUSE AS c FROM information_schema.CHECK_CONSTRAINTS
        WHERE CONSTRAINT_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?`,
      [table.schema ?? null, table.name],
    )
    .catch(() => [])) as Row[];
  const names = new Set<string>();
  for (const row of rows) {
    const match = /^json_valid\(`((?:[^`]|``)+)`\)$/i.exec(String(row.c).trim());
    if (match?.[1] !== undefined) names.add(match[1].replaceAll('``', '`'));
  }
  return names;
}

function sqlString(text: string, backslashes: boolean): string {
  const escaped = text.replaceAll("'", "''");
  return `'${backslashes ? escaped.replaceAll('\\', '\\\\') : escaped}'`;
}

/**
 * SQL rendering the row `alias` (NEW, OLD or a table alias) as JSON text. PostgreSQL renders the whole row;
 * MariaDB and SQLite need the column list, so their triggers are rebuilt when columns are added.
 */
export function imageSql(dialect: Dialect, table: CapturedTable, alias: string): string {
  if (dialect.name === 'postgres') return `to_json(${alias})`;
  if (dialect.name === 'mysql') return mysqlImageSql(dialect, table, alias);
  const parts = table.columns.map((column) => {
    const ref = `${alias}.${dialect.escape(column.name)}`;
    return `${sqlString(column.name, false)}, CASE typeof(${ref}) WHEN 'blob' THEN json_array(hex(${ref})) ELSE ${ref} END`;
  });
  return `json_object(${parts.join(', ')})`;
}

/** Most bytes a fixed-size column's rendering takes (DECIMAL(65,30), BIT(64), a double, a date). */
const FIXED_VALUE_BYTES = 80;

/**
 * MariaDB refuses a function result larger than `max_allowed_packet`, and inside the legacy INSERT that is an
 * error, not a warning ("Result of json_object() was larger than max_allowed_packet"). So when a cheap upper
 * bound of the image (every byte of every variable-size value escaped to six) does not fit, the image is
 * built differently: each variable-size value as base64 of its bytes (geometries as WKT), whose length is
 * known from the value's length alone, and if even that does not fit, the values larger than their share of
 * the packet are left out (NULL) and listed under OMITTED_KEY. Ferry decodes the base64 with the column's
 * charset. Only lengths are computed, so the check costs nothing measurable on ordinary rows.
 */
function mysqlImageSql(dialect: Dialect, table: CapturedTable, alias: string): string {
  const ref = (column: ColumnKind) => `${alias}.${dialect.escape(column.name)}`;
  const key = (column: ColumnKind) => sqlString(column.name, true);
  const plain = table.columns.map((c) => `${key(c)}, ${mysqlValueSql(c, ref(c))}`);
  const variable = table.columns.filter(isVariableSize);
  if (variable.length === 0) return `JSON_OBJECT(${plain.join(', ')})`;
  const nameBytes = (c: ColumnKind) => 6 * Buffer.byteLength(c.name) + 12;
  const overhead =
    64 +
    table.columns.reduce((sum, c) => sum + nameBytes(c) + (isVariableSize(c) ? 0 : FIXED_VALUE_BYTES), 0) +
    variable.reduce((sum, c) => sum + nameBytes(c), 0);
  const room = `(@@max_allowed_packet - ${overhead})`;
  const length = (c: ColumnKind) => `COALESCE(LENGTH(${ref(c)}), 0)`;
  const quick = variable.map((c) => `6 * ${length(c)}`).join(' + ');
  // Base64: four characters for three bytes, and a line break (escaped: two characters) every 76. WKT: a
  // coordinate is 8 bytes of WKB and at most 25 characters.
  const size = (c: ColumnKind) =>
    c.render === 'wkt' ? `(4 * ${length(c)} + 32)` : `(4 * ((${length(c)} + 2) DIV 3) * 78 DIV 76 + 4)`;
  const total = variable.map(size).join(' + ');
  const share = `${room} DIV ${variable.length}`;
  // Three shapes, each written once (the trigger's text grows with the columns, not their square): plain;
  // base64; base64 without the values larger than their share of the packet.
  const large = (leaveOut: boolean) =>
    table.columns.map((c) => {
      if (!isVariableSize(c)) return `${key(c)}, ${mysqlValueSql(c, ref(c))}`;
      const value = c.render === 'wkt' ? `ST_AsText(${ref(c)})` : `TO_BASE64(${ref(c)})`;
      return `${key(c)}, ${leaveOut ? `IF(${size(c)} > ${share}, NULL, ${value})` : value}`;
    });
  const omitted = `JSON_ARRAY(${variable.map((c) => `IF(${size(c)} > ${share}, ${key(c)}, NULL)`).join(', ')})`;
  const omittedKey = sqlString(OMITTED_KEY, true);
  return (
    `IF(${quick} <= ${room}, JSON_OBJECT(${plain.join(', ')}), ` +
    `IF(${total} <= ${room}, JSON_OBJECT(${large(false).join(', ')}, ${omittedKey}, JSON_ARRAY()), ` +
    `JSON_OBJECT(${large(true).join(', ')}, ${omittedKey}, ${omitted})))`
  );
}

/**
 * One column's argument to MariaDB's JSON_OBJECT: utf8mb4 text or a number whatever the column's type, so the
 * image is valid JSON in valid UTF-8 and the trigger cannot fail the legacy write (see MysqlRendering).
 */
function mysqlValueSql(column: ColumnKind, ref: string): string {
  switch (column.render) {
    case 'utf8':
      return `CONVERT(${ref} USING utf8mb4)`;
    case 'base64':
      return `TO_BASE64(${ref})`;
    case 'bits':
      return `LPAD(BIN(${ref}), ${column.bits ?? 1}, '0')`;
    case 'wkt':
      return `ST_AsText(${ref})`;
    case 'epoch':
      // The zero timestamp (allowed without NO_ZERO_DATE) is no instant: it is passed as written. (In a
      // trigger UNIX_TIMESTAMP gives NULL for it, in a SELECT 0.)
      return `COALESCE(NULLIF(UNIX_TIMESTAMP(${ref}), 0), CAST(${ref} AS CHAR))`;
    default:
      return ref;
  }
}

export const IMAGE_ALIAS = '__ferry_image';

/** One snapshot chunk: rows after `after` (a key) in key order, each as a JSON image. */
export function snapshotChunkQuery(
  dataSource: DataSource,
  dialect: Dialect,
  table: CapturedTable,
  after: Record<string, unknown> | null,
  limit: number,
): { sql: string; params: unknown[] } {
  const keys = table.config.key.map((k) => dialect.escape(k));
  const params: unknown[] = [];
  const p = (value: unknown) => {
    params.push(value);
    return param(dataSource, params.length - 1);
  };
  let where = '';
  if (after !== null) {
    const values = table.config.key.map((k) => p(after[k]));
    where =
      keys.length === 1
        ? `WHERE ${keys[0]} > ${values[0]}`
        : `WHERE (${keys.join(', ')}) > (${values.join(', ')})`;
  }
  // Rendered as text: drivers would otherwise parse JSON results themselves and round the numbers.
  const image =
    dialect.name === 'postgres'
      ? 'to_json(t)::text'
      : dialect.name === 'mysql'
        ? `CAST(${imageSql(dialect, table, 't')} AS CHAR)`
        : imageSql(dialect, table, 't');
  const sql = `SELECT ${image} AS ${dialect.escape(IMAGE_ALIAS)} FROM ${table.sql} t ${where} ORDER BY ${keys.map((k) => `t.${k}`).join(', ')} LIMIT ${p(limit)}`;
  return { sql, params };
}

/** A snapshot row's values, and the columns the database left out of its image (too large for a packet). */
export function decodeSnapshotRow(
  row: Row,
  table: CapturedTable,
): { values: Record<string, unknown>; omitted: string[] } {
  return (
    decodeImageParts(row[IMAGE_ALIAS] as string, table.kinds, { stream: table.stream, from: 'snapshot' }) ?? {
      values: {},
      omitted: [],
    }
  );
}

/** Say which records carry values the database left out of their image (MariaDB, larger than a packet). */
export function warnOmitted(records: readonly ChangeRecord[], log: Logger): void {
  for (const record of records) {
    if (record.origin.omitted === undefined) continue;
    log.warn(
      { stream: record.stream, key: record.key, origin: record.origin },
      'values too large for max_allowed_packet were left out of the row image and are null in this record; ' +
        'raise max_allowed_packet (global) to capture them',
    );
  }
}

export function keyOf(
  image: Record<string, unknown> | undefined,
  table: CapturedTable,
): Record<string, unknown> {
  const key: Record<string, unknown> = {};
  for (const name of table.config.key) key[name] = image?.[name] ?? null;
  return key;
}

// ---- The trigger journal ----

export interface JournalNames {
  /** Escaped, qualified journal table. */
  table: string;
  /** Escaped, qualified PostgreSQL trigger function. */
  fn: string;
  triggerPrefix: string;
}

function shortHash(text: string): string {
  return createHash('sha1').update(text).digest('hex').slice(0, 10);
}

export async function journalNames(
  dataSource: DataSource,
  dialect: Dialect,
  journal: { table: string; schema?: string | undefined },
): Promise<JournalNames> {
  let schema = journal.schema;
  if (schema === undefined && dialect.name === 'postgres') {
    // The trigger function runs with a fixed search_path, so it names the journal's schema itself.
    const [row] = (await dataSource.query('SELECT current_schema() AS s')) as Row[];
    schema = String(row?.s);
  }
  const table = qualified(dialect, journal.table, dialect.name === 'sqlite' ? undefined : schema);
  const hash = shortHash(`${schema ?? ''}.${journal.table}`);
  return {
    table,
    fn: qualified(dialect, `ferry_capture_${hash}`, schema),
    triggerPrefix: `ferry_${hash}`,
  };
}

function triggerName(names: JournalNames, table: CapturedTable, suffix: string): string {
  return `${names.triggerPrefix}_${shortHash(table.stream)}_${suffix}`;
}

/** The statements that create the journal and the triggers (idempotent: existing triggers are replaced). */
export function installStatements(dialect: Dialect, names: JournalNames, tables: CapturedTable[]): string[] {
  const q = (name: string) => dialect.escape(name);
  const statements: string[] = [];
  if (dialect.name === 'postgres') {
    statements.push(
      `CREATE TABLE IF NOT EXISTS ${names.table} (
         seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         stream TEXT NOT NULL,
         op CHAR(1) NOT NULL,
         before_image JSON,
         after_image JSON,
         changed_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())`,
      // SECURITY DEFINER: the legacy application's users need no privilege on the journal.
      `CREATE OR REPLACE FUNCTION ${names.fn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
         SET search_path = pg_catalog, pg_temp AS $ferry$
       BEGIN
         IF TG_OP = 'INSERT' THEN
           INSERT INTO ${names.table} (stream, op, after_image) VALUES (TG_ARGV[0], 'c', to_json(NEW));
         ELSIF TG_OP = 'UPDATE' THEN
           INSERT INTO ${names.table} (stream, op, before_image, after_image) VALUES (TG_ARGV[0], 'u', to_json(OLD), to_json(NEW));
         ELSIF TG_OP = 'DELETE' THEN
           INSERT INTO ${names.table} (stream, op, before_image) VALUES (TG_ARGV[0], 'd', to_json(OLD));
         ELSE
           INSERT INTO ${names.table} (stream, op) VALUES (TG_ARGV[0], 't');
         END IF;
         RETURN NULL;
       END
       $ferry$`,
    );
    for (const table of tables) {
      const row = q(triggerName(names, table, 'row'));
      const truncate = q(triggerName(names, table, 'truncate'));
      const stream = sqlString(table.stream, false);
      statements.push(
        `DROP TRIGGER IF EXISTS ${row} ON ${table.sql}`,
        `CREATE TRIGGER ${row} AFTER INSERT OR UPDATE OR DELETE ON ${table.sql} FOR EACH ROW EXECUTE FUNCTION ${names.fn}(${stream})`,
        `DROP TRIGGER IF EXISTS ${truncate} ON ${table.sql}`,
        `CREATE TRIGGER ${truncate} AFTER TRUNCATE ON ${table.sql} FOR EACH STATEMENT EXECUTE FUNCTION ${names.fn}(${stream})`,
      );
    }
    return statements;
  }
  if (dialect.name === 'mysql') {
    // Images are bytes, not text: a utf8mb4 column refuses bytes that are not UTF-8, and with them the legacy
    // write; whatever a trigger renders is stored, and the reader says which column it cannot decode.
    statements.push(
      `CREATE TABLE IF NOT EXISTS ${names.table} (
         seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
         stream VARCHAR(255) NOT NULL,
         op CHAR(1) NOT NULL,
         before_image LONGBLOB NULL,
         after_image LONGBLOB NULL,
         changed_at DATETIME(6) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    );
    for (const table of tables) {
      const schema = table.config.schema === undefined ? '' : `${q(table.config.schema)}.`;
      const stream = sqlString(table.stream, true);
      const events: [string, string, string, string][] = [
        ['INSERT', 'i', "'c'", `NULL, ${imageSql(dialect, table, 'NEW')}`],
        ['UPDATE', 'u', "'u'", `${imageSql(dialect, table, 'OLD')}, ${imageSql(dialect, table, 'NEW')}`],
        ['DELETE', 'd', "'d'", `${imageSql(dialect, table, 'OLD')}, NULL`],
      ];
      for (const [event, suffix, op, images] of events) {
        const name = `${schema}${q(triggerName(names, table, suffix))}`;
        statements.push(
          `DROP TRIGGER IF EXISTS ${name}`,
          `CREATE TRIGGER ${name} AFTER ${event} ON ${table.sql} FOR EACH ROW
             INSERT INTO ${names.table} (stream, op, before_image, after_image, changed_at)
             VALUES (${stream}, ${op}, ${images}, UTC_TIMESTAMP(6))`,
        );
      }
    }
    return statements;
  }
  statements.push(
    `CREATE TABLE IF NOT EXISTS ${names.table} (
       seq INTEGER PRIMARY KEY AUTOINCREMENT,
       stream TEXT NOT NULL,
       op TEXT NOT NULL,
       before_image TEXT,
       after_image TEXT,
       changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))`,
  );
  for (const table of tables) {
    const stream = sqlString(table.stream, false);
    const events: [string, string, string, string][] = [
      ['INSERT', 'i', "'c'", `NULL, ${imageSql(dialect, table, 'NEW')}`],
      ['UPDATE', 'u', "'u'", `${imageSql(dialect, table, 'OLD')}, ${imageSql(dialect, table, 'NEW')}`],
      ['DELETE', 'd', "'d'", `${imageSql(dialect, table, 'OLD')}, NULL`],
    ];
    for (const [event, suffix, op, images] of events) {
      const name = q(triggerName(names, table, suffix));
      statements.push(
        `DROP TRIGGER IF EXISTS ${name}`,
        `CREATE TRIGGER ${name} AFTER ${event} ON ${q(table.config.name)} BEGIN
           INSERT INTO ${names.table} (stream, op, before_image, after_image) VALUES (${stream}, ${op}, ${images});
         END`,
      );
    }
  }
  return statements;
}

/**
 * A journal created before images were bytes (LONGTEXT) is changed to LONGBLOB when the triggers are
 * installed again; an empty list when it is already bytes or does not exist.
 */
export async function journalUpgradeStatements(
  dataSource: DataSource,
  dialect: Dialect,
  names: JournalNames,
  journal: { table: string; schema?: string | undefined },
): Promise<string[]> {
  if (dialect.name !== 'mysql') return [];
  const rows = (await dataSource.query(
    `SELECT DATA_TYPE AS dt FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME = 'after_image'`,
    [journal.schema ?? null, journal.table],
  )) as Row[];
  const type = rows[0]?.dt;
  if (type == null || String(type).toLowerCase() === 'longblob') return [];
  return [`ALTER TABLE ${names.table} MODIFY before_image LONGBLOB NULL, MODIFY after_image LONGBLOB NULL`];
}

/** The statements that remove the triggers (and, when asked, the journal). */
export function uninstallStatements(
  dialect: Dialect,
  names: JournalNames,
  tables: CapturedTable[],
  dropJournal: boolean,
): string[] {
  const q = (name: string) => dialect.escape(name);
  const statements: string[] = [];
  for (const table of tables) {
    if (dialect.name === 'postgres') {
      statements.push(
        `DROP TRIGGER IF EXISTS ${q(triggerName(names, table, 'row'))} ON ${table.sql}`,
        `DROP TRIGGER IF EXISTS ${q(triggerName(names, table, 'truncate'))} ON ${table.sql}`,
      );
    } else {
      const schema =
        dialect.name === 'mysql' && table.config.schema !== undefined ? `${q(table.config.schema)}.` : '';
      for (const suffix of ['i', 'u', 'd'])
        statements.push(`DROP TRIGGER IF EXISTS ${schema}${q(triggerName(names, table, suffix))}`);
    }
  }
  if (dropJournal) {
    statements.push(`DROP TABLE IF EXISTS ${names.table}`);
    if (dialect.name === 'postgres') statements.push(`DROP FUNCTION IF EXISTS ${names.fn}()`);
  }
  return statements;
}

/** Streams whose triggers are missing, or `journal` when the journal table itself is; empty when all is set. */
export async function missingCapture(
  dataSource: DataSource,
  dialect: Dialect,
  names: JournalNames,
  tables: CapturedTable[],
): Promise<string[]> {
  const missing: string[] = [];
  try {
    await dataSource.query(`SELECT seq FROM ${names.table} WHERE 1 = 0`);
  } catch {
    missing.push('journal');
  }
  for (const table of tables) {
    let found: Set<string>;
    if (dialect.name === 'postgres') {
      const rows = (await dataSource.query(
        `SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(${param(dataSource, 0)}) AND NOT tgisinternal`,
        [table.sql],
      )) as Row[];
      found = new Set(rows.map((r) => String(r.tgname)));
      if (!found.has(triggerName(names, table, 'row'))) missing.push(table.stream);
    } else if (dialect.name === 'mysql') {
      // information_schema.TRIGGERS lists only triggers of tables the user holds TRIGGER on, so a
      // least-privileged reader cannot check; an empty list is taken as "cannot tell".
      const rows = (await dataSource.query(
        `SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS
          WHERE EVENT_OBJECT_SCHEMA = COALESCE(?, DATABASE()) AND EVENT_OBJECT_TABLE = ?`,
        [table.config.schema ?? null, table.config.name],
      )) as Row[];
      found = new Set(rows.map((r) => String(r.name)));
      if (found.size > 0 && !found.has(triggerName(names, table, 'i'))) missing.push(table.stream);
    } else {
      const rows = (await dataSource.query(
        `SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?`,
        [table.config.name],
      )) as Row[];
      found = new Set(rows.map((r) => String(r.name)));
      if (!found.has(triggerName(names, table, 'i'))) missing.push(table.stream);
    }
  }
  return missing;
}
