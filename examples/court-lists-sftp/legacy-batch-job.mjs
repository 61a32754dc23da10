// The legacy nightly batch job this example retires: it parses tonight's court-list file (CSV or
// fixed-width) itself and reloads the RPT_HEARINGS reporting table in SQLite. Kept here because the
// reconciliation compares that table with the state built from the Hearing events.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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

/** Reload the reporting table from one night's file: delete that sitting date, insert its rows. */
export function loadReportingTable(dbPath, filePath) {
  const Database = require('better-sqlite3');
  const db = new Database(dbPath);
  try {
    db.exec(`CREATE TABLE IF NOT EXISTS RPT_HEARINGS (
      HEARING_REF TEXT PRIMARY KEY, CRT_CD CHAR(5), CRT_ROOM TEXT, SIT_DT TEXT, LIST_NO INTEGER,
      CASE_NO TEXT, HRG_TYPE CHAR(2), DEF_SNAME TEXT, DEF_FNAME TEXT, DEF_DOB TEXT, LOADED_AT TEXT)`);
    const rows = readCourtListFile(filePath);
    const insert = db.prepare(
      `INSERT OR REPLACE INTO RPT_HEARINGS VALUES (@HEARING_REF, @CRT_CD, @CRT_ROOM, @SIT_DT, @LIST_NO, @CASE_NO,
       @HRG_TYPE, @DEF_SNAME, @DEF_FNAME, @DEF_DOB, datetime('now'))`,
    );
    db.transaction(() => {
      for (const date of new Set(rows.map((r) => r.SIT_DT)))
        db.prepare('DELETE FROM RPT_HEARINGS WHERE SIT_DT = ?').run(date);
      for (const row of rows) insert.run(row);
    })();
    return rows.length;
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
