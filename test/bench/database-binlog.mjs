// Benchmark: MariaDB's row-based binary log to a file, like for like. N inserts (transactions of 100) are
// written to a fresh table first; then every tool reads the same finished range of the binary log, from
// where it stood before the inserts to where it stood after them:
//   - mariadb-binlog --read-from-remote-server --base64-output=decode-rows --verbose -> /dev/null: the ceiling,
//     the server's own client decoding every row of the range into text, as Ferry must;
//   - mariadb-binlog --read-from-remote-server -> /dev/null (row events copied out as base64, not decoded):
//     the transport alone, for scale;
//   - @vlasky/zongji alone, counting the rows it decodes (the library Ferry's binlog mode wraps, same options);
//   - Ferry binlog mode (snapshot: never, a checkpoint at the range's start) -> file sink, in its own process
//     as `ferry run --once` runs it (lib/ferry-run.mjs).
// Rounds are interleaved (each round runs every tool once, in an order rotated by one per round); per tool the
// median events/s, CPU seconds per 1M events and peak RSS, the load average at start and end, and the ratios
// of Ferry to the ceilings. Then, in this process: Ferry's binlog source alone on the same range (its CPU per
// change, to show the runtime's cost beyond the source).
// Run after a build, with the services up:
//   node test/bench/database-binlog.mjs [rows=200000] [rounds=3] [--ferry-node=<node> --ferry-root=<dir>]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { createFileCheckpointStore, silentLogger } from '../../packages/core/dist/index.js';
import { createDatabaseSource } from '../../packages/database/dist/index.js';
import { ferryRuntimeFromArgs, ferryRuntimeLine, TXN } from './lib/logical-workload.mjs';
import {
  lastJsonLine,
  loadAverage,
  medians,
  mib,
  rotated,
  roundFigures,
  roundLine,
  runMeasured,
  thousands,
} from './lib/measure.mjs';
import { reporter } from './report.mjs';

const require = createRequire(new URL('../../packages/database/package.json', import.meta.url));
const mysql = require('mysql2/promise');
const zongjiUrl = pathToFileURL(require.resolve('@vlasky/zongji')).href;

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const rows = Number(positional[0] ?? 200_000);
const rounds = Number(positional[1] ?? 3);
const ferryRuntime = ferryRuntimeFromArgs(process.argv);
const report = reporter(import.meta.url);
const conn = { host: '127.0.0.1', port: 53306, user: 'ferry', password: 'ferry', database: 'ferry' };
const RATE_TARGET = 0.6;

const loadAtStart = loadAverage();
const tag = randomBytes(3).toString('hex');
const table = `ferry_bench_binlog_${tag}`;
const db = await mysql.createConnection(conn);
const q = async (sql, params) => (await db.query(sql, params))[0];

/** Where the binary log ends now. */
async function masterStatus() {
  const [status] = await q('SHOW MASTER STATUS');
  if (status === undefined) throw new Error(`${conn.host}:${conn.port} writes no binary log`);
  return { file: String(status.File), pos: Number(status.Position) };
}

/** The table, then `rows` inserts, TXN per transaction; the binary log range they were written in. */
async function prepare() {
  await q(
    `CREATE TABLE ${table} (id BIGINT PRIMARY KEY, name VARCHAR(64), amount DECIMAL(12,2), updated_at TIMESTAMP(6) NULL)`,
  );
  const start = await masterStatus();
  const started = performance.now();
  // MariaDB's sequence engine (seq_1_to_100) is its generate_series.
  for (let from = 1; from <= rows; from += TXN) {
    await q(
      `INSERT INTO ${table} SELECT seq, CONCAT('name ', seq), seq * 1.25, NOW(6) FROM seq_${from}_to_${Math.min(rows, from + TXN - 1)}`,
    );
  }
  const writeSeconds = (performance.now() - started) / 1000;
  const end = await masterStatus();
  // Every file from the start's to the end's (a rotation during the load spreads the range over several).
  const index = (file) => Number(/\.(\d+)$/.exec(file)?.[1] ?? 0);
  const files = (await q('SHOW BINARY LOGS'))
    .map((r) => String(r.Log_name))
    .filter((f) => index(f) >= index(start.file) && index(f) <= index(end.file));
  return { start, end, files, writeSeconds };
}

/**
 * `mariadb-binlog` reading the range from the server. `decodeRows`: every row event printed as commented
 * pseudo-SQL with each column's value (--base64-output=decode-rows --verbose); otherwise as the base64
 * BINLOG statements of the default output, the row images copied, not decoded.
 */
function binlogArgs(range, decodeRows) {
  return [
    '--no-defaults',
    '--read-from-remote-server',
    `--host=${conn.host}`,
    `--port=${conn.port}`,
    `--user=${conn.user}`,
    `--password=${conn.password}`,
    `--start-position=${range.start.pos}`,
    `--stop-position=${range.end.pos}`,
    ...(decodeRows ? ['--base64-output=decode-rows', '--verbose'] : []),
    ...range.files,
  ];
}

async function mariadbBinlog(range, decodeRows) {
  // Sampled every 5 ms: a run lasts well under a second, and its resident set is flat.
  const args = [...binlogArgs(range, decodeRows), '--result-file=/dev/null'];
  const run = await runMeasured('mariadb-binlog', args, { sampleMs: 5 });
  if (run.code !== 0)
    throw new Error(`mariadb-binlog failed (exit ${run.code ?? run.signal}): ${run.stderr}`);
  return { seconds: run.wallSeconds, cpuSeconds: run.cpuSeconds, peakRssBytes: run.peakRssBytes };
}

/** The range decoded once, unmeasured: it must hold exactly the `rows` inserts into the table. */
async function countDecodedInserts(range) {
  const child = spawn('mariadb-binlog', binlogArgs(range, true), { stdio: ['ignore', 'pipe', 'pipe'] });
  const closed = new Promise((resolve) => child.on('close', resolve));
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d.toString();
  });
  const marker = `### INSERT INTO \`${conn.database}\`.\`${table}\``;
  let inserts = 0;
  for await (const line of createInterface({ input: child.stdout })) if (line === marker) inserts += 1;
  const code = await closed;
  if (code !== 0) throw new Error(`mariadb-binlog failed (exit ${code}): ${stderr}`);
  return inserts;
}

// zongji alone: the options BinlogClient gives it, rows of the table counted; timed from the first row event
// to the last, CPU and peak RSS of the whole process when the last row arrives (as lib/ferry-run.mjs does).
const ZONGJI_ALONE = `
import { readFileSync } from 'node:fs';
const [url, options, start, expected] = process.argv.slice(1);
const { default: ZongJi } = await import(url);
const zongji = new ZongJi(JSON.parse(options));
let rows = 0;
let first = 0;
zongji.on('error', (error) => {
  console.error(error);
  process.exit(1);
});
zongji.on('binlog', (event) => {
  if (event.getEventName() !== 'writerows') return;
  if (first === 0) first = performance.now();
  rows += event.rows.length;
  if (rows < Number(expected)) return;
  const seconds = (performance.now() - first) / 1000;
  const cpu = process.cpuUsage();
  const peakRssBytes = Number(/^VmHWM:\\s+(\\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
  console.log(JSON.stringify({ rows, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssBytes }));
  process.exit(0);
});
zongji.start(JSON.parse(start));
`;

async function zongjiAlone(range) {
  const options = {
    host: conn.host,
    port: conn.port,
    user: conn.user,
    password: conn.password,
    dateStrings: true,
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: true,
  };
  const start = {
    serverId: 0x7ff00000 + Number.parseInt(tag.slice(0, 4), 16),
    filename: range.start.file,
    position: range.start.pos,
    includeSchema: { [conn.database]: [table] },
  };
  const run = await runMeasured(process.execPath, [
    '--input-type=module',
    '-e',
    ZONGJI_ALONE,
    zongjiUrl,
    JSON.stringify(options),
    JSON.stringify(start),
    String(rows),
  ]);
  const figures = lastJsonLine(run.stdout);
  if (run.code !== 0 || figures?.rows !== rows)
    throw new Error(`zongji alone failed (exit ${run.code ?? run.signal}): ${run.stdout} ${run.stderr}`);
  return { ...figures, wall: { seconds: run.wallSeconds, cpuSeconds: run.cpuSeconds } };
}

/** A pipeline file for Ferry's binlog source on the table, its checkpoint at the range's start. */
async function writePipeline(range, name) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-pipeline-'));
  const yaml = (value) => JSON.stringify(value);
  const lines = [
    `pipeline: ${name}`,
    'source:',
    '  type: database',
    '  mode: binlog',
    '  connection:',
    '    type: mariadb',
    `    host: ${conn.host}`,
    `    port: ${conn.port}`,
    `    username: ${conn.user}`,
    // The bench's own variable: a literal password in a pipeline file draws a warning.
    '    password: ${env:FERRY_BENCH_MARIADB_PASSWORD}',
    `    database: ${conn.database}`,
    `  tables: [{ name: ${table}, key: [id] }]`,
    '  snapshot: never',
    'mapping:',
    '  subject: id',
    '  fields: { id: id, name: name, amount: amount, updatedAt: updated_at }',
    'contract:',
    '  type: bench.row',
    '  version: 1.0.0',
    `sink: ${yaml({ type: 'file', dir: join(dir, 'events') })}`,
    `deadLetters: ${yaml({ type: 'file', dir: join(dir, 'dlq') })}`,
    `checkpoints: ${yaml({ type: 'file', dir: join(dir, 'checkpoints') })}`,
  ];
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, `${lines.join('\n')}\n`);
  // What `ferry offsets set` would write: the binlog position before the inserts (a first run with
  // snapshot: never starts at the log's end instead).
  await createFileCheckpointStore({ dir: join(dir, 'checkpoints') }).save(name, startPosition(range));
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const startPosition = (range) => ({ mode: 'binlog', file: range.start.file, pos: range.start.pos });

async function ferry(range, run) {
  const pipeline = await writePipeline(range, `bench-binlog-${tag}-${run}`);
  try {
    const root = ferryRuntime.root ?? join(import.meta.dirname, '..', '..');
    const child = await runMeasured(
      ferryRuntime.node ?? process.execPath,
      [join(root, 'test', 'bench', 'lib', 'ferry-run.mjs'), pipeline.file],
      { env: { ...process.env, FERRY_BENCH_MARIADB_PASSWORD: conn.password } },
    );
    const figures = lastJsonLine(child.stdout);
    if (child.code !== 0 || figures?.tool !== 'ferry')
      throw new Error(
        `the Ferry run failed (exit ${child.code ?? child.signal}): ${child.stderr.slice(-3000)}`,
      );
    if (figures.events !== rows) throw new Error(`ferry wrote ${figures.events} events, expected ${rows}`);
    return { ...figures, wall: { seconds: child.wallSeconds, cpuSeconds: child.cpuSeconds } };
  } finally {
    pipeline.remove();
  }
}

/** The source alone, no runtime, in this process: what reading and decoding costs in Ferry. */
async function sourceAlone(range) {
  const source = createDatabaseSource({
    mode: 'binlog',
    connection: {
      type: 'mariadb',
      host: conn.host,
      port: conn.port,
      username: conn.user,
      password: conn.password,
      database: conn.database,
    },
    tables: [{ name: table, key: ['id'] }],
    serverId: 0x7fe00000 + Number.parseInt(tag.slice(0, 4), 16),
    snapshot: 'never',
  });
  const cpu = process.cpuUsage();
  const started = performance.now();
  let n = 0;
  for await (const batch of source.read({
    from: startPosition(range),
    signal: new AbortController().signal,
    once: true,
    log: silentLogger(),
    caughtUp: () => {},
  }))
    n += batch.records.length;
  await source.close();
  const used = process.cpuUsage(cpu);
  return {
    records: n,
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
  };
}

const RAW = 'mariadb-binlog -v';
const BASE64 = 'mariadb-binlog';
const ZONGJI = 'zongji alone';
const tools = {
  [RAW]: (range) => mariadbBinlog(range, true),
  [BASE64]: (range) => mariadbBinlog(range, false),
  [ZONGJI]: (range) => zongjiAlone(range),
  ferry,
};

try {
  const range = await prepare();
  const inserts = await countDecodedInserts(range);
  if (inserts !== rows)
    throw new Error(`the binary log range holds ${inserts} inserts into ${table}, expected ${rows}`);
  console.log(
    `workload: ${rows.toLocaleString('en')} inserts, ${TXN} rows per transaction, written in ${range.writeSeconds.toFixed(1)} s; binary log ${range.files.join(', ')} from ${range.start.pos} to ${range.end.pos} (${range.start.file === range.end.file ? mib(range.end.pos - range.start.pos) : 'several files'}); ${rounds} interleaved rounds; load average at start ${loadAtStart}`,
  );
  console.log(ferryRuntimeLine(ferryRuntime));
  const names = Object.keys(tools);
  const measured = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < rounds; round += 1) {
    for (const name of rotated(names, round)) {
      const run = await tools[name](range, round);
      const figures = roundFigures(rows, run);
      measured[name].push(figures);
      console.log(roundLine(round, name, 17, figures, run));
    }
  }
  const summary = medians(names, measured);
  const loadAtEnd = loadAverage();
  console.log(`\nmedians over ${rounds} rounds of ${rows.toLocaleString('en')} changes:`);
  console.log('tool                events/s  CPU-s per 1M  peak RSS');
  for (const n of names)
    console.log(
      `${n.padEnd(18)} ${thousands(summary[n].rate).padStart(9)}  ${summary[n].cpuPerMillion.toFixed(1).padStart(12)}  ${mib(summary[n].rss).padStart(8)}`,
    );
  const { ferry: f, [RAW]: raw, [BASE64]: base64, [ZONGJI]: zongji } = summary;
  const rateRatio = f.rate / raw.rate;
  console.log(
    `ferry / ${RAW}: events/s ${rateRatio.toFixed(2)} (target >= ${RATE_TARGET}, ${rateRatio >= RATE_TARGET ? 'met' : 'NOT met'}), CPU per event ${(f.cpuPerMillion / raw.cpuPerMillion).toFixed(1)}x`,
  );
  console.log(
    `ferry / ${BASE64} (not decoded) ${(f.rate / base64.rate).toFixed(2)}, ferry / zongji alone ${(f.rate / zongji.rate).toFixed(2)}, zongji alone / ${RAW} ${(zongji.rate / raw.rate).toFixed(2)}`,
  );
  console.log(`load average at start ${loadAtStart}, at end of the rounds ${loadAtEnd}`);
  const ceiling = (value, unit) => ({ name: `${RAW} -> /dev/null`, value, unit });
  report({
    name: 'ferry binlog -> file sink',
    value: f.rate,
    unit: 'events/s',
    baseline: ceiling(raw.rate),
    target: `>= ${RATE_TARGET}`,
  });
  report({
    name: 'ferry CPU-s per 1M events',
    value: f.cpuPerMillion,
    unit: 'CPU-s',
    baseline: ceiling(raw.cpuPerMillion),
  });
  report({
    name: 'ferry peak RSS',
    value: f.rss / 1048576,
    unit: 'MiB',
    baseline: ceiling(raw.rss / 1048576),
  });
  report({
    name: 'zongji alone (the library Ferry wraps)',
    value: zongji.rate,
    unit: 'events/s',
    baseline: ceiling(raw.rate),
  });
  report({
    name: `load average (1 min) at end of rounds; at start ${loadAtStart.split(' ')[0]}`,
    value: Number(loadAtEnd.split(' ')[0]),
    unit: '',
  });

  const alone = await sourceAlone(range);
  const sourceUs = (alone.cpuSeconds / alone.records) * 1e6;
  console.log(
    `ferry binlog source alone (in this process, no runtime, no sink): ${thousands(alone.records / alone.seconds)} records/s, ${sourceUs.toFixed(1)} µs CPU per change; ferry's cost beyond the source ${(f.cpuPerMillion - sourceUs).toFixed(1)} µs CPU per event`,
  );
  if (alone.records !== rows) console.log(`  (the source alone read ${alone.records} records, not ${rows})`);
  report({ name: 'ferry binlog source alone, CPU per change', value: sourceUs, unit: 'µs/event' });
} finally {
  await q(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
  await db.end();
}
