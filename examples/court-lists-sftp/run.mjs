// `npm start`: one night of the court-list migration, end to end. The listing system uploads tonight's
// court list to SFTP; the legacy batch job loads it into the RPT_HEARINGS reporting table; the Ferry
// pipeline turns the same file into justice.hearing events; `ferry reconcile` compares the two and prints
// the parity report. Exit code: reconcile's (0 at 100% parity, 1 below it).
//
//   node run.mjs [--format csv|fixed-width] [--date YYYY-MM-DD] [--hearings N] [--work-dir DIR]
//                [--samples N] [--broken]
//
// --broken runs a pipeline whose hearing-type lookup swaps sentence and mention: the mistake a migration
// team must catch before it retires the batch job.
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { main } from '@ferry/cli';
import { courtList, toCsv, toFixedWidth } from './court-list.mjs';
import { loadReportingTable } from './legacy-batch-job.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const { values: args } = parseArgs({
  options: {
    format: { type: 'string', default: 'csv' },
    date: { type: 'string' },
    hearings: { type: 'string', default: '200' },
    'work-dir': { type: 'string', default: join(here, '.run') },
    samples: { type: 'string', default: '10' },
    broken: { type: 'boolean', default: false },
  },
});
if (args.format !== 'csv' && args.format !== 'fixed-width') {
  console.error('court-lists: --format is csv or fixed-width');
  process.exit(2);
}
const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
const sittingDate = args.date ?? tomorrow;
const workDir = resolve(args['work-dir']);
const show = (path) => relative(process.cwd(), path) || '.';

// The SFTP server of test/services: a fresh directory under its writable /upload for this run.
const servicesDir = process.env.FERRY_SERVICES_DIR || '/tmp/ferry-services';
const sftpRoot = join(servicesDir, 'sshd', 'sftp-root');
const remoteDir = `/upload/court-lists-${process.pid}-${Date.now().toString(36)}`;
const localDir = join(sftpRoot, remoteDir);
const owner = (flag) => Number(execFileSync('id', [flag, 'ferrysftp']).toString().trim());

rmSync(workDir, { recursive: true, force: true });
mkdirSync(workDir, { recursive: true });
mkdirSync(localDir, { recursive: true });
chownSync(localDir, owner('-u'), owner('-g'));

// 1. Tonight's file arrives the way the listing system sends it: uploaded under a temporary name, renamed.
const hearings = courtList(sittingDate, Number(args.hearings));
const fileName = `COURTLIST_${sittingDate.replaceAll('-', '')}.${args.format === 'csv' ? 'csv' : 'dat'}`;
const content = args.format === 'csv' ? toCsv(hearings) : toFixedWidth(hearings, sittingDate);
const uploaded = join(localDir, fileName);
writeFileSync(`${uploaded}.tmp`, content);
chownSync(`${uploaded}.tmp`, owner('-u'), owner('-g'));
renameSync(`${uploaded}.tmp`, uploaded);
console.log(
  `court-lists: ${hearings.length} hearings for ${sittingDate} uploaded to sftp:${remoteDir}/${fileName}`,
);

// 2. The legacy batch job, as it runs tonight: the file into the reporting table.
const reportingDb = join(workDir, 'reporting.db');
const loaded = loadReportingTable(reportingDb, uploaded);
console.log(`court-lists: legacy batch job loaded ${loaded} rows into RPT_HEARINGS (${show(reportingDb)})`);

// 3. The Ferry pipeline on the same file.
const template = args.format === 'csv' ? 'pipeline.yaml' : 'pipeline-fixed-width.yaml';
let pipelineText = readFileSync(join(here, template), 'utf8')
  .replaceAll('/upload/court-lists/', `${remoteDir}/`)
  .replaceAll('/tmp/ferry-services/', `${servicesDir}/`)
  .replace('../justice-model/contracts', join(repoRoot, 'examples', 'justice-model', 'contracts'));
if (args.broken)
  pipelineText = pipelineText.replace('SE: sentence, ME: mention', 'SE: mention, ME: sentence');
const pipeline = join(workDir, 'pipeline.yaml');
writeFileSync(pipeline, pipelineText);
const logLevel = process.env.FERRY_LOG_LEVEL ?? 'warn';
const ran = await main(['run', pipeline, '--once', '--log-level', logLevel]);
if (ran !== 0) process.exit(ran);
const events = join(workDir, '.ferry', 'events', 'justice.hearing.v1.jsonl');
console.log(`court-lists: events in ${show(events)}`);

// 4. Parity: the reporting table, in canonical terms, against the state built from the events.
const report = join(workDir, 'parity-report.json');
const reference = `SELECT HEARING_REF, CASE_NO, CRT_CD, CRT_ROOM, SIT_DT, LIST_NO,
  CASE HRG_TYPE WHEN 'FA' THEN 'first-appearance' WHEN 'TR' THEN 'trial' WHEN 'SE' THEN 'sentence'
    WHEN 'ME' THEN 'mention' ELSE 'other' END AS HEARING_TYPE,
  DEF_SNAME, DEF_FNAME, DEF_DOB FROM RPT_HEARINGS`;
const fields = {
  caseNumber: 'CASE_NO',
  courtCode: 'CRT_CD',
  courtRoom: 'CRT_ROOM',
  sittingDate: 'SIT_DT',
  listNumber: 'LIST_NO',
  hearingType: 'HEARING_TYPE',
  'defendant.name.family': 'DEF_SNAME',
  'defendant.name.given': 'DEF_FNAME',
  'defendant.dateOfBirth': 'DEF_DOB',
};
console.log('court-lists: ferry reconcile (reporting table vs events):');
const code = await main([
  'reconcile',
  '--reference',
  `sqlite:${reportingDb}`,
  '--query',
  reference,
  '--key',
  'HEARING_REF',
  ...Object.entries(fields).flatMap(([field, column]) => ['--field', `${field}=${column}`]),
  '--events',
  events,
  '--type',
  'justice.hearing',
  '--threshold',
  '1',
  '--samples',
  args.samples,
  '--out',
  report,
]);
console.log(`court-lists: parity report in ${show(report)}`);
rmSync(localDir, { recursive: true, force: true });
process.exit(code);
