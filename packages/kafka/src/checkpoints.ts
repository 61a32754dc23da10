// Positions in a compacted Kafka topic keyed by pipeline name, as Kafka Connect keeps source offsets. load()
// reads the topic to its end (read_committed) and keeps the pipeline's last value; a tombstone clears it.
// A scheduled pipeline's pass state lives beside it under `<pipeline>#pass`, and the counts of a file being
// read under `<pipeline>#unit` ('#' is not allowed in names).
import type { CheckpointStore, Logger, PassState, UnitTallyState } from '@ferry/core/sdk';
import type { KafkaCheckpointConfig } from './config.js';
import { claimOwnership } from './internal/owner.js';
import {
  type CheckpointOwner,
  decodeCheckpoint,
  encodeCheckpoint,
  encodeCheckpointTombstone,
} from './internal/records.js';
import { ensureTopics } from './internal/topics.js';
import type { KafkaTransport, OutMessage, ProducerTransport } from './internal/transport.js';

export interface KafkaCheckpointContext {
  logger: Logger;
  transport: KafkaTransport;
  /** The name this process's commits carry with fencing (a cluster worker's; default host-pid). */
  worker?: string;
}

export class KafkaCheckpointStore implements CheckpointStore {
  readonly type = 'kafka';
  private producer: Promise<ProducerTransport> | undefined;
  /** With fencing: each pipeline's transactional producer, made when the pipeline is claimed. */
  private readonly owners = new Map<
    string,
    Promise<{ producer: ProducerTransport; owner: CheckpointOwner }>
  >();
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

  /**
   * With fencing, loading is where a run claims its pipeline: the pipeline's transactional producer starts
   * first, so the broker fences any earlier owner (and completes or aborts its open transaction) before the
   * position is read.
   */
  async load(pipeline: string): Promise<unknown> {
    if (this.config.fencing) await this.owner(pipeline);
    return this.latest(pipeline);
  }

  save(pipeline: string, position: unknown): Promise<void> {
    return this.send((owner) => encodeCheckpoint(pipeline, position, owner), pipeline);
  }

  /** With fencing, who this store commits as for `pipeline` (claiming it if not yet done). */
  async ownerOf(pipeline: string): Promise<CheckpointOwner | undefined> {
    return this.config.fencing ? (await this.owner(pipeline)).owner : undefined;
  }

  async loadPassState(pipeline: string): Promise<PassState | undefined> {
    const state = await this.latest(passKey(pipeline));
    return state === undefined ? undefined : (state as PassState);
  }

  savePassState(pipeline: string, state: PassState): Promise<void> {
    return this.send((owner) => encodeCheckpoint(passKey(pipeline), state, owner), pipeline);
  }

  async loadUnitTally(pipeline: string): Promise<UnitTallyState | undefined> {
    const state = await this.latest(unitKey(pipeline));
    return state === undefined ? undefined : (state as UnitTallyState);
  }

  saveUnitTally(pipeline: string, state: UnitTallyState): Promise<void> {
    return this.send((owner) => encodeCheckpoint(unitKey(pipeline), state, owner), pipeline);
  }

  async clear(pipeline: string): Promise<void> {
    await this.send(() => encodeCheckpointTombstone(pipeline));
    await this.send(() => encodeCheckpointTombstone(passKey(pipeline)));
    await this.send(() => encodeCheckpointTombstone(unitKey(pipeline)));
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
    const owners = [...this.owners.values()].map((claim) => claim.then(({ producer }) => producer));
    const producers = [this.producer, ...owners];
    this.producer = undefined;
    this.owners.clear();
    await Promise.all(
      producers.map(async (producer) => {
        if (producer) await (await producer.catch(() => undefined))?.close();
      }),
    );
  }

  /**
   * The pipeline's transactional producer (fencing): started once, which fences any earlier owner; then the
   * ownership generation, read after the fence so the previous owner's last commit is final.
   */
  private owner(pipeline: string): Promise<{ producer: ProducerTransport; owner: CheckpointOwner }> {
    let claim = this.owners.get(pipeline);
    if (claim === undefined) {
      claim = (async () => {
        await this.provision();
        const producer = await this.ctx.transport.producer({
          idempotent: true,
          compression: 'none',
          transactionalId: `ferry-checkpoint-${pipeline}`,
          transactionTimeoutMs: this.config.transactionTimeoutMs,
        });
        try {
          const keys = [pipeline, passKey(pipeline), unitKey(pipeline)];
          const owner = await claimOwnership(
            this.ctx.transport,
            this.config.topic,
            keys,
            this.ctx.worker,
            this.config.readTimeoutMs,
          );
          return { producer, owner };
        } catch (error) {
          await producer.close().catch(() => undefined);
          throw error;
        }
      })();
      this.owners.set(pipeline, claim);
      // One that failed to start is not kept: the runtime's retry starts afresh.
      const failed = claim;
      failed.catch(() => {
        if (this.owners.get(pipeline) === failed) this.owners.delete(pipeline);
      });
    }
    return claim;
  }

  private async send(message: (owner?: CheckpointOwner) => OutMessage, pipeline?: string): Promise<void> {
    if (this.config.fencing && pipeline !== undefined) {
      const { producer, owner } = await this.owner(pipeline);
      // Fenced: the broker refuses this commit (KAFKA_PRODUCER_FENCED, not retried) and nothing of it is
      // visible to a read_committed reader.
      await producer.transaction((send) => send([{ topic: this.config.topic, messages: [message(owner)] }]));
      return;
    }
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
      await producer.send([{ topic: this.config.topic, messages: [message()] }]);
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
