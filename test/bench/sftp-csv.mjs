// Benchmark: a 12-column CSV on the real sshd, read end to end by `ferry run --once` (the SFTP source into
// the file sink, every column mapped) against a like-for-like baseline doing what the source does with the
// bare libraries: download the same file from the same server with ssh2-sftp-client (fastGet, same request
// size and concurrency), sha256 of the local copy, then csv-parse with `columns: true` over it. Each run is a
// child process of its own, so its peak RSS is its own (a preload reports the child's maxRSS and CPU time
// as it exits); the two alternate in interleaved rounds, and medians are compared. Wall time is measured
// here, from spawn to exit, for both. Run after a build and `npm run services:up`:
//   node test/bench/sftp-csv.mjs [rows=1000000,5000000] [rounds=3]
import { execFileSync, spawn } from 'node:child_process';
import {
  chownSync,
  createWriteStream,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { reporter } from './report.mjs';

const sizes = (process.argv[2] ?? '1000000,5000000').split(',').map(Number);
const rounds = Number(process.argv[3] ?? 3);
// biome-ignore lint/suspicious/noUndeclaredEnvVars: a benchmark run by hand, not a turbo task
const servicesDir = process.env.FERRY_SERVICES_DIR || '/tmp/ferry-services';
const sshd = join(servicesDir, 'sshd');
const name = `bench-${process.pid}`;
const remoteDir = `/upload/${name}`;
const localDir = join(sshd, 'sftp-root', 'upload', name);
const uid = Number(execFileSync('id', ['-u', 'ferrysftp']).toString());
const cli = new URL('../../packages/cli/dist/bin.js', import.meta.url).pathname;
const sftpPackage = new URL('../../packages/sftp/package.json', import.meta.url).pathname;
const work = await mkdtemp(join(tmpdir(), 'ferry-bench-sftp-'));
mkdirSync(localDir, { recursive: true });
chownSync(localDir, uid, uid);

const COLUMNS = 'id,court,case_no,surname,forename,dob,offence,plea,hearing_date,courtroom,judge,outcome';

async function generate(file, rows) {
  const out = createWriteStream(file);
  out.write(`${COLUMNS}\n`);
  for (let i = 1; i <= rows; i += 1) {
    const line = `${i},Court ${i % 97},CASE-${(i * 7919) % 1000003},Surname${i % 5003},Forename${i % 211},19${50 + (i % 50)}-0${1 + (i % 9)}-1${i % 9},Offence code ${i % 331} theft of goods,${i % 2 ? 'guilty' : 'not guilty'},2024-03-1${i % 9},Room ${i % 12},Judge ${i % 41},"adjourned, to be listed"\n`;
    if (!out.write(line)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r) => out.end(r));
  chownSync(file, uid, uid);
  // Old enough to be stable under the source's quiet rule at once.
  execFileSync('touch', ['-d', new Date(Date.now() - 60_000).toISOString(), file]);
}

// Loaded into each child with --require: its own peak RSS and CPU time, written as it exits.
const preload = join(work, 'report-usage.cjs');
writeFileSync(
  preload,
  `process.on('exit', () => {
  const u = process.resourceUsage();
  require('node:fs').writeFileSync(process.env.BENCH_USAGE, JSON.stringify({
    maxRssKiB: u.maxRSS, cpuSeconds: (u.userCPUTime + u.systemCPUTime) / 1e6 }));
});
`,
);

// The baseline, as a module run in a child: the source's work done with the bare libraries.
const baseline = join(work, 'baseline.mjs');
writeFileSync(
  baseline,
  `import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(sftpPackage)});
const SftpClient = require('ssh2-sftp-client');
const { parse } = await import(require.resolve('csv-parse'));
const [remote, local, keyPath, knownHosts] = process.argv.slice(2);
// The host key is checked, as the source checks it.
const known = readFileSync(knownHosts, 'utf8').split('\\n').filter((l) => l.startsWith('[127.0.0.1]:52222'))
  .map((l) => Buffer.from(l.split(/\\s+/)[2], 'base64'));
const client = new SftpClient('bench', {});
await client.connect({ host: '127.0.0.1', port: 52222, username: 'ferrysftp', privateKey: readFileSync(keyPath),
  hostVerifier: (key) => known.some((k) => k.equals(key)) });
await client.fastGet(remote, local, { concurrency: 32, chunkSize: 65536 });
await client.end();
const hash = createHash('sha256');
for await (const chunk of createReadStream(local, { highWaterMark: 256 * 1024 })) hash.update(chunk);
const sha256 = hash.digest('hex');
let rows = 0;
for await (const _ of createReadStream(local, { highWaterMark: 256 * 1024 }).pipe(parse({ bom: true, columns: true })))
  rows += 1;
rmSync(local, { force: true });
process.stdout.write(JSON.stringify({ rows, sha256 }));
`,
);

function pipelineFile(dir, remote) {
  const fields = COLUMNS.split(',')
    .map((c) => `    ${c}: ${c}`)
    .join('\n');
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(
    file,
    `pipeline: bench
source:
  type: sftp
  connection:
    host: 127.0.0.1
    port: 52222
    username: ferrysftp
    privateKeyPath: ${join(sshd, 'client_ed25519')}
    knownHosts: ${join(sshd, 'known_hosts')}
    operationTimeoutMs: 600000
  paths: [${remote}/*.csv]
  format: { type: csv }
  key: [id]
  afterProcessing: leave
  stateDir: ./state
mapping:
  subject: id
  fields:
${fields}
contract:
  type: bench.row
  version: 1.0.0
sink:
  type: file
  dir: ./events
  topic: rows
deadLetters:
  type: file
  dir: ./dlq
checkpoints:
  type: file
  dir: ./checkpoints
`,
  );
  return file;
}

/** One child process: wall seconds from spawn to exit, its own peak RSS and CPU seconds, its stdout. */
function child(args, cwd) {
  const usage = join(work, `usage-${performance.now()}.json`);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--require', preload, ...args], {
      cwd,
      env: { ...process.env, BENCH_USAGE: usage },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => {
      stdout += d;
    });
    proc.stderr.on('data', (d) => {
      stderr += d;
    });
    proc.on('error', reject);
    proc.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) return reject(new Error(`${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`));
      const { maxRssKiB, cpuSeconds } = JSON.parse(readFileSync(usage, 'utf8'));
      rmSync(usage, { force: true });
      resolve({ seconds, rssMiB: maxRssKiB / 1024, cpuSeconds, stdout });
    });
  });
}

async function runBaseline(rows) {
  const local = join(work, 'baseline-copy.csv');
  const r = await child([
    baseline,
    `${remoteDir}/big.csv`,
    local,
    join(sshd, 'client_ed25519'),
    join(sshd, 'known_hosts'),
  ]);
  const out = JSON.parse(r.stdout);
  if (out.rows !== rows) throw new Error(`baseline parsed ${out.rows} rows, expected ${rows}`);
  return r;
}

async function runFerry(rows) {
  const dir = await mkdtemp(join(work, 'ferry-'));
  try {
    const r = await child([cli, 'run', pipelineFile(dir, remoteDir), '--once', '--log-level', 'warn'], dir);
    // Every row an event, and the file's started and completed notices.
    const lines = Number(
      execFileSync('wc', ['-l', join(dir, 'events', 'rows.jsonl')])
        .toString()
        .split(' ')[0],
    );
    if (lines !== rows + 2) throw new Error(`ferry wrote ${lines} lines, expected ${rows + 2}`);
    return r;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const report = reporter(import.meta.url);

try {
  console.log(`load average at start: ${load()}; ${rounds} interleaved rounds per size`);
  for (const rows of sizes) {
    const file = join(localDir, 'big.csv');
    await generate(file, rows);
    const mib = statSync(file).size / 1048576;
    console.log(`\n${rows.toLocaleString('en')} rows, ${mib.toFixed(0)} MiB`);
    const base = [];
    const ferry = [];
    for (let round = 1; round <= rounds; round += 1) {
      // Alternate which goes first, so neither always gets the quieter half of a round.
      const order = round % 2 ? ['baseline', 'ferry'] : ['ferry', 'baseline'];
      for (const which of order) {
        const r = which === 'baseline' ? await runBaseline(rows) : await runFerry(rows);
        (which === 'baseline' ? base : ferry).push(r);
        console.log(
          `  round ${round} ${which.padEnd(8)} ${(rows / r.seconds).toFixed(0).padStart(7)} rows/s  ${r.seconds.toFixed(2).padStart(7)} s  CPU ${r.cpuSeconds.toFixed(1).padStart(6)} s  peak RSS ${r.rssMiB.toFixed(0).padStart(4)} MiB  (load ${load()})`,
        );
      }
    }
    const baseRate = median(base.map((r) => rows / r.seconds));
    const ferryRate = median(ferry.map((r) => rows / r.seconds));
    const baseCpu = median(base.map((r) => r.cpuSeconds));
    const ferryCpu = median(ferry.map((r) => r.cpuSeconds));
    const ferryRss = Math.max(...ferry.map((r) => r.rssMiB));
    const baseRss = Math.max(...base.map((r) => r.rssMiB));
    console.log(
      `  median: baseline (ssh2-sftp-client fastGet + sha256 + csv-parse columns) ${baseRate.toFixed(0)} rows/s, ferry run → file sink ${ferryRate.toFixed(0)} events/s: ratio ${(ferryRate / baseRate).toFixed(2)} (target >= 0.5)`,
    );
    console.log(
      `  CPU s per 1M rows (median): baseline ${((baseCpu / rows) * 1e6).toFixed(1)}, ferry ${((ferryCpu / rows) * 1e6).toFixed(1)}`,
    );
    console.log(
      `  peak RSS (highest of the rounds): ferry ${ferryRss.toFixed(0)} MiB (target < 200), baseline ${baseRss.toFixed(0)} MiB; load ${load()}`,
    );
    const label = rows >= 1e6 ? `${rows / 1e6}M` : `${rows / 1e3}k`;
    report({
      name: `ferry sftp → file, ${label} rows`,
      value: ferryRate,
      unit: 'events/s',
      baseline: { name: 'fastGet + sha256 + csv-parse columns', value: baseRate, unit: 'rows/s' },
      target: '>= 0.5',
    });
    report({
      name: `ferry peak RSS, ${label} rows`,
      value: ferryRss,
      unit: 'MiB',
      baseline: { name: 'baseline peak RSS', value: baseRss },
      target: '< 200 MiB',
    });
  }
} finally {
  rmSync(localDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
}
