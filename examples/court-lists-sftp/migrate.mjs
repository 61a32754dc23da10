// `npm run migrate`: the court-list migration over simulated days, on a fake clock (Europe/London). Each
// evening the listing system uploads the next day's court list to SFTP (and sometimes a correction later
// that evening); Ferry turns each file into Hearing events whose `time` is the upload time; at 03:00 the
// legacy job loads what it has received into RPT_HEARINGS; at 03:30 `ferry shadow run` compares the two as
// of 03:00 and `ferry cutover check` says whether the gate is open. Exit code: 0 when the gate ended open.
//
//   node migrate.mjs [--days 14] [--hearings 200] [--work-dir DIR] [--start YYYY-MM-DD]
//
// What the fourteen days hold (see the constants below): corrections with removed hearings; on day 4 a
// pipeline whose hearing-type lookup swaps sentence and mention (the defect the shadow runs must catch);
// on day 6 a correction that arrives after the 03:00 cut-off; on day 7 a surname longer than the legacy
// job's CHAR(20), which the operator explains on day 8. Expected: the gate opens on day 11.
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { main } from '@ferry/cli';
import { correctList, courtList, toCsv } from './court-list.mjs';
import { runNightlyLoad } from './legacy-batch-job.mjs';

/** Sitting days (1-based) whose list is corrected at 22:00 the evening before: room and list-number changes, two removals. */
const CORRECTED_DAYS = [3, 5, 9, 12];
/** The day whose list Ferry maps with the broken hearing-type lookup. */
const DEFECT_DAY = 4;
/** The day whose list is corrected at 03:10, after the legacy job's 03:00 cut-off. */
const LATE_DAY = 6;
/** The day whose list has the one surname longer than the legacy job keeps, and the day it is explained. */
const LONG_SURNAME_DAY = 7;
const EXPLAIN_DAY = 8;
const LONG_SURNAME = 'ABERCROMBIE-FITZWILLIAM';
const OPERATOR = 'alice.operator';
const TIME_ZONE = 'Europe/London';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const { values: args } = parseArgs({
  options: {
    days: { type: 'string', default: '14' },
    hearings: { type: 'string', default: '200' },
    // Under the git-ignored .run/ of run.mjs (which clears .run/ when it starts).
    'work-dir': { type: 'string', default: join(here, '.run', 'migration') },
    start: { type: 'string', default: '2026-11-02' },
  },
});
const days = Number(args.days);
const hearingsPerList = Number(args.hearings);
if (!Number.isInteger(days) || days < 1 || !Number.isInteger(hearingsPerList) || hearingsPerList < 10) {
  console.error('migrate: --days is a whole number of days (at least 1), --hearings at least 10');
  process.exit(2);
}
if (!/^\d{4}-\d{2}-\d{2}$/.test(args.start) || Number.isNaN(Date.parse(args.start))) {
  console.error('migrate: --start is a date, YYYY-MM-DD');
  process.exit(2);
}
const workDir = resolve(args['work-dir']);
const show = (path) => relative(process.cwd(), path) || '.';

// The fake clock: wall-clock times in London, turned into instants (GMT in winter, BST in summer).
function londonOffsetMs(ms) {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: TIME_ZONE,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(ms);
  const p = Object.fromEntries(parts.map((x) => [x.type, Number(x.value)]));
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - ms;
}
function london(date, time) {
  const wall = Date.parse(`${date}T${time}:00Z`);
  return new Date(wall - londonOffsetMs(wall - londonOffsetMs(wall)));
}
const addDays = (date, n) =>
  new Date(Date.parse(`${date}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
const wall = (instant) => {
  const local = new Date(instant.getTime() + londonOffsetMs(instant.getTime())).toISOString();
  return `${local.slice(0, 10)} ${local.slice(11, 16)}`;
};
const compact = (date) => date.replaceAll('-', '');

// The SFTP server of test/services, a fresh directory for this simulation (as in run.mjs); the legacy
// job's own landing directory, where the listing system sends the same files.
const servicesDir = process.env.FERRY_SERVICES_DIR || '/tmp/ferry-services';
const sftpRoot = join(servicesDir, 'sshd', 'sftp-root');
const remoteDir = `/upload/court-lists-${process.pid}-${Date.now().toString(36)}`;
const localDir = join(sftpRoot, remoteDir);
const owner = (flag) => Number(execFileSync('id', [flag, 'ferrysftp']).toString().trim());
const inboxDir = join(workDir, 'legacy-inbox');

rmSync(workDir, { recursive: true, force: true });
mkdirSync(inboxDir, { recursive: true });
mkdirSync(localDir, { recursive: true });
chownSync(localDir, owner('-u'), owner('-g'));

// The pipeline and the migration file, in the work directory beside reporting.db and the event log.
const pipelineText = readFileSync(join(here, 'pipeline-migration.yaml'), 'utf8')
  .replaceAll('/upload/court-lists/', `${remoteDir}/`)
  .replaceAll('/tmp/ferry-services/', `${servicesDir}/`)
  .replace('../justice-model/contracts', join(repoRoot, 'examples', 'justice-model', 'contracts'));
const pipeline = join(workDir, 'pipeline-migration.yaml');
writeFileSync(pipeline, pipelineText);
// Same pipeline name and directories, so it shares the fixed pipeline's checkpoints and diff state.
const brokenPipeline = join(workDir, 'pipeline-migration-broken.yaml');
writeFileSync(brokenPipeline, pipelineText.replace('SE: sentence, ME: mention', 'SE: mention, ME: sentence'));
const firstDay = args.start;
const firstSlot = london(firstDay, '03:00');
const migration = join(workDir, 'migration.yaml');
writeFileSync(
  migration,
  readFileSync(join(here, 'migration.yaml'), 'utf8').replace(
    /^start: .*$/m,
    `start: '${firstSlot.toISOString().replace('.000Z', 'Z')}'`,
  ),
);

/** Run one ferry command in this process; its output, indented, after a label. */
async function ferry(label, argv, { quiet = false } = {}) {
  const out = [];
  const err = [];
  const code = await main(argv, { out: (text) => out.push(text), err: (text) => err.push(text) });
  const lines = out.join('\n').split('\n').filter(Boolean);
  if (!quiet) for (const line of lines) console.log(`    ${label}: ${line}`);
  for (const line of err.join('\n').split('\n').filter(Boolean)) console.error(`    ${label}: ${line}`);
  return { code, lines };
}

const logLevel = process.env.FERRY_LOG_LEVEL ?? 'warn';
async function ferryRun(file) {
  const { code, lines } = await ferry('ferry run', ['run', file, '--once', '--log-level', logLevel], {
    quiet: true,
  });
  if (code !== 0) throw new Error(`ferry run ${show(file)} exited ${code}`);
  console.log(`    ferry run${file === brokenPipeline ? ' (BROKEN lookup)' : ''}: ${lines.at(-1) ?? ''}`);
}

const deliveries = [];
const versions = new Map();
/** The listing system sends a file: to SFTP (as .tmp, mtime set, then renamed) and to the legacy job. */
function deliver(day, sittingDate, hearings, at, kind, extra = {}) {
  const version = (versions.get(sittingDate) ?? 0) + 1;
  versions.set(sittingDate, version);
  const name = `COURTLIST_${compact(sittingDate)}${version === 1 ? '' : `_v${version}`}.csv`;
  const content = toCsv(hearings);
  for (const dir of [localDir, inboxDir]) {
    const path = join(dir, name);
    writeFileSync(`${path}.tmp`, content);
    if (dir === localDir) chownSync(`${path}.tmp`, owner('-u'), owner('-g'));
    utimesSync(`${path}.tmp`, at, at);
    renameSync(`${path}.tmp`, path);
  }
  deliveries.push({
    day,
    file: name,
    sittingDate,
    kind,
    uploadedAt: at.toISOString(),
    hearings: hearings.length,
    ...extra,
  });
  // What was sent when, for whoever checks the outcome (the test does).
  writeFileSync(join(workDir, 'deliveries.json'), `${JSON.stringify(deliveries, null, 2)}\n`);
  const what = extra.changed
    ? `${extra.changed.length} changed, ${extra.removed.length} removed: ${hearings.length} hearings`
    : `${hearings.length} hearings`;
  console.log(`  ${wall(at)}  listing system uploads ${name} (${kind}; ${what})`);
}

const lists = new Map();
const verdicts = [];
let lastCheck = 1;
let now = firstSlot;
try {
  console.log(
    `migrate: ${days} days from ${firstDay}, ${hearingsPerList} hearings a list; work dir ${show(workDir)}, sftp:${remoteDir}`,
  );
  for (let day = 1; day <= days; day += 1) {
    const date = addDays(firstDay, day - 1);
    const eve = addDays(date, -1);
    console.log(`day ${day} ${date}`);

    // 1. 18:00 the evening before: the list for `date`, then Ferry.
    const list = courtList(date, hearingsPerList);
    if (day === LONG_SURNAME_DAY) list[Math.floor(hearingsPerList / 3)].surname = LONG_SURNAME;
    lists.set(date, list);
    deliver(day, date, list, london(eve, '18:00'), 'list', {
      ...(day === LONG_SURNAME_DAY ? { longSurname: list[Math.floor(hearingsPerList / 3)].ref } : {}),
      pipeline: day === DEFECT_DAY ? 'broken' : 'fixed',
    });
    await ferryRun(day === DEFECT_DAY ? brokenPipeline : pipeline);

    // 2. 22:00: a correction of that list.
    if (CORRECTED_DAYS.includes(day)) {
      const fix = correctList(lists.get(date), Number(compact(date)) + 22, { changes: 3, removals: 2 });
      lists.set(date, fix.hearings);
      deliver(day, date, fix.hearings, london(eve, '22:00'), 'correction', {
        changed: fix.changed,
        removed: fix.removed,
        pipeline: 'fixed',
      });
      await ferryRun(pipeline);
    }

    // 3. 03:00: the legacy job loads what it received before 03:00, from its own copies.
    const legacyAt = london(date, '03:00');
    for (const f of runNightlyLoad(join(workDir, 'reporting.db'), inboxDir, legacyAt, TIME_ZONE))
      console.log(
        `  ${wall(legacyAt)}  legacy job: ${f.status === 'LOADED' ? `loaded ${f.file} (${f.rows} rows)` : `skipped ${f.file}: ${f.reason}`}`,
      );

    // 4. 03:10: a correction that missed the legacy run. The legacy job never loads it (it finds it at the
    // next 03:00 run, for a day it has passed, and logs it SKIPPED); Ferry publishes it at once, with the
    // 03:10 time that keeps it out of this morning's comparison.
    if (day === LATE_DAY) {
      const fix = correctList(lists.get(date), Number(compact(date)) + 310, { changes: 2, removals: 1 });
      lists.set(date, fix.hearings);
      deliver(day, date, fix.hearings, london(date, '03:10'), 'late correction', {
        changed: fix.changed,
        removed: fix.removed,
        pipeline: 'fixed',
      });
      await ferryRun(pipeline);
    }

    // The operator has read run 7 and explains its one difference: a known legacy quirk, not a defect.
    if (day === EXPLAIN_DAY) {
      const key = deliveries.find((d) => d.longSurname)?.longSurname;
      if (key !== undefined) {
        const at = london(date, '03:20');
        console.log(`  ${wall(at)}  ${OPERATOR} explains ${key}'s defendant.name.family`);
        const { code } = await ferry('shadow explain', [
          'shadow',
          'explain',
          migration,
          '--key',
          key,
          '--field',
          'defendant.name.family',
          '--reason',
          'the legacy job truncates surnames to 20 characters (CHAR(20))',
          '--by',
          OPERATOR,
          '--now',
          at.toISOString(),
        ]);
        if (code !== 0) throw new Error(`ferry shadow explain exited ${code}`);
      }
    }

    // 5. 03:30: the shadow run for the 03:00 slot, then the gate.
    now = london(date, '03:30');
    const iso = now.toISOString();
    console.log(`  ${wall(now)}  ferry shadow run, ferry cutover check`);
    const run = await ferry('shadow run', [
      'shadow',
      'run',
      migration,
      '--now',
      iso,
      '--log-level',
      logLevel,
    ]);
    if (run.code !== 0) throw new Error(`ferry shadow run exited ${run.code}`);
    const check = await ferry('cutover check', ['cutover', 'check', migration, '--now', iso], {
      quiet: true,
    });
    lastCheck = check.code;
    const verdict = check.code === 0 ? 'open' : 'closed';
    verdicts.push(verdict);
    const [first = '', ...reasons] = check.lines;
    console.log(`migrate: day ${day} ${date} gate ${verdict} (${first})`);
    for (const reason of reasons) console.log(`    ${reason.trim()}`);
  }

  const iso = now.toISOString();
  const report = await ferry('shadow report', [
    'shadow',
    'report',
    migration,
    '--out',
    join(workDir, 'report.html'),
    '--markdown',
    join(workDir, 'report.md'),
    '--now',
    iso,
  ]);
  if (report.code !== 0) throw new Error(`ferry shadow report exited ${report.code}`);
  const inventory = await ferry('inventory', ['inventory', migration, '--now', iso]);
  if (inventory.code !== 0) throw new Error(`ferry inventory exited ${inventory.code}`);
  console.log(
    `migrate: gate per day: ${verdicts.map((v, i) => `${i + 1}:${v}`).join(' ')}; report ${show(join(workDir, 'report.html'))}`,
  );
} catch (error) {
  console.error(`migrate: ${error instanceof Error ? error.message : String(error)}`);
  lastCheck = 1;
} finally {
  // Ferry archived what it read; the simulation's SFTP directory goes. The legacy job's copies stay.
  rmSync(localDir, { recursive: true, force: true });
}
process.exit(lastCheck === 0 ? 0 : 1);
