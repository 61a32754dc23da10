// `ferry serve --cluster <group>`: the pipelines of this worker are the ones Kafka's group coordinator and
// Ferry's assignor give it (@ferry/kafka's ClusterMembership). What a cluster needs of every pipeline is
// checked here, before anything runs: its checkpoints in Kafka with fencing (one owner per pipeline, enforced
// by the broker) and its events in Kafka, since a file on one worker's disk cannot follow a pipeline to
// another worker.
import { randomUUID } from 'node:crypto';
import { ConfigError, FerryError, type LoadedPipeline, type Logger } from '@ferry/core';
import {
  type BoardPipeline,
  ClusterBoard,
  ClusterMembership,
  type ClusterView,
  connectionOf,
  type KafkaConnectionConfig,
  kafkaCheckpointConfigSchema,
  type PlanCard,
  type WorkerCard,
} from '@ferry/kafka';
import type { FerryMetrics } from '@ferry/ops';
import type { ClusterStatus } from '@ferry/server';
import type { PipelineHost } from './host.js';

/** The Kafka connection of the cluster: the pipelines' checkpoint store, which every pipeline must share. */
export function clusterConnection(pipelines: readonly LoadedPipeline[]): KafkaConnectionConfig {
  let connection: KafkaConnectionConfig | undefined;
  for (const loaded of pipelines) {
    const issues: { path: string; message: string }[] = [];
    if (loaded.checkpoints.type !== 'kafka') {
      issues.push({
        path: 'checkpoints.type',
        message: `cluster mode moves pipelines between workers, and a ${loaded.checkpoints.type} checkpoint store stays on one: use type: kafka with fencing: true`,
      });
    } else if (loaded.checkpoints.options.fencing !== true) {
      issues.push({
        path: 'checkpoints.fencing',
        message:
          'cluster mode needs fencing: true, so that a worker that lost a pipeline (paused, cut off) cannot commit for it after another took it',
      });
    }
    if (loaded.sink.type !== 'kafka') {
      issues.push({
        path: 'sink.type',
        message: `cluster mode moves pipelines between workers, and a ${loaded.sink.type} sink stays on one: use type: kafka`,
      });
    }
    if (issues.length > 0) throw new ConfigError(loaded.file, issues);
    const own = connectionOf(kafkaCheckpointConfigSchema.parse(loaded.checkpoints.options));
    if (connection === undefined) connection = own;
    else if (own.brokers.join(',') !== connection.brokers.join(',')) {
      throw new ConfigError(loaded.file, [
        {
          path: 'checkpoints.brokers',
          message: `every pipeline of a cluster keeps its checkpoints on the same Kafka cluster (${connection.brokers.join(', ')})`,
        },
      ]);
    }
  }
  if (connection === undefined)
    throw new ConfigError(undefined, [{ path: 'ferry serve', message: 'no pipeline' }]);
  return connection;
}

/** Join the cluster and run what it assigns; stop() hands the pipelines over after their last checkpoint. */
export async function joinCluster(
  host: PipelineHost,
  options: {
    group: string;
    worker: string;
    labels?: readonly string[];
    /** This worker's admin API, as it listens (shown to operators in /cluster). */
    url?: string;
    logger: Logger;
    metrics?: FerryMetrics;
  },
): Promise<{ stop(): Promise<void> }> {
  const { group, worker, logger } = options;
  const labels = [...(options.labels ?? [])];
  const pipelines = host.loaded();
  const connection = clusterConnection(pipelines);
  const instance = randomUUID();
  const membership = new ClusterMembership({
    connection,
    group,
    worker,
    labels,
    pipelines: pipelines.map((p) => ({
      name: p.name,
      weight: p.raw.cluster.weight,
      requires: p.raw.cluster.requires,
    })),
    logger,
  });
  const board = new ClusterBoard({ connection, group, worker, logger });
  const since = new Map<string, string>();
  let current: ClusterView | undefined;

  const ownPipelines = (): BoardPipeline[] =>
    (current?.pipelines ?? []).map((name) => {
      const status = host.get(name);
      return {
        pipeline: name,
        since: since.get(name) ?? new Date().toISOString(),
        state: status.state,
        lagSeconds: status.lagSeconds,
        lastCommitAt: status.lastCheckpoint?.at ?? null,
      };
    });
  const card = (): WorkerCard => ({
    worker,
    instance,
    memberId: current?.memberId ?? null,
    generation: membership.generation ?? null,
    url: options.url ?? null,
    labels,
    draining: membership.isDraining,
    pipelines: ownPipelines(),
    at: new Date().toISOString(),
  });
  const publish = (): Promise<void> =>
    board
      .publishCard(card())
      .catch((error: unknown) =>
        logger.warn(
          { cluster: group, err: error },
          'cluster board: this worker’s report could not be written',
        ),
      );

  membership.onAssignment((view) => {
    const at = new Date().toISOString();
    for (const name of [...since.keys()]) if (!view.pipelines.includes(name)) since.delete(name);
    for (const name of view.pipelines) if (!since.has(name)) since.set(name, at);
    current = view;
    const plan = view.isLeader ? membership.plan : undefined;
    options.metrics?.clusterAssigned({
      pipelines: view.pipelines.length,
      leader: view.isLeader,
      ...(plan ? { unassigned: plan.unassigned.length } : {}),
    });
    logger.info(
      { cluster: group, worker, memberId: view.memberId, leader: view.isLeader, pipelines: view.pipelines },
      `cluster ${group}: this worker runs ${view.pipelines.length === 0 ? 'no pipeline' : view.pipelines.join(', ')}`,
    );
    void host.assign(new Set(view.pipelines)).then(publish);
    void publish();
  });
  // The plan goes on the board once its generation is known (kafkajs says it with the first heartbeat).
  membership.onGeneration((generation) => {
    const plan = current?.isLeader ? membership.plan : undefined;
    if (plan)
      void publishPlan(board, { generation, leader: worker, at: new Date().toISOString(), ...plan }, logger);
    void publish();
  });

  // Drain requests for this incarnation of this worker, from whichever worker took them.
  let drainedOnRequest = false;
  let stopping = false;
  let draining: Promise<void> = Promise.resolve();
  board.onChange(() => {
    if (stopping) return;
    const request = board.drainRequest(worker);
    const wanted = request !== undefined && request.instance === instance;
    if (wanted === drainedOnRequest) return;
    drainedOnRequest = wanted;
    logger.info(
      { cluster: group, worker, by: request?.by },
      wanted
        ? `cluster ${group}: draining this worker as ${request?.by} was asked; its pipelines move to the others`
        : `cluster ${group}: the drain request was withdrawn; this worker takes pipelines again`,
    );
    // Draining stops the pipelines here first (flush, checkpoint), then leaves and rejoins as draining:
    // the others take them from their last checkpoint, with no moment where two workers run one.
    const change = async () => {
      if (!wanted) return membership.undrain();
      await host.assign(new Set());
      await membership.drain();
    };
    draining = draining
      .then(change)
      .then(publish)
      .catch((error: unknown) => logger.error({ cluster: group, err: error }, 'cluster: drain failed'));
  });

  host.clusterControl = {
    view: () => clusterStatus({ group, worker, current, membership, board, own: ownPipelines() }),
    drain: async (target, undo) => {
      const found = board.card(target);
      const plan = board.plan();
      const member = plan?.members.some((m) => m.worker === target) ?? false;
      // A card newer than the plan is a worker that joined since; an older one outside it has left.
      if (found === undefined || (!member && plan !== undefined && found.at < plan.at)) {
        const known = plan?.members.map((m) => m.worker).join(', ') || 'none known yet';
        throw new FerryError(
          'SERVER_WORKER_NOT_FOUND',
          `no worker '${target}' in cluster ${group} (members: ${known})`,
        );
      }
      const requestedAt = new Date().toISOString();
      if (undo) await board.withdrawDrain(target);
      else await board.requestDrain({ worker: target, instance: found.instance, requestedAt, by: worker });
      return { worker: target, draining: !undo, requestedAt };
    },
  };

  await board.start();
  await membership.start();
  // Lag and state change between rebalances: every worker says where it stands every few seconds.
  const reporting = setInterval(() => void publish(), REPORT_INTERVAL_MS);
  reporting.unref();
  return {
    async stop() {
      clearInterval(reporting);
      stopping = true;
      await draining;
      // Pipelines first (flush, checkpoint), then leave the group: the next owner reads the last checkpoint.
      await host.assign(new Set());
      await membership.stop();
      await board.stop();
    },
  };
}

const REPORT_INTERVAL_MS = 5_000;
/** A worker's report not renewed for this long is from a worker that is gone (it reports every 5 s). */
const STALE_CARD_MS = 30_000;

/** The leader puts its plan on the board, and clears the reports of workers gone for good. */
async function publishPlan(board: ClusterBoard, plan: PlanCard, logger: Logger): Promise<void> {
  try {
    await board.publishPlan(plan);
    const members = new Set(plan.members.map((m) => m.worker));
    const stale = Date.parse(plan.at) - STALE_CARD_MS;
    for (const card of board.workers()) {
      if (!members.has(card.worker) && Date.parse(card.at) < stale) await board.forgetWorker(card.worker);
    }
  } catch (error) {
    logger.warn({ err: error }, 'cluster board: the plan could not be written');
  }
}

function clusterStatus(input: {
  group: string;
  worker: string;
  current: ClusterView | undefined;
  membership: ClusterMembership;
  board: ClusterBoard;
  own: BoardPipeline[];
}): ClusterStatus {
  const { group, worker, current, membership, board, own } = input;
  const plan = board.plan();
  const members = plan?.members.map((member) => {
    const card = board.card(member.worker);
    const reported = new Map(
      (member.worker === worker ? own : (card?.pipelines ?? [])).map((p) => [p.pipeline, p]),
    );
    return {
      memberId: member.memberId,
      worker: member.worker,
      labels: member.labels,
      draining: member.draining,
      url: card?.url ?? null,
      pipelines: member.pipelines.map(
        (pipeline) =>
          reported.get(pipeline) ?? {
            pipeline,
            since: null,
            state: null,
            lagSeconds: null,
            lastCommitAt: null,
          },
      ),
    };
  });
  return {
    mode: 'cluster',
    group,
    worker,
    memberId: current?.memberId ?? null,
    leader: current?.isLeader ?? false,
    generation: membership.generation ?? null,
    assigned: own,
    plan: plan ? { generation: plan.generation, leader: plan.leader, at: plan.at } : null,
    members: members ?? null,
    unassigned: plan?.unassigned ?? null,
  };
}
