// `ferry reconcile` on 1,000,000 keys: a CSV reference against a file event log holding two versions of
// every key (the last must win). Target: the whole run within 256 MiB peak RSS. Baseline, same run: a
// process that only reads and JSON-parses the same two files, streamed (the floor for any reconciliation).
// Baseline and reconcile are interleaved over several rounds (the order alternating, so drift in the
// machine's load falls on both alike) and the medians are compared: one run of each, minutes apart on a
// shared machine, once gave 3.0x where runs from outside gave 5.7-5.9x.
// Run: node test/bench/reconcile.mjs [keys] [rounds]   (after `npx tsc -b packages/cli`; 3 rounds by default)
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reporter } from './report.mjs';

const keys = Number(process.argv[2] ?? 1_000_000);
const rounds = Number(process.argv[3] ?? 3);
const root = join(import.meta.dirname, '..', '..');
const cliIndex = join(root, 'packages', 'cli', 'dist', 'index.js');
const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-reconcile-'));

async function write(path, lines) {
  const out = createWriteStream(path);
  for (const line of lines()) if (!out.write(line)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
}

const id = (i) => `H${String(i).padStart(8, '0')}`;
const ref = join(dir, 'reference.csv');
const log = join(dir, 'events.jsonl');
const t = Date.now();
await write(ref, function* () {
  yield 'HEARING_ID,COURT,SURNAME,SITTING\n';
  for (let i = 0; i < keys; i += 1)
    yield `${id(i)},C${i % 97},SURNAME${i % 1013},2024-03-${String(1 + (i % 28)).padStart(2, '0')}\n`;
});
await write(log, function* () {
  for (const round of [0, 1]) {
    for (let i = 0; i < keys; i += 1) {
      const data = {
        hearingId: id(i),
        courtCode: `C${i % 97}`,
        defendant: { name: { family: round === 0 ? 'OLD' : `SURNAME${i % 1013}` } },
        sittingDate: `2024-03-${String(1 + (i % 28)).padStart(2, '0')}`,
      };
      yield `${JSON.stringify({ specversion: '1.0', id: `${i}-${round}`, type: round === 0 ? 'justice.hearing.snapshotted' : 'justice.hearing.updated', subject: id(i), ferryop: round === 0 ? 'read' : 'update', data })}\n`;
    }
  }
});
console.log(`generated ${keys} reference rows and ${2 * keys} events in ${Date.now() - t} ms`);

function measure(script) {
  const started = Date.now();
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`failed (${result.status}): ${result.stdout}${result.stderr}`);
  const last = result.stderr.trim().split('\n').at(-1);
  return { ms: Date.now() - started, ...JSON.parse(last), stdout: result.stdout };
}

const usage = `process.stderr.write(JSON.stringify({ maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }) + '\\n')`;
const baselineScript = `
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
let n = 0;
for (const f of [${JSON.stringify(ref)}, ${JSON.stringify(log)}]) {
  for await (const line of createInterface({ input: createReadStream(f), crlfDelay: Infinity })) {
    if (f.endsWith('.jsonl')) JSON.parse(line); else line.split(',');
    n += 1;
  }
}
${usage};`;
const reconcileScript = `
import { main } from ${JSON.stringify(cliIndex)};
const code = await main(['reconcile', '--reference', ${JSON.stringify(ref)}, '--key', 'HEARING_ID',
  '--field', 'courtCode=COURT', '--field', 'defendant.name.family=SURNAME', '--field', 'sittingDate=SITTING',
  '--events', ${JSON.stringify(log)}, '--type', 'justice.hearing', '--work-dir', ${JSON.stringify(dir)}]);
${usage};
process.exitCode = code;`;

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const baselines = [];
const reconciles = [];
let lastReconcile;
for (let round = 0; round < rounds; round += 1) {
  // Odd rounds run reconcile first, so neither side always follows the other's page-cache warm-up.
  const order = round % 2 === 0 ? ['baseline', 'reconcile'] : ['reconcile', 'baseline'];
  const got = {};
  for (const which of order) got[which] = measure(which === 'baseline' ? baselineScript : reconcileScript);
  baselines.push(got.baseline);
  reconciles.push(got.reconcile);
  lastReconcile = got.reconcile;
  console.log(
    `round ${round + 1}/${rounds} (${order.join(' then ')}): baseline ${got.baseline.ms} ms, ` +
      `reconcile ${got.reconcile.ms} ms (${(got.reconcile.ms / got.baseline.ms).toFixed(2)}x), ` +
      `peak RSS ${got.baseline.maxRssMiB} / ${got.reconcile.maxRssMiB} MiB`,
  );
}
const baseline = {
  ms: median(baselines.map((r) => r.ms)),
  maxRssMiB: Math.max(...baselines.map((r) => r.maxRssMiB)),
};
const reconcile = {
  ms: median(reconciles.map((r) => r.ms)),
  maxRssMiB: Math.max(...reconciles.map((r) => r.maxRssMiB)),
  stdout: lastReconcile.stdout,
};

console.log(reconcile.stdout.trim());
console.log(`medians of ${rounds} interleaved rounds:`);
console.log(`baseline (read + parse both files): ${baseline.ms} ms, peak RSS ${baseline.maxRssMiB} MiB`);
console.log(`ferry reconcile:                     ${reconcile.ms} ms, peak RSS ${reconcile.maxRssMiB} MiB`);
console.log(
  `ratio: ${(reconcile.ms / baseline.ms).toFixed(2)}x the baseline's time (per round: ` +
    `${reconciles.map((r, i) => (r.ms / baselines[i].ms).toFixed(2)).join(', ')}); peak RSS ` +
    `${reconcile.maxRssMiB} MiB (target <= 256 MiB: ${reconcile.maxRssMiB <= 256 ? 'met' : 'MISSED'})`,
);
const report = reporter(import.meta.url);
report({
  name: `ferry reconcile, ${keys} keys (median of ${rounds})`,
  value: reconcile.ms,
  unit: 'ms',
  baseline: { name: 'read + parse both files', value: baseline.ms },
});
report({ name: 'ferry reconcile peak RSS', value: reconcile.maxRssMiB, unit: 'MiB', target: '<= 256 MiB' });
await rm(dir, { recursive: true, force: true });
if (reconcile.maxRssMiB > 256 || !reconciles.every((r) => r.stdout.includes('parity 100.00%'))) {
  process.exitCode = 1;
}
