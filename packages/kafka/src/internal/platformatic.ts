// The @platformatic/kafka transport, for plain (non-transactional) produce. Its 1.x line has no
// transactions, so exactly-once refuses it at start; topic administration and reading stay on kafkajs.
// @platformatic/kafka is an optional dependency, loaded on first use: its own dependencies require Node
// 22.19, and npm leaves an optional dependency out where its engines do not match (Node 20) rather than
// warning EBADENGINE on every install. Its types are not imported either, so @ferry/kafka builds without
// it; `Platformatic` below is the part of its API this file uses.
import { createRequire } from 'node:module';
import type { Logger } from '@ferry/core/sdk';
import type { KafkaConnectionConfig } from '../config.js';
import { classifyKafkaError, KafkaError, KafkaErrorCodes } from '../errors.js';
import type { KafkaTransport, ProducerTransport } from './transport.js';

export const PLATFORMATIC_PACKAGE = '@platformatic/kafka';
/** The oldest Node that @platformatic/kafka's dependencies accept (`engines` of dynamic-buffer, wasm-utils). */
export const PLATFORMATIC_MIN_NODE = '22.19.0';

interface PlatformaticMessage {
  topic: string;
  key?: string;
  value?: string;
  headers: Record<string, string>;
}

interface Platformatic {
  Admin: new (
    options: Record<string, unknown>,
  ) => {
    metadata(options: { topics: string[]; forceUpdate: boolean }): Promise<unknown>;
    close(): Promise<void>;
  };
  Producer: new (
    options: Record<string, unknown>,
  ) => {
    send(options: { messages: PlatformaticMessage[] }): Promise<unknown>;
    close(): Promise<void>;
  };
  murmur2(key: string): number;
  stringSerializers: unknown;
}

let loading: Promise<Platformatic> | undefined;

/** The library, or KAFKA_TRANSPORT_UNAVAILABLE naming what to install when it is not there. */
export function loadPlatformatic(): Promise<Platformatic> {
  // A variable specifier: TypeScript neither resolves nor types it, so the build does not need the package.
  const specifier: string = PLATFORMATIC_PACKAGE;
  loading ??= import(specifier).catch((error: unknown) => {
    loading = undefined;
    const code = (error as { code?: unknown }).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' || !String((error as Error).message).includes(specifier)) {
      throw error;
    }
    throw platformaticUnavailable(error);
  });
  return loading;
}

function platformaticUnavailable(cause: unknown): KafkaError {
  const own: { optionalDependencies?: Record<string, string> } = createRequire(import.meta.url)(
    '../../package.json',
  );
  const wanted = `${PLATFORMATIC_PACKAGE}@${own.optionalDependencies?.[PLATFORMATIC_PACKAGE] ?? 'latest'}`;
  return new KafkaError(
    KafkaErrorCodes.KAFKA_TRANSPORT_UNAVAILABLE,
    `Kafka transport platformatic: the optional package ${PLATFORMATIC_PACKAGE} is not installed (npm ` +
      `leaves it out on Node older than ${PLATFORMATIC_MIN_NODE}; this is Node ${process.versions.node}). ` +
      `Install it with \`npm install ${wanted}\` on Node ${PLATFORMATIC_MIN_NODE} or later, or set ` +
      '`transport: kafkajs`.',
    {
      retryable: false,
      cause,
      details: {
        package: PLATFORMATIC_PACKAGE,
        node: process.versions.node,
        needs: `>=${PLATFORMATIC_MIN_NODE}`,
      },
    },
  );
}

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
      const { Admin } = await loadPlatformatic();
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
      const { Producer, murmur2, stringSerializers } = await loadPlatformatic();
      const producer = new Producer({
        ...baseOptions(connection),
        idempotent: options.idempotent,
        // As with kafkajs: one request in flight keeps order and idempotence simple across retries.
        maxInflights: options.idempotent ? 1 : 5,
        acks: -1,
        compression: options.compression === 'gzip' ? 'gzip' : 'none',
        autocreateTopics: false,
        serializers: stringSerializers,
        // The same partition as Java's and kafkajs's default partitioner, so the transports agree on keys.
        partitioner: (message: { key?: string }) => (message.key ? murmur2(message.key) & 0x7fffffff : 0),
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
