// Each partition's high watermark (the read_uncommitted end offset). kafkajs's public admin lists offsets
// read_committed only (the last stable offset); its own Cluster, built with isolation level
// READ_UNCOMMITTED, lists the high watermark. This reaches into kafkajs's src/ (its package has no
// `exports` map): kafkajs is pinned to 2.2.4 and unmaintained since 2023, so these internals do not move,
// and it keeps the reader on the one Kafka client every install has (@platformatic/kafka is optional).
import { createRequire } from 'node:module';
import type { KafkaConfig } from 'kafkajs';
import type { KafkaConnectionConfig } from '../config.js';
import { classifyKafkaError } from '../errors.js';

interface KafkaJsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  fetchTopicsOffset(
    topics: { topic: string; fromBeginning: boolean; partitions: { partition: number }[] }[],
  ): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>;
}

type ClusterConstructor = new (options: Record<string, unknown>) => KafkaJsCluster;

const require = createRequire(import.meta.url);
/** kafkajs's protocol/isolationLevel.js: READ_UNCOMMITTED. */
const READ_UNCOMMITTED = 0;

export async function highWatermarks(
  config: KafkaConfig,
  connection: KafkaConnectionConfig,
  topic: string,
  partitions: number[],
): Promise<Map<number, bigint>> {
  const Cluster: ClusterConstructor = require('kafkajs/src/cluster');
  const { createLogger } = require('kafkajs/src/loggers');
  const socketFactory = require('kafkajs/src/network/socketFactory');
  // The same options kafkajs's own Client passes to every Cluster it builds (kafkajs/src/index.js).
  const cluster = new Cluster({
    logger: createLogger({ level: config.logLevel, logCreator: config.logCreator }),
    socketFactory: socketFactory(),
    retry: config.retry,
    offsets: new Map(),
    brokers: config.brokers,
    ssl: config.ssl,
    sasl: config.sasl,
    clientId: config.clientId,
    connectionTimeout: config.connectionTimeout,
    requestTimeout: config.requestTimeout,
    enforceRequestTimeout: true,
    allowAutoTopicCreation: false,
    isolationLevel: READ_UNCOMMITTED,
  });
  try {
    await cluster.connect();
    await cluster.addTargetTopic(topic);
    const listed = await cluster.fetchTopicsOffset([
      { topic, fromBeginning: false, partitions: partitions.map((partition) => ({ partition })) },
    ]);
    const out = new Map<number, bigint>();
    for (const p of listed.find((t) => t.topic === topic)?.partitions ?? []) {
      out.set(p.partition, BigInt(p.offset));
    }
    return out;
  } catch (error) {
    throw classifyKafkaError(error, { operation: 'listOffsets', topic, brokers: connection.brokers });
  } finally {
    await cluster.disconnect().catch(() => undefined);
  }
}
