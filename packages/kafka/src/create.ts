// Building the Kafka sink, dead-letter store and checkpoint store: the classes and, with them, the Kafka
// client. The factories (factory.ts) import this module only when a pipeline builds one of them, so
// registering the plugin costs a host nothing it does not use.
import { ConfigError } from '@ferry/core/sdk';
import { KafkaCheckpointStore } from './checkpoints.js';
import {
  connectionOf,
  type KafkaCheckpointConfig,
  type KafkaDeadLetterConfig,
  type KafkaSinkConfig,
} from './config.js';
import { dlqTopicName, KafkaDeadLetterSink } from './dead-letters.js';
import { checkKafkaDelivery, type KafkaFactoryOptions } from './factory.js';
import { createTransport } from './internal/client.js';
import { defaultWorkerName } from './internal/owner.js';
import type { KafkaTransport } from './internal/transport.js';
import { KafkaSink } from './sink.js';

export async function createKafkaSink(
  config: KafkaSinkConfig,
  options: KafkaFactoryOptions,
  transport: KafkaTransport = createTransport(connectionOf(config), options.logger),
): Promise<KafkaSink> {
  const issues = checkKafkaDelivery(config, options.components);
  if (issues.length > 0) throw new ConfigError(undefined, issues);
  const exactlyOnce = config.delivery === 'exactly-once' && options.components !== undefined;
  const dlq = options.components?.deadLetters.options as KafkaDeadLetterConfig | undefined;
  const checkpoints = options.components?.checkpoints.options as KafkaCheckpointConfig | undefined;
  const sink = new KafkaSink(config, {
    pipeline: options.pipeline,
    logger: options.logger,
    transport,
    ...(exactlyOnce && dlq ? { deadLetterTopic: dlqTopicName(dlq.topic, options.pipeline) } : {}),
    ...(exactlyOnce && checkpoints ? { checkpointTopic: checkpoints.topic } : {}),
    ...(exactlyOnce && checkpoints?.fencing ? { fencedAs: options.worker ?? defaultWorkerName() } : {}),
  });
  // Exactly-once fences an older instance before the checkpoint is read (the runtime loads it next).
  if (config.delivery === 'exactly-once') await sink.start();
  return sink;
}

export function createKafkaDeadLetterSink(
  config: KafkaDeadLetterConfig,
  options: KafkaFactoryOptions,
  transport: KafkaTransport = createTransport(connectionOf(config), options.logger),
): KafkaDeadLetterSink {
  return new KafkaDeadLetterSink(config, { pipeline: options.pipeline, logger: options.logger, transport });
}

export function createKafkaCheckpointStore(
  config: KafkaCheckpointConfig,
  options: Pick<KafkaFactoryOptions, 'logger' | 'worker'>,
  transport: KafkaTransport = createTransport(connectionOf(config), options.logger),
): KafkaCheckpointStore {
  return new KafkaCheckpointStore(config, {
    logger: options.logger,
    transport,
    ...(options.worker !== undefined ? { worker: options.worker } : {}),
  });
}
