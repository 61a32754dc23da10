// First, do no harm (issue 16): with triggers installed on a table holding one column of every type the
// server offers, the legacy application's own INSERT, UPDATE and DELETE of real values ('Zoë', 'Ørsted',
// emoji, bytes that are not UTF-8 in a latin1 column, BIT, SET, GEOMETRY, NULLs) must all succeed, and the
// snapshot, the journal and polling must carry every value exactly, in the representation docs/database.md
// documents for its type.
import { randomBytes } from 'node:crypto';
import type { ChangeRecord } from '@ferry/core/sdk';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import {
  createDatabaseSource,
  type DatabaseSourceConfigInput,
  installDatabaseTriggers,
  parseDatabaseSourceConfig,
  type TriggerPosition,
  uninstallDatabaseTriggers,
} from '../../src/index.js';
import { readOnce } from '../helpers.js';

interface TypeRow {
  column: string;
  type: string;
  /** SQL of the value inserted (and, when `update` is given, of the value the UPDATE writes). */
  insert: string;
  update?: string;
  expected: unknown;
  expectedUpdate?: unknown;
}

/** A timestamp without time zone is read in the process's time zone (TZ), microseconds kept. */
function naive(y: number, mo: number, d: number, h: number, mi: number, s: number, micros: string): string {
  return new Date(y, mo - 1, d, h, mi, s).toISOString().replace('.000Z', `.${micros}Z`);
}

/** Long enough to need more than one packet-sized buffer, with 2- and 4-byte characters in it. */
const LONG_REPEAT = 200_000;
const LONG = 'Zoë🦀'.repeat(LONG_REPEAT);
const BLOB = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) % 256));

const mariadbTypes: TypeRow[] = [
  {
    column: 'c_tinyint',
    type: 'TINYINT',
    insert: '-128',
    update: '127',
    expected: -128,
    expectedUpdate: 127,
  },
  { column: 'c_tinyint_u', type: 'TINYINT UNSIGNED', insert: '255', expected: 255 },
  { column: 'c_smallint', type: 'SMALLINT', insert: '-32768', expected: -32768 },
  { column: 'c_mediumint', type: 'MEDIUMINT', insert: '8388607', expected: 8388607 },
  { column: 'c_int', type: 'INT', insert: '-2147483648', expected: -2147483648 },
  { column: 'c_int_u', type: 'INT UNSIGNED', insert: '4294967295', expected: 4294967295 },
  {
    column: 'c_bigint',
    type: 'BIGINT',
    insert: '-9223372036854775808',
    expected: '-9223372036854775808',
  },
  {
    column: 'c_bigint_u',
    type: 'BIGINT UNSIGNED',
    insert: '18446744073709551615',
    update: '0',
    expected: '18446744073709551615',
    expectedUpdate: '0',
  },
  {
    column: 'c_bool',
    type: 'BOOLEAN',
    insert: 'TRUE',
    update: 'FALSE',
    expected: true,
    expectedUpdate: false,
  },
  {
    column: 'c_decimal',
    type: 'DECIMAL(30,10)',
    insert: '-12345678901234567890.0123456789',
    expected: '-12345678901234567890.0123456789',
  },
  { column: 'c_float', type: 'FLOAT', insert: '1.5', update: '-0.25', expected: 1.5, expectedUpdate: -0.25 },
  {
    column: 'c_double',
    type: 'DOUBLE',
    insert: '0.1',
    update: '1e308',
    expected: 0.1,
    expectedUpdate: 1e308,
  },
  { column: 'c_bit1', type: 'BIT(1)', insert: "b'1'", update: "b'0'", expected: '1', expectedUpdate: '0' },
  {
    column: 'c_bit8',
    type: 'BIT(8)',
    insert: "b'10100101'",
    update: "b'1'",
    expected: '10100101',
    expectedUpdate: '00000001',
  },
  {
    column: 'c_bit64',
    type: 'BIT(64)',
    insert: `b'${'1'.repeat(64)}'`,
    update: "b'0'",
    expected: '1'.repeat(64),
    expectedUpdate: '0'.repeat(64),
  },
  { column: 'c_char', type: 'CHAR(10)', insert: "'Zoë'", expected: 'Zoë' },
  {
    column: 'c_varchar',
    type: 'VARCHAR(100)',
    insert: "'Ørsted'",
    update: "'Zoë'",
    expected: 'Ørsted',
    expectedUpdate: 'Zoë',
  },
  {
    column: 'c_emoji',
    type: 'VARCHAR(30)',
    insert: "'🦀 crab 👍🏽'",
    update: "'𝄞'",
    expected: '🦀 crab 👍🏽',
    expectedUpdate: '𝄞',
  },
  {
    column: 'c_text',
    type: 'TEXT',
    insert: `'quote " back \\\\ nl \\n tab \\t nul \\0 end'`,
    expected: 'quote " back \\ nl \n tab \t nul \u0000 end',
  },
  { column: 'c_longtext', type: 'LONGTEXT', insert: `REPEAT('Zoë🦀', ${LONG_REPEAT})`, expected: LONG },
  {
    column: 'c_utf8mb3',
    type: 'VARCHAR(20) CHARACTER SET utf8mb3',
    insert: "'Zoë Ørsted'",
    expected: 'Zoë Ørsted',
  },
  {
    // Bytes that are not valid UTF-8, as a latin1 (cp1252) application stores them: é ÿ € and the
    // undefined 0x81.
    column: 'c_latin1',
    type: 'VARCHAR(20) CHARACTER SET latin1',
    insert: "X'E9FF8081'",
    update: "X'5A6FEB'",
    expected: 'éÿ€\u0081',
    expectedUpdate: 'Zoë',
  },
  {
    column: 'c_latin1_text',
    type: 'TEXT CHARACTER SET latin1',
    insert: "X'D8727374656420'",
    expected: 'Ørsted ',
  },
  // Charsets SQL cannot convert without a possible error: their bytes are sent and decoded by Ferry.
  {
    column: 'c_cp1251',
    type: 'VARCHAR(20) CHARACTER SET cp1251',
    insert: "'Привет'",
    expected: 'Привет',
  },
  { column: 'c_sjis', type: 'VARCHAR(20) CHARACTER SET sjis', insert: "'日本語'", expected: '日本語' },
  // A charset Node has no decoder for: base64 of its bytes.
  { column: 'c_dec8', type: 'VARCHAR(20) CHARACTER SET dec8', insert: "'abc'", expected: 'YWJj' },
  { column: 'c_binary', type: 'BINARY(4)', insert: "X'DEADBEEF'", expected: '3q2+7w==' },
  {
    column: 'c_varbinary',
    type: 'VARBINARY(100)',
    insert: "X'00FF'",
    update: "''",
    expected: 'AP8=',
    expectedUpdate: '',
  },
  { column: 'c_blob', type: 'BLOB', insert: `X'${BLOB.toString('hex')}'`, expected: BLOB.toString('base64') },
  {
    column: 'c_enum',
    type: "ENUM('sad','happy','Zoë')",
    insert: "'Zoë'",
    update: "'sad'",
    expected: 'Zoë',
    expectedUpdate: 'sad',
  },
  {
    column: 'c_set',
    type: "SET('a','b','ö')",
    insert: "'a,ö'",
    update: "''",
    expected: 'a,ö',
    expectedUpdate: '',
  },
  { column: 'c_year', type: 'YEAR', insert: '2024', update: '1901', expected: 2024, expectedUpdate: 1901 },
  { column: 'c_date', type: 'DATE', insert: "'2024-02-29'", expected: '2024-02-29' },
  { column: 'c_time', type: 'TIME(6)', insert: "'-838:59:59.000000'", expected: '-838:59:59.000000' },
  {
    column: 'c_datetime',
    type: 'DATETIME(6)',
    insert: "'2024-01-01 10:00:00.123456'",
    expected: naive(2024, 1, 1, 10, 0, 0, '123456'),
  },
  {
    column: 'c_timestamp',
    type: 'TIMESTAMP(6) NULL',
    insert: 'FROM_UNIXTIME(1704099600.123456)',
    expected: '2024-01-01T09:00:00.123456Z',
  },
  // The server's sql_mode here allows zero dates (no NO_ZERO_DATE): they pass through as written.
  { column: 'c_zero_date', type: 'DATE', insert: "'0000-00-00'", expected: '0000-00-00' },
  {
    column: 'c_zero_datetime',
    type: 'DATETIME',
    insert: "'0000-00-00 00:00:00'",
    expected: '0000-00-00 00:00:00',
  },
  {
    column: 'c_zero_timestamp',
    type: 'TIMESTAMP NULL',
    insert: "'0000-00-00 00:00:00'",
    expected: '0000-00-00 00:00:00',
  },
  {
    column: 'c_json',
    type: 'JSON',
    insert: `'{"a": [1, "x"], "e": "🦀", "z": "Zoë"}'`,
    expected: { a: [1, 'x'], e: '🦀', z: 'Zoë' },
  },
  {
    column: 'c_geometry',
    type: 'GEOMETRY',
    insert: "ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))')",
    expected: 'POLYGON((0 0,1 0,1 1,0 0))',
  },
  { column: 'c_point', type: 'POINT', insert: 'POINT(1.5, -2)', expected: 'POINT(1.5 -2)' },
  {
    column: 'c_linestring',
    type: 'LINESTRING',
    insert: "ST_GeomFromText('LINESTRING(0 0,1 1)')",
    expected: 'LINESTRING(0 0,1 1)',
  },
  {
    column: 'c_uuid',
    type: 'UUID',
    insert: "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
    expected: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  },
  { column: 'c_inet6', type: 'INET6', insert: "'2001:db8::1'", expected: '2001:db8::1' },
  { column: 'c_inet4', type: 'INET4', insert: "'192.0.2.1'", expected: '192.0.2.1' },
];

const postgresTypes: TypeRow[] = [
  { column: 'c_int2', type: 'SMALLINT', insert: '-32768', update: '7', expected: -32768, expectedUpdate: 7 },
  { column: 'c_int4', type: 'INTEGER', insert: '2147483647', expected: 2147483647 },
  {
    column: 'c_int8',
    type: 'BIGINT',
    insert: '-9223372036854775808',
    expected: '-9223372036854775808',
  },
  {
    column: 'c_numeric',
    type: 'NUMERIC(30,10)',
    insert: '12345678901234567890.0123456789',
    expected: '12345678901234567890.0123456789',
  },
  { column: 'c_numeric_nan', type: 'NUMERIC', insert: "'NaN'", expected: 'NaN' },
  { column: 'c_money', type: 'MONEY', insert: "'1.50'", expected: '$1.50' },
  { column: 'c_real', type: 'REAL', insert: '1.5', expected: 1.5 },
  {
    column: 'c_double',
    type: 'DOUBLE PRECISION',
    insert: "'Infinity'",
    update: '0.1',
    expected: 'Infinity',
    expectedUpdate: 0.1,
  },
  {
    column: 'c_bool',
    type: 'BOOLEAN',
    insert: 'true',
    update: 'false',
    expected: true,
    expectedUpdate: false,
  },
  {
    column: 'c_bytea',
    type: 'BYTEA',
    insert: "'\\xdeadbeef'",
    update: "''",
    expected: '3q2+7w==',
    expectedUpdate: '',
  },
  {
    column: 'c_bit',
    type: 'BIT(8)',
    insert: "B'10100101'",
    update: "B'00000001'",
    expected: '10100101',
    expectedUpdate: '00000001',
  },
  { column: 'c_varbit', type: 'BIT VARYING(64)', insert: `B'${'1'.repeat(64)}'`, expected: '1'.repeat(64) },
  { column: 'c_char', type: 'CHAR(5)', insert: "'Zoë'", expected: 'Zoë  ' },
  {
    column: 'c_varchar',
    type: 'VARCHAR(100)',
    insert: "'Ørsted'",
    update: "'Zoë'",
    expected: 'Ørsted',
    expectedUpdate: 'Zoë',
  },
  {
    column: 'c_emoji',
    type: 'TEXT',
    insert: "'🦀 crab 👍🏽'",
    update: "'𝄞'",
    expected: '🦀 crab 👍🏽',
    expectedUpdate: '𝄞',
  },
  {
    column: 'c_text',
    type: 'TEXT',
    insert: `E'quote " back \\\\ nl \\n tab \\t ctl \\x01 end'`,
    expected: 'quote " back \\ nl \n tab \t ctl \u0001 end',
  },
  { column: 'c_longtext', type: 'TEXT', insert: `repeat('Zoë🦀', ${LONG_REPEAT})`, expected: LONG },
  {
    column: 'c_json',
    type: 'JSON',
    insert: `'{"a": [1, "x"], "e": "🦀", "b": null}'`,
    expected: { a: [1, 'x'], e: '🦀', b: null },
  },
  // json (not jsonb) keeps the text as written, \u0000 escapes included.
  { column: 'c_json_nul', type: 'JSON', insert: `'{"a": "x\\u0000y"}'`, expected: { a: 'x\u0000y' } },
  { column: 'c_jsonb', type: 'JSONB', insert: `'{"n": 2.5, "z": "Zoë"}'`, expected: { n: 2.5, z: 'Zoë' } },
  { column: 'c_int_arr', type: 'INTEGER[]', insert: "'{1,2,3}'", expected: [1, 2, 3] },
  {
    column: 'c_int_arr2',
    type: 'INTEGER[][]',
    insert: "'{{1,2},{3,4}}'",
    expected: [
      [1, 2],
      [3, 4],
    ],
  },
  {
    column: 'c_text_arr',
    type: 'TEXT[]',
    insert: `'{"Zoë",NULL,"c,d","🦀"}'`,
    expected: ['Zoë', null, 'c,d', '🦀'],
  },
  { column: 'c_num_arr', type: 'NUMERIC[]', insert: "'{1.10,2}'", expected: ['1.10', '2'] },
  { column: 'c_bytea_arr', type: 'BYTEA[]', insert: "ARRAY['\\xdeadbeef'::bytea]", expected: ['3q2+7w=='] },
  {
    column: 'c_ts',
    type: 'TIMESTAMP(6)',
    insert: "'2024-01-01 10:00:00.123456'",
    expected: naive(2024, 1, 1, 10, 0, 0, '123456'),
  },
  { column: 'c_ts_inf', type: 'TIMESTAMP', insert: "'infinity'", expected: 'infinity' },
  {
    column: 'c_tstz',
    type: 'TIMESTAMPTZ(6)',
    insert: "'2024-01-01 10:00:00.123456+01'",
    expected: '2024-01-01T09:00:00.123456Z',
  },
  { column: 'c_date', type: 'DATE', insert: "'2024-02-29'", expected: '2024-02-29' },
  { column: 'c_time', type: 'TIME', insert: "'13:45:00.5'", expected: '13:45:00.5' },
  { column: 'c_timetz', type: 'TIMETZ', insert: "'13:45:00+02'", expected: '13:45:00+02' },
  { column: 'c_interval', type: 'INTERVAL', insert: "'1 day 02:00:00'", expected: '1 day 02:00:00' },
  {
    column: 'c_uuid',
    type: 'UUID',
    insert: "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
    expected: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  },
  { column: 'c_inet', type: 'INET', insert: "'192.0.2.1/24'", expected: '192.0.2.1/24' },
  { column: 'c_cidr', type: 'CIDR', insert: "'10.0.0.0/8'", expected: '10.0.0.0/8' },
  { column: 'c_macaddr', type: 'MACADDR', insert: "'08:00:2b:01:02:03'", expected: '08:00:2b:01:02:03' },
  { column: 'c_xml', type: 'XML', insert: "'<a>Zoë</a>'", expected: '<a>Zoë</a>' },
  { column: 'c_tsvector', type: 'TSVECTOR', insert: "'Zoë Ørsted'", expected: "'Zoë' 'Ørsted'" },
  { column: 'c_tsquery', type: 'TSQUERY', insert: "'a & b'", expected: "'a' & 'b'" },
  {
    column: 'c_enum',
    type: 'ENUM_TYPE',
    insert: "'Zoë'",
    update: "'sad'",
    expected: 'Zoë',
    expectedUpdate: 'sad',
  },
  { column: 'c_int4range', type: 'INT4RANGE', insert: "'[1,5)'", expected: '[1,5)' },
  {
    column: 'c_tstzrange',
    type: 'TSTZRANGE',
    insert: "'[2024-01-01 00:00+00,2024-01-02 00:00+00)'",
    expected: '["2024-01-01 00:00:00+00","2024-01-02 00:00:00+00")',
  },
  { column: 'c_numrange', type: 'NUMRANGE', insert: "'(1.5,2.5]'", expected: '(1.5,2.5]' },
  { column: 'c_point', type: 'POINT', insert: "'(1.5,-2)'", expected: '(1.5,-2)' },
  { column: 'c_line', type: 'LINE', insert: "'{1,-1,0}'", expected: '{1,-1,0}' },
  { column: 'c_lseg', type: 'LSEG', insert: "'[(0,0),(1,1)]'", expected: '[(0,0),(1,1)]' },
  { column: 'c_box', type: 'BOX', insert: "'(1,1),(0,0)'", expected: '(1,1),(0,0)' },
  { column: 'c_path', type: 'PATH', insert: "'[(0,0),(1,1),(2,0)]'", expected: '[(0,0),(1,1),(2,0)]' },
  { column: 'c_polygon', type: 'POLYGON', insert: "'((0,0),(1,0),(1,1))'", expected: '((0,0),(1,0),(1,1))' },
  { column: 'c_circle', type: 'CIRCLE', insert: "'<(1,2),3>'", expected: '<(1,2),3>' },
  { column: 'c_oid', type: 'OID', insert: '4294967295', expected: 4294967295 },
  { column: 'c_pg_lsn', type: 'PG_LSN', insert: "'16/B374D848'", expected: '16/B374D848' },
];

const backends = [
  { type: 'postgres' as const, types: postgresTypes },
  { type: 'mariadb' as const, types: mariadbTypes },
];

describe.each(backends)('trigger capture of every column type: $type', ({ type, types }) => {
  const { host, port, user, password, database } = services[type];
  const connection = { type, host, port, username: user, password, database } as const;
  const suffix = randomBytes(4).toString('hex');
  const table = `a_trgtypes_${suffix}`;
  const enumType = `a_mood_${suffix}`;
  const journal = `a_trgtypes_journal_${suffix}`;
  const config = {
    mode: 'trigger',
    connection,
    tables: [{ name: table, key: ['id'] }],
    journal: { table: journal },
  } as DatabaseSourceConfigInput & { mode: 'trigger' };
  let admin: DataSource;
  /** The legacy application: a session of its own, utf8mb4 on MariaDB as such applications run. */
  let legacy: DataSource;
  /** Each legacy write that failed, with the database's message. */
  const failedWrites: string[] = [];
  const images = new Map<string, Record<string, unknown> | undefined>();

  const columnType = (t: TypeRow) => (t.type === 'ENUM_TYPE' ? enumType : t.type);
  const legacyWrite = async (label: string, sql: string) => {
    try {
      await legacy.query(sql);
    } catch (error) {
      failedWrites.push(`${label}: ${(error as Error).message.slice(0, 300)}`);
    }
  };

  beforeAll(async () => {
    admin = new DataSource({ ...connection, logging: false });
    await admin.initialize();
    legacy = new DataSource({ ...connection, logging: false });
    await legacy.initialize();
    if (type === 'postgres') await admin.query(`CREATE TYPE ${enumType} AS ENUM ('sad', 'happy', 'Zoë')`);
    await admin.query(
      `CREATE TABLE ${table} (id INT PRIMARY KEY, ${types.map((t) => `${t.column} ${columnType(t)}`).join(', ')})` +
        (type === 'mariadb' ? ' DEFAULT CHARSET=utf8mb4' : ''),
    );
    const columns = types.map((t) => t.column).join(', ');
    const values = (pick: (t: TypeRow) => string) => types.map(pick).join(', ');
    // Row 1 exists before the triggers: the snapshot reads it.
    await admin.query(`INSERT INTO ${table} (id, ${columns}) VALUES (1, ${values((t) => t.insert)})`);
    await installDatabaseTriggers(parseDatabaseSourceConfig(config));

    const source = createDatabaseSource(config);
    let snapshotEnd: TriggerPosition | undefined;
    try {
      const snapshot = await readOnce(source);
      images.set('snapshot', snapshot.records.find((r) => r.key.id === 1)?.after);
      snapshotEnd = snapshot.position;
    } finally {
      await source.close();
    }

    const updates = types.map((t) => `${t.column} = ${t.update ?? t.insert}`).join(', ');
    await legacyWrite(
      'insert',
      `INSERT INTO ${table} (id, ${columns}) VALUES (2, ${values((t) => t.insert)})`,
    );
    await legacyWrite('insert of NULLs', `INSERT INTO ${table} (id) VALUES (3)`);
    await legacyWrite('update', `UPDATE ${table} SET ${updates} WHERE id = 2`);
    await legacyWrite('update of the snapshot row', `UPDATE ${table} SET ${updates} WHERE id = 1`);
    await legacyWrite('delete of NULLs', `DELETE FROM ${table} WHERE id = 3`);
    await legacyWrite(
      'insert … select',
      `INSERT INTO ${table} (id, ${columns}) SELECT 4, ${columns} FROM ${table} WHERE id = 2`,
    );
    await legacyWrite('delete', `DELETE FROM ${table} WHERE id = 4`);

    const journalSource = createDatabaseSource(config);
    let changes: ChangeRecord[];
    try {
      changes = (await readOnce(journalSource, snapshotEnd)).records;
    } finally {
      await journalSource.close();
    }
    const find = (op: string, id: number) => changes.find((r) => r.op === op && r.key.id === id);
    images.set('insert', find('create', 2)?.after);
    images.set('insert of NULLs', find('create', 3)?.after);
    images.set('update before', find('update', 2)?.before);
    images.set('update after', find('update', 2)?.after);
    images.set('delete', find('delete', 4)?.before);
    images.set('delete of NULLs', find('delete', 3)?.before);

    // Polling reads the same table as JSON images the database renders.
    const polling = createDatabaseSource({
      connection,
      tables: [{ name: table, key: ['id'], incrementingColumn: 'id' }],
    } as DatabaseSourceConfigInput);
    try {
      const polled = await readOnce(polling as never);
      images.set('polling', polled.records.find((r) => r.key.id === 1)?.after);
    } finally {
      await polling.close();
    }
  }, 240_000); // a 1.6 MB text value goes through every path of two servers on a shared 2-core machine

  afterAll(async () => {
    await uninstallDatabaseTriggers(parseDatabaseSourceConfig(config), {}, { dropJournal: true }).catch(
      () => undefined,
    );
    await admin?.query(`DROP TABLE IF EXISTS ${table}`);
    if (type === 'postgres') await admin?.query(`DROP TYPE IF EXISTS ${enumType}`);
    await legacy?.destroy();
    await admin?.destroy();
  });

  it('every legacy INSERT, UPDATE and DELETE succeeds with the triggers installed', () => {
    expect(failedWrites).toEqual([]);
  });

  it.each(types)('$type ($column): snapshot, journal and polling carry the value exactly', (t) => {
    const value = (path: string) => {
      const image = images.get(path);
      return image === undefined ? '(no record)' : image[t.column];
    };
    const expectedUpdate = 'expectedUpdate' in t ? t.expectedUpdate : t.expected;
    const paths: [string, unknown][] = [
      ['snapshot', t.expected],
      ['insert', t.expected],
      ['insert of NULLs', null],
      ['update before', t.expected],
      ['update after', expectedUpdate],
      ['delete', expectedUpdate],
      ['delete of NULLs', null],
      ['polling', expectedUpdate],
    ];
    const got = Object.fromEntries(paths.map(([path]) => [path, value(path)]));
    // Long values are compared by length and digest first so a failure stays readable.
    if (t.expected === LONG) {
      const summary = (v: unknown) =>
        typeof v === 'string' && v.length > 100 ? `${v.length} chars ${v === LONG}` : v;
      expect(Object.fromEntries(Object.entries(got).map(([k, v]) => [k, summary(v)]))).toEqual(
        Object.fromEntries(paths.map(([path, v]) => [path, summary(v)])),
      );
    }
    expect(got).toEqual(Object.fromEntries(paths));
  });
});

describe('trigger capture: the reported MariaDB table (utf8mb4, BIT(8))', () => {
  const { host, port, user, password, database } = services.mariadb;
  const connection = { type: 'mariadb', host, port, username: user, password, database } as const;
  const suffix = randomBytes(4).toString('hex');
  const table = `a_bitrepro_${suffix}`;
  const journal = `a_bitrepro_journal_${suffix}`;
  const config = {
    mode: 'trigger',
    connection,
    tables: [{ name: table, key: ['id'] }],
    journal: { table: journal },
    snapshot: 'never',
  } as DatabaseSourceConfigInput & { mode: 'trigger' };
  let admin: DataSource;

  beforeAll(async () => {
    admin = new DataSource({ ...connection, logging: false });
    await admin.initialize();
    await admin.query(
      `CREATE TABLE ${table} (id INT PRIMARY KEY, name VARCHAR(50), flags BIT(8)) DEFAULT CHARSET=utf8mb4`,
    );
  });

  afterAll(async () => {
    await uninstallDatabaseTriggers(parseDatabaseSourceConfig(config), {}, { dropJournal: true }).catch(
      () => undefined,
    );
    await admin?.query(`DROP TABLE IF EXISTS ${table}`);
    await admin?.destroy();
  });

  it("accepts INSERT … VALUES (1,'Zoë',NULL), 'Ørsted' and an emoji, and journals them exactly", async () => {
    // A journal left by an older install, whose images were utf8mb4 text: installing again makes them bytes.
    await admin.query(
      `CREATE TABLE ${journal} (seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, stream VARCHAR(255) NOT NULL,
         op CHAR(1) NOT NULL, before_image LONGTEXT NULL, after_image LONGTEXT NULL,
         changed_at DATETIME(6) NOT NULL) DEFAULT CHARSET=utf8mb4`,
    );
    await installDatabaseTriggers(parseDatabaseSourceConfig(config));
    const types = (await admin.query(
      `SELECT COLUMN_NAME AS c, DATA_TYPE AS t FROM information_schema.COLUMNS
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME LIKE '%_image' ORDER BY c`,
      [journal],
    )) as { c: string; t: string }[];
    expect(types.map((r) => `${r.c} ${r.t}`)).toEqual(['after_image longblob', 'before_image longblob']);
    await admin.query(`INSERT INTO ${table} VALUES (1,'Zoë',NULL)`);
    await admin.query(`INSERT INTO ${table} VALUES (2,'Ørsted',b'101')`);
    await admin.query(`INSERT INTO ${table} VALUES (3,'🦀',b'11111111')`);
    const source = createDatabaseSource(config);
    try {
      const { records } = await readOnce(source);
      expect(records.map((r) => r.after)).toEqual([
        { id: 1, name: 'Zoë', flags: null },
        { id: 2, name: 'Ørsted', flags: '00000101' },
        { id: 3, name: '🦀', flags: '11111111' },
      ]);
    } finally {
      await source.close();
    }
  });

  it('stops at an image it cannot decode with DB_IMAGE_INVALID naming the table, the journal row and the column', async () => {
    await installDatabaseTriggers(parseDatabaseSourceConfig(config));
    const source = createDatabaseSource(config);
    try {
      const { position } = await readOnce(source);
      // What the triggers of earlier versions journalled for a BIT column: its raw byte, not JSON.
      await admin.query(
        `INSERT INTO ${journal} (stream, op, after_image, changed_at)
           VALUES (?, 'c', X'7B226964223A20392C20226E616D65223A20227A222C2022666C616773223A20057D', UTC_TIMESTAMP(6))`,
        [table],
      );
      const [{ seq }] = (await admin.query(`SELECT MAX(seq) AS seq FROM ${journal}`)) as { seq: unknown }[];
      const failure = await readOnce(source, position).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toMatchObject({ code: 'DB_IMAGE_INVALID', retryable: false });
      const message = (failure as Error).message;
      expect(message).toContain(`table ${table}`);
      expect(message).toContain(`journal seq ${Number(seq)}, after image`);
      expect(message).toContain('column flags');
      expect(message).toContain('install-triggers');
      expect(message).not.toMatch(/^invalid JSON/);
    } finally {
      await source.close();
    }
  });
});

describe('trigger capture: MariaDB rows larger than max_allowed_packet', () => {
  const { host, port, user, password, database } = services.mariadb;
  const connection = { type: 'mariadb', host, port, username: user, password, database } as const;
  const suffix = randomBytes(4).toString('hex');
  const table = `a_bigrow_${suffix}`;
  const config = {
    mode: 'trigger',
    connection,
    tables: [{ name: table, key: ['id'] }],
    journal: { table: `a_bigrow_journal_${suffix}` },
    snapshot: 'never',
  } as DatabaseSourceConfigInput & { mode: 'trigger' };
  let admin: DataSource;
  let packet: number;

  beforeAll(async () => {
    admin = new DataSource({ ...connection, logging: false });
    await admin.initialize();
    const [row] = (await admin.query('SELECT @@max_allowed_packet AS p')) as { p: unknown }[];
    packet = Number(row?.p);
    await admin.query(
      `CREATE TABLE ${table} (id INT PRIMARY KEY, big LONGTEXT, small VARCHAR(20), data LONGBLOB, doc JSON)
         DEFAULT CHARSET=utf8mb4`,
    );
  });

  afterAll(async () => {
    await uninstallDatabaseTriggers(parseDatabaseSourceConfig(config), {}, { dropJournal: true }).catch(
      () => undefined,
    );
    await admin?.query(`DROP TABLE IF EXISTS ${table}`);
    await admin?.destroy();
  });

  it('never fails the legacy write: a value whose image would overflow the packet is left out and listed', async () => {
    await installDatabaseTriggers(parseDatabaseSourceConfig(config));
    // 60% of a packet: escaped to six bytes a character it might not fit, so it goes as base64 (and does).
    // Control characters (six bytes each in JSON) travel as base64 too. 80% of a packet does not fit even as
    // base64: it is left out. Before, MariaDB refused the image and with it each of these writes.
    const size = Math.floor(packet * 0.6);
    const huge = Math.floor(packet * 0.8);
    await admin.query(`INSERT INTO ${table} VALUES (1, REPEAT('a', ${size}), 'Zoë', NULL, '{"z": "Zoë"}')`);
    await admin.query(`INSERT INTO ${table} VALUES (2, REPEAT(CHAR(1), ${size}), 'x', NULL, NULL)`);
    await admin.query(`UPDATE ${table} SET small = 'y' WHERE id = 1`);
    await admin.query(`INSERT INTO ${table} VALUES (3, 'short', 'z', REPEAT(X'00', ${huge}), '[1]')`);
    await admin.query(`INSERT INTO ${table} VALUES (4, REPEAT('a', ${huge}), 'Ørsted', X'DEADBEEF', NULL)`);
    const length = (v: unknown) => (typeof v === 'string' ? v.length : v);
    const summary = (r: ChangeRecord) => ({
      op: r.op,
      id: r.key.id,
      big: length(r.after?.big),
      beforeBig: length(r.before?.big),
      small: r.after?.small,
      data: length(r.after?.data),
      doc: r.after?.doc,
      omitted: r.origin.omitted,
    });
    const source = createDatabaseSource(config);
    try {
      const { records } = await readOnce(source);
      expect(records.map(summary)).toEqual([
        {
          op: 'create',
          id: 1,
          big: size,
          beforeBig: undefined,
          small: 'Zoë',
          data: null,
          doc: { z: 'Zoë' },
          omitted: undefined,
        },
        {
          op: 'create',
          id: 2,
          big: size,
          beforeBig: undefined,
          small: 'x',
          data: null,
          doc: null,
          omitted: undefined,
        },
        {
          op: 'update',
          id: 1,
          big: size,
          beforeBig: size,
          small: 'y',
          data: null,
          doc: { z: 'Zoë' },
          omitted: undefined,
        },
        {
          op: 'create',
          id: 3,
          big: 5,
          beforeBig: undefined,
          small: 'z',
          data: null,
          doc: [1],
          omitted: ['data'],
        },
        {
          op: 'create',
          id: 4,
          big: null,
          beforeBig: undefined,
          small: 'Ørsted',
          data: 8,
          doc: null,
          omitted: ['big'],
        },
      ]);
      expect(records[0]?.after?.big).toBe('a'.repeat(size));
      expect(records[1]?.after?.big).toBe('\u0001'.repeat(size));
    } finally {
      await source.close();
    }
    // Polling renders the same images and says the same.
    const polling = createDatabaseSource({
      connection,
      tables: [{ name: table, key: ['id'], incrementingColumn: 'id' }],
    } as DatabaseSourceConfigInput);
    try {
      const { records } = await readOnce(polling as never);
      expect(records.map((r) => [r.key.id, length(r.after?.big), r.origin.omitted ?? []])).toEqual([
        [1, size, []],
        [2, size, []],
        [3, 5, ['data']],
        [4, null, ['big']],
      ]);
    } finally {
      await polling.close();
    }
  }, 120_000); // several images of 10 MB through the journal and polling on a shared 2-core machine
});
