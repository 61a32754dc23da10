// The legacy case-management system: its database (a SQLite file with the CMS_CASE table) and its SOAP
// service, served by node-soap's own `listen` from wsdl/case-service.wsdl on a loopback port.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as soap from 'soap';

const require = createRequire(import.meta.url);
export const wsdlPath = join(import.meta.dirname, 'wsdl', 'case-service.wsdl');

const SURNAMES = ['SMITH', 'JONES', 'TAYLOR', 'BROWN', 'WILLIAMS', 'WILSON', 'JOHNSON', 'DAVIES'];
const FORENAMES = ['DAVID', 'SARAH', 'JAMES', 'EMMA', 'PAUL', 'ZOË', 'MOHAMMED', null];
const COURTS = ['B01LY', 'B20BL', 'C01CF'];

export function openCaseDatabase(path) {
  const Database = require('better-sqlite3');
  const db = new Database(path);
  db.exec(`CREATE TABLE IF NOT EXISTS CMS_CASE (
    CASE_REF TEXT PRIMARY KEY, CASE_NO TEXT NOT NULL, CRT_CD CHAR(5) NOT NULL, STAT_CD CHAR(1) NOT NULL,
    DEF_SNAME TEXT NOT NULL, DEF_FNAME TEXT, OPEN_DT CHAR(10) NOT NULL, LAST_UPD_TS TEXT NOT NULL)`);
  return db;
}

const ts = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** `count` cases opened in 2024, last updated one second apart from `start`. */
export function seedCases(db, count, start = Date.parse('2024-06-01T09:00:00Z')) {
  const insert = db.prepare('INSERT INTO CMS_CASE VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= count; i += 1) {
      insert.run(
        `CASE-${String(i).padStart(6, '0')}`,
        `T2024${String(7000 + i).padStart(4, '0')}`,
        COURTS[i % COURTS.length],
        'O',
        SURNAMES[i % SURNAMES.length],
        FORENAMES[i % FORENAMES.length],
        `${String(1 + (i % 28)).padStart(2, '0')}/${String(1 + (i % 12)).padStart(2, '0')}/2024`,
        ts(start + i * 1000),
      );
    }
  })();
}

/** A day in court: some cases adjourned, some closed, new ones opened; each change moves LAST_UPD_TS. */
export function workTheList(db, at = Date.parse('2024-07-01T10:00:00Z')) {
  const count = db.prepare('SELECT count(*) AS n FROM CMS_CASE').get().n;
  const update = db.prepare('UPDATE CMS_CASE SET STAT_CD = ?, LAST_UPD_TS = ? WHERE CASE_REF = ?');
  let changed = 0;
  db.transaction(() => {
    for (let i = 3; i <= count; i += 7) {
      update.run(i % 2 === 0 ? 'C' : 'A', ts(at + i * 1000), `CASE-${String(i).padStart(6, '0')}`);
      changed += 1;
    }
  })();
  const insert = db.prepare('INSERT INTO CMS_CASE VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  for (let i = count + 1; i <= count + 4; i += 1) {
    insert.run(
      `CASE-${String(i).padStart(6, '0')}`,
      `T2024${7000 + i}`,
      'B01LY',
      'O',
      'NEWMAN',
      'ALEX',
      '01/07/2024',
      ts(at + 3_600_000 + i),
    );
  }
  return { updated: changed, opened: 4 };
}

/** Serve the CMS over SOAP 1.1; pageSize records per page, token = offset. */
export async function startCaseService(db, { pageSize = 50 } = {}) {
  const changedSince = db.prepare(
    `SELECT * FROM CMS_CASE WHERE LAST_UPD_TS > ? ORDER BY LAST_UPD_TS, CASE_REF LIMIT ? OFFSET ?`,
  );
  const service = {
    CmsCaseService: {
      CmsCasePort: {
        GetChangedCases(args) {
          const since = ts(Date.parse(args.since));
          const offset = Number(args.pageToken || 0);
          const rows = changedSince.all(since, pageSize + 1, offset);
          const page = rows.slice(0, pageSize).map((r) => ({
            CaseRef: r.CASE_REF,
            CaseNo: r.CASE_NO,
            CrtCd: r.CRT_CD,
            StatCd: r.STAT_CD,
            DefSurname: r.DEF_SNAME,
            ...(r.DEF_FNAME === null ? {} : { DefForename: r.DEF_FNAME }),
            OpenDt: r.OPEN_DT,
            LastUpdTs: r.LAST_UPD_TS,
          }));
          return {
            GetChangedCasesResult: {
              Case: page,
              ...(rows.length > pageSize ? { NextPageToken: String(offset + pageSize) } : {}),
            },
          };
        },
      },
    },
  };
  const server = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  soap.listen(server, {
    path: '/CaseService',
    services: service,
    xml: readFileSync(wsdlPath, 'utf8'),
    uri: wsdlPath,
  });
  const endpoint = `http://127.0.0.1:${server.address().port}/CaseService`;
  return {
    endpoint,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
