// First, do no harm (issue 16), SQLite: with triggers installed on a table holding every storage class and
// the common declared types, the legacy application's INSERT, UPDATE and DELETE of real values ('Zoë',
// emoji, text that is not UTF-8, BLOBs, NULLs) succeed, and the journal carries what was stored.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDatabaseSource,
  installDatabaseTriggers,
  parseDatabaseSourceConfig,
  type TriggerPosition,
} from '../../src/index.js';
import { readOnce } from '../helpers.js';

interface TypeRow {
  column: string;
  type: string;
  insert: string;
  update?: string;
  expected: unknown;
  expectedUpdate?: unknown;
}

const LONG = 'Zoë🦀'.repeat(200_000);

const types: TypeRow[] = [
  {
    column: 'c_int',
    type: 'INTEGER',
    insert: '-7',
    update: '9007199254740991',
    expected: -7,
    expectedUpdate: 9007199254740991,
  },
  {
    column: 'c_int64',
    type: 'BIGINT',
    insert: '-9223372036854775808',
    expected: '-9223372036854775808',
  },
  { column: 'c_real', type: 'REAL', insert: '1.5', update: '1e308', expected: 1.5, expectedUpdate: 1e308 },
  { column: 'c_numeric', type: 'NUMERIC(10,2)', insert: "'1.50'", expected: 1.5 },
  { column: 'c_bool', type: 'BOOLEAN', insert: 'TRUE', expected: 1 },
  {
    column: 'c_text',
    type: 'TEXT',
    insert: "'Zoë'",
    update: "'Ørsted'",
    expected: 'Zoë',
    expectedUpdate: 'Ørsted',
  },
  { column: 'c_emoji', type: 'VARCHAR(20)', insert: "'🦀 crab 👍🏽'", expected: '🦀 crab 👍🏽' },
  {
    column: 'c_escapes',
    type: 'TEXT',
    insert: `'quote " back \\ nl ' || char(10) || ' ctl ' || char(1) || ' end'`,
    expected: 'quote " back \\ nl \n ctl \u0001 end',
  },
  { column: 'c_long', type: 'CLOB', insert: `'${LONG}'`, expected: LONG },
  // Bytes that are not UTF-8 stored as TEXT (a latin1 application): SQLite keeps them; they are read as
  // U+FFFD, the one representation a JSON string has for them.
  { column: 'c_not_utf8', type: 'TEXT', insert: "CAST(X'5A6FEB' AS TEXT)", expected: 'Zo\uFFFD' },
  {
    column: 'c_blob',
    type: 'BLOB',
    insert: "X'DEADBEEF'",
    update: "X''",
    expected: '3q2+7w==',
    expectedUpdate: '',
  },
  {
    column: 'c_untyped',
    type: '',
    insert: "X'00FF'",
    update: "'text'",
    expected: 'AP8=',
    expectedUpdate: 'text',
  },
  { column: 'c_json', type: 'JSON', insert: `'{"a": 1}'`, expected: '{"a": 1}' },
  {
    column: 'c_datetime',
    type: 'DATETIME',
    insert: "'2024-01-01 10:00:00'",
    expected: '2024-01-01 10:00:00',
  },
];

describe('trigger capture of every column type: sqlite', () => {
  let db: Database.Database;
  const failedWrites: string[] = [];
  const images = new Map<string, Record<string, unknown> | undefined>();

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-trigger-types-'));
    const file = join(dir, 'legacy.db');
    db = new Database(file);
    db.exec(
      `CREATE TABLE t (id INTEGER PRIMARY KEY, ${types.map((t) => `${t.column} ${t.type}`).join(', ')})`,
    );
    const columns = types.map((t) => t.column).join(', ');
    const values = types.map((t) => t.insert).join(', ');
    const updates = types.map((t) => `${t.column} = ${t.update ?? t.insert}`).join(', ');
    db.exec(`INSERT INTO t (id, ${columns}) VALUES (1, ${values})`);
    const config = parseDatabaseSourceConfig({
      mode: 'trigger',
      connection: { type: 'better-sqlite3', database: file },
      tables: [{ name: 't', key: ['id'] }],
    });
    await installDatabaseTriggers(config);
    const source = createDatabaseSource(config);
    let snapshotEnd: TriggerPosition | undefined;
    try {
      const snapshot = await readOnce(source);
      images.set('snapshot', snapshot.records.find((r) => r.key.id === 1)?.after);
      snapshotEnd = snapshot.position;
    } finally {
      await source.close();
    }
    const write = (label: string, sql: string) => {
      try {
        db.exec(sql);
      } catch (error) {
        failedWrites.push(`${label}: ${(error as Error).message}`);
      }
    };
    write('insert', `INSERT INTO t (id, ${columns}) VALUES (2, ${values})`);
    write('insert of NULLs', 'INSERT INTO t (id) VALUES (3)');
    write('update', `UPDATE t SET ${updates} WHERE id = 2`);
    write('delete of NULLs', 'DELETE FROM t WHERE id = 3');
    write('delete', 'DELETE FROM t WHERE id = 2');
    const journal = createDatabaseSource(config);
    try {
      const { records } = await readOnce(journal, snapshotEnd);
      const find = (op: string, id: number) => records.find((r) => r.op === op && r.key.id === id);
      images.set('insert', find('create', 2)?.after);
      images.set('insert of NULLs', find('create', 3)?.after);
      images.set('update before', find('update', 2)?.before);
      images.set('update after', find('update', 2)?.after);
      images.set('delete', find('delete', 2)?.before);
      images.set('delete of NULLs', find('delete', 3)?.before);
    } finally {
      await journal.close();
    }
  }, 60_000); // a 1.6 MB text value through every path

  afterAll(() => db?.close());

  it('every legacy INSERT, UPDATE and DELETE succeeds with the triggers installed', () => {
    expect(failedWrites).toEqual([]);
  });

  it.each(types)('$type ($column): snapshot and journal carry the value as stored', (t) => {
    const expectedUpdate = 'expectedUpdate' in t ? t.expectedUpdate : t.expected;
    const paths: [string, unknown][] = [
      ['snapshot', t.expected],
      ['insert', t.expected],
      ['insert of NULLs', null],
      ['update before', t.expected],
      ['update after', expectedUpdate],
      ['delete', expectedUpdate],
      ['delete of NULLs', null],
    ];
    const got = Object.fromEntries(
      paths.map(([path]) => [
        path,
        images.get(path)?.[t.column] ?? (images.has(path) ? null : '(no record)'),
      ]),
    );
    const short = (v: unknown) =>
      typeof v === 'string' && v.length > 100 ? `${v.length} chars ${v === LONG}` : v;
    expect(Object.fromEntries(Object.entries(got).map(([k, v]) => [k, short(v)]))).toEqual(
      Object.fromEntries(paths.map(([k, v]) => [k, short(v)])),
    );
  });
});
