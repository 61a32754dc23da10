// The cluster's board: a compacted topic `ferry-cluster.<group>.board` that every worker reads from the
// beginning and keeps in memory, so that any worker can answer for the whole cluster (GET /cluster,
// `ferry status --cluster`) and take a request meant for another one (POST /cluster/workers/{id}/drain).
// Kafka's group protocol tells only the leader who the members are, and kafkajs hands a member nothing of
// its assignment but its partitions; the board carries the rest, as Kafka Connect's status and config
// topics do. Keys:
// - `plan`: the leader's last decision (generation, every member and its pipelines, what could not be placed);
// - `worker/<name>`: what a worker says of itself (its admin URL, its pipelines with state and lag), written
//   when its assignment changes and every few seconds; a tombstone when it leaves;
// - `drain/<name>`: a request that a worker give its pipelines away, for one incarnation of that worker (a
//   restarted worker is not drained by an old request); a tombstone withdraws it.
// Nothing on the board decides who runs what: the group coordinator and the assignor do. The board only
// reports, and carries requests to the worker they name.
import { randomBytes } from 'node:crypto';
import type { Logger } from '@ferry/core/sdk';
import { type Consumer, Kafka, type Producer } from 'kafkajs';
import type { KafkaConnectionConfig } from '../config.js';
import { kafkaJsConfig } from '../internal/kafkajs.js';
import type { Unassigned } from './assign.js';

export interface BoardPipeline {
  pipeline: string;
  /** When this worker was given it. */
  since: string;
  state: string;
  lagSeconds: number | null;
  /** When its last batch was committed here. */
  lastCommitAt: string | null;
}

export interface WorkerCard {
  worker: string;
  /** One per process start: a drain request names the incarnation it is for. */
  instance: string;
  memberId: string | null;
  generation: number | null;
  url: string | null;
  labels: string[];
  draining: boolean;
  pipelines: BoardPipeline[];
  at: string;
}

export interface PlanCard {
  /** The group generation the plan was made for. */
  generation: number;
  leader: string;
  at: string;
  members: { memberId: string; worker: string; labels: string[]; draining: boolean; pipelines: string[] }[];
  unassigned: Unassigned[];
}

export interface DrainRequest {
  worker: string;
  instance: string;
  requestedAt: string;
  /** The worker that took the request. */
  by: string;
}

export interface BoardOptions {
  connection: KafkaConnectionConfig;
  group: string;
  worker: string;
  logger: Logger;
}

const PLAN = 'plan';
const workerKey = (worker: string) => `worker/${worker}`;
const drainKey = (worker: string) => `drain/${worker}`;

export class ClusterBoard {
  readonly topic: string;
  private readonly kafka: Kafka;
  private readonly consumer: Consumer;
  private producer: Producer | undefined;
  private readonly values = new Map<string, unknown>();
  private readonly listeners: (() => void)[] = [];
  private caughtUp: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: BoardOptions) {
    this.topic = `ferry-cluster.${options.group}.board`;
    this.kafka = new Kafka(kafkaJsConfig(options.connection, options.logger));
    // A group of its own, never committed: each worker reads the whole board from the beginning.
    this.consumer = this.kafka.consumer({
      groupId: `ferry-cluster.${options.group}.board.${options.worker}.${randomBytes(4).toString('hex')}`,
      maxWaitTimeInMs: 250,
    });
  }

  /** Create the topic if needed, then read it to its end before returning. */
  async start(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    let end: number;
    try {
      await admin.createTopics({
        topics: [
          {
            topic: this.topic,
            numPartitions: 1,
            replicationFactor: -1,
            configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
          },
        ],
        waitForLeaders: true,
      });
      end = await this.endOffset(admin);
    } finally {
      await admin.disconnect();
    }
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.producer.connect();
    let read = 0;
    let reached: () => void = () => {};
    this.caughtUp = new Promise<void>((resolve) => {
      reached = resolve;
      if (end === 0) resolve();
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        const key = message.key?.toString();
        if (key !== undefined) {
          if (message.value === null) this.values.delete(key);
          else {
            try {
              this.values.set(key, JSON.parse(message.value.toString()));
            } catch {
              this.options.logger.warn(
                { topic: this.topic, key },
                'cluster board: a record is not JSON; ignored',
              );
            }
          }
        }
        read = Number(message.offset) + 1;
        if (read >= end) reached();
        for (const listener of this.listeners) listener();
      },
    });
    // Reading what is already there is bounded: the board is small and compacted.
    await Promise.race([this.caughtUp, new Promise((resolve) => setTimeout(resolve, 15_000).unref())]);
  }

  /** Called after every record read (requests for this worker are acted on from here). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  plan(): PlanCard | undefined {
    return this.values.get(PLAN) as PlanCard | undefined;
  }

  workers(): WorkerCard[] {
    const cards: WorkerCard[] = [];
    for (const [key, value] of this.values) if (key.startsWith('worker/')) cards.push(value as WorkerCard);
    return cards.sort((a, b) => (a.worker < b.worker ? -1 : a.worker > b.worker ? 1 : 0));
  }

  card(worker: string): WorkerCard | undefined {
    return this.values.get(workerKey(worker)) as WorkerCard | undefined;
  }

  drainRequest(worker: string): DrainRequest | undefined {
    return this.values.get(drainKey(worker)) as DrainRequest | undefined;
  }

  publishPlan(plan: PlanCard): Promise<void> {
    return this.write(PLAN, plan);
  }

  publishCard(card: WorkerCard): Promise<void> {
    return this.write(workerKey(card.worker), card);
  }

  requestDrain(request: DrainRequest): Promise<void> {
    return this.write(drainKey(request.worker), request);
  }

  withdrawDrain(worker: string): Promise<void> {
    return this.write(drainKey(worker), null);
  }

  /** Remove a gone worker's report and any drain request for it (the leader does, for stale reports). */
  async forgetWorker(worker: string): Promise<void> {
    await this.write(workerKey(worker), null);
    if (this.values.has(drainKey(worker))) await this.write(drainKey(worker), null);
  }

  /** Leave: this worker's card is removed (its pipelines are reported by their new owners). */
  async stop(): Promise<void> {
    await this.write(workerKey(this.options.worker), null).catch(() => undefined);
    this.stopped = true;
    await this.consumer.disconnect().catch(() => undefined);
    await this.producer?.disconnect().catch(() => undefined);
    this.producer = undefined;
  }

  private async write(key: string, value: unknown): Promise<void> {
    // Reports still on their way when the worker stops are dropped: the worker has left.
    if (this.stopped) return;
    if (!this.producer) throw new Error('cluster board: not started');
    await this.producer.send({
      topic: this.topic,
      messages: [{ key, value: value === null ? null : JSON.stringify(value) }],
    });
  }

  private async endOffset(admin: ReturnType<Kafka['admin']>): Promise<number> {
    // A topic just created by another worker may not be hosted yet: ask again for up to 10 s.
    for (let attempt = 0; ; attempt += 1) {
      try {
        const [partition] = await admin.fetchTopicOffsets(this.topic);
        return Number(partition?.high ?? 0);
      } catch (error) {
        const type = (error as { type?: string }).type;
        const settling = type === 'UNKNOWN_TOPIC_OR_PARTITION' || type === 'LEADER_NOT_AVAILABLE';
        if (!settling || attempt >= 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }
}
