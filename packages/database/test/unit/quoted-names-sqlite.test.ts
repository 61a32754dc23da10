// Names as legacy systems have them (spaces, mixed case, reserved words, non-ASCII letters) captured by
// polling and triggers on a real SQLite file; a name carrying a quote, `;` or `--` stays inside its quotes;
// a table that is not there is named, at start, with the variant that is.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createDatabaseSource,
  type DatabaseSourceConfigInput,
  installDatabaseTriggers,
  parseDatabaseSourceConfig,
  readDatabaseRows,
} from '../../src/index.js';
import { readOnce } from '../helpers.js';

const TABLE = 'Agency Locations';
const HOSTILE = `x"'; DROP TABLE victim; --`;
const HOSTILE_COLUMN = `c"'); DELETE FROM victim; --`;

describe('database source: quoted names (SQLite)', () => {
  const open: Database.Database[] = [];
  afterEach(() => {
    for (const db of open.splice(0)) db.close();
  });

  async function legacy() {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-c-names-'));
    const file = join(dir, 'legacy.db');
    const db = new Database(file);
    open.push(db);
    const q = (name: string) => `"${name.replaceAll('"', '""')}"`;
    db.exec(`
      CREATE TABLE victim (id INTEGER PRIMARY KEY);
      INSERT INTO victim VALUES (1), (2);
      CREATE TABLE ${q(TABLE)} ("Agency Id" INTEGER PRIMARY KEY, "Description" TEXT, "order" INTEGER,
        "Bücher" TEXT, "Modified At" TEXT NOT NULL);
      CREATE TABLE ${q(HOSTILE)} (id INTEGER PRIMARY KEY, ${q(HOSTILE_COLUMN)} TEXT, ts TEXT NOT NULL);
    `);
    return { db, file, q };
  }

  /** The objects in the file, to show that nothing but what Ferry installs appeared or went. */
  function objects(db: Database.Database): string[] {
    return (db.prepare('SELECT type, name FROM sqlite_master ORDER BY type, name').all() as Row[]).map(
      (r) => `${r.type}:${r.name}`,
    );
  }
  type Row = Record<string, unknown>;

  it('polls a table whose table and column names have spaces, mixed case, reserved words and umlauts', async () => {
    const { db, file, q } = await legacy();
    db.prepare(`INSERT INTO ${q(TABLE)} VALUES (?, ?, ?, ?, ?)`).run(
      1,
      'Leeds',
      3,
      'ja',
      '2024-01-01 10:00:00',
    );
    const source = createDatabaseSource({
      connection: { type: 'better-sqlite3', database: file },
      tables: [
        {
          name: TABLE,
          key: ['Agency Id'],
          timestampColumn: 'Modified At',
          incrementingColumn: 'Agency Id',
          columns: ['Description', 'order', 'Bücher'],
        },
      ],
    });
    try {
      const first = await readOnce(source);
      expect(first.records).toMatchObject([
        {
          stream: TABLE,
          op: 'update',
          key: { 'Agency Id': 1 },
          after: { 'Agency Id': 1, Description: 'Leeds', order: 3, Bücher: 'ja' },
        },
      ]);
      db.prepare(`UPDATE ${q(TABLE)} SET "Description" = ?, "Modified At" = ? WHERE "Agency Id" = 1`).run(
        'Leeds North',
        '2024-01-01 10:00:01',
      );
      const second = await readOnce(source, first.position);
      expect(second.records.map((r) => r.after?.Description)).toEqual(['Leeds North']);
      const [stream] = (await source.discover?.()) ?? [];
      expect(stream).toMatchObject({ name: TABLE, key: ['Agency Id'] });
      expect(stream?.fields?.map((f) => f.name)).toEqual([
        'Agency Id',
        'Description',
        'order',
        'Bücher',
        'Modified At',
      ]);
    } finally {
      await source.close();
    }
  });

  it('captures inserts, updates and deletes of such a table through triggers, into a journal with a quoted name', async () => {
    const { db, file, q } = await legacy();
    db.prepare(`INSERT INTO ${q(TABLE)} VALUES (?, ?, ?, ?, ?)`).run(1, 'Leeds', 3, 'ja', 'x');
    const config = parseDatabaseSourceConfig({
      mode: 'trigger',
      connection: { type: 'better-sqlite3', database: file },
      tables: [{ name: TABLE, key: ['Agency Id'] }],
      journal: { table: 'Ferry "Journal"' },
    });
    await installDatabaseTriggers(config);
    const source = createDatabaseSource(config);
    try {
      const snapshot = await readOnce(source);
      expect(snapshot.records).toMatchObject([{ op: 'read', key: { 'Agency Id': 1 } }]);
      db.prepare(`INSERT INTO ${q(TABLE)} VALUES (?, ?, ?, ?, ?)`).run(2, 'York', 1, 'nein', 'y');
      db.prepare(`UPDATE ${q(TABLE)} SET "order" = 4 WHERE "Agency Id" = 1`).run();
      db.prepare(`DELETE FROM ${q(TABLE)} WHERE "Agency Id" = 2`).run();
      const changes = await readOnce(source, snapshot.position);
      expect(changes.records.map((r) => [r.stream, r.op, r.key])).toEqual([
        [TABLE, 'create', { 'Agency Id': 2 }],
        [TABLE, 'update', { 'Agency Id': 1 }],
        [TABLE, 'delete', { 'Agency Id': 2 }],
      ]);
      expect(changes.records[0]?.after).toEqual({
        'Agency Id': 2,
        Description: 'York',
        order: 1,
        Bücher: 'nein',
        'Modified At': 'y',
      });
      expect(changes.records[1]?.before).toMatchObject({ order: 3 });
      expect(changes.records[1]?.after).toMatchObject({ order: 4 });
      expect(objects(db)).toContain('table:Ferry "Journal"');
    } finally {
      await source.close();
    }
  });

  it('keeps a table and a column named with a quote, ; and -- inside their quotes: captured, nothing else happens', async () => {
    const { db, file, q } = await legacy();
    db.prepare(`INSERT INTO ${q(HOSTILE)} VALUES (?, ?, ?)`).run(1, "it's", '2024-01-01');
    const before = objects(db);

    const polling = createDatabaseSource({
      connection: { type: 'better-sqlite3', database: file },
      tables: [{ name: HOSTILE, key: ['id'], timestampColumn: 'ts', columns: [HOSTILE_COLUMN] }],
    });
    try {
      const { records } = await readOnce(polling);
      const [stream] = (await polling.discover?.()) ?? [];
      expect(stream?.fields?.map((f) => f.name)).toEqual(['id', HOSTILE_COLUMN, 'ts']);
      expect(records).toMatchObject([
        { stream: HOSTILE, key: { id: 1 }, after: { [HOSTILE_COLUMN]: "it's" } },
      ]);
    } finally {
      await polling.close();
    }

    const config = parseDatabaseSourceConfig({
      mode: 'trigger',
      connection: { type: 'better-sqlite3', database: file },
      tables: [{ name: HOSTILE, key: ['id'] }],
      journal: { table: `j"; DROP TABLE victim; --` },
    });
    await installDatabaseTriggers(config);
    const trigger = createDatabaseSource(config);
    try {
      const snapshot = await readOnce(trigger);
      db.prepare(`UPDATE ${q(HOSTILE)} SET ${q(HOSTILE_COLUMN)} = ? WHERE id = 1`).run('--');
      const changes = await readOnce(trigger, snapshot.position);
      expect(snapshot.records).toMatchObject([
        { stream: HOSTILE, op: 'read', after: { [HOSTILE_COLUMN]: "it's" } },
      ]);
      expect(changes.records).toMatchObject([
        {
          stream: HOSTILE,
          op: 'update',
          before: { [HOSTILE_COLUMN]: "it's" },
          after: { [HOSTILE_COLUMN]: '--' },
        },
      ]);
    } finally {
      await trigger.close();
    }

    const rows: Row[] = [];
    for await (const page of readDatabaseRows({
      connection: { type: 'better-sqlite3', database: file },
      table: HOSTILE,
      key: [HOSTILE_COLUMN],
    }))
      rows.push(...page);
    expect(rows).toEqual([{ id: 1, [HOSTILE_COLUMN]: '--', ts: '2024-01-01' }]);

    // The victim kept its rows, and the only new objects are the journal (with SQLite's own counter table
    // for its AUTOINCREMENT) and the three triggers.
    expect(db.prepare('SELECT COUNT(*) AS n FROM victim').get()).toEqual({ n: 2 });
    const added = objects(db).filter((o) => !before.includes(o));
    expect(added.filter((o) => o.startsWith('table:'))).toEqual([
      `table:j"; DROP TABLE victim; --`,
      'table:sqlite_sequence',
    ]);
    expect(added.filter((o) => o.startsWith('trigger:'))).toHaveLength(3);
    expect(before.filter((o) => !objects(db).includes(o))).toEqual([]);
  });

  it('names a table that is not there, as typed, at start, not retryable', async () => {
    const { file } = await legacy();
    const config: DatabaseSourceConfigInput = {
      connection: { type: 'better-sqlite3', database: file },
      tables: [{ name: 'Agency Location', key: ['Agency Id'], incrementingColumn: 'Agency Id' }],
    };
    for (const mode of ['polling', 'trigger'] as const) {
      const source = createDatabaseSource(
        mode === 'polling'
          ? config
          : {
              mode,
              connection: config.connection,
              tables: [{ name: 'Agency Location', key: ['Agency Id'] }],
            },
      );
      try {
        const error = await readOnce(source).catch((e: unknown) => e);
        expect(error, mode).toMatchObject({
          code: 'DB_TABLE_NOT_FOUND',
          retryable: false,
          details: { table: 'Agency Location' },
        });
        expect((error as Error).message).toContain('table "Agency Location" does not exist');
        await expect(source.discover?.()).rejects.toMatchObject({ code: 'DB_TABLE_NOT_FOUND' });
      } finally {
        await source.close();
      }
    }
  });
});
