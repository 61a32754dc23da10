// Benchmark: PostgreSQL logical replication (pgoutput) end-to-end through the Ferry runtime to the file sink,
// against pg_recvlogical draining the same WAL to /dev/null. Workload: 100,000 inserts then 100,000 updates,
// 100 rows per transaction. Then commit-to-sink lag at a paced 5,000 changes/s, and optionally a large snapshot
// with peak RSS. Run after a build, with the services up:
//   node test/bench/database-logical.mjs [rows=100000] [snapshotRows=0]
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
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
import { createDatabaseSource } from '../../packages/database/dist/index.js';
import { reporter } from './report.mjs';

const require = createRequire(new URL('../../packages/database/package.json', import.meta.url));
const pg = require('pg');

const rows = Number(process.argv[2] ?? 100_000);
const report = reporter(import.meta.url);
const snapshotRows = Number(process.argv[3] ?? 0);
const TXN = 100;
const PACED_RATE = 5_000;
const PACED_SECONDS = 10;
const pgBin = '/usr/lib/postgresql/15/bin';
const conn = { host: '127.0.0.1', port: 55432, user: 'ferry', password: 'ferry', database: 'ferry' };
const tag = `bench_${process.pid}`;
const table = `ferry_${tag}`;
const publication = `ferry_${tag}`;

const client = new pg.Client(conn);
await client.connect();
const q = (sql, params) => client.query(sql, params);
// The test server runs synchronous_commit = off, so commits reach the WAL (and the walsender) only when the WAL
// writer wakes, every wal_writer_delay (200 ms): that would be measured as lag. Production commits are
// synchronous; the writer session here is too (fsync is off on the test server, so it stays cheap).
await q('SET synchronous_commit = on');

let peakRss = 0;
let sampling = false;
const sampler = setInterval(() => {
  if (sampling) peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 50);

function sourceConfig(slot, extra = {}) {
  return {
    mode: 'logical',
    connection: {
      type: 'postgres',
      host: conn.host,
      port: conn.port,
      username: conn.user,
      password: conn.password,
      database: conn.database,
    },
    tables: [{ name: table, key: ['id'] }],
    slot,
    publication,
    snapshot: 'never',
    ...extra,
  };
}

/** The Ferry runtime with the file sink; `onEvents` sees each batch once it is durably written. */
async function ferry(slot, { once = true, signal, onEvents, extra } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-db-'));
  const source = createDatabaseSource(sourceConfig(slot, extra));
  const fileSink = createFileSink({ dir: join(dir, 'events'), topic: 'rows' });
  const sink = {
    type: 'file',
    async write(events) {
      await fileSink.write(events);
      onEvents?.(events);
    },
    close: () => fileSink.close(),
  };
  const started = performance.now();
  const summary = await runPipeline({
    name: 'bench',
    source,
    mapping: {
      canonicalType: 'bench.row',
      map: (r) => ({ subject: stableStringify(r.key), data: r.after ?? r.before }),
    },
    sink,
    deadLetters: createFileDeadLetterSink({ dir: join(dir, 'dlq'), pipeline: 'bench' }),
    checkpoints: createFileCheckpointStore({ dir: join(dir, 'cp') }),
    once,
    ...(signal ? { signal } : {}),
    logger: silentLogger(),
  });
  const seconds = (performance.now() - started) / 1000;
  rmSync(dir, { recursive: true, force: true });
  return { events: summary.eventsWritten, seconds };
}

async function createSlot(slot) {
  await q(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
}

async function dropSlot(slot) {
  for (let i = 0; i < 200; i += 1) {
    const { rows: r } = await q('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    if (r.length === 0) return;
    if (!r[0].active) {
      await q('SELECT pg_drop_replication_slot($1)', [slot]);
      return;
    }
    await new Promise((res) => setTimeout(res, 50));
  }
}

async function workload(n) {
  const started = performance.now();
  for (let from = 1; from <= n; from += TXN) {
    await q(
      `INSERT INTO ${table} SELECT g, 'name ' || g, g * 1.25, now() FROM generate_series($1::bigint, $2::bigint) AS g`,
      [from, from + TXN - 1],
    );
  }
  for (let from = 1; from <= n; from += TXN) {
    await q(`UPDATE ${table} SET amount = amount + 1, updated_at = now() WHERE id BETWEEN $1 AND $2`, [
      from,
      from + TXN - 1,
    ]);
  }
  return (performance.now() - started) / 1000;
}

function recvlogical(slot, endpos) {
  const started = performance.now();
  const result = spawnSync(
    join(pgBin, 'pg_recvlogical'),
    [
      '-h',
      conn.host,
      '-p',
      String(conn.port),
      '-U',
      conn.user,
      '-d',
      conn.database,
      '--slot',
      slot,
      '--start',
      '--no-loop',
      '-E',
      endpos,
      '-o',
      'proto_version=1',
      '-o',
      `publication_names=${publication}`,
      '-f',
      '/dev/null',
    ],
    { env: { ...process.env, PGPASSWORD: conn.password }, encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`pg_recvlogical failed: ${result.stderr}`);
  return (performance.now() - started) / 1000;
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function pacedLag(slot) {
  const lags = [];
  let seen = 0;
  let measureFrom = Number.POSITIVE_INFINITY;
  const controller = new AbortController();
  let firstId = rows * 10;
  const run = ferry(slot, {
    once: false,
    signal: controller.signal,
    onEvents(events) {
      const now = Date.now();
      for (const e of events) {
        const at = Date.parse(e.time);
        seen += 1;
        if (at >= measureFrom) lags.push(now - at);
      }
    },
    extra: { heartbeatIntervalMs: 1000 },
  });
  // Let the stream start, then write a warm-up second (JIT, first connections) that is not measured.
  await new Promise((r) => setTimeout(r, 2000));
  const started = performance.now();
  const warmup = PACED_RATE;
  const total = PACED_RATE * PACED_SECONDS + warmup;
  for (let done = 0; done < total; done += TXN) {
    if (done === warmup) measureFrom = Date.now();
    const due = started + (done / PACED_RATE) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await q(
      `INSERT INTO ${table} SELECT g, 'paced ' || g, 1, now() FROM generate_series($1::bigint, $2::bigint) AS g`,
      [firstId, firstId + TXN - 1],
    );
    firstId += TXN;
  }
  const deadline = Date.now() + 30_000;
  while (seen < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  controller.abort();
  await run;
  return { count: lags.length, p50: percentile(lags, 50), p99: percentile(lags, 99), max: Math.max(...lags) };
}

async function snapshotRss(n) {
  const big = `${table}_snap`;
  await q(
    `CREATE TABLE ${big} (id BIGINT PRIMARY KEY, name TEXT, amount NUMERIC(12,2), updated_at TIMESTAMPTZ)`,
  );
  await q(`INSERT INTO ${big} SELECT g, 'name ' || g, g * 1.25, now() FROM generate_series(1, ${n}) AS g`);
  const slot = `${tag}_snap`;
  peakRss = 0;
  sampling = true;
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-db-'));
  const source = createDatabaseSource({
    ...sourceConfig(slot),
    tables: [{ name: big, key: ['id'] }],
    publication: `${publication}_snap`,
    createSlot: true,
    snapshot: 'initial',
  });
  const started = performance.now();
  const summary = await runPipeline({
    name: 'bench',
    source,
    mapping: { canonicalType: 'bench.row', map: (r) => ({ subject: stableStringify(r.key), data: r.after }) },
    sink: createFileSink({ dir: join(dir, 'events'), topic: 'rows' }),
    deadLetters: createFileDeadLetterSink({ dir: join(dir, 'dlq'), pipeline: 'bench' }),
    checkpoints: createFileCheckpointStore({ dir: join(dir, 'cp') }),
    once: true,
    logger: silentLogger(),
  });
  const seconds = (performance.now() - started) / 1000;
  sampling = false;
  rmSync(dir, { recursive: true, force: true });
  await dropSlot(slot);
  await q(`DROP PUBLICATION IF EXISTS ${publication}_snap`);
  await q(`DROP TABLE IF EXISTS ${big}`);
  return { events: summary.eventsWritten, seconds, peakRss };
}

const ferrySlot = `${tag}_ferry`;
const recvSlot = `${tag}_recv`;
const lagSlot = `${tag}_lag`;
const sourceSlot = `${tag}_src`;

/** The source alone, no runtime: what decoding costs in Ferry before mapping, envelopes and the sink. */
async function sourceAlone(slot) {
  const source = createDatabaseSource(sourceConfig(slot));
  const started = performance.now();
  let n = 0;
  for await (const batch of source.read({
    from: undefined,
    signal: new AbortController().signal,
    once: true,
    log: silentLogger(),
    caughtUp: () => {},
  }))
    n += batch.records.length;
  await source.close();
  return { records: n, seconds: (performance.now() - started) / 1000 };
}
try {
  await q(
    `CREATE TABLE ${table} (id BIGINT PRIMARY KEY, name TEXT, amount NUMERIC(12,2), updated_at TIMESTAMPTZ)`,
  );
  await q(`ALTER TABLE ${table} REPLICA IDENTITY FULL`);
  await q(`CREATE PUBLICATION ${publication} FOR TABLE ${table}`);
  await createSlot(ferrySlot);
  await createSlot(recvSlot);
  await createSlot(sourceSlot);
  const writeSeconds = await workload(rows);
  const {
    rows: [end],
  } = await q('SELECT pg_current_wal_insert_lsn()::text AS lsn');
  const changes = rows * 2;

  const recvSeconds = recvlogical(recvSlot, end.lsn);
  const alone = await sourceAlone(sourceSlot);
  sampling = true;
  const run = await ferry(ferrySlot);
  sampling = false;
  const recvRate = changes / recvSeconds;
  const ferryRate = run.events / run.seconds;
  console.log(
    `workload: ${rows} inserts + ${rows} updates, ${TXN} rows per transaction, written in ${writeSeconds.toFixed(1)} s`,
  );
  console.log(
    `pg_recvlogical (pgoutput) to /dev/null: ${recvRate.toFixed(0)} changes/s (${recvSeconds.toFixed(2)} s)`,
  );
  console.log(
    `ferry logical -> file sink: ${ferryRate.toFixed(0)} events/s (${run.seconds.toFixed(2)} s, ${run.events} events)`,
  );
  console.log(
    `ferry logical source alone (no runtime, no sink): ${(alone.records / alone.seconds).toFixed(0)} records/s (${alone.seconds.toFixed(2)} s)`,
  );
  console.log(
    `ratio source alone / pg_recvlogical: ${(alone.records / alone.seconds / recvRate).toFixed(2)}`,
  );
  console.log(`ratio ferry / pg_recvlogical: ${(ferryRate / recvRate).toFixed(2)} (target >= 0.6)`);
  console.log(`peak RSS during the ferry run: ${(peakRss / 1048576).toFixed(0)} MiB`);
  report({
    name: 'ferry logical -> file sink',
    value: ferryRate,
    unit: 'events/s',
    baseline: { name: 'pg_recvlogical', value: recvRate, unit: 'changes/s' },
    target: '>= 0.6',
  });
  report({
    name: 'logical source alone',
    value: alone.records / alone.seconds,
    unit: 'records/s',
    baseline: { name: 'pg_recvlogical', value: recvRate, unit: 'changes/s' },
  });
  await dropSlot(ferrySlot);
  await dropSlot(recvSlot);
  await dropSlot(sourceSlot);

  await createSlot(lagSlot);
  const lag = await pacedLag(lagSlot);
  console.log(
    `commit-to-sink lag at ${PACED_RATE} changes/s for ${PACED_SECONDS} s (after a 1 s warm-up): p50 ${lag.p50} ms, p99 ${lag.p99} ms, max ${lag.max} ms (${lag.count} events; target p99 <= 50 ms)`,
  );
  report({
    name: `commit-to-sink lag p99 at ${PACED_RATE}/s`,
    value: lag.p99,
    unit: 'ms',
    target: '<= 50 ms',
  });
  await dropSlot(lagSlot);

  if (snapshotRows > 0) {
    const snap = await snapshotRss(snapshotRows);
    console.log(
      `snapshot of ${snap.events} rows: ${(snap.events / snap.seconds).toFixed(0)} rows/s (${snap.seconds.toFixed(1)} s), peak RSS ${(snap.peakRss / 1048576).toFixed(0)} MiB (target < 300 MiB)`,
    );
  }
} finally {
  clearInterval(sampler);
  for (const slot of [ferrySlot, recvSlot, lagSlot, sourceSlot]) await dropSlot(slot).catch(() => undefined);
  await q(`DROP PUBLICATION IF EXISTS ${publication}`).catch(() => undefined);
  await q(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
  await client.end();
}
