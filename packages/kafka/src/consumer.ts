// A kafkajs consumer in a group, set up as Ferry's consumers need it (the read API's, the webhooks runner's):
// read_committed, no topic auto-creation, one retry inside kafkajs so retries never nest with the caller's
// (kafkajs#962, #1324), and a crash that ends the run with its error instead of a restart inside kafkajs.
import type { Logger } from '@ferry/core';
import { type Consumer, Kafka, logLevel } from 'kafkajs';

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
