// `npm run bench`: every benchmark in test/bench, one after another (they share the machine and the
// services), each printing its own lines as it goes, then one summary table of the figures each reported
// through report.mjs: benchmark, figure, its baseline from the same run, the ratio, the target. Sizes are
// small by default (about 2 minutes in all on the two-core machine, and 2 more for the cluster benches);
// --full uses each bench's own defaults (the sizes docs/performance.md quotes).
//
//   node test/bench/run.mjs [--full] [--only name,name] [name="args" ...]
//     e.g. node test/bench/run.mjs --only kafka-sink kafka-sink="20000 3"
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const here = import.meta.dirname;
/** The arguments of a quick run; a bench missing here runs with its own defaults. */
const QUICK = {
  // 50,000 entities are written in about 3 s; three servers, two rounds of 5 s each, then two of applying.
  'api-read': ['50000', '5', '2'],
  // Each SIGKILL costs a session timeout (10 s) on each side, plus a replacement worker's start.
  'cluster-handover': ['2', '1'],
  'cluster-scaling': ['10000', '1'],
  'contracts-validate': ['200000'],
  // Every round starts a JVM for the Debezium peer (about 5 s here), so rounds stay few and sizes modest.
  // mariadb-binlog drains 50,000 rows in about 0.05 s, so its rounds are cheap; Ferry's child takes about 3 s.
  'database-binlog': ['50000', '3'],
  'database-logical': ['200000', '3'],
  'database-logical-kafka': ['100000', '3'],
  'database-polling-trigger': ['50000'],
  'kafka-sink': ['20000', '3'],
  observability: ['200000', '3'],
  reconcile: ['200000'],
  'sftp-csv': ['100000', '3'],
  'soap-list': ['--sizes', '1000,10000'],
  'runtime-hot-path': ['200000', '3'],
  'trigger-overhead': ['6', '150'],
  webhooks: ['5000', '3'],
  'worker-handoff': ['200'],
};
const NOT_BENCHES = new Set(['run.mjs', 'report.mjs']);

const argv = process.argv.slice(2);
const full = argv.includes('--full');
const onlyAt = argv.indexOf('--only');
const only = onlyAt === -1 ? undefined : new Set(argv[onlyAt + 1].split(','));
const overrides = Object.fromEntries(
  argv
    .filter((a) => /^[a-z0-9-]+=/.test(a))
    .map((a) => [
      a.slice(0, a.indexOf('=')),
      a
        .slice(a.indexOf('=') + 1)
        .split(/\s+/)
        .filter(Boolean),
    ]),
);

const all = readdirSync(here)
  .filter((f) => f.endsWith('.mjs') && !NOT_BENCHES.has(f))
  .map((f) => f.slice(0, -'.mjs'.length))
  .sort();
const benches = all.filter((b) => !only || only.has(b));
const missing = [...(only ?? [])].filter((b) => !all.includes(b));
if (missing.length > 0 || benches.length === 0) {
  console.error(
    `bench: no such benchmark: ${missing.join(', ') || '(none selected)'}; there are ${all.join(', ')}`,
  );
  process.exit(2);
}

const clock = (ms) => {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
};
const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
const results = [];
const started = performance.now();
for (const bench of benches) {
  const args = overrides[bench] ?? (full ? [] : (QUICK[bench] ?? []));
  const report = join(dir, `${bench}.jsonl`);
  console.log(`\n── bench ${bench} ${args.join(' ')}`);
  const t0 = performance.now();
  const code = await new Promise((done) => {
    const child = spawn(process.execPath, [join(here, `${bench}.mjs`), ...args], {
      stdio: 'inherit',
      env: { ...process.env, FERRY_BENCH_REPORT: report },
    });
    child.on('error', () => done(127));
    child.on('close', (c, signal) => done(c ?? (signal ? 128 : 1)));
  });
  const figures = existsSync(report)
    ? readFileSync(report, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];
  results.push({ bench, args, code, ms: performance.now() - t0, figures });
}
rmSync(dir, { recursive: true, force: true });

const number = (n) =>
  Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en') : Number(n.toPrecision(3)).toString();
const amount = (value, unit) => `${number(value)} ${unit ?? ''}`.trim();
const rows = [['benchmark', 'figure', 'value', 'baseline (same run)', 'ratio (value / baseline)', 'target']];
for (const r of results) {
  if (r.figures.length === 0) {
    rows.push([r.bench, r.code === 0 ? 'reported no figures' : `FAILED (exit ${r.code})`, '', '', '', '']);
    continue;
  }
  for (const f of r.figures) {
    rows.push([
      r.bench,
      f.name,
      amount(f.value, f.unit),
      f.baseline ? `${f.baseline.name}: ${amount(f.baseline.value, f.baseline.unit ?? f.unit)}` : '',
      f.ratio === undefined ? '' : f.ratio.toFixed(2),
      f.target ?? '',
    ]);
  }
  if (r.code !== 0) rows.push([r.bench, `FAILED (exit ${r.code})`, '', '', '', '']);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
const line = (row) =>
  row
    .map((cell, i) => (i === 2 || i === 4 ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
    .join('  ')
    .trimEnd();
console.log(
  `\n── bench summary: ${results.length} benchmarks in ${clock(performance.now() - started)}${full ? ' (--full)' : ' (quick sizes; --full for the documented ones)'}`,
);
console.log(line(rows[0]));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const row of rows.slice(1)) console.log(line(row));
for (const r of results) console.log(`  ${r.bench}: ${r.args.join(' ') || '(its defaults)'}, ${clock(r.ms)}`);
const failed = results.filter((r) => r.code !== 0);
if (failed.length > 0) {
  console.log(`── ${failed.length} failed: ${failed.map((r) => r.bench).join(', ')}`);
  process.exit(1);
}
