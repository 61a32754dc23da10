// Benchmark: a 12-column CSV on the real sshd, read end-to-end by the sftp source into the file sink, against
// csv-parse alone on the local file and OpenSSH's sftp client downloading it. Run after a build:
//   node test/bench/sftp-csv.mjs [rows=1000000]
import { execFileSync } from 'node:child_process';
import { chownSync, createReadStream, createWriteStream, mkdirSync, rmSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createFileCheckpointStore,
  createFileDeadLetterSink,
  createFileSink,
  runPipeline,
  silentLogger,
  stableStringify,
} from '../../packages/core/dist/index.js';
import { createSftpSource } from '../../packages/sftp/dist/index.js';
import { reporter } from './report.mjs';

const require = createRequire(new URL('../../packages/sftp/package.json', import.meta.url));
const { parse } = await import(require.resolve('csv-parse'));
const rows = Number(process.argv[2] ?? 1_000_000);
// biome-ignore lint/suspicious/noUndeclaredEnvVars: a benchmark run by hand, not a turbo task
const servicesDir = process.env.FERRY_SERVICES_DIR || '/tmp/ferry-services';
const sshd = join(servicesDir, 'sshd');
const name = `bench-${process.pid}`;
const localDir = join(sshd, 'sftp-root', 'upload', name);
const uid = Number(execFileSync('id', ['-u', 'ferrysftp']).toString());
mkdirSync(localDir, { recursive: true });
chownSync(localDir, uid, uid);
const file = join(localDir, 'big.csv');

let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 50);

async function generate() {
  const out = createWriteStream(file);
  out.write('id,court,case_no,surname,forename,dob,offence,plea,hearing_date,courtroom,judge,outcome\n');
  for (let i = 1; i <= rows; i += 1) {
    const line = `${i},Court ${i % 97},CASE-${(i * 7919) % 1000003},Surname${i % 5003},Forename${i % 211},19${50 + (i % 50)}-0${1 + (i % 9)}-1${i % 9},Offence code ${i % 331} theft of goods,${i % 2 ? 'guilty' : 'not guilty'},2024-03-1${i % 9},Room ${i % 12},Judge ${i % 41},"adjourned, to be listed"\n`;
    if (!out.write(line)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r) => out.end(r));
  chownSync(file, uid, uid);
  execFileSync('touch', ['-d', new Date(Date.now() - 60_000).toISOString(), file]);
}

// CPU seconds of this process: on a machine shared with other work, wall-clock rates swing by 2x between
// runs, so the ratios are also given per CPU second.
function cpuSeconds(since) {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

async function csvParseAlone() {
  const started = performance.now();
  const cpu = process.cpuUsage();
  let n = 0;
  const parser = createReadStream(file).pipe(parse({ bom: true }));
  for await (const _ of parser) n += 1;
  return { rows: n - 1, seconds: (performance.now() - started) / 1000, cpu: cpuSeconds(cpu) };
}

function opensshDownload() {
  const target = join(tmpdir(), `${name}.csv`);
  const started = performance.now();
  execFileSync(
    'sftp',
    [
      '-q',
      '-b',
      '-',
      '-P',
      '52222',
      '-i',
      join(sshd, 'client_ed25519'),
      '-o',
      `UserKnownHostsFile=${join(sshd, 'known_hosts')}`,
      '-o',
      'StrictHostKeyChecking=yes',
      'ferrysftp@127.0.0.1',
    ],
    { input: `get /upload/${name}/big.csv ${target}\n` },
  );
  const seconds = (performance.now() - started) / 1000;
  rmSync(target, { force: true });
  return seconds;
}

async function sourceAlone() {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-sftp-'));
  const source = createSftpSource(sourceOptions(dir), { pipeline: 'bench', baseDir: dir });
  const started = performance.now();
  const cpu = process.cpuUsage();
  let n = 0;
  for await (const batch of source.read({
    from: undefined,
    signal: new AbortController().signal,
    once: true,
    log: silentLogger(),
    caughtUp: () => {},
  })) {
    n += batch.records.length;
  }
  await source.close();
  const seconds = (performance.now() - started) / 1000;
  const cpuUsed = cpuSeconds(cpu);
  rmSync(dir, { recursive: true, force: true });
  return { rows: n, seconds, cpu: cpuUsed };
}

function sourceOptions(dir) {
  return {
    connection: {
      host: '127.0.0.1',
      port: 52222,
      username: 'ferrysftp',
      privateKeyPath: join(sshd, 'client_ed25519'),
      knownHosts: join(sshd, 'known_hosts'),
    },
    paths: [`/upload/${name}/*.csv`],
    format: { type: 'csv' },
    key: ['id'],
    afterProcessing: 'leave',
    stateDir: join(dir, 'state'),
  };
}

async function ferryEndToEnd() {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-sftp-'));
  const source = createSftpSource(
    {
      connection: {
        host: '127.0.0.1',
        port: 52222,
        username: 'ferrysftp',
        privateKeyPath: join(sshd, 'client_ed25519'),
        knownHosts: join(sshd, 'known_hosts'),
      },
      paths: [`/upload/${name}/*.csv`],
      format: { type: 'csv' },
      key: ['id'],
      afterProcessing: 'leave',
      stateDir: join(dir, 'state'),
    },
    { pipeline: 'bench', baseDir: dir },
  );
  const started = performance.now();
  const cpu = process.cpuUsage();
  const summary = await runPipeline({
    name: 'bench',
    source,
    mapping: { canonicalType: 'bench.row', map: (r) => ({ subject: stableStringify(r.key), data: r.after }) },
    sink: createFileSink({ dir: join(dir, 'events'), topic: 'rows' }),
    deadLetters: createFileDeadLetterSink({ dir: join(dir, 'dlq'), pipeline: 'bench' }),
    checkpoints: createFileCheckpointStore({ dir: join(dir, 'cp') }),
    once: true,
  });
  const seconds = (performance.now() - started) / 1000;
  const cpuUsed = cpuSeconds(cpu);
  rmSync(dir, { recursive: true, force: true });
  return { events: summary.eventsWritten, seconds, cpu: cpuUsed };
}

try {
  await generate();
  const size = statSync(file).size;
  const alone = await csvParseAlone();
  const download = opensshDownload();
  const src = await sourceAlone();
  peakRss = 0;
  const ferry = await ferryEndToEnd();
  const aloneRate = alone.rows / alone.seconds;
  const ferryRate = ferry.events / ferry.seconds;
  console.log(`file: ${rows} rows, ${(size / 1048576).toFixed(1)} MiB`);
  console.log(`csv-parse alone (local file): ${aloneRate.toFixed(0)} rows/s (${alone.seconds.toFixed(2)} s)`);
  console.log(
    `OpenSSH sftp download: ${(size / 1048576 / download).toFixed(0)} MiB/s (${download.toFixed(2)} s)`,
  );
  console.log(
    `ferry end-to-end to file sink: ${ferryRate.toFixed(0)} rows/s (${ferry.seconds.toFixed(2)} s, ${ferry.events} events)`,
  );
  console.log(
    `sftp source alone (download + verify + parse, no sink): ${(src.rows / src.seconds).toFixed(0)} rows/s (${src.seconds.toFixed(2)} s)`,
  );
  console.log(`ratio source alone / csv-parse alone: ${(src.rows / src.seconds / aloneRate).toFixed(2)}`);
  const aloneCpu = alone.rows / alone.cpu;
  console.log(
    `per CPU second: csv-parse ${aloneCpu.toFixed(0)}, source ${(src.rows / src.cpu).toFixed(0)} (ratio ${(src.rows / src.cpu / aloneCpu).toFixed(2)}), ferry ${(ferry.events / ferry.cpu).toFixed(0)} (ratio ${(ferry.events / ferry.cpu / aloneCpu).toFixed(2)}) rows/s`,
  );
  console.log(`ratio ferry / csv-parse alone: ${(ferryRate / aloneRate).toFixed(2)} (target >= 0.8)`);
  console.log(`peak RSS during ferry run: ${(peakRss / 1048576).toFixed(0)} MiB`);
  const report = reporter(import.meta.url);
  const parse = { name: 'csv-parse alone', value: aloneRate, unit: 'rows/s' };
  report({
    name: 'ferry end-to-end to file sink',
    value: ferryRate,
    unit: 'rows/s',
    baseline: parse,
    target: '>= 0.8',
  });
  report({ name: 'sftp source alone', value: src.rows / src.seconds, unit: 'rows/s', baseline: parse });
  report({ name: 'ferry run peak RSS', value: peakRss / 1048576, unit: 'MiB' });
} finally {
  clearInterval(sampler);
  rmSync(localDir, { recursive: true, force: true });
}
