// The kafkajs transport. kafkajs's own retries are kept to one so they never nest with the runtime's
// retrier (kafkajs#962, #1324); idempotence is paired with maxInFlightRequests 1, which kafkajs does not
// enforce itself; every error leaves through classifyKafkaError.
import { randomUUID } from 'node:crypto';
import type { Logger } from '@ferry/core/sdk';
import {
  CompressionTypes,
  type Consumer,
  type IHeaders,
  Kafka,
  type KafkaConfig,
  logLevel,
  Partitioners,
  type Producer,
  type SASLOptions,
} from 'kafkajs';
import type { KafkaConnectionConfig } from '../config.js';
import { classifyKafkaError, KafkaError, KafkaErrorCodes } from '../errors.js';
import { threadedProducer } from './threaded.js';
import type {
  AdminTransport,
  InMessage,
  KafkaTransport,
  ProducerOptions,
  ProducerTransport,
  TopicMessages,
  TopicSpec,
} from './transport.js';
import { highWatermarks } from './watermarks.js';

export function kafkaJsConfig(connection: KafkaConnectionConfig, logger: Logger): KafkaConfig {
  const log = logger.child({ component: 'kafkajs' });
  const config: KafkaConfig = {
    brokers: [...connection.brokers],
    clientId: connection.clientId,
    connectionTimeout: connection.connectionTimeoutMs,
    requestTimeout: connection.requestTimeoutMs,
    retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1000 },
    logLevel: logLevel.WARN,
    // Every failure reaches Ferry as a thrown error and is logged there once; kafkajs's own lines are detail.
    logCreator:
      () =>
      ({ namespace, level, log: entry }) => {
        const { message, ...extra } = entry;
        log.debug({ namespace, level, ...extra }, message);
      },
  };
  if (connection.ssl !== false) {
    config.ssl =
      connection.ssl === true
        ? true
        : {
            rejectUnauthorized: connection.ssl.rejectUnauthorized,
            ...(connection.ssl.ca ? { ca: [connection.ssl.ca] } : {}),
            ...(connection.ssl.cert ? { cert: connection.ssl.cert } : {}),
            ...(connection.ssl.key ? { key: connection.ssl.key } : {}),
            ...(connection.ssl.servername ? { servername: connection.ssl.servername } : {}),
          };
  }
  if (connection.sasl) {
    config.sasl = {
      mechanism: connection.sasl.mechanism,
      username: connection.sasl.username,
      password: connection.sasl.password,
    } as SASLOptions;
  }
  return config;
}

export function createKafkaJsTransport(connection: KafkaConnectionConfig, logger: Logger): KafkaTransport {
  const config = kafkaJsConfig(connection, logger);
  const kafka = new Kafka(config);
  const brokers = connection.brokers;
  const fail = (operation: string, topic?: string) => (error: unknown) => {
    throw classifyKafkaError(error, { operation, brokers, ...(topic ? { topic } : {}) });
  };
  return {
    name: 'kafkajs',
    async producer(options) {
      if (options.thread && options.transactionalId === undefined)
        return threadedProducer(connection, { ...options, thread: false }, logger);
      return createProducer(kafka, connection, options, fail);
    },
    async admin() {
      const admin = kafka.admin();
      await admin.connect().catch(fail('connect'));
      const api: AdminTransport = {
        async describeTopics(topics) {
          const out = new Map<string, number>();
          const existing = new Set(await admin.listTopics().catch(fail('listTopics')));
          const present = topics.filter((t) => existing.has(t));
          if (present.length === 0) return out;
          const meta = await admin.fetchTopicMetadata({ topics: present }).catch(fail('describeTopics'));
          for (const t of meta.topics) out.set(t.name, t.partitions.length);
          return out;
        },
        async createTopics(specs: TopicSpec[]) {
          await admin
            .createTopics({
              waitForLeaders: true,
              timeout: connection.requestTimeoutMs,
              topics: specs.map((s) => ({
                topic: s.topic,
                numPartitions: s.partitions,
                replicationFactor: s.replicationFactor,
                configEntries: Object.entries(s.config).map(([name, value]) => ({ name, value })),
              })),
            })
            .catch((error: unknown) => {
              // Another instance created it first: that is what we wanted.
              const errors = (error as { errors?: { type?: string }[] }).errors ?? [];
              if (errors.length > 0 && errors.every((e) => e.type === 'TOPIC_ALREADY_EXISTS')) return;
              fail('createTopics', specs.map((s) => s.topic).join(','))(error);
            });
        },
        close: () => admin.disconnect(),
      };
      return api;
    },
    readTopic: (topic, onMessage, options) =>
      readTopic(kafka, config, connection, topic, onMessage, options.timeoutMs, fail),
    async probe(timeoutMs) {
      // A client of its own, so the probe's capped timeouts and lack of retries touch nothing else.
      const admin = new Kafka({
        ...kafkaJsConfig(connection, logger),
        connectionTimeout: Math.min(connection.connectionTimeoutMs, timeoutMs),
        requestTimeout: Math.min(connection.requestTimeoutMs, timeoutMs),
        retry: { retries: 0 },
      }).admin();
      try {
        await admin.connect();
        await admin.describeCluster();
      } catch (error) {
        fail('probe')(error);
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    },
  };
}

async function createProducer(
  kafka: Kafka,
  connection: KafkaConnectionConfig,
  options: ProducerOptions,
  fail: (operation: string, topic?: string) => (error: unknown) => never,
): Promise<ProducerTransport> {
  const transactional = options.transactionalId !== undefined;
  const producer: Producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    idempotent: options.idempotent || transactional,
    // kafkajs's idempotence does not enforce this; without it a retried request can reorder or duplicate.
    maxInFlightRequests: options.idempotent || transactional ? 1 : 5,
    ...(transactional
      ? {
          transactionalId: options.transactionalId,
          transactionTimeout: options.transactionTimeoutMs ?? 60_000,
        }
      : {}),
  });
  await producer.connect().catch(fail('connect'));
  const compression = options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
  const toKafkajs = (batches: TopicMessages[]) =>
    batches.map((b) => ({
      topic: b.topic,
      messages: b.messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers as IHeaders })),
    }));
  const topicsOf = (batches: TopicMessages[]) => batches.map((b) => b.topic).join(',');
  if (transactional) {
    // Fence an older instance now, before anything is read: its unfinished transaction is aborted (or its
    // commit completed) by the broker, so a checkpoint read afterwards is the last committed one.
    const fence = await producer.transaction().catch(fail('initTransactions'));
    await fence.abort().catch(fail('initTransactions'));
  }
  return {
    async send(batches) {
      if (transactional) throw new TypeError('a transactional producer sends inside transaction()');
      await producer
        .sendBatch({
          topicMessages: toKafkajs(batches),
          acks: -1,
          timeout: connection.requestTimeoutMs,
          compression,
        })
        .catch(fail('send', topicsOf(batches)));
    },
    async transaction(work) {
      if (!transactional) throw new TypeError('transaction() needs a transactionalId');
      const txn = await producer.transaction().catch(fail('beginTransaction'));
      try {
        await work(async (batches) => {
          await txn
            .sendBatch({
              topicMessages: toKafkajs(batches),
              acks: -1,
              timeout: connection.requestTimeoutMs,
              compression,
            })
            .catch(fail('send', topicsOf(batches)));
        });
        await txn.commit().catch(fail('commitTransaction'));
      } catch (error) {
        if (txn.isActive()) await txn.abort().catch(() => undefined);
        throw error;
      }
    },
    close: () => producer.disconnect(),
  };
}

async function readTopic(
  kafka: Kafka,
  config: KafkaConfig,
  connection: KafkaConnectionConfig,
  topic: string,
  onMessage: (message: InMessage) => void,
  timeoutMs: number,
  fail: (operation: string, topic?: string) => (error: unknown) => never,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect().catch(fail('connect', topic));
  let consumer: Consumer | undefined;
  const groupId = `ferry-reader-${randomUUID()}`;
  try {
    const started = Date.now();
    // kafkajs lists read_committed offsets (the last stable offset, LSO). A transaction still open (another
    // pipeline's instance that crashed mid-commit) holds the LSO back, and committed records after it stay
    // invisible: wait until the LSO passes the high watermark of now, so nothing committed before this read
    // is missed. The broker aborts an abandoned transaction after its transaction timeout.
    let offsets = await admin.fetchTopicOffsets(topic).catch(fail('listOffsets', topic));
    const high = await highWatermarks(
      config,
      connection,
      topic,
      offsets.map((o) => o.partition),
    );
    const behind = () => offsets.filter((o) => BigInt(o.high) < (high.get(o.partition) ?? 0n));
    while (behind().length > 0) {
      if (Date.now() - started > timeoutMs) {
        throw new KafkaError(
          KafkaErrorCodes.KAFKA_TIMEOUT,
          `Kafka read of topic ${topic}: an unfinished transaction hides committed records (partitions ` +
            `${behind()
              .map((o) => o.partition)
              .join(',')}); it ends when its producer commits, aborts or times out (transaction timeout)`,
          { retryable: true, details: { topic } },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      offsets = await admin.fetchTopicOffsets(topic).catch(fail('listOffsets', topic));
    }
    const remaining = new Map<number, bigint>();
    for (const { partition, high: end, low } of offsets) {
      if (BigInt(end) > BigInt(low)) remaining.set(partition, BigInt(end));
    }
    if (remaining.size === 0) return;
    const ends = new Map(remaining);
    consumer = kafka.consumer({
      groupId,
      readUncommitted: false,
      maxWaitTimeInMs: 100,
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      // Small fetches: kafkajs decodes a whole fetch at once and its limits count compressed bytes. With its
      // defaults (1 MiB per partition, 10 MiB in all) 100,000 of Ferry's events in a gzip topic of 3
      // partitions held 113 MiB of live heap, past the 80 MiB of `ferry reconcile`'s worker
      // (RECONCILE_OUT_OF_MEMORY); with these 25 MiB, and the read took as long. A record batch larger than
      // the limit still comes whole.
      maxBytesPerPartition: 128 * 1024,
      maxBytes: 512 * 1024,
      allowAutoTopicCreation: false,
      retry: { retries: 1 },
    });
    await consumer.connect().catch(fail('connect', topic));
    await consumer.subscribe({ topic, fromBeginning: true }).catch(fail('subscribe', topic));
    let finish!: () => void;
    let abort!: (error: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      finish = resolve;
      abort = reject;
    });
    const advance = (partition: number, lastOffset: string) => {
      const end = remaining.get(partition);
      if (end !== undefined && BigInt(lastOffset) >= end - 1n) remaining.delete(partition);
      if (remaining.size === 0) finish();
    };
    // Batches of only transaction markers or aborted records reach this event but not eachBatch.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.topic === topic) advance(payload.partition, payload.lastOffset);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => abort(payload.error));
    await consumer
      .run({
        autoCommit: false,
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch }) => {
          const end = ends.get(batch.partition) ?? 0n;
          for (const m of batch.messages) {
            if (BigInt(m.offset) >= end) continue;
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(m.headers ?? {})) {
              if (v !== undefined) headers[k] = Array.isArray(v) ? String(v[0]) : String(v);
            }
            onMessage({
              topic,
              partition: batch.partition,
              offset: m.offset,
              key: m.key,
              value: m.value,
              headers,
            });
          }
        },
      })
      .catch(fail('read', topic));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new KafkaError(
              KafkaErrorCodes.KAFKA_TIMEOUT,
              `Kafka read of topic ${topic}: the end was not reached within ${timeoutMs} ms`,
              { retryable: true, details: { topic, partitions: [...remaining.keys()] } },
            ),
          ),
        timeoutMs,
      );
    });
    try {
      await Promise.race([done, timeout]);
    } catch (error) {
      throw classifyKafkaError(error, { operation: 'read', topic });
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await consumer?.disconnect().catch(() => undefined);
    if (consumer) await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}
