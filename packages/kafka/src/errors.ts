// Turns what the Kafka client (kafkajs, or another transport) and Node's sockets throw into FerryErrors with
// stable codes, saying whether retrying can help. The runtime does the retrying; this only classifies.
import { createErrorClassifier, type ErrorLink, FerryError } from '@ferry/core/sdk';

export const KafkaErrorCodes = {
  /** No broker answered, the connection dropped, or the partition leader moved (retryable). */
  KAFKA_BROKER_UNAVAILABLE: 'KAFKA_BROKER_UNAVAILABLE',
  /** A broker did not answer in time (retryable). */
  KAFKA_TIMEOUT: 'KAFKA_TIMEOUT',
  /** A message or a batch is larger than the broker or topic accepts (`message.max.bytes`). */
  KAFKA_RECORD_TOO_LARGE: 'KAFKA_RECORD_TOO_LARGE',
  /** The credentials may not write or read a topic, the cluster or a transactional id (ACLs). */
  KAFKA_AUTHORIZATION_FAILED: 'KAFKA_AUTHORIZATION_FAILED',
  /** SASL or TLS authentication was refused. */
  KAFKA_AUTHENTICATION_FAILED: 'KAFKA_AUTHENTICATION_FAILED',
  /** The topic name is not valid, or the topic cannot be used as configured. */
  KAFKA_INVALID_TOPIC: 'KAFKA_INVALID_TOPIC',
  /** A topic does not exist and `topics.create` is false. */
  KAFKA_TOPIC_MISSING: 'KAFKA_TOPIC_MISSING',
  /** Another instance of the pipeline took over its transactional id: this one must stop (exactly-once). */
  KAFKA_PRODUCER_FENCED: 'KAFKA_PRODUCER_FENCED',
  /** The transaction coordinator is busy finishing an earlier transaction (retryable). */
  KAFKA_TRANSACTION_BUSY: 'KAFKA_TRANSACTION_BUSY',
  /** A dead letter or checkpoint record in Kafka cannot be decoded. */
  KAFKA_RECORD_CORRUPT: 'KAFKA_RECORD_CORRUPT',
  /** `transport: platformatic` was chosen and the optional @platformatic/kafka package is not installed. */
  KAFKA_TRANSPORT_UNAVAILABLE: 'KAFKA_TRANSPORT_UNAVAILABLE',
  /** Any other broker or client failure; `retryable` follows what the broker said. */
  KAFKA_REQUEST_FAILED: 'KAFKA_REQUEST_FAILED',
} as const;

export type KafkaErrorCode = (typeof KafkaErrorCodes)[keyof typeof KafkaErrorCodes];

/** Where a Kafka error happened, without secrets. */
export interface KafkaErrorContext {
  /** What Ferry was doing: `send`, `commitTransaction`, `createTopics`, `read`. */
  operation?: string;
  topic?: string;
  brokers?: readonly string[];
}

export class KafkaError extends FerryError {
  override readonly name = 'KafkaError';
}

type Verdict = { code: KafkaErrorCode; retryable: boolean };

// Kafka protocol error names (the same in every client: they come from the protocol's error table).
const PROTOCOL: Record<string, Verdict> = {};
const put = (verdict: Verdict, ...types: string[]) => {
  for (const type of types) PROTOCOL[type] = verdict;
};
put(
  { code: KafkaErrorCodes.KAFKA_BROKER_UNAVAILABLE, retryable: true },
  'NOT_LEADER_FOR_PARTITION',
  'NOT_LEADER_OR_FOLLOWER',
  'LEADER_NOT_AVAILABLE',
  'BROKER_NOT_AVAILABLE',
  'REPLICA_NOT_AVAILABLE',
  'NETWORK_EXCEPTION',
  'NOT_ENOUGH_REPLICAS',
  'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
  'NOT_COORDINATOR',
  'NOT_COORDINATOR_FOR_GROUP',
  'COORDINATOR_NOT_AVAILABLE',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'GROUP_LOAD_IN_PROGRESS',
  'KAFKA_STORAGE_ERROR',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'FENCED_LEADER_EPOCH',
  'UNKNOWN_LEADER_EPOCH',
  'NOT_CONTROLLER',
);
put({ code: KafkaErrorCodes.KAFKA_TIMEOUT, retryable: true }, 'REQUEST_TIMED_OUT');
put(
  { code: KafkaErrorCodes.KAFKA_RECORD_TOO_LARGE, retryable: false },
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
);
put(
  { code: KafkaErrorCodes.KAFKA_AUTHORIZATION_FAILED, retryable: false },
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'DELEGATION_TOKEN_AUTHORIZATION_FAILED',
);
put(
  { code: KafkaErrorCodes.KAFKA_AUTHENTICATION_FAILED, retryable: false },
  'SASL_AUTHENTICATION_FAILED',
  'ILLEGAL_SASL_STATE',
  'UNSUPPORTED_SASL_MECHANISM',
);
put(
  { code: KafkaErrorCodes.KAFKA_INVALID_TOPIC, retryable: false },
  'INVALID_TOPIC_EXCEPTION',
  'INVALID_PARTITIONS',
  'INVALID_REPLICATION_FACTOR',
  'INVALID_CONFIG',
  'POLICY_VIOLATION',
);
put(
  { code: KafkaErrorCodes.KAFKA_PRODUCER_FENCED, retryable: false },
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_EPOCH',
  'TRANSACTIONAL_ID_NOT_FOUND',
  'INVALID_PRODUCER_ID_MAPPING',
);
put({ code: KafkaErrorCodes.KAFKA_TRANSACTION_BUSY, retryable: true }, 'CONCURRENT_TRANSACTIONS');

/** Classify anything a Kafka call threw. FerryErrors and programmer errors keep their meaning. */
export const classifyKafkaError: (error: unknown, context?: KafkaErrorContext) => FerryError =
  createErrorClassifier<KafkaErrorCode, KafkaErrorContext>({
    rules: [protocolRule, clientRule],
    network: {
      connection: KafkaErrorCodes.KAFKA_BROKER_UNAVAILABLE,
      timeout: KafkaErrorCodes.KAFKA_TIMEOUT,
    },
    // Nothing recognised: trust a `retriable` flag somewhere in the chain, unless kafkajs already gave up
    // after its own (small) retry budget with a non-retriable wrapper; the runtime decides from here.
    fallback: (chain) => ({
      code: KafkaErrorCodes.KAFKA_REQUEST_FAILED,
      retryable:
        chain.some((link) => link.prop('retriable') === true) &&
        chain[0]?.name !== 'KafkaJSNonRetriableError',
    }),
    build: ({ verdict, link, chain, error }, context) => {
      const text = error instanceof Error ? error.message : String(error);
      const root = chain.at(-1);
      const rootText =
        root !== undefined && root.error !== error && root.error instanceof Error ? ` (${root.message})` : '';
      const where = [
        context.operation,
        context.topic ? `topic ${context.topic}` : undefined,
        context.brokers ? `brokers ${context.brokers.join(',')}` : undefined,
      ]
        .filter(Boolean)
        .join(', ');
      const details: Record<string, unknown> = { ...context };
      const nativeType = link === undefined ? undefined : (typeOf(link) ?? link.code);
      if (nativeType !== undefined) details.nativeType = nativeType;
      return new KafkaError(
        verdict.code,
        `Kafka ${where ? `${where}: ` : ''}${text}${rootText}${hint(verdict.code)}`,
        { retryable: verdict.retryable, cause: error, details },
      );
    },
  });

function hint(code: KafkaErrorCode): string {
  switch (code) {
    case KafkaErrorCodes.KAFKA_RECORD_TOO_LARGE:
      return '; raise the topic’s max.message.bytes or send smaller events';
    case KafkaErrorCodes.KAFKA_AUTHORIZATION_FAILED:
      return '; grant the principal the needed ACLs (write/describe on the topic, idempotent write on the cluster)';
    case KafkaErrorCodes.KAFKA_AUTHENTICATION_FAILED:
      return '; check the sasl/ssl options';
    case KafkaErrorCodes.KAFKA_PRODUCER_FENCED:
      return '; another instance of this pipeline is running with the same transactional id';
    default:
      return '';
  }
}

function typeOf(link: ErrorLink): string | undefined {
  const type = link.prop('type');
  return typeof type === 'string' ? type : undefined;
}

/** Kafka protocol error names, the same in every client: they come from the protocol's error table. */
function protocolRule(link: ErrorLink): Verdict | undefined {
  const type = typeOf(link);
  return type === undefined ? undefined : PROTOCOL[type];
}

/** Client-side failures that carry no protocol type: kafkajs names them. */
function clientRule(link: ErrorLink): Verdict | undefined {
  switch (link.name) {
    case 'KafkaJSConnectionError':
    case 'KafkaJSConnectionClosedError':
    case 'KafkaJSBrokerNotFound':
    case 'KafkaJSMetadataNotLoaded':
    case 'KafkaJSTopicMetadataNotLoaded':
    case 'KafkaJSStaleTopicMetadataAssignment':
      return { code: KafkaErrorCodes.KAFKA_BROKER_UNAVAILABLE, retryable: true };
    case 'KafkaJSRequestTimeoutError':
    case 'KafkaJSTimeout':
      return { code: KafkaErrorCodes.KAFKA_TIMEOUT, retryable: true };
    case 'KafkaJSSASLAuthenticationError':
      return { code: KafkaErrorCodes.KAFKA_AUTHENTICATION_FAILED, retryable: false };
    case 'KafkaJSInvalidProducerEpoch':
      return { code: KafkaErrorCodes.KAFKA_PRODUCER_FENCED, retryable: false };
    default:
      return undefined;
  }
}
