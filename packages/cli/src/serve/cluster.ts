// `ferry serve --cluster <group>`: the pipelines of this worker are the ones Kafka's group coordinator and
// Ferry's assignor give it (@ferry/kafka's ClusterMembership). What a cluster needs of every pipeline is
// checked here, before anything runs: its checkpoints in Kafka with fencing (one owner per pipeline, enforced
// by the broker) and its events in Kafka, since a file on one worker's disk cannot follow a pipeline to
// another worker.
import { hostname } from 'node:os';
import { ConfigError, type LoadedPipeline, type Logger } from '@ferry/core';
import {
  ClusterMembership,
  type ClusterView,
  connectionOf,
  type KafkaConnectionConfig,
  kafkaCheckpointConfigSchema,
} from '@ferry/kafka';
import type { FerryMetrics } from '@ferry/ops';
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
    worker?: string | undefined;
    labels?: readonly string[];
    logger: Logger;
    metrics?: FerryMetrics;
  },
): Promise<{ stop(): Promise<void> }> {
  const pipelines = host.loaded();
  const worker = options.worker ?? `${hostname()}-${process.pid}`;
  const membership = new ClusterMembership({
    connection: clusterConnection(pipelines),
    group: options.group,
    worker,
    labels: options.labels ?? [],
    pipelines: pipelines.map((p) => ({
      name: p.name,
      weight: p.raw.cluster.weight,
      requires: p.raw.cluster.requires,
    })),
    logger: options.logger,
  });
  const since = new Map<string, string>();
  let current: ClusterView | undefined;
  host.clusterView = () => {
    const plan = current?.isLeader ? membership.plan : undefined;
    return {
      mode: 'cluster',
      group: options.group,
      worker,
      memberId: current?.memberId ?? null,
      leader: current?.isLeader ?? false,
      assigned: (current?.pipelines ?? []).map((pipeline) => ({ pipeline, since: since.get(pipeline)! })),
      members: plan?.members ?? null,
      unassigned: plan?.unassigned ?? null,
    };
  };
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
    options.logger.info(
      {
        cluster: options.group,
        worker,
        memberId: view.memberId,
        leader: view.isLeader,
        pipelines: view.pipelines,
      },
      `cluster ${options.group}: this worker runs ${view.pipelines.length === 0 ? 'no pipeline' : view.pipelines.join(', ')}`,
    );
    void host.assign(new Set(view.pipelines));
  });
  await membership.start();
  return {
    async stop() {
      // Pipelines first (flush, checkpoint), then leave the group: the next owner reads the last checkpoint.
      await host.assign(new Set());
      await membership.stop();
    },
  };
}
