// Throughput of the Kafka sink: events/s through @ferry/kafka (1 KiB events, batches of 500, as the runtime
// calls write) against a raw kafkajs producer sending the same encoded messages with the same settings
// (idempotent, maxInFlightRequests 1, acks=all, gzip, one send per batch) in the same run; the
// @platformatic/kafka transport behind the same sink; and Kafka's own Java ProducerPerformance on the same
// broker as the ceiling.
// Each variant also prints its CPU per event (the whole process: gzip in the thread pool, a producer
// thread), with two more variants: structured mode (one header instead of about ten) and the producer thread.
// Run: npm run build && npm run services:up && node test/bench/kafka-sink.mjs [events] [rounds]
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildEvent, silentLogger } from '@ferry/core';
import { createKafkaSink, encodeEvent, kafkaSinkConfigSchema } from '@ferry/kafka';
import { CompressionTypes, Kafka, logLevel, Partitioners } from 'kafkajs';
import { producerPerformanceArgs } from './lib/measure.mjs';
import { reporter } from './report.mjs';

const count = Number(process.argv[2] ?? 50_000);
const batchSize = 500;
const brokers = ['127.0.0.1:59092'];
const partitions = 3;
const exec = promisify(execFile);
const run = randomBytes(3).toString('hex');

const padding = 'x'.repeat(760);
const events = Array.from({ length: count }, (_, i) =>
  buildEvent({
    pipeline: 'bench',
    record: { stream: 'OFFENDERS', op: 'update', key: { id: i }, origin: { table: 'OFFENDERS', id: i } },
    canonicalType: 'justice.offender',
    dataschema: 'urn:ferry:contract:justice.offender:1.0.0',
    subject: `A${String(i % 5000).padStart(5, '0')}`,
    data: { offenderId: `A${i}`, name: { family: 'SMITH', given: 'JOHN' }, notes: padding },
    now: new Date(0),
  }),
);
const sample = encodeEvent(events[0], 'binary');
const bytes =
  Buffer.byteLength(sample.value) +
  Object.entries(sample.headers).reduce((s, [k, v]) => s + k.length + Buffer.byteLength(v), 0);
const batches = [];
for (let i = 0; i < events.length; i += batchSize) batches.push(events.slice(i, i + batchSize));

const kafka = new Kafka({ brokers, clientId: 'ferry-bench', logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
async function topic(name) {
  const full = `ferry-bench-${name}-${run}`;
  await admin.createTopics({ topics: [{ topic: full, numPartitions: partitions }], waitForLeaders: true });
  return full;
}

/** A measured run: events/s, and the process's CPU (every thread: gzip, a producer thread) per event. */
async function timed(work) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { rate: count / seconds, cpuUs: (used.user + used.system) / count };
}

async function ferry(transport, { mode = 'binary', producerThread = false } = {}) {
  const name = await topic(`ferry-${transport}-${mode}${producerThread ? '-thread' : ''}`);
  const config = kafkaSinkConfigSchema.parse({
    brokers,
    topic: name,
    transport,
    mode,
    producerThread,
    topics: { partitions },
  });
  const sink = await createKafkaSink(config, { pipeline: 'bench', logger: silentLogger() });
  await sink.write(batches[0]); // connect and provision outside the clock
  const result = await timed(async () => {
    for (const batch of batches) await sink.write(batch);
  });
  await sink.close();
  return result;
}

async function raw(mode = 'binary') {
  const name = await topic(`raw-${mode}`);
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  const encoded = batches.map((batch) => batch.map((e) => encodeEvent(e, mode)));
  const send = (messages) =>
    producer.sendBatch({
      topicMessages: [{ topic: name, messages }],
      acks: -1,
      compression: CompressionTypes.GZIP,
    });
  await send(encoded[0]);
  const result = await timed(async () => {
    for (const messages of encoded) await send(messages);
  });
  await producer.disconnect();
  return result;
}

async function java() {
  const name = await topic('java');
  // biome-ignore lint/suspicious/noUndeclaredEnvVars: the harness's jar cache, as test/services/lib/common.sh finds it
  const libs = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ferry', 'kafka-3.9.2', 'libs');
  // The same JSON bodies as the other producers (so gzip sees the same data); Java sends no headers.
  const payloads = join(tmpdir(), `ferry-bench-payloads-${run}.txt`);
  await writeFile(
    payloads,
    events
      .slice(0, 1000)
      .map((e) => JSON.stringify(e.data))
      .join('\n'),
  );
  const { stdout } = await exec(
    'java',
    producerPerformanceArgs({
      libs,
      topic: name,
      records: count,
      payloads,
      broker: brokers[0],
      jvm: ['-Xmx256m'],
      // Java's idempotent producer keeps order with 5 requests in flight; its defaults otherwise.
      props: ['linger.ms=5'],
    }),
    { timeout: 300_000, maxBuffer: 10 * 1024 * 1024 },
  );
  const match = /(\d+) records sent, ([\d.]+) records\/sec/.exec(stdout.trim().split('\n').at(-1));
  return Number(match?.[2]);
}

console.log(
  `kafka sink benchmark: ${count} events of ~${bytes} bytes (value + headers), batches of ${batchSize}, ${partitions} partitions, acks=all, gzip, idempotent`,
);
// A warm-up round for the JIT and the broker, then measured rounds, interleaved so that load from other
// processes on this shared machine hits each producer alike; the median of each is reported.
const rounds = Number(process.argv[3] ?? 3);
// Binary mode (the default) puts each attribute in a ce_ header (about ten per message); structured mode
// sends one header. The structured rows and the producer thread say where a Ferry event's CPU goes.
const variants = {
  ferry: () => ferry('kafkajs'),
  raw: () => raw(),
  platformatic: () => ferry('platformatic'),
  'ferry structured': () => ferry('kafkajs', { mode: 'structured' }),
  'raw structured': () => raw('structured'),
  'ferry producer thread': () => ferry('kafkajs', { producerThread: true }),
};
await ferry('kafkajs');
await raw();
const measured = Object.fromEntries(Object.keys(variants).map((v) => [v, []]));
for (let round = 0; round < rounds; round += 1) {
  for (const [variant, run] of Object.entries(variants)) {
    try {
      measured[variant].push(await run());
    } catch (error) {
      if (variant !== 'platformatic') throw error;
      if (round === 0) console.log(`platformatic transport failed: ${error.message}`);
    }
  }
  console.log(
    `round ${round + 1}: ${Object.entries(measured)
      .filter(([, runs]) => runs.length > round)
      .map(([v, runs]) => `${v} ${Math.round(runs.at(-1).rate)}`)
      .join(', ')} events/s`,
  );
}
const median = (xs) =>
  xs.length === 0 ? undefined : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rateOf = (variant) => median(measured[variant].map((r) => r.rate));
const cpuOf = (variant) => median(measured[variant].map((r) => r.cpuUs));
const ferryRate = rateOf('ferry');
const rawRate = rateOf('raw');
const platformaticRate = rateOf('platformatic');
const javaRate = await java();
await admin.disconnect();

const fmt = (n) => (Number.isFinite(n) ? `${Math.round(n).toLocaleString('en')} events/s` : 'n/a');
const roundRatios = measured.ferry.map((f, i) => (f.rate / measured.raw[i].rate).toFixed(2)).join(', ');
console.log('CPU per event (process, every thread; median):');
for (const variant of Object.keys(variants)) {
  if (measured[variant].length === 0) continue;
  console.log(
    `  ${variant.padEnd(22)} ${cpuOf(variant).toFixed(1).padStart(6)} µs   ${fmt(rateOf(variant))}`,
  );
}
console.log(`raw kafkajs producer              ${fmt(rawRate)}`);
console.log(
  `@ferry/kafka sink (kafkajs)       ${fmt(ferryRate)}   ratio vs raw kafkajs ${(ferryRate / rawRate).toFixed(2)} (target >= 0.80; per round ${roundRatios})`,
);
if (platformaticRate !== undefined)
  console.log(
    `@ferry/kafka sink (platformatic)  ${fmt(platformaticRate)}   ratio vs raw kafkajs ${(platformaticRate / rawRate).toFixed(2)}`,
  );
const report = reporter(import.meta.url);
const rawBaseline = { name: 'raw kafkajs producer', value: rawRate, unit: 'events/s' };
report({
  name: '@ferry/kafka sink (kafkajs)',
  value: ferryRate,
  unit: 'events/s',
  baseline: rawBaseline,
  target: '>= 0.80',
});
if (platformaticRate !== undefined)
  report({
    name: '@ferry/kafka sink (platformatic)',
    value: platformaticRate,
    unit: 'events/s',
    baseline: rawBaseline,
  });
if (Number.isFinite(javaRate))
  report({
    name: '@ferry/kafka sink (kafkajs) vs ceiling',
    value: ferryRate,
    unit: 'events/s',
    baseline: { name: 'Java ProducerPerformance', value: javaRate },
  });
console.log(
  `Java ProducerPerformance (ceiling) ${fmt(javaRate)}   ferry/java ${(ferryRate / javaRate).toFixed(2)}, raw kafkajs/java ${(rawRate / javaRate).toFixed(2)}`,
);
