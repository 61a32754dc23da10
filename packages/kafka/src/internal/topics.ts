// Topic provisioning: create missing topics with the configured partitions, replication and configs, or
// refuse when creating is off; warn when an existing topic's partition count differs from the configured one.
import type { Logger } from '@ferry/core/sdk';
import { KafkaError, KafkaErrorCodes } from '../errors.js';
import type { AdminTransport, TopicSpec } from './transport.js';

export interface ProvisionResult {
  created: string[];
  warnings: string[];
}

export async function ensureTopics(
  admin: AdminTransport,
  specs: TopicSpec[],
  create: boolean,
  logger: Logger,
): Promise<ProvisionResult> {
  const existing = await admin.describeTopics(specs.map((s) => s.topic));
  const missing = specs.filter((s) => !existing.has(s.topic));
  const warnings: string[] = [];
  for (const spec of specs) {
    const partitions = existing.get(spec.topic);
    if (partitions !== undefined && partitions !== spec.partitions) {
      const warning =
        `topic ${spec.topic} has ${partitions} partitions but ${spec.partitions} are configured; ` +
        'Ferry uses it as it is (changing partitions moves keys between partitions and breaks per-entity order)';
      warnings.push(warning);
      logger.warn({ topic: spec.topic, partitions, configured: spec.partitions }, warning);
    }
  }
  if (missing.length > 0 && !create) {
    const names = missing.map((s) => s.topic).join(', ');
    throw new KafkaError(
      KafkaErrorCodes.KAFKA_TOPIC_MISSING,
      `Kafka topic ${names} does not exist and topic creation is off (topics.create: false); ` +
        'create it with the partitions, replication and configs you want, or set topics.create: true',
      { details: { topics: missing.map((s) => s.topic) } },
    );
  }
  if (missing.length > 0) {
    await admin.createTopics(missing);
    logger.info({ topics: missing.map((s) => s.topic) }, 'created Kafka topics');
  }
  return { created: missing.map((s) => s.topic), warnings };
}
