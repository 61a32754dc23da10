// Benchmark: PostgreSQL logical replication (pgoutput) to a file, like for like. The same N streamed inserts
// (transactions of 100, no snapshot) are read by each tool from its own copy of one slot created before the
// inserts, so every run decodes exactly the same WAL range:
//   - pg_recvlogical -> /dev/null (the transport ceiling);
//   - Debezium 3.6.1.Final embedded engine -> JSON lines file (test/bench/peers/debezium, built with Maven);
//   - Ferry logical mode -> file sink, in its own process as `ferry run --once` runs it (lib/ferry-run.mjs).
// Rounds are interleaved (each round runs every tool once, in an order rotated by one per round); per tool the
// median events/s, CPU seconds per 1M events and peak RSS are reported, with the load average at start and
// end and the ratios Ferry/Debezium against the targets. Then, in this process: Ferry's logical source
// alone on the same changes (its CPU per event, to show the runtime's cost beyond the source), and the
// commit-to-sink lag at a paced 5,000 changes/s (`--no-lag` skips it).
// Run after a build, with the services up:
//   node test/bench/database-logical.mjs [rows=1000000] [rounds=3] [--no-lag] [--ferry-node=<node> --ferry-root=<dir>]
// (--ferry-node/--ferry-root: Ferry's child on another Node, as in database-logical-kafka.mjs)
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
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
import { ensureDebeziumPeer, runDebeziumPeer } from './lib/debezium-peer.mjs';
import {
  conn,
  ferryRuntimeFromArgs,
  ferryRuntimeLine,
  openWorkload,
  recvlogical,
  runFerry,
  TXN,
  writePipeline,
} from './lib/logical-workload.mjs';
import { loadAverage, medians, mib, rotated, roundFigures, roundLine, thousands } from './lib/measure.mjs';
import { reporter } from './report.mjs';

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const rows = Number(positional[0] ?? 1_000_000);
const rounds = Number(positional[1] ?? 3);
const withLag = !process.argv.includes('--no-lag');
const ferryRuntime = ferryRuntimeFromArgs(process.argv);
const report = reporter(import.meta.url);
const PACED_RATE = 5_000;
const PACED_SECONDS = 10;

const classpath = ensureDebeziumPeer();
const loadAtStart = loadAverage();
const w = await openWorkload('bench');

const tools = {
  pg_recvlogical: (slot, endLsn) => recvlogical({ slot, publication: w.publication, endLsn }),
  async debezium(slot) {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-debezium-'));
    try {
      return await runDebeziumPeer(classpath, {
        mode: 'file',
        events: rows,
        out: join(dir, 'changes.jsonl'),
        table: `public.${w.table}`,
        slot,
        publication: w.publication,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  async ferry(slot) {
    const pipeline = writePipeline({
      name: `bench-${w.tag}`,
      table: w.table,
      slot,
      publication: w.publication,
      sink: { type: 'file', dir: join(tmpdir(), `ferry-bench-events-${w.tag}`) },
    });
    try {
      const run = await runFerry(pipeline.file, ferryRuntime);
      if (run.events !== rows) throw new Error(`ferry wrote ${run.events} events, expected ${rows}`);
      return run;
    } finally {
      pipeline.remove();
      rmSync(join(tmpdir(), `ferry-bench-events-${w.tag}`), { recursive: true, force: true });
    }
  },
};

/** Ferry's logical source on the workload's table, reading `slot`. */
function logicalSource(slot, extra = {}) {
  return createDatabaseSource({
    mode: 'logical',
    connection: {
      type: 'postgres',
      host: conn.host,
      port: conn.port,
      username: conn.user,
      password: conn.password,
      database: conn.database,
    },
    tables: [{ name: w.table, key: ['id'] }],
    slot,
    publication: w.publication,
    snapshot: 'never',
    ...extra,
  });
}

/** The source alone, no runtime: what decoding costs in Ferry before mapping, envelopes and the sink. */
async function sourceAlone(slot) {
  const source = logicalSource(slot);
  const cpu = process.cpuUsage();
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
  const used = process.cpuUsage(cpu);
  return {
    records: n,
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
  };
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Commit-to-sink lag of the in-process runtime at a paced rate, on a slot at the end of the WAL. */
async function pacedLag(slot) {
  await w.q(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  // The test server runs synchronous_commit = off, so commits reach the walsender only when the WAL writer
  // wakes (every 200 ms): that would be measured as lag. Production commits are synchronous.
  await w.q('SET synchronous_commit = on');
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-db-'));
  const lags = [];
  let seen = 0;
  let measureFrom = Number.POSITIVE_INFINITY;
  const controller = new AbortController();
  const fileSink = createFileSink({ dir: join(dir, 'events'), topic: 'rows' });
  const run = runPipeline({
    name: 'bench',
    source: logicalSource(slot, { heartbeatIntervalMs: 1000 }),
    mapping: {
      canonicalType: 'bench.row',
      map: (r) => ({ subject: stableStringify(r.key), data: r.after ?? r.before }),
    },
    sink: {
      type: 'file',
      async write(events) {
        await fileSink.write(events);
        const now = Date.now();
        for (const e of events) {
          seen += 1;
          const at = Date.parse(e.time);
          if (at >= measureFrom) lags.push(now - at);
        }
      },
      close: () => fileSink.close(),
    },
    deadLetters: createFileDeadLetterSink({ dir: join(dir, 'dlq'), pipeline: 'bench' }),
    checkpoints: createFileCheckpointStore({ dir: join(dir, 'cp') }),
    once: false,
    signal: controller.signal,
    logger: silentLogger(),
  });
  // Let the stream start, then write a warm-up second (JIT, first connections) that is not measured.
  await new Promise((r) => setTimeout(r, 2000));
  let firstId = rows * 10;
  const started = performance.now();
  const total = PACED_RATE * (PACED_SECONDS + 1);
  for (let done = 0; done < total; done += TXN) {
    if (done === PACED_RATE) measureFrom = Date.now();
    const wait = started + (done / PACED_RATE) * 1000 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await w.q(
      `INSERT INTO ${w.table} SELECT g, 'paced ' || g, 1, now() FROM generate_series($1::bigint, $2::bigint) AS g`,
      [firstId, firstId + TXN - 1],
    );
    firstId += TXN;
  }
  const deadline = Date.now() + 30_000;
  while (seen < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  controller.abort();
  await run;
  rmSync(dir, { recursive: true, force: true });
  await w.dropSlot(slot);
  return { count: lags.length, p50: percentile(lags, 50), p99: percentile(lags, 99), max: Math.max(...lags) };
}

try {
  const { writeSeconds, endLsn } = await w.prepare(rows);
  console.log(
    `workload: ${rows.toLocaleString('en')} inserts, ${TXN} rows per transaction, no snapshot, written in ${writeSeconds.toFixed(1)} s; ${rounds} interleaved rounds; load average at start ${loadAtStart}`,
  );
  console.log(ferryRuntimeLine(ferryRuntime));
  const names = Object.keys(tools);
  const measured = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < rounds; round += 1) {
    for (const name of rotated(names, round)) {
      const slot = await w.slotCopy(name);
      const run = await tools[name](slot, endLsn);
      await w.dropSlot(slot);
      const figures = roundFigures(rows, run);
      measured[name].push(figures);
      console.log(roundLine(round, name, 14, figures, run));
    }
  }
  const summary = medians(names, measured);
  const loadAtEnd = loadAverage();
  console.log(`\nmedians over ${rounds} rounds of ${rows.toLocaleString('en')} changes:`);
  console.log('tool             events/s  CPU-s per 1M  peak RSS');
  for (const n of names)
    console.log(
      `${n.padEnd(15)} ${thousands(summary[n].rate).padStart(9)}  ${summary[n].cpuPerMillion.toFixed(1).padStart(12)}  ${mib(summary[n].rss).padStart(8)}`,
    );
  const { ferry, debezium, pg_recvlogical: recv } = summary;
  const rateRatio = ferry.rate / debezium.rate;
  const cpuRatio = ferry.cpuPerMillion / debezium.cpuPerMillion;
  const rssRatio = ferry.rss / debezium.rss;
  const met = (ok) => (ok ? 'met' : 'NOT met');
  console.log(
    `ferry / debezium: events/s ${rateRatio.toFixed(2)} (target >= 1.5, ${met(rateRatio >= 1.5)}), CPU per event ${cpuRatio.toFixed(2)} (target <= 0.5, ${met(cpuRatio <= 0.5)}), peak RSS ${rssRatio.toFixed(2)} (target <= 0.2, ${met(rssRatio <= 0.2)})`,
  );
  console.log(
    `ferry / pg_recvlogical ${(ferry.rate / recv.rate).toFixed(2)}, debezium / pg_recvlogical ${(debezium.rate / recv.rate).toFixed(2)}`,
  );
  console.log(`load average at start ${loadAtStart}, at end of the rounds ${loadAtEnd}`);
  const debeziumBaseline = (value, unit) => ({ name: 'Debezium embedded -> JSON file', value, unit });
  report({
    name: 'ferry logical -> file sink',
    value: ferry.rate,
    unit: 'events/s',
    baseline: debeziumBaseline(debezium.rate),
    target: '>= 1.5',
  });
  report({
    name: 'ferry CPU-s per 1M events',
    value: ferry.cpuPerMillion,
    unit: 'CPU-s',
    baseline: debeziumBaseline(debezium.cpuPerMillion),
    target: '<= 0.5',
  });
  report({
    name: 'ferry peak RSS',
    value: ferry.rss / 1048576,
    unit: 'MiB',
    baseline: debeziumBaseline(debezium.rss / 1048576),
    target: '<= 0.2',
  });
  report({
    name: 'debezium -> JSON file',
    value: debezium.rate,
    unit: 'events/s',
    baseline: { name: 'pg_recvlogical', value: recv.rate, unit: 'changes/s' },
  });
  report({
    name: `load average (1 min) at end of rounds; at start ${loadAtStart.split(' ')[0]}`,
    value: Number(loadAtEnd.split(' ')[0]),
    unit: '',
  });

  const alone = await sourceAlone(await w.slotCopy('source'));
  const sourceUs = (alone.cpuSeconds / alone.records) * 1e6;
  const beyondUs = ferry.cpuPerMillion - sourceUs;
  console.log(
    `ferry logical source alone (in this process, no runtime, no sink): ${thousands(alone.records / alone.seconds)} records/s, ${sourceUs.toFixed(1)} µs CPU per change; ferry's cost beyond the source ${beyondUs.toFixed(1)} µs CPU per event (target <= 10)`,
  );
  if (alone.records !== rows) console.log(`  (the source alone read ${alone.records} records, not ${rows})`);
  report({
    name: `ferry CPU beyond the source (source alone ${sourceUs.toFixed(1)} µs/event)`,
    value: beyondUs,
    unit: 'µs/event',
    target: '<= 10 µs',
  });

  if (withLag) {
    const lag = await pacedLag(`${w.tag}_lag`);
    console.log(
      `commit-to-sink lag at ${PACED_RATE} changes/s for ${PACED_SECONDS} s (after a 1 s warm-up): p50 ${lag.p50} ms, p99 ${lag.p99} ms, max ${lag.max} ms (${lag.count} events; target p99 <= 50 ms); load ${loadAverage()}`,
    );
    report({
      name: `commit-to-sink lag p99 at ${PACED_RATE}/s`,
      value: lag.p99,
      unit: 'ms',
      target: '<= 50 ms',
    });
  }
} finally {
  await w.close();
}
