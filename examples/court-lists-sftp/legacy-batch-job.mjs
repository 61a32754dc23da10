// The legacy nightly batch job this example retires: it parses tonight's court-list file (CSV or
// fixed-width) itself and reloads the RPT_HEARINGS reporting table in SQLite. Kept here because the
// reconciliation (run.mjs) and the shadow runs (migrate.mjs) compare that table with the state built from
// the Hearing events.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { FIXED_WIDTH_DETAIL } from './court-list.mjs';

const require = createRequire(import.meta.url);

const fromDdmmyyyy = (text) => `${text.slice(6, 10)}-${text.slice(3, 5)}-${text.slice(0, 2)}`;
const fromYyyymmdd = (text) => `${text.slice(0, 4)}-${text.slice(4, 6)}-${text.slice(6, 8)}`;

function parseCsvLine(line) {
  const values = [];
  let value = '';
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        value += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else value += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      values.push(value);
      value = '';
    } else value += c;
  }
  values.push(value);
  return values;
}

/** Rows of the file in the reporting table's terms (ISO dates, integers), whatever its format. */
export function readCourtListFile(path) {
  const text = readFileSync(path, 'utf8');
  const lines = text.split(/\r?\n/).filter((l) => l !== '');
  if (path.endsWith('.csv')) {
    const header = parseCsvLine(lines[0]);
    return lines.slice(1).map((line) => {
      const v = Object.fromEntries(parseCsvLine(line).map((value, i) => [header[i], value]));
      return {
        ...v,
        SIT_DT: fromDdmmyyyy(v.SIT_DT),
        DEF_DOB: fromDdmmyyyy(v.DEF_DOB),
        LIST_NO: Number(v.LIST_NO),
      };
    });
  }
  return lines
    .filter((line) => line.startsWith('D'))
    .map((line) => {
      const v = {};
      for (const f of FIXED_WIDTH_DETAIL) v[f.name] = line.slice(f.start - 1, f.start - 1 + f.length).trim();
      return {
        ...v,
        SIT_DT: fromYyyymmdd(v.SIT_DT),
        DEF_DOB: fromYyyymmdd(v.DEF_DOB),
        LIST_NO: Number(v.LIST_NO),
      };
    });
}

const RPT_HEARINGS = `CREATE TABLE IF NOT EXISTS RPT_HEARINGS (
  HEARING_REF TEXT PRIMARY KEY, CRT_CD CHAR(5), CRT_ROOM TEXT, SIT_DT TEXT, LIST_NO INTEGER,
  CASE_NO TEXT, HRG_TYPE CHAR(2), DEF_SNAME CHAR(20), DEF_FNAME TEXT, DEF_DOB TEXT, LOADED_AT TEXT)`;
/** The job's own record of the files it has handled, so each nightly run takes only the new ones. */
const RPT_LOAD_LOG = `CREATE TABLE IF NOT EXISTS RPT_LOAD_LOG (
  FILE_NAME TEXT PRIMARY KEY, RECEIVED_AT TEXT, RUN_AT TEXT, STATUS TEXT, ROWS INTEGER, REASON TEXT)`;
/** The legacy job's one quirk the migration keeps meeting: DEF_SNAME is a CHAR(20) upstream, so longer surnames are cut. */
export const SURNAME_WIDTH = 20;

function openReportingDb(dbPath) {
  const Database = require('better-sqlite3');
  const db = new Database(dbPath);
  db.exec(RPT_HEARINGS);
  db.exec(RPT_LOAD_LOG);
  return db;
}

/** One file into the table: delete the sitting dates it lists, insert its rows (inside the caller's transaction). */
function replaceSittingDates(db, rows, loadedAt) {
  const insert = db.prepare(
    `INSERT OR REPLACE INTO RPT_HEARINGS VALUES (@HEARING_REF, @CRT_CD, @CRT_ROOM, @SIT_DT, @LIST_NO, @CASE_NO,
     @HRG_TYPE, @DEF_SNAME, @DEF_FNAME, @DEF_DOB, coalesce(@LOADED_AT, datetime('now')))`,
  );
  for (const date of new Set(rows.map((r) => r.SIT_DT)))
    db.prepare('DELETE FROM RPT_HEARINGS WHERE SIT_DT = ?').run(date);
  for (const row of rows)
    insert.run({ ...row, DEF_SNAME: row.DEF_SNAME.slice(0, SURNAME_WIDTH), LOADED_AT: loadedAt ?? null });
}

/** Reload the reporting table from one night's file: delete that sitting date, insert its rows. */
export function loadReportingTable(dbPath, filePath) {
  const db = openReportingDb(dbPath);
  try {
    const rows = readCourtListFile(filePath);
    db.transaction(() => replaceSittingDates(db, rows, undefined))();
    return rows.length;
  } finally {
    db.close();
  }
}

const dateIn = (instant, timeZone) =>
  new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(
    instant,
  );

/**
 * One scheduled run of the nightly job at `at` (a Date; the job's clock): every court-list file in
 * `inboxDir` (the job's own landing directory; a file's mtime is when it was received) received before
 * `at` and not yet in RPT_LOAD_LOG, oldest first. Each is loaded as loadReportingTable does, with
 * LOADED_AT = `at`, except a file whose sitting date is before the run's date (in `timeZone`): a
 * correction that missed the run for its day. The job never reloads a day it has passed (the reporting
 * table keeps the list as it stood at that day's run; same-day changes are handled in court), so such a
 * file is logged SKIPPED and never loaded. Returns one entry per file handled.
 */
export function runNightlyLoad(dbPath, inboxDir, at, timeZone = 'Europe/London') {
  const db = openReportingDb(dbPath);
  try {
    const done = new Set(db.prepare('SELECT FILE_NAME FROM RPT_LOAD_LOG').pluck().all());
    const files = readdirSync(inboxDir)
      .filter((name) => /^COURTLIST_.*\.(csv|dat)$/.test(name) && !done.has(name))
      .map((name) => ({ name, receivedAt: statSync(join(inboxDir, name)).mtime }))
      .filter((f) => f.receivedAt < at)
      .sort((a, b) => a.receivedAt - b.receivedAt || a.name.localeCompare(b.name));
    const runDate = dateIn(at, timeZone);
    const log = db.prepare('INSERT INTO RPT_LOAD_LOG VALUES (?, ?, ?, ?, ?, ?)');
    const handled = [];
    for (const file of files) {
      const rows = readCourtListFile(join(inboxDir, file.name));
      const passed = [...new Set(rows.map((r) => r.SIT_DT))].filter((date) => date < runDate);
      const entry =
        passed.length > 0
          ? {
              file: file.name,
              status: 'SKIPPED',
              rows: 0,
              reason: `sitting date ${passed.join(', ')} is before this run's date ${runDate}`,
            }
          : { file: file.name, status: 'LOADED', rows: rows.length };
      db.transaction(() => {
        if (entry.status === 'LOADED') replaceSittingDates(db, rows, at.toISOString());
        log.run(
          file.name,
          file.receivedAt.toISOString(),
          at.toISOString(),
          entry.status,
          entry.rows,
          entry.reason ?? null,
        );
      })();
      handled.push(entry);
    }
    return handled;
  } finally {
    db.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [dbPath, filePath] = process.argv.slice(2);
  if (!dbPath || !filePath) {
    console.error('usage: node legacy-batch-job.mjs <reporting.db> <court-list file>');
    process.exit(2);
  }
  console.log(`legacy batch job: loaded ${loadReportingTable(dbPath, filePath)} rows into RPT_HEARINGS`);
}
