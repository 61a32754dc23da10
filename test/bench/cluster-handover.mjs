// Handover time in cluster mode (issue 17): how long a pipeline is without a committing owner when its
// worker dies. W `ferry serve --cluster` worker processes share W SQLite polling pipelines (one each) writing
// to Kafka, checkpoints in Kafka with fencing, while this process inserts a row into every table every 50 ms.
// K times: pick a worker (in turn) that owns a pipeline (its GET /cluster `assigned`), SIGKILL it, time the
// handover, then start a replacement worker and wait until the cluster is settled again (every pipeline on
// one worker, one each, each committing again), so every kill starts from the same cluster size.
//
// The handover time of a pipeline is measured from the SIGKILL to the moment a read_committed consumer of
// the checkpoint topic (in this process, started before the workers) receives the first checkpoint of that
// pipeline written by its new owner: a record keyed by the pipeline whose CreateTime (the producer's clock,
// the same machine's) is later than both the kill and the new owner's `since` for that pipeline in its GET
// /cluster. A checkpoint is the last step of a batch (events, dead letters, then the checkpoint in its own
// transaction), so this is "kill → first batch committed by the new owner". The old owner's records all
// have an earlier CreateTime: a SIGKILLed process creates nothing after the kill, and a SIGTERMed one stops
// its pipelines before it leaves the group, so before the rebalance that sets the new owner's `since`.
// Each sample is split in two: kill → the new owner's assignment (`since`, i.e. the session timeout and the
// rebalance) and assignment → first commit (claiming the pipeline, which fences the old owner, reading the
// last checkpoint, one poll, one batch).
//
// Baseline in the same run: a raw kafkajs consumer group with the same session timeout (10 s), heartbeat
// (1 s) and rebalance timeout (30 s) as Ferry's ClusterMembership, W member processes on a W-partition topic
// that this process writes to every 50 ms. K times: SIGKILL a member holding a partition and time until a
// surviving member consumes a message of that partition; then start a replacement. Ratio = Ferry p50 / raw
// p50. Both are dominated by the session timeout: the broker only notices a silent member when it expires.
// Then, if asked, T graceful handovers (SIGTERM instead of SIGKILL), p50 only: no session timeout there.
//
// With 10 samples, p99 (nearest rank) is the largest sample.
// Run: npm run build && npm run services:up && node test/bench/cluster-handover.mjs [kills=10] [sigterms=3] [workers=3]
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kafka, logLevel } from 'kafkajs';
import {
  adopt,
  brokers,
  clusterView,
  createTopic,
  loadAverage,
  quantile,
  startWorker,
  waitFor,
} from './lib/cluster.mjs';
import { reporter } from './report.mjs';

/** ClusterMembership's defaults (packages/kafka/src/cluster/membership.ts), which the raw group copies. */
const SESSION_TIMEOUT_MS = 10_000;
const HEARTBEAT_INTERVAL_MS = 1_000;
const REBALANCE_TIMEOUT_MS = 30_000;
/** A handover that takes longer than this is a failure, not a sample (session timeout + a slow rebalance). */
const HANDOVER_LIMIT_MS = 120_000;
/** Settling after a replacement joins: its start, a rebalance, the moved pipeline's stop and claim. */
const SETTLE_LIMIT_MS = 180_000;

if (process.argv[2] === '--raw-member') {
  await rawMember(process.argv[3], process.argv[4]);
} else {
  await main();
}

async function main() {
  const kills = Number(process.argv[2] ?? 10);
  const terms = Number(process.argv[3] ?? 3);
  const width = Number(process.argv[4] ?? 3);
  const tag = randomBytes(3).toString('hex');
  const kafka = new Kafka({ brokers, clientId: 'ferry-bench-handover', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const topics = [];
  console.log(
    `cluster handover benchmark: ${width} workers, ${width} SQLite polling pipelines (one each) to Kafka, ${kills} SIGKILLs, ${terms} SIGTERMs; session timeout ${SESSION_TIMEOUT_MS / 1000} s, heartbeat ${HEARTBEAT_INTERVAL_MS / 1000} s (Ferry's and the raw group's); load average ${loadAverage()}`,
  );
  try {
    const ferry = await ferryHandovers({ kafka, admin, topics, tag, kills, terms, width });
    const raw = await rawHandovers({ kafka, admin, topics, tag, kills, width });
    const ms = (x) => `${Math.round(x).toLocaleString('en')} ms`;
    const p50 = quantile(
      ferry.kill.map((s) => s.total),
      0.5,
    );
    const p99 = quantile(
      ferry.kill.map((s) => s.total),
      0.99,
    );
    const rawP50 = quantile(raw, 0.5);
    const rawP99 = quantile(raw, 0.99);
    const p99Note = kills <= 100 ? ` (nearest rank over ${kills}: the largest sample)` : '';
    console.log(`\nsession timeout (both): ${ms(SESSION_TIMEOUT_MS)}`);
    console.log(
      `raw kafkajs group, SIGKILL → survivor consumes:   p50 ${ms(rawP50)}, p99 ${ms(rawP99)}${p99Note}`,
    );
    console.log(
      `Ferry, SIGKILL → new owner's first commit:          p50 ${ms(p50)}, p99 ${ms(p99)}${p99Note}; ratio p50 Ferry / raw ${(p50 / rawP50).toFixed(2)}`,
    );
    const assignedP50 = quantile(
      ferry.kill.map((s) => s.assigned),
      0.5,
    );
    const claimP50 = quantile(
      ferry.kill.map((s) => s.total - s.assigned),
      0.5,
    );
    console.log(
      `  of which kill → assigned to the new owner p50 ${ms(assignedP50)}, assigned → first commit p50 ${ms(claimP50)}`,
    );
    const report = reporter(import.meta.url);
    report({
      name: 'handover after SIGKILL, p50',
      value: p50,
      unit: 'ms',
      baseline: { name: 'raw kafkajs group, p50', value: rawP50 },
    });
    report({
      name: 'handover after SIGKILL, p99',
      value: p99,
      unit: 'ms',
      baseline: { name: 'raw kafkajs group, p99', value: rawP99 },
    });
    if (ferry.term.length > 0) {
      const termP50 = quantile(
        ferry.term.map((s) => s.total),
        0.5,
      );
      console.log(
        `Ferry, SIGTERM → new owner's first commit:          p50 ${ms(termP50)} over ${ferry.term.length} (the worker leaves the group: no session timeout to wait out)`,
      );
      report({ name: 'handover after SIGTERM, p50', value: termP50, unit: 'ms' });
    }
    console.log(`load average at the end ${loadAverage()}`);
  } finally {
    // One at a time: a topic that was never created (an unused dead-letter topic) fails only its own call.
    for (const topic of topics) await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

/** The Ferry side: W workers, W pipelines, `kills` SIGKILLs then `terms` SIGTERMs, each with a replacement. */
async function ferryHandovers({ kafka, admin, topics, tag, kills, terms, width }) {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-handover-'));
  const db = new Database(join(dir, 'legacy.sqlite'));
  // WAL: the workers' polls read while this process writes.
  db.pragma('journal_mode = WAL');
  const names = Array.from({ length: width }, (_, i) => `handover-${i}-${tag}`);
  const checkpointTopic = `ferry-bench-handover-cp-${tag}`;
  topics.push(checkpointTopic);
  const files = [];
  for (const [i, name] of names.entries()) {
    db.exec(`CREATE TABLE t${i} (id INTEGER PRIMARY KEY, name TEXT)`);
    topics.push(name, `${name}.dlq`);
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
  pollIntervalMs: 200
mapping:
  subject: id
  fields:
    id: id
    name: name
contract: { type: bench.row, version: 1.0.0 }
sink: { type: kafka, brokers: [${brokers.join(', ')}], topic: ${name}, compression: none }
deadLetters: { type: kafka, brokers: [${brokers.join(', ')}], topic: ${name}.dlq }
checkpoints: { type: kafka, brokers: [${brokers.join(', ')}], topic: ${checkpointTopic}, fencing: true }
`,
    );
    files.push(file);
  }
  // The writer: one row per table every 50 ms, so a new owner always has a batch to commit at its first poll.
  let next = 1;
  const inserts = names.map((_, i) => db.prepare(`INSERT INTO t${i} (id, name) VALUES (?, ?)`));
  const writer = setInterval(() => {
    for (const insert of inserts) insert.run(next, `row ${next}`);
    next += 1;
  }, 50);

  // The observer: every committed checkpoint, as it arrives (read_committed, this process's own group).
  await createTopic(admin, {
    topic: checkpointTopic,
    numPartitions: 1,
    configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
  });
  const arrivals = new Map(names.map((n) => [n, []]));
  const observer = kafka.consumer({ groupId: `ferry-bench-observer-${tag}`, maxWaitTimeInMs: 50 });
  await observer.connect();
  await observer.subscribe({ topic: checkpointTopic, fromBeginning: true });
  const joined = new Promise((resolve) => observer.on(observer.events.GROUP_JOIN, resolve));
  await observer.run({
    eachMessage: async ({ message }) => {
      const list = arrivals.get(message.key?.toString());
      // Keep a bounded tail: a handover looks only at records since its own kill.
      if (list) list.push({ created: Number(message.timestamp), at: Date.now() });
      if (list && list.length > 2000) list.splice(0, 1000);
    },
  });
  await joined;

  const group = `ferry-bench-handover-${tag}`;
  topics.push(`ferry-cluster.${group}`);
  let serial = 0;
  const workers = [];
  const spawnWorker = async () => {
    serial += 1;
    const w = await startWorker({ files, group, worker: `w${serial}` });
    workers.push(w);
    return w;
  };
  /** Settled: each pipeline on exactly one live worker, one each, and each committed since it got there. */
  const settled = async () => {
    const views = await Promise.all(workers.map(clusterView));
    if (views.some((v) => v === undefined || v.assigned.length !== 1)) return false;
    const owners = new Map(views.map((v) => [v.assigned[0].pipeline, Date.parse(v.assigned[0].since)]));
    return (
      owners.size === names.length &&
      names.every((n) => arrivals.get(n).some((a) => a.created > owners.get(n)))
    );
  };
  /** One handover: `signal` to the worker in turn that owns a pipeline; the sample in ms, and its split. */
  const handover = async (index, signal) => {
    const victim = workers[index % workers.length];
    const view = await clusterView(victim);
    const pipeline = view.assigned[0].pipeline;
    const killedAt = Date.now();
    victim.kill(signal);
    workers.splice(workers.indexOf(victim), 1);
    let assignedAt;
    let committedAt;
    await waitFor(
      async () => {
        if (assignedAt === undefined) {
          for (const v of await Promise.all(workers.map(clusterView))) {
            const mine = v?.assigned.find((a) => a.pipeline === pipeline);
            if (mine) assignedAt = Date.parse(mine.since);
          }
        }
        if (assignedAt === undefined) return false;
        const after = Math.max(killedAt, assignedAt);
        committedAt = arrivals.get(pipeline).find((a) => a.created > after)?.at;
        return committedAt !== undefined;
      },
      HANDOVER_LIMIT_MS,
      `${pipeline} to be committed by a new owner after ${signal} of ${victim.name}`,
      50,
    );
    const exit = await victim.exited;
    if (signal === 'SIGTERM' && exit.code !== 0)
      throw new Error(`${victim.name} ended ${exit.code} on SIGTERM: ${victim.stderr()}`);
    const sample = { total: committedAt - killedAt, assigned: Math.max(0, assignedAt - killedAt) };
    // After SIGTERM the old worker stops its pipelines, then leaves the group: when it ended says how much of
    // the wait was its own stopping.
    const ended = signal === 'SIGTERM' ? ` (it exited after ${exit.at - killedAt} ms)` : '';
    console.log(
      `${signal} ${index + 1}: ${victim.name} had ${pipeline}${ended}; assigned elsewhere after ${sample.assigned} ms, first commit by the new owner after ${sample.total} ms`,
    );
    await spawnWorker();
    await waitFor(settled, SETTLE_LIMIT_MS, 'the cluster to settle after a replacement joined', 250);
    return sample;
  };

  const samples = { kill: [], term: [] };
  try {
    for (let i = 0; i < width; i += 1) await spawnWorker();
    await waitFor(settled, SETTLE_LIMIT_MS, `${width} workers to run one pipeline each`, 250);
    for (let i = 0; i < kills; i += 1) samples.kill.push(await handover(i, 'SIGKILL'));
    for (let i = 0; i < terms; i += 1) samples.term.push(await handover(i, 'SIGTERM'));
    return samples;
  } finally {
    clearInterval(writer);
    await Promise.all(workers.map((w) => w.stop()));
    await observer.disconnect();
    db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The baseline: a raw kafkajs consumer group of W member processes; `kills` SIGKILLs with replacements. */
async function rawHandovers({ kafka, admin, topics, tag, kills, width }) {
  const topic = `ferry-bench-handover-raw-${tag}`;
  const group = `ferry-bench-handover-raw-${tag}`;
  topics.push(topic);
  await createTopic(admin, { topic, numPartitions: width });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  let sending = true;
  const sender = (async () => {
    for (let n = 0; sending; n += 1) {
      await producer.send({
        topic,
        messages: Array.from({ length: width }, (_, partition) => ({ partition, value: String(n) })),
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();

  /** Each member: its partitions since its last join, and when it first consumed each since then. */
  const members = [];
  let serial = 0;
  const spawnMember = () => {
    serial += 1;
    const child = adopt(
      fork(import.meta.filename, ['--raw-member', topic, group], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
    const member = { name: `m${serial}`, child, partitions: [], firsts: new Map() };
    child.on('message', (m) => {
      if (m.type === 'join') {
        member.partitions = m.partitions;
        member.firsts = new Map();
      } else if (m.type === 'first') member.firsts.set(m.partition, Date.now());
    });
    members.push(member);
  };
  const settled = () => {
    const held = members.flatMap((m) => m.partitions);
    return (
      members.every((m) => m.partitions.length === 1 && m.firsts.has(m.partitions[0])) &&
      new Set(held).size === width
    );
  };
  const samples = [];
  try {
    for (let i = 0; i < width; i += 1) spawnMember();
    await waitFor(settled, SETTLE_LIMIT_MS, `${width} raw members to consume one partition each`, 50);
    for (let i = 0; i < kills; i += 1) {
      const victim = members[i % members.length];
      const [partition] = victim.partitions;
      const killedAt = Date.now();
      victim.child.kill('SIGKILL');
      members.splice(members.indexOf(victim), 1);
      let consumedAt;
      await waitFor(
        () => {
          consumedAt = members
            .map((m) => m.firsts.get(partition))
            .find((at) => at !== undefined && at > killedAt);
          return consumedAt !== undefined;
        },
        HANDOVER_LIMIT_MS,
        `partition ${partition} to be consumed by a survivor`,
        10,
      );
      samples.push(consumedAt - killedAt);
      console.log(
        `raw SIGKILL ${i + 1}: ${victim.name} had partition ${partition}; a survivor consumed it after ${consumedAt - killedAt} ms`,
      );
      spawnMember();
      await waitFor(settled, SETTLE_LIMIT_MS, 'the raw group to settle after a replacement joined', 50);
    }
    return samples;
  } finally {
    sending = false;
    await sender.catch(() => undefined);
    await producer.disconnect();
    for (const m of members) m.child.kill('SIGTERM');
    await Promise.all(
      members.map((m) =>
        m.child.exitCode === null ? new Promise((r) => m.child.on('close', r)) : undefined,
      ),
    );
  }
}

/** A raw group member (a child process): tells its parent its partitions at each join, and each first message. */
async function rawMember(topic, group) {
  const kafka = new Kafka({ brokers, clientId: 'ferry-bench-raw-member', logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({
    groupId: group,
    sessionTimeout: SESSION_TIMEOUT_MS,
    heartbeatInterval: HEARTBEAT_INTERVAL_MS,
    rebalanceTimeout: REBALANCE_TIMEOUT_MS,
    maxWaitTimeInMs: 50,
  });
  let seen = new Set();
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    seen = new Set();
    process.send({ type: 'join', partitions: payload.memberAssignment[topic] ?? [] });
  });
  // A member outlives nothing: if the bench dies, the IPC channel closes and the member ends.
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => {
    consumer.disconnect().finally(() => process.exit(0));
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: false });
  await consumer.run({
    eachMessage: async ({ partition }) => {
      if (seen.has(partition)) return;
      seen.add(partition);
      process.send({ type: 'first', partition });
    },
  });
}
