// The @platformatic/kafka transport, for plain (non-transactional) produce. Its 1.x line has no
// transactions, so exactly-once refuses it at start; topic administration and reading stay on kafkajs.
import type { Logger } from '@ferry/core/sdk';
import { Admin, FetchIsolationLevels, murmur2, Producer, stringSerializers } from '@platformatic/kafka';
import type { KafkaConnectionConfig } from '../config.js';
import { classifyKafkaError } from '../errors.js';
import type { KafkaTransport, ProducerTransport } from './transport.js';

export function createPlatformaticTransport(
  connection: KafkaConnectionConfig,
  _logger: Logger,
  fallback: KafkaTransport,
): KafkaTransport {
  return {
    name: 'platformatic',
    admin: () => fallback.admin(),
    readTopic: (topic, onMessage, options) => fallback.readTopic(topic, onMessage, options),
    async probe(timeoutMs) {
      // Through this library, since it is the one that sends; a client of its own, without retries.
      const admin = new Admin({
        ...baseOptions(connection),
        timeout: Math.min(connection.requestTimeoutMs, timeoutMs),
        connectTimeout: Math.min(connection.connectionTimeoutMs, timeoutMs),
        retries: 0,
      });
      try {
        await admin.metadata({ topics: [], forceUpdate: true });
      } catch (error) {
        throw classifyKafkaError(error, { operation: 'probe', brokers: connection.brokers });
      } finally {
        await admin.close().catch(() => undefined);
      }
    },
    async producer(options): Promise<ProducerTransport> {
      if (options.transactionalId !== undefined) {
        throw new TypeError('the platformatic transport has no transactions; use transport: kafkajs');
      }
      const producer = new Producer<string, string, string, string>({
        ...baseOptions(connection),
        idempotent: options.idempotent,
        // As with kafkajs: one request in flight keeps order and idempotence simple across retries.
        maxInflights: options.idempotent ? 1 : 5,
        acks: -1,
        compression: options.compression === 'gzip' ? 'gzip' : 'none',
        autocreateTopics: false,
        serializers: stringSerializers,
        // The same partition as Java's and kafkajs's default partitioner, so the transports agree on keys.
        partitioner: (message) => (message.key ? murmur2(message.key) & 0x7fffffff : 0),
      });
      const brokers = connection.brokers;
      return {
        async send(batches) {
          const messages = batches.flatMap((b) =>
            b.messages.map((m) => ({
              topic: b.topic,
              ...(m.key !== null ? { key: m.key } : {}),
              // No value at all for a tombstone (checkpoints' clear): an empty string is a record that
              // compaction keeps and that readers cannot parse.
              ...(m.value !== null ? { value: m.value.toString() } : {}),
              headers: m.headers,
            })),
          );
          try {
            await producer.send({ messages });
          } catch (error) {
            throw classifyKafkaError(error, { operation: 'send', brokers });
          }
        },
        async transaction() {
          throw new TypeError('the platformatic transport has no transactions');
        },
        close: () => producer.close(),
      };
    },
  };
}

function baseOptions(connection: KafkaConnectionConfig) {
  const tls =
    connection.ssl === false
      ? undefined
      : connection.ssl === true
        ? {}
        : {
            rejectUnauthorized: connection.ssl.rejectUnauthorized,
            ...(connection.ssl.ca ? { ca: connection.ssl.ca } : {}),
            ...(connection.ssl.cert ? { cert: connection.ssl.cert } : {}),
            ...(connection.ssl.key ? { key: connection.ssl.key } : {}),
          };
  return {
    clientId: connection.clientId,
    bootstrapBrokers: [...connection.brokers],
    timeout: connection.requestTimeoutMs,
    connectTimeout: connection.connectionTimeoutMs,
    retries: 1,
    ...(tls ? { tls } : {}),
    ...(connection.sasl
      ? {
          sasl: {
            mechanism: connection.sasl.mechanism.toUpperCase() as 'PLAIN',
            username: connection.sasl.username,
            password: connection.sasl.password,
          },
        }
      : {}),
  };
}

/**
 * Each partition's high watermark (read_uncommitted end offset), which kafkajs cannot list: a reader waits
 * until the last stable offset passes it, so no transaction begun before the read hides committed records.
 */
export async function highWatermarks(
  connection: KafkaConnectionConfig,
  topic: string,
  partitions: number[],
): Promise<Map<number, bigint>> {
  const admin = new Admin(baseOptions(connection));
  try {
    const listed = await admin.listOffsets({
      isolationLevel: FetchIsolationLevels.READ_UNCOMMITTED,
      topics: [
        { name: topic, partitions: partitions.map((partitionIndex) => ({ partitionIndex, timestamp: -1n })) },
      ],
    });
    const out = new Map<number, bigint>();
    for (const p of listed[0]?.partitions ?? []) out.set(p.partitionIndex, p.offset);
    return out;
  } catch (error) {
    throw classifyKafkaError(error, { operation: 'listOffsets', topic, brokers: connection.brokers });
  } finally {
    await admin.close().catch(() => undefined);
  }
}
