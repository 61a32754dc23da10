// Benchmark: PostgreSQL logical replication -> Kafka, like for like. The same N streamed inserts (transactions
// of 100, no snapshot) are read by each tool from its own copy of one slot created before the inserts, and
// sent to a fresh 3-partition topic with gzip and acks=all by an idempotent producer:
//   - Kafka's own ProducerPerformance (the harness's Kafka jars) sending N records of the same size: the
//     broker's ceiling here (it reads no database);
//   - Debezium 3.6.1.Final embedded -> a plain KafkaProducer with Kafka Connect's worker producer settings
//     (test/bench/peers/debezium, kafka mode), keyed by the record key;
//   - Ferry -> Kafka with the default settings (at-least-once), once with `transport: kafkajs` and once with
//     `transport: platformatic`, and Ferry with `delivery: exactly-once` (kafkajs transactions, dead letters
//     and checkpoints in Kafka), each in its own process as `ferry run --once` runs it.
// Rounds are interleaved (each round runs every tool once, in an order rotated by one per round); per tool the
// median events/s, CPU seconds per 1M events and peak RSS are reported, with the load average at start and
// end and the ratios against Debezium with the targets.
// Run after a build, with the services up:
//   node test/bench/database-logical-kafka.mjs [rows=1000000] [rounds=3] [--ferry-node=<node> --ferry-root=<dir>]
// --ferry-node/--ferry-root run Ferry's child on another Node from a copy of the repository installed and
// built for it (how the platformatic transport, which installs only on Node >= 22.19, is measured here).
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { ensureDebeziumPeer, runDebeziumPeer } from './lib/debezium-peer.mjs';
import {
  ferryRuntimeFromArgs,
  ferryRuntimeLine,
  openWorkload,
  runFerry,
  TXN,
  writePipeline,
} from './lib/logical-workload.mjs';
import {
  loadAverage,
  medians,
  mib,
  producerPerformanceArgs,
  rotated,
  roundFigures,
  roundLine,
  runMeasured,
  thousands,
} from './lib/measure.mjs';
import { reporter } from './report.mjs';

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const rows = Number(positional[0] ?? 1_000_000);
const rounds = Number(positional[1] ?? 3);
const ferryRuntime = ferryRuntimeFromArgs(process.argv);
const report = reporter(import.meta.url);
const brokers = ['127.0.0.1:59092'];
const PARTITIONS = 3;
const run = randomBytes(3).toString('hex');

const classpath = ensureDebeziumPeer();
const loadAtStart = loadAverage();
const kafka = new Kafka({ brokers, clientId: 'ferry-bench', logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
const w = await openWorkload('benchk');

const topics = new Set();
let topicCount = 0;
async function topic(tool, create = true) {
  topicCount += 1;
  const name = `ferry-bench-${tool}-${run}-${topicCount}`;
  if (create)
    await admin.createTopics({ topics: [{ topic: name, numPartitions: PARTITIONS }], waitForLeaders: true });
  topics.add(name);
  return name;
}
async function dropTopics(names) {
  const existing = new Set(await admin.listTopics());
  const gone = names.filter((n) => existing.has(n));
  if (gone.length > 0) await admin.deleteTopics({ topics: gone }).catch(() => undefined);
  for (const n of names) topics.delete(n);
}

// ProducerPerformance sends change-shaped JSON values (the main fields of Debezium's envelope for these rows,
// about 300 bytes) from a file, so gzip sees JSON rather than random bytes.
const payloads = join(tmpdir(), `ferry-bench-payloads-${run}.txt`);
writeFileSync(
  payloads,
  Array.from({ length: 1000 }, (_, i) =>
    JSON.stringify({
      before: null,
      after: {
        id: i + 1,
        name: `name ${i + 1}`,
        amount: ((i + 1) * 1.25).toFixed(2),
        updated_at: new Date(0).toISOString(),
      },
      source: {
        connector: 'postgresql',
        name: 'ferrybench',
        db: 'ferry',
        schema: 'public',
        table: w.table,
        txId: 1000 + i,
        lsn: 900000000 + i * 248,
      },
      op: 'c',
      ts_ms: 1_700_000_000_000 + i,
    }),
  ).join('\n'),
);
// The harness's jar cache, as test/services/lib/common.sh finds it.
// biome-ignore lint/suspicious/noUndeclaredEnvVars: read by a bench run with node, outside turbo's tasks
const cacheHome = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
const kafkaLibs = join(cacheHome, 'ferry', 'kafka-3.9.2', 'libs');

function ferryTool(transport, delivery) {
  return async (slot) => {
    const eventTopic = await topic(`ferry-${transport}-${delivery}`, false);
    const name = `bench-${run}-${topicCount}`;
    const exactlyOnce = delivery === 'exactly-once';
    const checkpointTopic = `${eventTopic}-checkpoints`;
    const pipeline = writePipeline({
      name,
      table: w.table,
      slot,
      publication: w.publication,
      sink: {
        type: 'kafka',
        brokers,
        topic: eventTopic,
        transport,
        delivery,
        compression: 'gzip',
        topics: { partitions: PARTITIONS },
      },
      ...(exactlyOnce
        ? {
            deadLetters: { type: 'kafka', brokers },
            checkpoints: { type: 'kafka', brokers, topic: checkpointTopic },
          }
        : {}),
    });
    try {
      const result = await runFerry(pipeline.file, ferryRuntime);
      if (result.events !== rows) throw new Error(`ferry wrote ${result.events} events, expected ${rows}`);
      return result;
    } finally {
      pipeline.remove();
      await dropTopics([eventTopic, ...(exactlyOnce ? [checkpointTopic, `${name}.dlq`] : [])]);
    }
  };
}

const tools = {
  ProducerPerformance: async () => {
    const name = await topic('java');
    try {
      const result = await runMeasured(
        'java',
        producerPerformanceArgs({
          libs: kafkaLibs,
          topic: name,
          records: rows,
          payloads,
          broker: brokers[0],
        }),
      );
      const match = /(\d+) records sent, ([\d.]+) records\/sec/.exec(result.stdout);
      if (result.code !== 0 || !match)
        throw new Error(`ProducerPerformance failed (exit ${result.code}): ${result.stderr.slice(-2000)}`);
      // Its own rate (first send to last acknowledgement); CPU and RSS of the whole JVM.
      return {
        seconds: rows / Number(match[2]),
        cpuSeconds: result.cpuSeconds,
        peakRssBytes: result.peakRssBytes,
      };
    } finally {
      await dropTopics([name]);
    }
  },
  debezium: async (slot) => {
    const name = await topic('debezium');
    try {
      return await runDebeziumPeer(classpath, {
        mode: 'kafka',
        events: rows,
        topic: name,
        bootstrap: brokers[0],
        compression: 'gzip',
        table: `public.${w.table}`,
        slot,
        publication: w.publication,
      });
    } finally {
      await dropTopics([name]);
    }
  },
  'ferry-kafkajs': ferryTool('kafkajs', 'at-least-once'),
  'ferry-platformatic': ferryTool('platformatic', 'at-least-once'),
  'ferry-exactly-once': ferryTool('kafkajs', 'exactly-once'),
};

// @platformatic/kafka is an optional dependency that npm installs only on Node >= 22.19 (docs/kafka.md): on an
// older Node the platformatic row is left out, and said so, rather than failing the whole bench.
const platformaticMissing = (() => {
  const kafkaPackage = ferryRuntime.root
    ? pathToFileURL(join(ferryRuntime.root, 'packages', 'kafka', 'package.json'))
    : new URL('../../packages/kafka/package.json', import.meta.url);
  try {
    createRequire(kafkaPackage).resolve('@platformatic/kafka');
    return undefined;
  } catch {
    return `@platformatic/kafka is not installed for Ferry's Node here (it needs Node >= 22.19; this is Node ${process.versions.node}; see --ferry-node and --ferry-root)`;
  }
})();
if (platformaticMissing) {
  console.log(`ferry-platformatic left out: ${platformaticMissing}`);
  delete tools['ferry-platformatic'];
}
const atLeastOnceTools = ['ferry-kafkajs', 'ferry-platformatic'].filter((n) => n in tools);

try {
  const { writeSeconds } = await w.prepare(rows);
  console.log(
    `workload: ${rows.toLocaleString('en')} inserts, ${TXN} rows per transaction, no snapshot, written in ${writeSeconds.toFixed(1)} s; to ${PARTITIONS}-partition topics, gzip, acks=all, idempotent; ${rounds} interleaved rounds; load average at start ${loadAtStart}`,
  );
  console.log(ferryRuntimeLine(ferryRuntime));
  const names = Object.keys(tools);
  const measured = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < rounds; round += 1) {
    for (const name of rotated(names, round)) {
      const slot = name === 'ProducerPerformance' ? undefined : await w.slotCopy(name);
      let result;
      try {
        result = await tools[name](slot);
      } catch (error) {
        // One tool failing (a broker hiccup) leaves the others' figures standing; it shows as n/a.
        console.log(`round ${round + 1} ${name}: FAILED: ${error.message.slice(0, 2000)}`);
        continue;
      } finally {
        if (slot) await w.dropSlot(slot);
      }
      const figures = roundFigures(rows, result);
      measured[name].push(figures);
      console.log(roundLine(round, name, 19, figures, result));
    }
  }
  const loadAtEnd = loadAverage();
  const summary = medians(names, measured);
  console.log(`\nmedians over ${rounds} rounds of ${rows.toLocaleString('en')} changes:`);
  console.log('tool                  events/s  CPU-s per 1M  peak RSS   vs Debezium: events/s  CPU');
  const debezium = summary.debezium;
  for (const n of names) {
    const s = summary[n];
    console.log(
      `${n.padEnd(20)} ${Number.isFinite(s.rate) ? thousands(s.rate).padStart(9) : 'n/a'.padStart(9)}  ${s.cpuPerMillion.toFixed(1).padStart(12)}  ${mib(s.rss).padStart(8)}   ${(s.rate / debezium.rate).toFixed(2).padStart(20)}  ${(s.cpuPerMillion / debezium.cpuPerMillion).toFixed(2)}`,
    );
  }
  const met = (ok) => (ok ? 'met' : 'NOT met');
  for (const n of atLeastOnceTools) {
    const r = summary[n].rate / debezium.rate;
    const c = summary[n].cpuPerMillion / debezium.cpuPerMillion;
    console.log(
      `${n} / debezium: events/s ${r.toFixed(2)} (target >= 1.5, ${met(r >= 1.5)}), CPU per event ${c.toFixed(2)} (target <= 0.6, ${met(c <= 0.6)})`,
    );
  }
  const eos = summary['ferry-exactly-once'].rate / debezium.rate;
  console.log(
    `ferry-exactly-once / debezium (at-least-once): events/s ${eos.toFixed(2)} (target >= 1.0, ${met(eos >= 1)})`,
  );
  console.log(`load average at start ${loadAtStart}, at end of the rounds ${loadAtEnd}`);

  const baseline = (value, unit) => ({ name: 'Debezium embedded -> Kafka', value, unit });
  for (const n of atLeastOnceTools)
    report({
      name: `${n} -> Kafka (at-least-once)`,
      value: summary[n].rate,
      unit: 'events/s',
      baseline: baseline(debezium.rate),
      target: '>= 1.5',
    });
  for (const n of atLeastOnceTools)
    report({
      name: `${n} CPU-s per 1M events`,
      value: summary[n].cpuPerMillion,
      unit: 'CPU-s',
      baseline: baseline(debezium.cpuPerMillion),
      target: '<= 0.6',
    });
  report({
    name: 'ferry exactly-once -> Kafka',
    value: summary['ferry-exactly-once'].rate,
    unit: 'events/s',
    baseline: baseline(debezium.rate),
    target: '>= 1.0',
  });
  report({
    name: 'debezium -> Kafka',
    value: debezium.rate,
    unit: 'events/s',
    baseline: { name: 'Java ProducerPerformance', value: summary.ProducerPerformance.rate },
  });
  report({
    name: `load average (1 min) at end of rounds; at start ${loadAtStart.split(' ')[0]}`,
    value: Number(loadAtEnd.split(' ')[0]),
    unit: '',
  });
} finally {
  rmSync(payloads, { force: true });
  await dropTopics([...topics]).catch(() => undefined);
  await admin.disconnect();
  await w.close();
}
