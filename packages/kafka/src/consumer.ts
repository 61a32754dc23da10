// A kafkajs consumer in a group, set up as Ferry's consumers need it (the read API's, the webhooks runner's):
// read_committed, no topic auto-creation, one retry inside kafkajs so retries never nest with the caller's
// (kafkajs#962, #1324), and a crash that ends the run with its error instead of a restart inside kafkajs.
import type { Logger } from '@ferry/core';
import { type Consumer, type EachBatchPayload, Kafka, logLevel } from 'kafkajs';
import { classifyKafkaError } from './errors.js';

export interface GroupConsumerOptions {
  brokers: readonly string[];
  clientId: string;
  groupId: string;
  /** Longest a fetch waits for new messages (default 500 ms); a stop waits for the fetch in flight. */
  maxWaitMs?: number;
  /** Where kafkajs's own log lines go, at debug level (default nowhere). */
  logger?: Logger;
  /**
   * How long the group waits for a member that stopped heartbeating (a process killed outright) before it
   * gives its partitions to the others (default kafkajs's 30 s; the broker allows 6 s at least).
   */
  sessionTimeoutMs?: number;
}

export function groupConsumer(options: GroupConsumerOptions): Consumer {
  const log = options.logger;
  const kafka = new Kafka({
    brokers: [...options.brokers],
    clientId: options.clientId,
    retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1000 },
    logLevel: log === undefined ? logLevel.NOTHING : logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log: entry }) => {
        const { message, ...extra } = entry;
        log?.debug({ component: 'kafkajs', namespace, level, ...extra }, message);
      },
  });
  return kafka.consumer({
    groupId: options.groupId,
    readUncommitted: false,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: options.maxWaitMs ?? 500,
    ...(options.sessionTimeoutMs === undefined
      ? {}
      : {
          sessionTimeout: options.sessionTimeoutMs,
          heartbeatInterval: Math.floor(options.sessionTimeoutMs / 4),
        }),
    retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1000, restartOnFailure: async () => false },
  });
}

/**
 * How a consumer's run ends: when `signal` aborts, or at the first failure (a batch handler's, the group's
 * crash), which the run then rejects with. Batch handlers check `ended` to stop early.
 */
export class ConsumerStop {
  private failure: { error: unknown } | undefined;
  private finish!: () => void;
  /** Resolves when the run should end. */
  readonly ended: Promise<void> = new Promise((resolve) => {
    this.finish = resolve;
  });
  private readonly onAbort = () => this.finish();

  constructor(readonly signal: AbortSignal) {
    signal.addEventListener('abort', this.onAbort, { once: true });
    if (signal.aborted) this.finish();
  }

  /** End the run with this error (the first one wins). */
  fail(error: unknown): void {
    this.failure ??= { error };
    this.finish();
  }

  /** Aborted or failed: nothing more should be read. */
  get stopping(): boolean {
    return this.failure !== undefined || this.signal.aborted;
  }

  /** The run is over: stop listening to the signal. */
  release(): void {
    this.signal.removeEventListener('abort', this.onAbort);
  }

  /** Rethrow the failure that ended the run, if one did. */
  rethrow(): void {
    if (this.failure !== undefined) throw this.failure.error;
  }
}

/**
 * Connect, subscribe from the beginning (a group without committed offsets reads everything) and run
 * `eachBatch` with manual commits and offsets, until `stop` ends the run; then leave the group. A Kafka
 * failure rejects with a KafkaError saying whether trying again can help.
 */
export async function runGroupConsumer(
  consumer: Consumer,
  stop: ConsumerStop,
  options: {
    brokers: readonly string[];
    topics: readonly string[];
    eachBatch: (payload: EachBatchPayload) => Promise<void>;
    partitionsConsumedConcurrently?: number;
  },
): Promise<void> {
  const { brokers } = options;
  const kafkaError = (operation: string) => (error: unknown) => {
    throw classifyKafkaError(error, { operation, brokers });
  };
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    stop.fail(classifyKafkaError(payload.error, { operation: 'consume', brokers }));
  });
  try {
    await consumer.connect().catch(kafkaError('connect'));
    await consumer
      .subscribe({ topics: [...options.topics], fromBeginning: true })
      .catch(kafkaError('subscribe'));
    if (!stop.signal.aborted) {
      await consumer
        .run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          ...(options.partitionsConsumedConcurrently === undefined
            ? {}
            : { partitionsConsumedConcurrently: options.partitionsConsumedConcurrently }),
          eachBatch: options.eachBatch,
        })
        .catch(kafkaError('consume'));
    }
    await stop.ended;
  } finally {
    stop.release();
    await consumer.disconnect().catch(() => undefined);
  }
  stop.rethrow();
}
