// `npm start`: a legacy case-management SOAP service moved onto events by polling. The CMS (its SQLite
// database and its SOAP service, started here on loopback from wsdl/case-service.wsdl) holds open cases;
// `ferry run --once` polls GetChangedCases from the start of time; a day in court adjourns, closes and opens
// cases; a second `ferry run --once` fetches only what changed since the saved watermark; `ferry reconcile`
// compares the CMS database with the state built from the Case events. Exit code: reconcile's.
//
//   node run.mjs [--cases N] [--work-dir DIR]
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { main } from '@ferry/cli';
import { openCaseDatabase, seedCases, startCaseService, workTheList } from './legacy-service.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const { values: args } = parseArgs({
  options: {
    cases: { type: 'string', default: '300' },
    'work-dir': { type: 'string', default: join(here, '.run') },
  },
});
const workDir = resolve(args['work-dir']);
rmSync(workDir, { recursive: true, force: true });
mkdirSync(workDir, { recursive: true });
const show = (path) => relative(process.cwd(), path) || '.';

const dbPath = join(workDir, 'cms.db');
const db = openCaseDatabase(dbPath);
seedCases(db, Number(args.cases));
const service = await startCaseService(db);
console.log(`case-service: CMS with ${args.cases} cases, SOAP service at ${service.endpoint}?wsdl`);

let code = 1;
try {
  const pipeline = join(workDir, 'pipeline.yaml');
  writeFileSync(
    pipeline,
    readFileSync(join(here, 'pipeline.yaml'), 'utf8')
      .replace('./wsdl/case-service.wsdl', join(here, 'wsdl', 'case-service.wsdl'))
      .replace('http://cms.legacy.example/CaseService', service.endpoint)
      .replace('../justice-model/contracts', join(repoRoot, 'examples', 'justice-model', 'contracts')),
  );
  const logLevel = process.env.FERRY_LOG_LEVEL ?? 'warn';
  let ran = await main(['run', pipeline, '--once', '--log-level', logLevel]);
  if (ran !== 0) throw new Error(`the first poll failed (exit ${ran})`);
  const day = workTheList(db);
  console.log(`case-service: a day in court: ${day.updated} cases adjourned or closed, ${day.opened} opened`);
  ran = await main(['run', pipeline, '--once', '--log-level', logLevel]);
  if (ran !== 0) throw new Error(`the second poll failed (exit ${ran})`);
  const events = join(workDir, '.ferry', 'events', 'justice.case.v1.jsonl');
  console.log(`case-service: events in ${show(events)}`);

  console.log('case-service: ferry reconcile (CMS database vs events):');
  code = await main([
    'reconcile',
    '--reference',
    `sqlite:${dbPath}`,
    '--query',
    `SELECT CASE_REF, CASE_NO, DEF_SNAME, DEF_FNAME,
       CASE STAT_CD WHEN 'O' THEN 'open' WHEN 'A' THEN 'adjourned' WHEN 'C' THEN 'closed' END AS STATUS,
       substr(OPEN_DT, 7, 4) || '-' || substr(OPEN_DT, 4, 2) || '-' || substr(OPEN_DT, 1, 2) AS OPENED_ON,
       replace(LAST_UPD_TS, 'Z', '.000Z') AS LAST_MODIFIED
     FROM CMS_CASE`,
    '--key',
    'CASE_REF',
    '--field',
    'caseNumber=CASE_NO',
    '--field',
    'status=STATUS',
    '--field',
    'defendant.name.family=DEF_SNAME',
    '--field',
    'defendant.name.given=DEF_FNAME',
    '--field',
    'openedOn=OPENED_ON',
    '--field',
    'lastModified=LAST_MODIFIED',
    '--events',
    events,
    '--type',
    'justice.case',
    '--out',
    join(workDir, 'parity-report.json'),
  ]);
} finally {
  await service.close();
  db.close();
}
process.exit(code);
