// The narrow interface between Ferry's Kafka parts and a Kafka client library. kafkajs is no longer
// maintained, so nothing outside src/internal/ may import a client: swapping the transport touches only here.
import type { Logger } from '@ferry/core/sdk';
import type { KafkaConnectionConfig } from '../config.js';

export interface OutMessage {
  key: string | null;
  value: string | Buffer | null;
  headers: Record<string, string>;
}

export interface TopicMessages {
  topic: string;
  messages: OutMessage[];
}

export interface InMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

export interface ProducerOptions {
  idempotent: boolean;
  compression: 'gzip' | 'none';
  /** Set for exactly-once: the producer runs transactions and fences older instances with the same id. */
  transactionalId?: string;
  transactionTimeoutMs?: number;
  /**
   * Plain produce in a worker thread of its own, where the transport can (kafkajs: threaded.ts); a
   * transactional producer always runs on the caller's thread, and other transports ignore it.
   */
  thread?: boolean;
}

export type SendFn = (batches: TopicMessages[]) => Promise<void>;

export interface ProducerTransport {
  /** Resolves when every message is acknowledged by all in-sync replicas (acks=all). */
  send: SendFn;
  /** Everything `work` sends becomes visible atomically on commit, or not at all (transactional only). */
  transaction(work: (send: SendFn) => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

export interface TopicSpec {
  topic: string;
  partitions: number;
  replicationFactor: number;
  config: Record<string, string>;
}

export interface AdminTransport {
  /** Partition counts of the topics that exist; missing topics are absent from the map. */
  describeTopics(topics: string[]): Promise<Map<string, number>>;
  /** Create topics; one that already exists is not an error. */
  createTopics(specs: TopicSpec[]): Promise<void>;
  close(): Promise<void>;
}

export interface ReadOptions {
  /** Give up (KAFKA_TIMEOUT) when the end is not reached in this time. */
  timeoutMs: number;
}

export interface KafkaTransport {
  readonly name: string;
  producer(options: ProducerOptions): Promise<ProducerTransport>;
  admin(): Promise<AdminTransport>;
  /**
   * Every committed message of a topic from the beginning to its end as of the call (read_committed),
   * in offset order per partition.
   */
  readTopic(topic: string, onMessage: (message: InMessage) => void, options: ReadOptions): Promise<void>;
  /**
   * Ask the brokers for cluster metadata on a short-lived client of its own (the producer is never
   * borrowed), creating and changing nothing. Connect and request timeouts are capped at `timeoutMs`.
   */
  probe(timeoutMs: number): Promise<void>;
}

export type TransportFactory = (connection: KafkaConnectionConfig, logger: Logger) => KafkaTransport;
