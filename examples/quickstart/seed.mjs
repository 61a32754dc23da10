// Builds the quickstart's legacy database: an OFFENDERS table in the style of a prison management system.
// Usage: node seed.mjs [--rows N] [--db path]   (QUICKSTART_ROWS sets the default row count)
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';

const here = dirname(fileURLToPath(import.meta.url));
const SURNAMES = [
  'SMITH',
  'JONES',
  'TAYLOR',
  'BROWN',
  'WILLIAMS',
  'WILSON',
  'JOHNSON',
  'DAVIES',
  'PATEL',
  'WRIGHT',
];
const FORENAMES = [
  'JOHN',
  'DAVID',
  'SARAH',
  'MICHAEL',
  'EMMA',
  'JAMES',
  'AISHA',
  'PAUL',
  'LAURA',
  'MOHAMMED',
];
const PRISONS = ['LEI', 'MDI', 'BXI', 'WWI', 'PVI'];
const SEXES = ['M', 'M', 'M', 'F', 'N'];

/** A prison number in the legacy format: letter, four digits, two letters (A1234BC). */
export function prisonNumber(n) {
  const letters = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
  return `${letters[n % 24]}${String(n % 10000).padStart(4, '0')}${letters[Math.floor(n / 24) % 24]}${letters[Math.floor(n / 576) % 24]}`;
}

/**
 * Creates (or replaces) the legacy table with `rows` rows. Every `badEvery`-th row carries a date that
 * does not exist (31 February), the kind of data a legacy system lets through: it must reach the
 * dead-letter file, not stop the run.
 */
export function seedLegacyDatabase(path, { rows = 1000, badEvery = 250 } = {}) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(`
    DROP TABLE IF EXISTS OFFENDERS;
    CREATE TABLE OFFENDERS (
      OFFENDER_ID INTEGER PRIMARY KEY,
      OFFENDER_ID_DISPLAY CHAR(10) NOT NULL,
      LAST_NAME CHAR(35) NOT NULL,
      FIRST_NAME CHAR(35),
      BIRTH_DATE CHAR(8),
      SEX_CODE CHAR(2),
      AGY_LOC_ID CHAR(6),
      ACTIVE_FLAG CHAR(1) DEFAULT 'Y',
      CREATE_DATETIME TEXT NOT NULL,
      MODIFY_DATETIME TEXT NOT NULL
    );
    CREATE INDEX OFFENDERS_MODIFIED ON OFFENDERS (MODIFY_DATETIME, OFFENDER_ID);
  `);
  const insert = db.prepare('INSERT INTO OFFENDERS VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const base = Date.UTC(2024, 0, 1);
  db.transaction(() => {
    for (let i = 1; i <= rows; i += 1) {
      const day = 1 + (i % 28);
      const month = 1 + (i % 12);
      const year = 1950 + (i % 50);
      const dob =
        i % badEvery === 0
          ? `3102${year}`
          : `${String(day).padStart(2, '0')}${String(month).padStart(2, '0')}${year}`;
      // Several rows share each timestamp, as batch updates in legacy systems do.
      const stamp = new Date(base + Math.floor(i / 7) * 1000).toISOString();
      insert.run(
        i,
        prisonNumber(i),
        SURNAMES[i % SURNAMES.length].padEnd(35),
        FORENAMES[(i * 7) % FORENAMES.length].padEnd(35),
        dob,
        SEXES[i % SEXES.length],
        PRISONS[i % PRISONS.length],
        i % 17 === 0 ? 'N' : 'Y',
        stamp,
        stamp,
      );
    }
  })();
  db.close();
}

/** Simulates a legacy screen editing one offender: new surname, bumped modification time. */
export function renameOffender(path, offenderId, surname, at = new Date()) {
  const db = new Database(path);
  db.prepare('UPDATE OFFENDERS SET LAST_NAME = ?, MODIFY_DATETIME = ? WHERE OFFENDER_ID = ?').run(
    surname.padEnd(35),
    at.toISOString(),
    offenderId,
  );
  db.close();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: { rows: { type: 'string' }, db: { type: 'string' }, force: { type: 'boolean', default: false } },
  });
  const path = values.db ?? join(here, 'legacy.db');
  const rows = Number(values.rows ?? process.env.QUICKSTART_ROWS ?? 1000);
  if (existsSync(path) && !values.force) {
    console.log(`${path} already exists (use --force to rebuild it)`);
  } else {
    seedLegacyDatabase(path, { rows });
    console.log(`seeded ${rows} legacy OFFENDERS rows into ${path}`);
  }
}
