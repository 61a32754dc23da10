// The dead-letter topic: each dead letter is a record whose value is the letter (with the original record)
// and whose headers carry the error code, message, pipeline, stream, stage, origin and attempt count.
// `ferry dlq replay` appends a replay marker with the letter's id once its events are in the sink; list()
// yields only letters without a marker, so a letter is replayed once.
import type { DeadLetter, DeadLetterSink, Logger } from '@ferry/core/sdk';
import type { KafkaDeadLetterConfig } from './config.js';
import { decodeDlqRecord, encodeDeadLetter, encodeReplayMarker } from './internal/records.js';
import { ensureTopics } from './internal/topics.js';
import type { KafkaTransport, ProducerTransport } from './internal/transport.js';

export interface KafkaDeadLetterContext {
  pipeline: string;
  logger: Logger;
  transport: KafkaTransport;
}

export class KafkaDeadLetterSink implements DeadLetterSink {
  readonly type = 'kafka';
  readonly topic: string;
  private producer: Promise<ProducerTransport> | undefined;
  private provisioned = false;

  constructor(
    readonly config: KafkaDeadLetterConfig,
    private readonly ctx: KafkaDeadLetterContext,
  ) {
    this.topic = dlqTopicName(config.topic, ctx.pipeline);
  }

  /** Create (or check) the topic now, so an exactly-once sink can write into it from the first batch. */
  async provision(): Promise<void> {
    if (this.provisioned) return;
    const admin = await this.ctx.transport.admin();
    try {
      const { partitions, replicationFactor, config, create } = this.config.topics;
      await ensureTopics(
        admin,
        [{ topic: this.topic, partitions, replicationFactor, config }],
        create,
        this.ctx.logger,
      );
      this.provisioned = true;
    } finally {
      await admin.close().catch(() => undefined);
    }
  }

  async write(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await this.send(letters.map(encodeDeadLetter));
  }

  /** Letters not yet replayed, oldest first; a letter written twice (a re-read batch) is listed once. */
  async *list(): AsyncIterable<DeadLetter> {
    for (const { letter } of await this.entries()) yield letter;
  }

  /** Every letter with its state, for `ferry dlq list --all`. */
  async entries(includeReplayed = false): Promise<{ id: string; letter: DeadLetter; replayed: boolean }[]> {
    await this.provision();
    const letters = new Map<string, DeadLetter>();
    const replayed = new Set<string>();
    await this.ctx.transport.readTopic(
      this.topic,
      (message) => {
        const record = decodeDlqRecord(message);
        if (record.kind === 'letter') {
          if (!letters.has(record.id)) letters.set(record.id, record.letter);
        } else replayed.add(record.id);
      },
      { timeoutMs: 60_000 },
    );
    const out: { id: string; letter: DeadLetter; replayed: boolean }[] = [];
    for (const [id, letter] of letters) {
      const done = replayed.has(id);
      if (!done || includeReplayed) out.push({ id, letter, replayed: done });
    }
    return out;
  }

  async markReplayed(replays: { letter: DeadLetter; events: string[] }[]): Promise<void> {
    if (replays.length === 0) return;
    await this.send(replays.map(({ letter, events }) => encodeReplayMarker(letter, events)));
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    if (producer) await (await producer.catch(() => undefined))?.close();
  }

  private async send(messages: ReturnType<typeof encodeDeadLetter>[]): Promise<void> {
    await this.provision();
    if (!this.producer) {
      const producer = this.ctx.transport.producer({ idempotent: true, compression: 'gzip' });
      this.producer = producer;
      producer.catch(() => {
        if (this.producer === producer) this.producer = undefined;
      });
    }
    const producer = await this.producer;
    try {
      for (let start = 0; start < messages.length; start += 2000) {
        await producer.send([{ topic: this.topic, messages: messages.slice(start, start + 2000) }]);
      }
    } catch (error) {
      this.producer = undefined;
      await producer.close().catch(() => undefined);
      throw error;
    }
  }
}

export function dlqTopicName(template: string, pipeline: string): string {
  return template.replaceAll('{pipeline}', pipeline);
}
