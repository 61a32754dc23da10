// The Kafka sink: canonical events to Kafka through the CloudEvents binding, keyed by subject. write()
// resolves only when every message is acknowledged by all in-sync replicas. With delivery exactly-once,
// commitBatch() writes a batch's events, dead letters and checkpoint in one transaction.
import {
  type AtomicBatch,
  type CanonicalEvent,
  type EncodedEvents,
  type Logger,
  type Sink,
  stableStringify,
  topicResolver,
  withDeadline,
} from '@ferry/core/sdk';
import { type BindingMode, encodeEvent } from './binding.js';
import type { KafkaSinkConfig } from './config.js';
import { KafkaError, KafkaErrorCodes } from './errors.js';
import { claimOwnership } from './internal/owner.js';
import {
  type CheckpointOwner,
  decodeCheckpoint,
  encodeCheckpoint,
  encodeDeadLetter,
} from './internal/records.js';
import { type BeforeCommitHook, beforeCommitHook } from './internal/test-hooks.js';
import { ensureTopics } from './internal/topics.js';
import type {
  KafkaTransport,
  OutMessage,
  ProducerTransport,
  SendFn,
  TopicMessages,
} from './internal/transport.js';

/** A readiness probe never waits longer than this, whatever the configured timeouts. */
export const PROBE_TIMEOUT_MS = 5000;

export interface KafkaSinkContext {
  pipeline: string;
  logger: Logger;
  transport: KafkaTransport;
  /** Where commitBatch puts dead letters and the checkpoint (exactly-once). */
  deadLetterTopic?: string;
  checkpointTopic?: string;
  /**
   * With checkpoint fencing: the worker name the checkpoints written in the transaction carry, with the
   * ownership generation this run claims (internal/owner.ts).
   */
  fencedAs?: string;
}

interface Addressed {
  topic: string;
  message: OutMessage;
}

/** A batch as the Kafka sink sends it: each event's topic and its message in the CloudEvents binding. */
interface EncodedRecords extends EncodedEvents {
  readonly addressed: Addressed[];
}

export class KafkaSink implements Sink {
  readonly type = 'kafka';
  /** Present only for exactly-once: the runtime then commits each batch through it. */
  readonly commitBatch?: (batch: AtomicBatch) => Promise<void>;
  /** Warnings from topic provisioning (an existing topic with another partition count). */
  readonly warnings: string[] = [];
  private producer: Promise<ProducerTransport> | undefined;
  private readonly provisioned = new Set<string>();
  private commitFailed = false;
  /** The ownership this run commits as, with checkpoint fencing (claimed at the first commit). */
  private owner: Promise<CheckpointOwner> | undefined;
  /** The topic of an event: the template is resolved once per event type and dataschema. */
  private readonly topicOf: (event: CanonicalEvent) => string;
  private readonly log: Logger;
  /** Only when a test sets FERRY_TEST_CRASH for this pipeline (internal/test-hooks.ts); otherwise undefined. */
  private readonly beforeCommit: BeforeCommitHook | undefined;

  constructor(
    readonly config: KafkaSinkConfig,
    private readonly ctx: KafkaSinkContext,
  ) {
    this.log = ctx.logger.child({ sink: 'kafka' });
    this.topicOf = topicResolver(config.topic);
    if (config.delivery === 'exactly-once') this.commitBatch = (batch) => this.commitTransaction(batch);
    this.beforeCommit = beforeCommitHook(ctx.pipeline);
  }

  get transactionalId(): string | undefined {
    return this.config.delivery === 'exactly-once'
      ? (this.config.transactionalId ?? `ferry-${this.ctx.pipeline}`)
      : undefined;
  }

  /** Connect (and, for exactly-once, fence an older instance of the pipeline) before anything is read. */
  async start(): Promise<void> {
    await this.connection();
  }

  async write(events: CanonicalEvent[]): Promise<void> {
    await this.writeEncoded([this.encode(events)]);
  }

  /** Each event's topic and message, made once when the batch is ready (see Sink.encode). */
  encode(events: CanonicalEvent[]): EncodedRecords {
    const mode = this.config.mode as BindingMode;
    const addressed: Addressed[] = new Array(events.length);
    let bytes = 0;
    for (let i = 0; i < events.length; i += 1) {
      const event = events[i]!;
      const message = encodeEvent(event, mode);
      bytes += (message.key?.length ?? 0) + (message.value?.length ?? 0);
      for (const name in message.headers) bytes += name.length + (message.headers[name]?.length ?? 0);
      addressed[i] = { topic: this.topicOf(event), message };
    }
    return { count: events.length, bytes, addressed };
  }

  async writeEncoded(batches: EncodedEvents[]): Promise<void> {
    const addressed = joined(batches as EncodedRecords[]);
    if (addressed.length === 0) return;
    await this.provisionFor(addressed);
    if (this.config.delivery === 'exactly-once') {
      await this.inTransaction((send) => this.sendChunked(send, addressed));
    } else {
      await this.withProducer((producer) => this.sendChunked(producer.send, addressed));
    }
  }

  /** Cluster metadata from the brokers on a short-lived client of its own; writes and creates nothing. */
  probe(signal: AbortSignal): Promise<void> {
    const brokers = this.config.brokers;
    const late = (cancelled: boolean) =>
      new KafkaError(
        KafkaErrorCodes.KAFKA_TIMEOUT,
        `Kafka probe, brokers ${brokers.join(',')}: no answer ` +
          `${cancelled ? 'before the probe was cancelled' : `within ${PROBE_TIMEOUT_MS} ms`}`,
        { retryable: true, details: { operation: 'probe', brokers } },
      );
    return withDeadline(() => this.ctx.transport.probe(PROBE_TIMEOUT_MS), signal, PROBE_TIMEOUT_MS, late);
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    if (producer) await (await producer.catch(() => undefined))?.close();
  }

  private async commitTransaction(batch: AtomicBatch): Promise<void> {
    const { deadLetterTopic, checkpointTopic } = this.ctx;
    if (deadLetterTopic === undefined || checkpointTopic === undefined) {
      throw new TypeError('exactly-once needs the dead-letter and checkpoint topics');
    }
    if (this.commitFailed) {
      // The last commit failed, perhaps after the broker had committed it (a lost answer). A fresh producer
      // has fenced that attempt, so the checkpoint topic now says for sure; sending again would duplicate.
      await this.connection();
      if (await this.alreadyCommitted(checkpointTopic, batch)) {
        this.commitFailed = false;
        return;
      }
    }
    // A copy: the encoded batches stay as they were for a retry of this commit.
    const addressed = batch.encoded
      ? [...joined(batch.encoded as EncodedRecords[])]
      : [...this.encode(batch.events).addressed];
    await this.provisionFor(addressed);
    for (const letter of batch.deadLetters)
      addressed.push({ topic: deadLetterTopic, message: encodeDeadLetter(letter) });
    // Last, so a reader that sees the position has already been able to see everything before it.
    const owner = await this.claimed(checkpointTopic);
    addressed.push({
      topic: checkpointTopic,
      message: encodeCheckpoint(batch.pipeline, batch.position, owner),
    });
    try {
      await this.inTransaction(async (send) => {
        await this.sendChunked(send, addressed);
        if (this.beforeCommit) {
          await this.beforeCommit({
            events: batch.encoded ? batch.encoded.reduce((n, b) => n + b.count, 0) : batch.events.length,
            deadLetters: batch.deadLetters.length,
            position: batch.position,
          });
        }
      });
      this.commitFailed = false;
    } catch (error) {
      this.commitFailed = true;
      throw error;
    }
  }

  /** With fencing, who this run commits as: claimed once, after the producer has fenced the previous owner. */
  private async claimed(checkpointTopic: string): Promise<CheckpointOwner | undefined> {
    const worker = this.ctx.fencedAs;
    if (worker === undefined) return undefined;
    this.owner ??= claimOwnership(
      this.ctx.transport,
      checkpointTopic,
      [this.ctx.pipeline],
      worker,
      this.config.requestTimeoutMs,
    ).catch((error: unknown) => {
      this.owner = undefined;
      throw error;
    });
    return this.owner;
  }

  private async alreadyCommitted(checkpointTopic: string, batch: AtomicBatch): Promise<boolean> {
    let latest: string | undefined;
    await this.ctx.transport.readTopic(
      checkpointTopic,
      (message) => {
        if (message.key?.toString() !== batch.pipeline) return;
        const value = decodeCheckpoint(message);
        latest = value === null ? undefined : stableStringify(value.position);
      },
      { timeoutMs: this.config.requestTimeoutMs },
    );
    const committed = latest !== undefined && latest === stableStringify(batch.position);
    if (committed)
      this.log.warn({ position: batch.position }, 'the failed commit had succeeded; not sending it again');
    return committed;
  }

  /** Create (or check) the topics of these messages that this sink has not provisioned yet. */
  private async provisionFor(addressed: Addressed[]): Promise<void> {
    const fresh = new Set<string>();
    for (const { topic } of addressed) if (!this.provisioned.has(topic)) fresh.add(topic);
    if (fresh.size > 0) await this.provision([...fresh]);
  }

  private async provision(topics: string[]): Promise<void> {
    const { partitions, replicationFactor, config, create } = this.config.topics;
    const admin = await this.ctx.transport.admin();
    try {
      const result = await ensureTopics(
        admin,
        topics.map((topic) => ({ topic, partitions, replicationFactor, config })),
        create,
        this.log,
      );
      this.warnings.push(...result.warnings);
      for (const topic of topics) this.provisioned.add(topic);
    } finally {
      await admin.close().catch(() => undefined);
    }
  }

  private async sendChunked(send: SendFn, addressed: Addressed[]): Promise<void> {
    const limit = this.config.maxMessagesPerSend;
    for (let start = 0; start < addressed.length; start += limit) {
      const byTopic = new Map<string, OutMessage[]>();
      for (const { topic, message } of addressed.slice(start, start + limit)) {
        const list = byTopic.get(topic);
        if (list) list.push(message);
        else byTopic.set(topic, [message]);
      }
      const batches: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
      await send(batches);
    }
  }

  private connection(): Promise<ProducerTransport> {
    if (!this.producer) {
      const transactionalId = this.transactionalId;
      const producer = this.ctx.transport.producer({
        idempotent: this.config.idempotent,
        compression: this.config.compression,
        thread: this.config.producerThread,
        ...(transactionalId
          ? { transactionalId, transactionTimeoutMs: this.config.transactionTimeoutMs }
          : {}),
      });
      this.producer = producer;
      // A producer that failed to start is not kept: the next attempt (the runtime retries) starts afresh.
      producer.catch(() => {
        if (this.producer === producer) this.producer = undefined;
      });
    }
    return this.producer;
  }

  private async withProducer(work: (producer: ProducerTransport) => Promise<void>): Promise<void> {
    const producer = await this.connection();
    try {
      await work(producer);
    } catch (error) {
      // After a failed send the client's state is suspect (kafkajs#919, #979: sends that never reconnect);
      // the runtime's retry then gets a fresh producer. A new idempotent producer id is safe at-least-once.
      await this.discard(producer);
      throw error;
    }
  }

  private async inTransaction(work: (send: SendFn) => Promise<void>): Promise<void> {
    await this.withProducer((producer) => producer.transaction(work));
  }

  private async discard(producer: ProducerTransport): Promise<void> {
    if (this.producer && (await this.producer.catch(() => undefined)) === producer) this.producer = undefined;
    await producer.close().catch(() => undefined);
  }
}

/** The messages of several encoded batches, in order, without copying when there is one. */
function joined(batches: EncodedRecords[]): Addressed[] {
  if (batches.length === 1) return batches[0]!.addressed;
  return batches.flatMap((b) => b.addressed);
}
