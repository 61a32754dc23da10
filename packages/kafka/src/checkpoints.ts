// Positions in a compacted Kafka topic keyed by pipeline name, as Kafka Connect keeps source offsets. load()
// reads the topic to its end (read_committed) and keeps the pipeline's last value; a tombstone clears it.
// A scheduled pipeline's pass state lives beside it under `<pipeline>#pass`, and the counts of a file being
// read under `<pipeline>#unit` ('#' is not allowed in names).
import type { CheckpointStore, Logger, PassState, UnitTallyState } from '@ferry/core/sdk';
import type { KafkaCheckpointConfig } from './config.js';
import { decodeCheckpoint, encodeCheckpoint, encodeCheckpointTombstone } from './internal/records.js';
import { ensureTopics } from './internal/topics.js';
import type { KafkaTransport, OutMessage, ProducerTransport } from './internal/transport.js';

export interface KafkaCheckpointContext {
  logger: Logger;
  transport: KafkaTransport;
}

export class KafkaCheckpointStore implements CheckpointStore {
  readonly type = 'kafka';
  private producer: Promise<ProducerTransport> | undefined;
  private provisioned = false;

  constructor(
    readonly config: KafkaCheckpointConfig,
    private readonly ctx: KafkaCheckpointContext,
  ) {}

  get topic(): string {
    return this.config.topic;
  }

  async provision(): Promise<void> {
    if (this.provisioned) return;
    const admin = await this.ctx.transport.admin();
    try {
      await ensureTopics(
        admin,
        [
          {
            topic: this.config.topic,
            // One partition: a reader at start reads one ordered log, whatever the key.
            partitions: 1,
            replicationFactor: this.config.replicationFactor,
            config: { 'cleanup.policy': 'compact' },
          },
        ],
        this.config.create,
        this.ctx.logger,
      );
      this.provisioned = true;
    } finally {
      await admin.close().catch(() => undefined);
    }
  }

  async load(pipeline: string): Promise<unknown> {
    return this.latest(pipeline);
  }

  save(pipeline: string, position: unknown): Promise<void> {
    return this.send(encodeCheckpoint(pipeline, position));
  }

  async loadPassState(pipeline: string): Promise<PassState | undefined> {
    const state = await this.latest(passKey(pipeline));
    return state === undefined ? undefined : (state as PassState);
  }

  savePassState(pipeline: string, state: PassState): Promise<void> {
    return this.send(encodeCheckpoint(passKey(pipeline), state));
  }

  async loadUnitTally(pipeline: string): Promise<UnitTallyState | undefined> {
    const state = await this.latest(unitKey(pipeline));
    return state === undefined ? undefined : (state as UnitTallyState);
  }

  saveUnitTally(pipeline: string, state: UnitTallyState): Promise<void> {
    return this.send(encodeCheckpoint(unitKey(pipeline), state));
  }

  async clear(pipeline: string): Promise<void> {
    await this.send(encodeCheckpointTombstone(pipeline));
    await this.send(encodeCheckpointTombstone(passKey(pipeline)));
    await this.send(encodeCheckpointTombstone(unitKey(pipeline)));
  }

  /** The last value under `key`, reading the topic to its end; undefined after a tombstone. */
  private async latest(key: string): Promise<unknown> {
    await this.provision();
    let position: unknown;
    await this.ctx.transport.readTopic(
      this.config.topic,
      (message) => {
        if (message.key?.toString() !== key) return;
        const value = decodeCheckpoint(message);
        position = value === null ? undefined : value.position;
      },
      { timeoutMs: this.config.readTimeoutMs },
    );
    return position;
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    if (producer) await (await producer.catch(() => undefined))?.close();
  }

  private async send(message: OutMessage): Promise<void> {
    await this.provision();
    if (!this.producer) {
      const producer = this.ctx.transport.producer({ idempotent: true, compression: 'none' });
      this.producer = producer;
      producer.catch(() => {
        if (this.producer === producer) this.producer = undefined;
      });
    }
    const producer = await this.producer;
    try {
      await producer.send([{ topic: this.config.topic, messages: [message] }]);
    } catch (error) {
      this.producer = undefined;
      await producer.close().catch(() => undefined);
      throw error;
    }
  }
}

function passKey(pipeline: string): string {
  return `${pipeline}#pass`;
}

function unitKey(pipeline: string): string {
  return `${pipeline}#unit`;
}
