// Fixtures that run @ferry/testkit's Sink, DeadLetterSink and CheckpointStore suites against the real broker.
// What is stored is read back by a kafkajs reader of the test's own (read_committed, to the end of each
// partition as of the read) and decoded with the official cloudevents SDK, not with the code under test.
import { randomBytes } from 'node:crypto';
import { type CanonicalEvent, silentLogger } from '@ferry/core/sdk';
import type { CheckpointFixture, DeadLetterFixture, SinkFixture } from '@ferry/testkit';
import { CloudEvent, Kafka as CloudEventsKafka, type KafkaMessage } from 'cloudevents';
import type { Consumer } from 'kafkajs';
import {
  createKafkaCheckpointStore,
  createKafkaDeadLetterSink,
  createKafkaSink,
  DLQ_HEADERS,
  dlqTopicName,
  kafkaCheckpointConfigSchema,
  kafkaDeadLetterConfigSchema,
  kafkaSinkConfigSchema,
} from '../src/index.js';
import { brokers, type RawMessage, rawKafka, unique } from './helpers.js';
import type { Transport } from './transports.js';

export type { Transport } from './transports.js';

const logger = silentLogger();

/**
 * Every committed message of `topic` from the beginning to the end of each partition as of the call (the
 * last stable offset), in offset order per partition; a topic that does not exist reads as empty.
 */
export async function readToEnd(topic: string, timeoutMs = 30_000): Promise<RawMessage[]> {
  const kafka = rawKafka();
  const admin = kafka.admin();
  await admin.connect();
  const groupId = unique('ferry-test-readback');
  let consumer: Consumer | undefined;
  try {
    if (!(await admin.listTopics()).includes(topic)) return [];
    const offsets = await admin.fetchTopicOffsets(topic);
    const ends = new Map<number, bigint>();
    for (const { partition, high, low } of offsets)
      if (BigInt(high) > BigInt(low)) ends.set(partition, BigInt(high));
    if (ends.size === 0) return [];
    const remaining = new Map(ends);
    const out: RawMessage[] = [];
    consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let finish!: () => void;
    let abort!: (error: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      finish = resolve;
      abort = reject;
    });
    // A batch of only transaction markers or aborted records reaches this event, not eachBatch.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const end = remaining.get(payload.partition);
      if (payload.topic === topic && end !== undefined && BigInt(payload.lastOffset) >= end - 1n)
        remaining.delete(payload.partition);
      if (remaining.size === 0) finish();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => abort(payload.error));
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const end = ends.get(batch.partition) ?? 0n;
        for (const m of batch.messages) {
          if (BigInt(m.offset) >= end) continue;
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(m.headers ?? {})) if (v !== undefined) headers[k] = String(v);
          out.push({
            partition: batch.partition,
            offset: m.offset,
            key: m.key?.toString() ?? null,
            value: m.value === null ? null : m.value.toString(),
            headers,
          });
        }
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`reading ${topic} to its end took more than ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    await Promise.race([done, late]).finally(() => clearTimeout(timer));
    return out.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
  } finally {
    await consumer?.disconnect().catch(() => undefined);
    if (consumer) await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}

/** A message as the cloudevents SDK reads it (validated), as plain JSON; the SDK's partitionkey taken out. */
export function cloudEventOf(message: RawMessage): Record<string, unknown> {
  const value = message.value ?? undefined;
  const kafkaMessage: KafkaMessage<string | undefined> = {
    key: message.key ?? '',
    value,
    body: value,
    headers: message.headers,
  };
  const read = CloudEventsKafka.toEvent<unknown>(kafkaMessage);
  const event = Array.isArray(read) ? read[0] : read;
  if (!(event instanceof CloudEvent)) throw new Error(`offset ${message.offset} holds no CloudEvent`);
  event.validate();
  const json = JSON.parse(JSON.stringify(event.toJSON())) as Record<string, unknown>;
  // The SDK adds the message key as `partitionkey`; the event never had it.
  if (json.partitionkey === kafkaMessage.key) delete json.partitionkey;
  return json;
}

/** The last checkpoint of `pipeline` in a checkpoint topic ({pipeline, position, savedAt}; a tombstone clears). */
async function checkpointIn(topic: string, pipeline: string): Promise<unknown> {
  let position: unknown;
  for (const message of await readToEnd(topic)) {
    if (message.key !== pipeline) continue;
    position =
      message.value === null || message.value === ''
        ? undefined
        : (JSON.parse(message.value) as { position: unknown }).position;
  }
  return position;
}

/** The dead letters in a dead-letter topic, replay markers left out. */
async function lettersIn(topic: string): Promise<unknown[]> {
  return (await readToEnd(topic))
    .filter((m) => m.headers[DLQ_HEADERS.kind] === 'letter')
    .map((m) => JSON.parse(m.value ?? 'null') as unknown);
}

/** An event larger than the broker takes in one message (message.max.bytes, 1 MiB by default), even gzipped. */
function oversizedEvent(): CanonicalEvent {
  return {
    specversion: '1.0',
    id: unique('refused'),
    source: '/ferry/conformance/refused',
    type: 'conformance.case.created',
    subject: 'REFUSED',
    time: new Date(0).toISOString(),
    datacontenttype: 'application/json',
    data: { blob: randomBytes(2 * 1024 * 1024).toString('base64') },
    ferryorigin: '{"stream":"conformance"}',
    ferryop: 'create',
  };
}

export interface SinkVariant {
  transport: Transport;
  mode: 'binary' | 'structured';
  delivery: 'at-least-once' | 'exactly-once';
  /** The kafkajs producer in a worker thread (the sink's producerThread option). */
  producerThread?: boolean;
}

export function kafkaSinkFixture({ transport, mode, delivery, producerThread }: SinkVariant): SinkFixture {
  const exactlyOnce = delivery === 'exactly-once';
  return {
    async target() {
      const pipeline = unique('conf-sink');
      const topic = unique(`ferry-conf-${transport}-${mode}`);
      const config = kafkaSinkConfigSchema.parse({
        brokers,
        topic,
        transport,
        mode,
        delivery,
        topics: { partitions: 3 },
        ...(producerThread ? { producerThread } : {}),
      });
      if (!exactlyOnce) {
        return {
          pipeline,
          make: () => createKafkaSink(config, { pipeline, logger }),
          readBack: async () => (await readToEnd(topic)).map(cloudEventOf),
        };
      }
      // Exactly-once writes dead letters and the checkpoint in its transactions: both topics must exist first,
      // as the registry factories make sure.
      const deadLetters = kafkaDeadLetterConfigSchema.parse({ brokers, transport });
      const checkpoints = kafkaCheckpointConfigSchema.parse({
        brokers,
        transport,
        topic: unique('ferry-conf-ckpt'),
      });
      const dlq = createKafkaDeadLetterSink(deadLetters, { pipeline, logger });
      const store = createKafkaCheckpointStore(checkpoints, { logger });
      try {
        await dlq.provision();
        await store.provision();
      } finally {
        await dlq.close();
        await store.close();
      }
      const components = {
        source: { type: 'conformance', options: {} },
        sink: { type: 'kafka', options: config },
        deadLetters: { type: 'kafka', options: deadLetters },
        checkpoints: { type: 'kafka', options: checkpoints },
      };
      return {
        pipeline,
        make: () => createKafkaSink(config, { pipeline, logger, components }),
        readBack: async () => (await readToEnd(topic)).map(cloudEventOf),
        readDeadLetters: () => lettersIn(dlqTopicName(deadLetters.topic, pipeline)),
        readCheckpoint: () => checkpointIn(checkpoints.topic, pipeline),
      };
    },
    // Every write is produced: a batch written again is in the topic twice, with the same ids (at-least-once;
    // exactly-once holds for batches committed through commitBatch, and its plain writes are transactions too).
    rewrite: 'appends',
    lacks: exactlyOnce ? [] : ['commitBatch'],
    ...(exactlyOnce ? { refusedEvent: oversizedEvent } : {}),
  };
}

export function kafkaDeadLetterFixture(transport: Transport): DeadLetterFixture {
  return {
    async target() {
      const pipeline = unique('conf-dlq');
      const config = kafkaDeadLetterConfigSchema.parse({ brokers, transport });
      return { pipeline, make: () => createKafkaDeadLetterSink(config, { pipeline, logger }) };
    },
  };
}

export function kafkaCheckpointFixture(transport: Transport, fencing = false): CheckpointFixture {
  return {
    async target() {
      const config = kafkaCheckpointConfigSchema.parse({
        brokers,
        transport,
        topic: unique('ferry-conf-ckpt'),
        fencing,
      });
      return { make: () => createKafkaCheckpointStore(config, { logger }) };
    },
  };
}
