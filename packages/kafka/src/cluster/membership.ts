// Cluster membership through Kafka's group coordinator (issue 17): every worker of a cluster joins one
// consumer group; Kafka decides who is in it (a worker that leaves or stops heartbeating is out after the
// session timeout), the group's leader runs Ferry's assignor (assign.ts) over what the members said of
// themselves, and each member learns its pipelines from its assignment.
//
// Pipelines travel as partitions of a control topic (`ferry-cluster.<group>`, one partition per pipeline,
// numbered in the order of the pipelines' names, never written to): kafkajs hands a member exactly the
// partitions the leader gave it, and nothing else of the assignment. What a member says of itself (its name,
// labels, the pipelines it runs now, whether it is draining, a digest of its pipeline set) is the userData
// of its group metadata, which the leader reads.
import { createHash } from 'node:crypto';
import type { Logger } from '@ferry/core/sdk';
import { type Admin, AssignerProtocol, type Consumer, Kafka, type PartitionAssigner } from 'kafkajs';
import type { KafkaConnectionConfig } from '../config.js';
import { kafkaJsConfig } from '../internal/kafkajs.js';
import { assignPipelines, type PipelineDemand, type Unassigned } from './assign.js';

const PROTOCOL = 'ferry-pipelines';

export interface ClusterOptions {
  connection: KafkaConnectionConfig;
  /** The cluster's name: its consumer group, and its control topic `ferry-cluster.<group>`. */
  group: string;
  /** This worker's name (for /cluster and logs); default host-pid. */
  worker: string;
  labels: readonly string[];
  /** Every pipeline of the cluster: each worker is started with the same set. */
  pipelines: readonly PipelineDemand[];
  /** A member that stops heartbeating is out of the group after this long (broker bounds: 6 s to 30 min). */
  sessionTimeoutMs?: number;
  /** How long members have to rejoin when the group rebalances. */
  rebalanceTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  logger: Logger;
}

/** What one member learns at each rebalance. */
export interface ClusterView {
  memberId: string;
  isLeader: boolean;
  /** This worker's pipelines, by name. */
  pipelines: string[];
}

/** What the leader decided, for /cluster: every member and its pipelines, and what no member could take. */
export interface ClusterPlan {
  members: { memberId: string; worker: string; labels: string[]; draining: boolean; pipelines: string[] }[];
  unassigned: Unassigned[];
}

interface Bid {
  worker: string;
  labels: string[];
  owned: string[];
  draining: boolean;
  digest: string;
  /** Its pipeline set: the leader assigns the set most members agree on, whatever its own. */
  pipelines: PipelineDemand[];
}

/** A digest of the pipeline set: members that disagree on it are given nothing (and the leader says so). */
export function pipelineSetDigest(pipelines: readonly PipelineDemand[]): string {
  const canonical = [...pipelines]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((p) => [p.name, p.weight, [...p.requires].sort()]);
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex').slice(0, 16);
}

export class ClusterMembership {
  private readonly consumer: Consumer;
  private readonly names: string[];
  private readonly digest: string;
  readonly topic: string;
  private owned: string[] = [];
  private draining = false;
  private lastPlan: ClusterPlan | undefined;
  private readonly listeners: ((view: ClusterView) => void)[] = [];
  private readonly generationListeners: ((generation: number) => void)[] = [];
  private currentGeneration: number | undefined;
  private changing: Promise<void> = Promise.resolve();
  private leaving = false;

  constructor(private readonly options: ClusterOptions) {
    this.topic = `ferry-cluster.${options.group}`;
    this.names = options.pipelines.map((p) => p.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.digest = pipelineSetDigest(options.pipelines);
    const kafka = new Kafka(kafkaJsConfig(options.connection, options.logger));
    this.consumer = kafka.consumer({
      groupId: options.group,
      partitionAssigners: [this.assigner()],
      sessionTimeout: options.sessionTimeoutMs ?? 10_000,
      rebalanceTimeout: options.rebalanceTimeoutMs ?? 30_000,
      heartbeatInterval: options.heartbeatIntervalMs ?? 1_000,
      // Nothing is ever written to the control topic: its partitions only carry the assignment. kafkajs
      // heartbeats only between fetches, and a leave waits for the fetch in flight, so a fetch waits no longer
      // than a heartbeat interval: a graceful handover then takes about a second, not the 4–10 s a 5 s wait
      // gave (docs/performance.md, cluster handover).
      maxWaitTimeInMs: options.heartbeatIntervalMs ?? 1_000,
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) => {
      const partitions = (payload.memberAssignment as Record<string, number[]>)[this.topic] ?? [];
      this.owned = partitions.map((p) => this.names[p]).filter((n): n is string => n !== undefined);
      this.owned.sort();
      const view = { memberId: payload.memberId, isLeader: payload.isLeader, pipelines: [...this.owned] };
      for (const listener of this.listeners) listener(view);
    });
    // kafkajs tells the group generation only with heartbeats (the first comes a heartbeat interval after
    // joining), not with the join itself.
    this.consumer.on(this.consumer.events.HEARTBEAT, ({ payload }) => {
      const generation = payload.groupGenerationId;
      if (generation === this.currentGeneration) return;
      this.currentGeneration = generation;
      for (const listener of this.generationListeners) listener(generation);
    });
  }

  /** The group generation this member last heartbeated in (undefined until the first heartbeat). */
  get generation(): number | undefined {
    return this.currentGeneration;
  }

  /** Called when the member learns a new group generation (after each rebalance). */
  onGeneration(listener: (generation: number) => void): void {
    this.generationListeners.push(listener);
  }

  /** Whether this worker asked to be drained. */
  get isDraining(): boolean {
    return this.draining;
  }

  /** Called with this worker's pipelines after every rebalance (the first one included). */
  onAssignment(listener: (view: ClusterView) => void): void {
    this.listeners.push(listener);
  }

  /** The leader's last decision (known only on the leader). */
  get plan(): ClusterPlan | undefined {
    return this.lastPlan;
  }

  /** Join the group: the control topic is created (or widened) to one partition per pipeline first. */
  async start(): Promise<void> {
    await this.ensureControlTopic();
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: false });
    await this.consumer.run({ eachMessage: async () => {} });
  }

  /**
   * Give every pipeline away at the next rebalance (maintenance) and ask for one now. kafkajs has no call
   * for it: leaving and joining again is the rebalance, with this member's new wish in its metadata.
   */
  async drain(): Promise<void> {
    await this.rejoin(true);
  }

  /** Take pipelines again after a drain (at the rebalance this asks for). */
  async undrain(): Promise<void> {
    await this.rejoin(false);
  }

  /**
   * Drains, undrains and the final stop run one after the other: a stop arriving during a drain must not be
   * followed by the drain's run(), which would join the group again after the worker left it.
   */
  private rejoin(draining: boolean): Promise<void> {
    const next = this.changing.then(async () => {
      if (this.leaving) return;
      this.draining = draining;
      await this.consumer.stop();
      await this.consumer.run({ eachMessage: async () => {} });
    });
    this.changing = next.catch(() => undefined);
    return next;
  }

  /** Leave the group: Kafka gives this worker's pipelines to the others at once (no session timeout). */
  async stop(): Promise<void> {
    this.leaving = true;
    await this.changing;
    await this.consumer.disconnect();
  }

  private async ensureControlTopic(): Promise<void> {
    const kafka = new Kafka(kafkaJsConfig(this.options.connection, this.options.logger));
    const admin = kafka.admin();
    await admin.connect();
    try {
      const wanted = Math.max(1, this.names.length);
      const created = await admin.createTopics({
        topics: [{ topic: this.topic, numPartitions: wanted, replicationFactor: -1 }],
        waitForLeaders: true,
      });
      if (!created) {
        const have = await this.partitionsOf(admin);
        if (have < wanted)
          await admin.createPartitions({ topicPartitions: [{ topic: this.topic, count: wanted }] });
      }
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * The control topic's partition count. A worker starting beside another that has just created the topic
   * can ask before the brokers host it (UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE): it asks again,
   * for up to 10 s.
   */
  private async partitionsOf(admin: Admin): Promise<number> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const [meta] = (await admin.fetchTopicMetadata({ topics: [this.topic] })).topics;
        return meta?.partitions.length ?? 0;
      } catch (error) {
        const type = (error as { type?: string }).type;
        const settling = type === 'UNKNOWN_TOPIC_OR_PARTITION' || type === 'LEADER_NOT_AVAILABLE';
        if (!settling || attempt >= 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  private bid(): Bid {
    return {
      worker: this.options.worker,
      labels: [...this.options.labels],
      owned: [...this.owned],
      draining: this.draining,
      digest: this.digest,
      pipelines: [...this.options.pipelines],
    };
  }

  private assigner(): PartitionAssigner {
    return () => ({
      name: PROTOCOL,
      version: 1,
      protocol: ({ topics }) => ({
        name: PROTOCOL,
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 1,
          topics,
          userData: Buffer.from(JSON.stringify(this.bid())),
        }),
      }),
      assign: async ({ members }) => {
        const bids = members.map((member) => {
          const metadata = AssignerProtocol.MemberMetadata.decode(member.memberMetadata);
          const bid = JSON.parse(metadata?.userData.toString() || '{}') as Partial<Bid>;
          return { memberId: member.memberId, bid };
        });
        // The pipeline set most members were started with (a tie goes to the set of the member first by id);
        // a member with another set would number pipelines differently: it gets none.
        const votes = new Map<string, number>();
        for (const { bid } of bids) if (bid.digest) votes.set(bid.digest, (votes.get(bid.digest) ?? 0) + 1);
        const byId = [...bids].sort((x, y) => (x.memberId < y.memberId ? -1 : 1));
        const most = Math.max(0, ...votes.values());
        const digest = byId.find(({ bid }) => bid.digest && votes.get(bid.digest) === most)?.bid.digest;
        const pipelines = byId.find(({ bid }) => bid.digest === digest)?.bid.pipelines ?? [];
        const names = pipelines.map((p) => p.name).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
        const agreeing = bids.filter(({ bid }) => bid.digest === digest);
        for (const { memberId, bid } of bids) {
          if (bid.digest !== digest)
            this.options.logger.error(
              { memberId, worker: bid.worker },
              `cluster ${this.options.group}: worker ${bid.worker ?? memberId} was started with another set of pipelines than the others; it is given none until it runs the same files`,
            );
        }
        const result = assignPipelines(
          agreeing.map(({ memberId, bid }) => ({
            id: memberId,
            labels: bid.labels ?? [],
            owned: bid.owned ?? [],
            draining: bid.draining === true,
          })),
          pipelines,
        );
        this.lastPlan = {
          members: bids.map(({ memberId, bid }) => ({
            memberId,
            worker: bid.worker ?? memberId,
            labels: bid.labels ?? [],
            draining: bid.draining === true,
            pipelines: result.byWorker.get(memberId) ?? [],
          })),
          unassigned: result.unassigned,
        };
        return members.map((member) => ({
          memberId: member.memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({
            version: 1,
            assignment: {
              [this.topic]: (result.byWorker.get(member.memberId) ?? []).map((name) => names.indexOf(name)),
            },
            userData: Buffer.from(JSON.stringify({ unassigned: result.unassigned })),
          }),
        }));
      },
    });
  }
}
