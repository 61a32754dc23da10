// Scaling in cluster mode (issue 17): six CPU-bound pipelines on one `ferry serve --cluster` worker against
// the same six on two workers, on this 2-core machine. Each pipeline polls its own SQLite table (better-sqlite3
// in the worker process, no server) through a declarative mapping with typed fields (dates, a decimal, a
// lookup, booleans, a nested name), builds the CloudEvents and sends them to its own Kafka topic (small
// messages, compression none), checkpoints in Kafka with fencing, as cluster mode requires. The work per
// event is Ferry's (read, map, envelope, encode, produce); the broker only appends.
//
// One measurement: start the workers on six empty tables, wait until the cluster is settled (each pipeline on
// one worker, 6 or 3+3, each having committed one warm-up row), then swap in six tables of N rows each (one
// SQLite transaction renaming pre-filled tables into place, so the rows appear at once and the fill is not
// timed) and time until all six topics hold N + 1 events (the sum of their high watermarks, asked every
// 100 ms). Startup and rebalancing are not in the figure: it is the steady throughput of the cluster.
// Rounds alternate 1 worker and 2 workers (load from others on this shared machine hits both alike); the
// median of each is reported, and the ratio 2-worker / 1-worker events/s. The CPU seconds used during the
// timed part by the worker processes, the broker (from test/services' pid file) and the rest of the machine
// (/proc/stat) are printed, so the reader sees where the second core went.
//
// What limits it here (seen 2026-12-05 on a quiet machine): one worker does not fill the machine. Its main
// thread (the JavaScript of all six pipelines) runs at about 0.85 of a core; its other threads (GC, I/O) add
// about 0.4; the broker about 0.15; a quarter of the two cores stays idle. Two workers have two main threads
// and leave the machine idle no more than 2%: what the second worker gets is the second core minus the first
// worker's helper threads, the broker and this process, so the ratio lands near 1.5, not 2. A machine with
// more cores than workers, with the broker elsewhere, was not measured.
// Batches of 2,000 rows (the default is 500) keep the broker's share (a produce and a checkpoint transaction
// per batch) small.
// Run: npm run build && npm run services:up && node test/bench/cluster-scaling.mjs [rows=50000] [rounds=2] [batchSize=2000]
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kafka, logLevel } from 'kafkajs';
import {
  brokerPid,
  brokers,
  cpuSeconds,
  createTopic,
  getJson,
  loadAverage,
  startWorker,
  waitFor,
} from './lib/cluster.mjs';
import { reporter } from './report.mjs';

const rows = Number(process.argv[2] ?? 50_000);
const rounds = Number(process.argv[3] ?? 2);
const batchSize = Number(process.argv[4] ?? 2000);
const PIPELINES = 6;
/** Start, join, the first rebalances and each pipeline's first commit; generous for a loaded machine. */
const SETTLE_LIMIT_MS = 180_000;

const kafka = new Kafka({ brokers, clientId: 'ferry-bench-scaling', logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
const topics = [];
const broker = brokerPid();

/** The machine's busy and total CPU seconds so far, over all cores (/proc/stat). */
function machineCpu() {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const idle = ticks[3] + ticks[4];
  const total = ticks.reduce((s, t) => s + t, 0);
  return { busy: (total - idle) / 100, total: total / 100 };
}

/** A pre-filled table of `count` rows starting at id `from`, under `name`. */
function fill(db, name, from, count) {
  db.exec(`CREATE TABLE ${name} (
    id INTEGER PRIMARY KEY, ref TEXT, family TEXT, given TEXT, dob TEXT, sex TEXT,
    active TEXT, balance TEXT, created TEXT, notes TEXT)`);
  const insert = db.prepare(`INSERT INTO ${name} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  db.transaction(() => {
    for (let id = from; id < from + count; id += 1) {
      insert.run(
        id,
        `A${String(id).padStart(7, '0')}`,
        `  FAMILY${id % 997}  `,
        `Given${id % 389}`,
        `${String((id % 28) + 1).padStart(2, '0')}/${String((id % 12) + 1).padStart(2, '0')}/${1950 + (id % 50)}`,
        id % 3 === 0 ? 'F' : id % 3 === 1 ? 'M' : 'U',
        id % 2 === 0 ? 'Y' : 'N',
        `${id % 10_000}.${String(id % 100).padStart(2, '0')}`,
        new Date(Date.UTC(2024, 0, 1) + id * 1000).toISOString(),
        `note ${id}`,
      );
    }
  })();
}

/** One measurement with `count` workers: events/s over the timed part and the CPU seconds used meanwhile. */
async function measure(count) {
  const tag = randomBytes(3).toString('hex');
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-scaling-'));
  const db = new Database(join(dir, 'legacy.sqlite'));
  db.pragma('journal_mode = WAL');
  const names = Array.from({ length: PIPELINES }, (_, i) => `scaling-${i}-${tag}`);
  const checkpointTopic = `ferry-bench-scaling-cp-${tag}`;
  const group = `ferry-bench-scaling-${tag}`;
  topics.push(checkpointTopic, `ferry-cluster.${group}`);
  const files = [];
  for (const [i, name] of names.entries()) {
    // The live table gets one warm-up row once the cluster is settled; the staging table holds the N rows
    // after it and is swapped in when timed.
    fill(db, `t${i}`, 1, 0);
    fill(db, `staging${i}`, 2, rows);
    topics.push(name, `${name}.dlq`);
    await createTopic(admin, { topic: name, numPartitions: 3 });
    const file = join(dir, `${name}.yaml`);
    await writeFile(
      file,
      `pipeline: ${name}
source:
  type: database
  mode: polling
  connection: { type: better-sqlite3, database: ./legacy.sqlite }
  tables:
    - { name: t${i}, key: [id], incrementingColumn: id }
  pollIntervalMs: 100
  batchSize: ${batchSize}
mapping:
  subject: ref
  fields:
    ref: { from: ref, required: true }
    name.family: family
    name.given: given
    dateOfBirth: { from: dob, type: date, format: DD/MM/YYYY }
    gender: { from: sex, lookup: { M: male, F: female }, lookupDefault: not-known }
    active: { from: active, type: boolean }
    balance: { from: balance, type: decimal }
    createdAt: { from: created, type: datetime }
    notes: notes
    source: { const: BENCH }
contract: { type: bench.person, version: 1.0.0 }
sink: { type: kafka, brokers: [${brokers.join(', ')}], topic: ${name}, compression: none }
deadLetters: { type: kafka, brokers: [${brokers.join(', ')}], topic: ${name}.dlq }
checkpoints: { type: kafka, brokers: [${brokers.join(', ')}], topic: ${checkpointTopic}, fencing: true }
`,
    );
    files.push(file);
  }
  const workers = [];
  try {
    for (let i = 0; i < count; i += 1) workers.push(await startWorker({ files, group, worker: `s${i + 1}` }));
    // Settled: every pipeline on exactly one worker, evenly; then each writes (and commits) a warm-up row, so
    // that claiming, loading the checkpoint and connecting the producers are behind it before the clock.
    const settled = (warm) => async () => {
      const states = await Promise.all(
        workers.map(
          async (w) => (await getJson(`${w.base}/pipelines`).catch(() => ({ pipelines: [] }))).pipelines,
        ),
      );
      const running = states.map((ps) =>
        ps.filter((p) => p.state === 'running' && (!warm || p.counts.eventsWritten >= 1)).map((p) => p.name),
      );
      const all = running.flat();
      return (
        all.length === PIPELINES &&
        new Set(all).size === PIPELINES &&
        running.every((r) => r.length === PIPELINES / count)
      );
    };
    await waitFor(
      settled(false),
      SETTLE_LIMIT_MS,
      `${count} worker(s) to run the ${PIPELINES} pipelines evenly`,
      250,
    );
    for (let i = 0; i < PIPELINES; i += 1) fill(db, `warm${i}`, 1, 1);
    db.transaction(() => {
      for (let i = 0; i < PIPELINES; i += 1) db.exec(`INSERT INTO t${i} SELECT * FROM warm${i}`);
    })();
    await waitFor(
      settled(true),
      SETTLE_LIMIT_MS,
      `the ${PIPELINES} pipelines to write their warm-up row`,
      250,
    );
    const cpu = () => ({
      workers: workers.reduce((s, w) => s + (cpuSeconds(w.pid) ?? 0), 0),
      mainThreads: workers.reduce((s, w) => s + (cpuSeconds(w.pid, { mainThread: true }) ?? 0), 0),
      broker: broker === undefined ? Number.NaN : (cpuSeconds(broker) ?? Number.NaN),
      self: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
      machine: machineCpu(),
    });
    const before = cpu();
    const started = performance.now();
    // The swap: one transaction, so each table's N rows appear to the pipelines' next poll at once.
    db.transaction(() => {
      for (let i = 0; i < PIPELINES; i += 1) {
        db.exec(`DROP TABLE t${i}`);
        db.exec(`ALTER TABLE staging${i} RENAME TO t${i}`);
      }
    })();
    const want = PIPELINES * (rows + 1);
    let have = 0;
    await waitFor(
      async () => {
        const offsets = await Promise.all(names.map((topic) => admin.fetchTopicOffsets(topic)));
        have = offsets.flat().reduce((s, p) => s + Number(p.high), 0);
        return have >= want;
      },
      // A floor of 2,000 events/s over all six is far below what one worker does; past it, something is stuck.
      Math.max(60_000, (want / 2_000) * 1000),
      `${want} events in the six topics`,
      100,
    );
    const seconds = (performance.now() - started) / 1000;
    const after = cpu();
    const machineBusy = after.machine.busy - before.machine.busy;
    const used = {
      workers: after.workers - before.workers,
      mainThreads: after.mainThreads - before.mainThreads,
      broker: after.broker - before.broker,
      self: after.self - before.self,
    };
    return {
      count,
      seconds,
      rate: (PIPELINES * rows) / seconds,
      ...used,
      others: machineBusy - used.workers - (Number.isNaN(used.broker) ? 0 : used.broker) - used.self,
      capacity: after.machine.total - before.machine.total,
      idle: after.machine.total - before.machine.total - machineBusy,
    };
  } catch (error) {
    // Say what the workers saw: each pipeline's state and last error, and the tail of their logs.
    for (const w of workers) {
      const states = await getJson(`${w.base}/pipelines`).catch((e) => ({ error: e.message }));
      console.error(
        `worker ${w.name}: ${JSON.stringify(states.pipelines?.map((p) => [p.name, p.state, p.error?.code, p.counts?.eventsWritten]) ?? states)}`,
      );
      console.error(w.stderr().slice(-4000));
    }
    throw error;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

console.log(
  `cluster scaling benchmark: ${PIPELINES} SQLite polling pipelines × ${rows.toLocaleString('en')} rows to Kafka (compression none, checkpoints with fencing), 1 vs 2 workers, ${rounds} round(s); load average ${loadAverage()}`,
);
const fmt = (r) =>
  `${r.count} worker${r.count > 1 ? 's' : ' '}: ${r.seconds.toFixed(1)} s, ${Math.round(r.rate).toLocaleString('en')} events/s; CPU s: workers ${r.workers.toFixed(1)} (main threads ${r.mainThreads.toFixed(1)}; ${Math.round((PIPELINES * rows) / r.workers).toLocaleString('en')} events per worker CPU s), broker ${r.broker.toFixed(1)}, this process ${r.self.toFixed(1)}, everything else ${r.others.toFixed(1)}, idle ${r.idle.toFixed(1)} (of ${r.capacity.toFixed(1)} on ${Math.round(r.capacity / r.seconds)} cores)`;
const results = { 1: [], 2: [] };
try {
  for (let round = 0; round < rounds; round += 1) {
    // Alternate which goes first, so a trend in the machine's load does not favour one side.
    for (const count of round % 2 === 0 ? [1, 2] : [2, 1]) {
      const result = await measure(count);
      results[count].push(result);
      console.log(`round ${round + 1}, ${fmt(result)}`);
    }
  }
} finally {
  // One at a time: a topic that was never created (an unused dead-letter topic) fails only its own call.
  for (const topic of topics) await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
}
const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const one = median(results[1].map((r) => r.rate));
const two = median(results[2].map((r) => r.rate));
const perRound = results[1].map((r, i) => (results[2][i].rate / r.rate).toFixed(2)).join(', ');
console.log(`1 worker   ${Math.round(one).toLocaleString('en')} events/s (median)`);
console.log(
  `2 workers  ${Math.round(two).toLocaleString('en')} events/s (median); ratio 2-worker / 1-worker ${(two / one).toFixed(2)} (per round ${perRound}; 2.00 would be perfect)`,
);
// What 2 cores allow at the 1-worker run's CPU per event: it already kept this many cores busy (its worker,
// the broker, this process). Two workers can beat it only by spending less CPU per event (a smaller heap each).
const busy = median(
  results[1].map((r) => (r.workers + (Number.isNaN(r.broker) ? 0 : r.broker) + r.self) / r.seconds),
);
console.log(
  `the 1-worker runs kept ${busy.toFixed(2)} cores busy (worker, broker, this process): at the same CPU per event, 2 cores would cap the ratio at about ${(2 / busy).toFixed(2)}`,
);
console.log(`load average at the end ${loadAverage()}`);
reporter(import.meta.url)({
  name: '6 pipelines on 2 workers',
  value: two,
  unit: 'events/s',
  baseline: { name: '1 worker', value: one },
  target: 'close to 2×',
});
