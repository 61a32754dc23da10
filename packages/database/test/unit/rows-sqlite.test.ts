// readDatabaseRows against a real SQLite file: every row once, in key order, a page at a time; a query as
// well as a table; options and errors classified as the source's are.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@ferry/core/sdk';
import { DataSource } from 'typeorm';
import { afterEach, describe, expect, it } from 'vitest';
import { describeDatabaseConnection } from '../../src/index.js';
import { failure, readAll } from '../rows-helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A SQLite file with ROWS rows keyed by (REGION, ID), inserted out of key order. */
async function legacyFile(rows: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-rows-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'legacy.db');
  const writer = new DataSource({ type: 'better-sqlite3', database: file, logging: false });
  await writer.initialize();
  await writer.query('CREATE TABLE CASES (REGION TEXT, ID INTEGER, TITLE TEXT, PRIMARY KEY (REGION, ID))');
  for (let i = rows - 1; i >= 0; i -= 1) {
    await writer.query('INSERT INTO CASES VALUES (?, ?, ?)', [`R${i % 3}`, i, `case ${i}`]);
  }
  await writer.destroy();
  return file;
}

describe('readDatabaseRows (SQLite)', () => {
  it('reads every row once, in key order, a page at a time, with a composite key', async () => {
    const database = await legacyFile(25);
    const { pages, rows } = await readAll({
      connection: { type: 'better-sqlite3', database },
      table: 'CASES',
      key: ['REGION', 'ID'],
      pageSize: 4,
    });
    expect(pages).toEqual([4, 4, 4, 4, 4, 4, 1]);
    const keys = rows.map((r) => `${r.REGION}/${r.ID}`);
    const expected = Array.from({ length: 25 }, (_, i) => ({ region: `R${i % 3}`, id: i }))
      .sort((a, b) => (a.region === b.region ? a.id - b.id : a.region < b.region ? -1 : 1))
      .map((k) => `${k.region}/${k.id}`);
    expect(keys).toEqual(expected);
    expect(rows[0]).toEqual({ REGION: 'R0', ID: 0, TITLE: 'case 0' });
  });

  it('reads a query (a trailing semicolon allowed) and a schema-qualified table', async () => {
    const database = await legacyFile(10);
    const query = await readAll({
      connection: { type: 'better-sqlite3', database },
      query: "SELECT ID, TITLE FROM CASES WHERE REGION = 'R1';",
      key: ['ID'],
      pageSize: 2,
    });
    expect(query.rows.map((r) => r.ID)).toEqual([1, 4, 7]);
    expect(query.pages).toEqual([2, 1]);
    const qualified = await readAll({
      connection: { type: 'better-sqlite3', database },
      schema: 'main',
      table: 'CASES',
      key: ['REGION', 'ID'],
    });
    expect(qualified.rows).toHaveLength(10);
    // A page exactly full is followed by one more query that finds nothing, and no empty page is yielded.
    const exact = await readAll({
      connection: { type: 'better-sqlite3', database },
      table: 'CASES',
      key: ['REGION', 'ID'],
      pageSize: 5,
    });
    expect(exact.pages).toEqual([5, 5]);
  });

  it('classifies errors as the source does, and refuses options as a pipeline file would', async () => {
    const database = await legacyFile(1);
    const missing = await failure({
      connection: { type: 'better-sqlite3', database },
      table: 'NOPE',
      key: ['ID'],
    });
    expect(missing).toMatchObject({ code: 'DB_TABLE_NOT_FOUND', retryable: false });
    const column = await failure({
      connection: { type: 'better-sqlite3', database },
      table: 'CASES',
      key: ['NOPE'],
    });
    expect(column).toMatchObject({ code: 'DB_COLUMN_NOT_FOUND', retryable: false });
    const noFile = await failure({
      connection: { type: 'better-sqlite3', database: join(tmpdir(), 'ferry-no-such-dir', 'x.db') },
      table: 'CASES',
      key: ['ID'],
    });
    expect(noFile).toMatchObject({ code: 'DB_CONNECTION_FAILED' });

    const both = await failure({
      connection: { type: 'better-sqlite3', database },
      table: 'CASES',
      query: 'SELECT 1',
      key: ['ID'],
    });
    expect(both).toBeInstanceOf(ConfigError);
    expect((both as ConfigError).issues[0]).toMatchObject({ path: 'rows.table' });
    const badKey = await failure({
      connection: { type: 'better-sqlite3', database },
      table: 'CASES',
      key: [''],
    });
    expect(badKey).toBeInstanceOf(ConfigError);
    expect((badKey as ConfigError).issues[0]).toMatchObject({ path: 'rows.key[0]' });
  });

  it('describes a connection without its password', () => {
    expect(
      describeDatabaseConnection({
        type: 'postgres',
        host: 'db',
        username: 'u',
        password: 'secret',
        database: 'justice',
      }),
    ).toBe('postgres db:5432/justice');
    expect(
      describeDatabaseConnection({ type: 'better-sqlite3', database: 'x.db' }, { baseDir: '/srv' }),
    ).toBe('sqlite /srv/x.db');
  });
});
