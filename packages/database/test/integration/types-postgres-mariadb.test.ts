// One test per row of the value table in docs/database.md, on the real PostgreSQL and MariaDB, through every
// path a value can take: polling (driver values), the snapshot (a JSON image rendered by the database), the
// trigger journal (a JSON image written by a trigger) and, on PostgreSQL, pgoutput (column text), on MariaDB
// the binary log (row events).
import { randomBytes } from 'node:crypto';
import type { ChangeRecord } from '@ferry/core/sdk';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import {
  createDatabaseSource,
  type DatabaseSourceConfigInput,
  dropDatabaseSlot,
  installDatabaseTriggers,
  parseDatabaseSourceConfig,
  uninstallDatabaseTriggers,
} from '../../src/index.js';
import { readOnce } from '../helpers.js';

interface TypeRow {
  /** The row of the docs table this covers. */
  row: string;
  column: string;
  type: string;
  /** SQL literal inserted. */
  literal: string;
  expected: unknown;
}

/** A timestamp without time zone is read in the process's time zone (TZ), microseconds kept. */
function naive(y: number, mo: number, d: number, h: number, mi: number, s: number, micros: string): string {
  return new Date(y, mo - 1, d, h, mi, s).toISOString().replace('.000Z', `.${micros}Z`);
}

const postgresTypes: TypeRow[] = [
  { row: 'smallint, integer', column: 'c_int2', type: 'SMALLINT', literal: '-7', expected: -7 },
  {
    row: 'smallint, integer',
    column: 'c_int4',
    type: 'INTEGER',
    literal: '2147483647',
    expected: 2147483647,
  },
  {
    row: 'bigint',
    column: 'c_int8',
    type: 'BIGINT',
    literal: '9007199254740993',
    expected: '9007199254740993',
  },
  {
    row: 'numeric/decimal',
    column: 'c_num',
    type: 'NUMERIC(30,10)',
    literal: '12345678901234567890.0123456789',
    expected: '12345678901234567890.0123456789',
  },
  { row: 'numeric/decimal', column: 'c_num2', type: 'NUMERIC(14,2)', literal: '1.50', expected: '1.50' },
  { row: 'money', column: 'c_money', type: 'MONEY', literal: "'1.50'", expected: '$1.50' },
  { row: 'real, double', column: 'c_float4', type: 'REAL', literal: '1.5', expected: 1.5 },
  { row: 'real, double', column: 'c_float8', type: 'DOUBLE PRECISION', literal: '0.1', expected: 0.1 },
  { row: 'real, double', column: 'c_nan', type: 'DOUBLE PRECISION', literal: "'NaN'", expected: 'NaN' },
  { row: 'boolean', column: 'c_bool', type: 'BOOLEAN', literal: 'true', expected: true },
  {
    row: 'timestamp without time zone',
    column: 'c_ts',
    type: 'TIMESTAMP(6)',
    literal: "'2024-01-01 10:00:00.123456'",
    expected: naive(2024, 1, 1, 10, 0, 0, '123456'),
  },
  {
    row: 'timestamptz',
    column: 'c_tstz',
    type: 'TIMESTAMPTZ(6)',
    literal: "'2024-01-01 10:00:00.123456+01'",
    expected: '2024-01-01T09:00:00.123456Z',
  },
  { row: 'date', column: 'c_date', type: 'DATE', literal: "'2024-02-29'", expected: '2024-02-29' },
  { row: 'time', column: 'c_time', type: 'TIME', literal: "'13:45:00.5'", expected: '13:45:00.5' },
  { row: 'timetz', column: 'c_timetz', type: 'TIMETZ', literal: "'13:45:00+02'", expected: '13:45:00+02' },
  {
    row: 'interval',
    column: 'c_interval',
    type: 'INTERVAL',
    literal: "'1 day 02:00:00'",
    expected: '1 day 02:00:00',
  },
  { row: 'bytea', column: 'c_bytea', type: 'BYTEA', literal: "'\\xdeadbeef'", expected: '3q2+7w==' },
  {
    row: 'json',
    column: 'c_json',
    type: 'JSON',
    literal: `'{"a": [1, "x"], "b": null}'`,
    expected: { a: [1, 'x'], b: null },
  },
  { row: 'jsonb', column: 'c_jsonb', type: 'JSONB', literal: `'{"n": 2.5}'`, expected: { n: 2.5 } },
  { row: 'arrays', column: 'c_int_arr', type: 'INTEGER[]', literal: "'{1,2,3}'", expected: [1, 2, 3] },
  {
    row: 'arrays',
    column: 'c_text_arr',
    type: 'TEXT[]',
    literal: `'{"a b",NULL,"c,d"}'`,
    expected: ['a b', null, 'c,d'],
  },
  { row: 'arrays', column: 'c_num_arr', type: 'NUMERIC[]', literal: "'{1.10,2}'", expected: ['1.10', '2'] },
  { row: 'enums', column: 'c_enum', type: 'ENUM_TYPE', literal: "'happy'", expected: 'happy' },
  {
    row: 'uuid',
    column: 'c_uuid',
    type: 'UUID',
    literal: "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
    expected: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  },
  { row: 'text, varchar', column: 'c_text', type: 'TEXT', literal: '\'héllo "q"\'', expected: 'héllo "q"' },
  { row: 'char(n)', column: 'c_char', type: 'CHAR(5)', literal: "'ab'", expected: 'ab   ' },
  { row: 'NULL / empty string', column: 'c_empty', type: 'VARCHAR(10)', literal: "''", expected: '' },
  { row: 'NULL / empty string', column: 'c_null', type: 'VARCHAR(10)', literal: 'NULL', expected: null },
];

const mariadbTypes: TypeRow[] = [
  { row: 'smallint, integer', column: 'c_tiny', type: 'TINYINT', literal: '-7', expected: -7 },
  { row: 'smallint, integer', column: 'c_int', type: 'INT', literal: '2147483647', expected: 2147483647 },
  {
    row: 'bigint',
    column: 'c_int8',
    type: 'BIGINT',
    literal: '9007199254740993',
    expected: '9007199254740993',
  },
  {
    row: 'numeric/decimal',
    column: 'c_num',
    type: 'DECIMAL(30,10)',
    literal: '12345678901234567890.0123456789',
    expected: '12345678901234567890.0123456789',
  },
  { row: 'numeric/decimal', column: 'c_num2', type: 'DECIMAL(14,2)', literal: '1.50', expected: '1.50' },
  { row: 'real, double', column: 'c_double', type: 'DOUBLE', literal: '0.1', expected: 0.1 },
  { row: 'boolean', column: 'c_bool', type: 'BOOLEAN', literal: 'TRUE', expected: true },
  {
    row: 'timestamp without time zone',
    column: 'c_dt',
    type: 'DATETIME(6)',
    literal: "'2024-01-01 10:00:00.123456'",
    expected: naive(2024, 1, 1, 10, 0, 0, '123456'),
  },
  {
    row: 'timestamptz',
    column: 'c_ts',
    type: 'TIMESTAMP(6) NULL',
    literal: 'FROM_UNIXTIME(1704099600.123456)',
    expected: '2024-01-01T09:00:00.123456Z',
  },
  { row: 'date', column: 'c_date', type: 'DATE', literal: "'2024-02-29'", expected: '2024-02-29' },
  { row: 'time', column: 'c_time', type: 'TIME(1)', literal: "'13:45:00.5'", expected: '13:45:00.5' },
  { row: 'bytea', column: 'c_blob', type: 'BLOB', literal: "X'DEADBEEF'", expected: '3q2+7w==' },
  { row: 'json', column: 'c_json', type: 'JSON', literal: `'{"a": 1}'`, expected: { a: 1 } },
  { row: 'enums', column: 'c_enum', type: "ENUM('sad','happy')", literal: "'happy'", expected: 'happy' },
  { row: 'text, varchar', column: 'c_text', type: 'TEXT', literal: '\'héllo "q"\'', expected: 'héllo "q"' },
  { row: 'char(n)', column: 'c_char', type: 'CHAR(5)', literal: "'ab'", expected: 'ab' },
  { row: 'NULL / empty string', column: 'c_empty', type: 'VARCHAR(10)', literal: "''", expected: '' },
  { row: 'NULL / empty string', column: 'c_null', type: 'VARCHAR(10)', literal: 'NULL', expected: null },
  {
    row: 'bigint (unsigned maximum)',
    column: 'c_uint8',
    type: 'BIGINT UNSIGNED',
    literal: '18446744073709551615',
    expected: '18446744073709551615',
  },
  { row: 'bit(n)', column: 'c_bit', type: 'BIT(8)', literal: "b'101'", expected: '00000101' },
  { row: 'bit(n)', column: 'c_bit1', type: 'BIT(1)', literal: "b'1'", expected: '1' },
  { row: 'MariaDB YEAR', column: 'c_year', type: 'YEAR', literal: '2024', expected: 2024 },
  { row: 'MariaDB SET', column: 'c_set', type: "SET('a','ö','c')", literal: "'a,ö'", expected: 'a,ö' },
  { row: 'MariaDB SET', column: 'c_set0', type: "SET('a','b')", literal: "''", expected: '' },
  {
    row: 'MariaDB GEOMETRY',
    column: 'c_point',
    type: 'POINT',
    literal: "ST_GeomFromText('POINT(1.5 -2)')",
    expected: 'POINT(1.5 -2)',
  },
  {
    row: 'MariaDB GEOMETRY',
    column: 'c_geom',
    type: 'GEOMETRY',
    literal: "ST_GeomFromText('MULTIPOINT(1 2,3 4)')",
    expected: 'MULTIPOINT(1 2,3 4)',
  },
  {
    row: 'MariaDB GEOMETRY',
    column: 'c_poly',
    type: 'POLYGON',
    literal: "ST_GeomFromText('POLYGON((0 0,4 0,4 4,0 0))')",
    expected: 'POLYGON((0 0,4 0,4 4,0 0))',
  },
  {
    row: 'MariaDB GEOMETRY',
    column: 'c_coll',
    type: 'GEOMETRYCOLLECTION',
    literal:
      "ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1e15 0.0000125),LINESTRING(0 0,1.5e-16 -2.5e300),MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((2 2,3 2,3 3,2 2))),MULTILINESTRING((0 0,1 1),(2 2,3 3)))')",
    expected:
      'GEOMETRYCOLLECTION(POINT(1e15 0.0000125),LINESTRING(0 0,1.5e-16 -2.5e300),MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((2 2,3 2,3 3,2 2))),MULTILINESTRING((0 0,1 1),(2 2,3 3)))',
  },
  {
    row: 'MariaDB UUID',
    column: 'c_uuid',
    type: 'UUID',
    literal: "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
    expected: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  },
  {
    row: 'MariaDB INET6',
    column: 'c_inet6',
    type: 'INET6',
    literal: "'2001:db8::1'",
    expected: '2001:db8::1',
  },
  {
    row: 'text in another charset',
    column: 'c_latin1',
    type: 'VARCHAR(20) CHARACTER SET latin1',
    literal: "'héllo €'",
    expected: 'héllo €',
  },
  {
    row: 'text, varchar (binary collation)',
    column: 'c_bin_coll',
    type: 'VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin',
    literal: "'Ab ü'",
    expected: 'Ab ü',
  },
  { row: 'bytea', column: 'c_varbin', type: 'VARBINARY(8)', literal: "X'00FF81'", expected: 'AP+B' },
  { row: 'zero dates', column: 'c_zero_date', type: 'DATE', literal: "'0000-00-00'", expected: '0000-00-00' },
  {
    row: 'zero dates',
    column: 'c_zero_dt',
    type: 'DATETIME',
    literal: "'0000-00-00 00:00:00'",
    expected: '0000-00-00 00:00:00',
  },
  {
    row: 'zero dates',
    column: 'c_zero_ts',
    type: 'TIMESTAMP NULL',
    literal: "'0000-00-00 00:00:00'",
    expected: '0000-00-00 00:00:00',
  },
  { row: 'MariaDB YEAR', column: 'c_year0', type: 'YEAR', literal: "'0000'", expected: 0 },
  {
    row: 'json (nested, large numbers)',
    column: 'c_json2',
    type: 'JSON',
    literal: `'{"n": [1, 2.5, true, null], "s": "x"}'`,
    expected: { n: [1, 2.5, true, null], s: 'x' },
  },
];

const backends = [
  { type: 'postgres' as const, types: postgresTypes },
  { type: 'mariadb' as const, types: mariadbTypes },
];

describe.each(backends)('database values: $type', ({ type, types }) => {
  const { host, port, user, password, database } = services[type];
  const connection = { type, host, port, username: user, password, database } as const;
  const suffix = randomBytes(4).toString('hex');
  const table = `ferry_types_${suffix}`;
  const enumType = `ferry_mood_${suffix}`;
  const journal = `ferry_types_journal_${suffix}`;
  let admin: DataSource;
  /** After images by path, for the row with id 1 (values) and id 2 (all NULL but the key). */
  const images = new Map<string, Record<string, unknown>>();

  const columnType = (t: TypeRow) => (t.type === 'ENUM_TYPE' ? enumType : t.type);
  const insert = async (id: number) => {
    // Zero dates are refused by the default sql_mode; legacy databases that hold them run without it.
    if (type === 'mariadb') await admin.query("SET SESSION sql_mode = ''");
    return admin.query(
      `INSERT INTO ${table} (id, ${types.map((t) => t.column).join(', ')}) VALUES (${id}, ${types.map((t) => t.literal).join(', ')})`,
    );
  };
  const base = { connection, tables: [{ name: table, key: ['id'] }] };

  beforeAll(async () => {
    admin = new DataSource({ ...connection, logging: false });
    await admin.initialize();
    if (type === 'postgres') await admin.query(`CREATE TYPE ${enumType} AS ENUM ('sad', 'happy')`);
    await admin.query(
      `CREATE TABLE ${table} (id BIGINT PRIMARY KEY, ${types.map((t) => `${t.column} ${columnType(t)}`).join(', ')})`,
    );
    await insert(1);
    const after = (records: ChangeRecord[], id: string) => {
      const record = records.find((r) => String(r.key.id) === id);
      if (record?.after === undefined) throw new Error(`no record for id ${id}`);
      return record.after;
    };

    // polling
    const polling = createDatabaseSource({
      ...base,
      tables: [{ name: table, key: ['id'], incrementingColumn: 'id' }],
    } as DatabaseSourceConfigInput);
    try {
      images.set('polling', after((await readOnce(polling as never)).records, '1'));
    } finally {
      await polling.close();
    }

    // trigger: the snapshot reads id 1, the journal id 101
    const triggerConfig = {
      ...base,
      mode: 'trigger',
      journal: { table: journal },
    } as DatabaseSourceConfigInput;
    await installDatabaseTriggers(parseDatabaseSourceConfig(triggerConfig));
    const trigger = createDatabaseSource(triggerConfig);
    try {
      const first = await readOnce(trigger as never);
      images.set('snapshot', after(first.records, '1'));
      await insert(101);
      const second = await readOnce(trigger as never, first.position);
      images.set('trigger', after(second.records, '101'));
    } finally {
      await trigger.close();
    }

    if (type === 'mariadb') {
      const binlog = createDatabaseSource({
        ...base,
        mode: 'binlog',
        serverId: 300_000 + Number.parseInt(suffix.slice(0, 4), 16),
      } as DatabaseSourceConfigInput);
      try {
        const first = await readOnce(binlog as never);
        await insert(301);
        const streamed = await readOnce(binlog as never, first.position);
        images.set('binlog', after(streamed.records, '301'));
      } finally {
        await binlog.close();
      }
    }

    if (type === 'postgres') {
      const logicalConfig = {
        ...base,
        mode: 'logical',
        slot: `ferry_types_${suffix}`,
        publication: `ferry_types_${suffix}`,
        createSlot: true,
        snapshot: 'never',
      } as DatabaseSourceConfigInput;
      const logical = createDatabaseSource(logicalConfig);
      try {
        await readOnce(logical as never); // creates the slot
        await insert(201);
        const streamed = await readOnce(logical as never);
        images.set('pgoutput', after(streamed.records, '201'));
      } finally {
        await logical.close();
        await dropDatabaseSlot(parseDatabaseSourceConfig(logicalConfig), {}, { dropPublication: true });
      }
    }
    await uninstallDatabaseTriggers(parseDatabaseSourceConfig(triggerConfig), {}, { dropJournal: true });
  }, 120_000);

  afterAll(async () => {
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    if (type === 'postgres') await admin.query(`DROP TYPE IF EXISTS ${enumType}`);
    await admin.destroy();
  });

  const paths =
    type === 'postgres'
      ? ['polling', 'snapshot', 'trigger', 'pgoutput']
      : ['polling', 'snapshot', 'trigger', 'binlog'];
  it.each(types)('$row: $type', (t) => {
    const got = Object.fromEntries(paths.map((path) => [path, images.get(path)?.[t.column]]));
    expect(got).toEqual(Object.fromEntries(paths.map((path) => [path, t.expected])));
  });
});
