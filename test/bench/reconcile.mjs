// `ferry reconcile` on 1,000,000 keys: a CSV reference against a file event log holding two versions of
// every key (the last must win). Target: the whole run within 256 MiB peak RSS. Baseline, same run: a
// process that only reads and JSON-parses the same two files, streamed (the floor for any reconciliation).
// Run: node test/bench/reconcile.mjs [keys]   (after `npx tsc -b packages/cli`)
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reporter } from './report.mjs';

const keys = Number(process.argv[2] ?? 1_000_000);
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
const baseline = measure(`
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
let n = 0;
for (const f of [${JSON.stringify(ref)}, ${JSON.stringify(log)}]) {
  for await (const line of createInterface({ input: createReadStream(f), crlfDelay: Infinity })) {
    if (f.endsWith('.jsonl')) JSON.parse(line); else line.split(',');
    n += 1;
  }
}
${usage};`);
const reconcile = measure(`
import { main } from ${JSON.stringify(cliIndex)};
const code = await main(['reconcile', '--reference', ${JSON.stringify(ref)}, '--key', 'HEARING_ID',
  '--field', 'courtCode=COURT', '--field', 'defendant.name.family=SURNAME', '--field', 'sittingDate=SITTING',
  '--events', ${JSON.stringify(log)}, '--type', 'justice.hearing', '--work-dir', ${JSON.stringify(dir)}]);
${usage};
process.exitCode = code;`);

console.log(reconcile.stdout.trim());
console.log(`baseline (read + parse both files): ${baseline.ms} ms, peak RSS ${baseline.maxRssMiB} MiB`);
console.log(`ferry reconcile:                     ${reconcile.ms} ms, peak RSS ${reconcile.maxRssMiB} MiB`);
console.log(
  `ratio: ${(reconcile.ms / baseline.ms).toFixed(2)}x the baseline's time; peak RSS ${reconcile.maxRssMiB} MiB ` +
    `(target <= 256 MiB: ${reconcile.maxRssMiB <= 256 ? 'met' : 'MISSED'})`,
);
const report = reporter(import.meta.url);
report({
  name: `ferry reconcile, ${keys} keys`,
  value: reconcile.ms,
  unit: 'ms',
  baseline: { name: 'read + parse both files', value: baseline.ms },
});
report({ name: 'ferry reconcile peak RSS', value: reconcile.maxRssMiB, unit: 'MiB', target: '<= 256 MiB' });
await rm(dir, { recursive: true, force: true });
if (reconcile.maxRssMiB > 256 || !reconcile.stdout.includes('parity 100.00%')) process.exitCode = 1;
