// What the admin API needs from the process that runs the pipelines (`ferry serve`). The API only talks to
// this interface, so routes, auth and the OpenAPI document are tested without the connectors behind them.
import type { DeadLetter } from '@ferry/core';
import type { BatchProgress } from '@ferry/core/sdk';

export type PipelineState = 'starting' | 'running' | 'paused' | 'failed' | 'stopped';

export interface ExpectationStatus {
  name: string;
  /** `pending` until the first deadline has passed. */
  status: 'pending' | 'met' | 'missing' | 'short' | 'over';
  deadline: { cron: string; timezone: string };
  /** The last deadline checked, and what had arrived in its window. */
  lastCheck?: { at: string; windowStart: string; records: number; deliveries: number };
  nextDeadline?: string;
}

export interface PipelineStatus {
  name: string;
  state: PipelineState;
  source: string;
  sink: string;
  /** Set while the pipeline is failed (and kept as the last error after a resume). */
  error?: { code: string; message: string; retryable: boolean; at: string };
  /** The last committed position and when it was saved; absent before the first commit. */
  lastCheckpoint?: { position: unknown; at: string };
  /** Seconds behind the legacy system, when the source can tell; null when unknown. */
  lagSeconds: number | null;
  counts: { recordsRead: number; eventsWritten: number; deadLetters: number; retries: number };
  /** True when the source runs on a schedule (a trigger starts a pass at once). */
  scheduled: boolean;
  progress?: BatchProgress;
  expectations: ExpectationStatus[];
}

export interface DeadLetterView extends DeadLetter {
  /** Stable id of the letter (the same as `ferry dlq list --json`). */
  id: string;
}

export interface ReplayResult {
  dryRun: boolean;
  replayed: number;
  events: number;
  stillFailing: { id: string; code: string; message: string }[];
}

export interface Readiness {
  ready: boolean;
  pipelines: { name: string; ready: boolean; reason?: string }[];
}

/**
 * Errors are FerryErrors with these codes, which the API maps to HTTP statuses: PIPELINE_NOT_FOUND 404,
 * PIPELINE_RUNNING 409 (offsets changed while running), PIPELINE_STATE 409 (pause a paused pipeline…),
 * DLQ_LETTER_NOT_FOUND 404, DLQ_LIST_UNSUPPORTED / DLQ_REPLAY_UNSUPPORTED 501; anything else 500.
 */
export interface AdminHost {
  list(): PipelineStatus[];
  /** Throws PIPELINE_NOT_FOUND. */
  get(name: string): PipelineStatus;
  /** Stop reading, commit what was read, save the checkpoint; the pipeline stays paused until resumed. */
  pause(name: string): Promise<PipelineStatus>;
  /** Start a paused, failed or stopped pipeline again from its checkpoint. */
  resume(name: string): Promise<PipelineStatus>;
  /**
   * Run a pass now: a scheduled source waiting for its tick starts at once; a paused or stopped pipeline
   * runs once and stops; a pipeline in a pass, or streaming, is already reading (`started: false`).
   */
  trigger(name: string): Promise<{ started: boolean; detail: string }>;
  offsets(name: string): Promise<unknown>;
  /** Throws PIPELINE_RUNNING unless the pipeline is paused, failed or stopped. */
  resetOffsets(name: string): Promise<void>;
  deadLetters(
    name: string,
    page: { limit: number; offset: number },
  ): Promise<{ total: number; items: DeadLetterView[] }>;
  /** Throws DLQ_LETTER_NOT_FOUND. */
  deadLetter(name: string, id: string): Promise<DeadLetterView>;
  /**
   * Re-map and re-check the given letters (all pending when `ids` is absent) and publish what passes.
   * Unless `dryRun`, throws PIPELINE_RUNNING while the pipeline runs (here or in another process).
   */
  replay(name: string, options: { ids?: string[]; dryRun: boolean }): Promise<ReplayResult>;
  /** The AsyncAPI 3.0 document of the events the hosted pipelines publish. */
  asyncapi(): Promise<Record<string, unknown>>;
  readiness(): Promise<Readiness>;
  /** Prometheus text exposition of every metric. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** This worker in its cluster (`ferry serve --cluster`); `mode: single` otherwise. */
  cluster(): ClusterStatus;
  /**
   * Ask worker `worker` of the cluster to give its pipelines away (`undo`: to take pipelines again). Throws
   * SERVER_NOT_IN_CLUSTER 409 without --cluster, SERVER_WORKER_NOT_FOUND 404 for a worker not in the group.
   */
  drainWorker(worker: string, undo: boolean): Promise<DrainAccepted>;
}

export interface DrainAccepted {
  worker: string;
  draining: boolean;
  requestedAt: string;
}

/** A pipeline as a worker of the cluster reports it. */
export interface ClusterPipeline {
  pipeline: string;
  since: string | null;
  state: string | null;
  lagSeconds: number | null;
  lastCommitAt: string | null;
}

export interface ClusterStatus {
  mode: 'single' | 'cluster';
  group: string | null;
  worker: string | null;
  memberId: string | null;
  leader: boolean;
  /** The group generation this worker last joined (null until known). */
  generation: number | null;
  assigned: ClusterPipeline[];
  /** The leader's last plan, from the cluster's board; null until one is known. */
  plan: { generation: number; leader: string; at: string } | null;
  members:
    | {
        memberId: string;
        worker: string;
        labels: string[];
        draining: boolean;
        url: string | null;
        pipelines: ClusterPipeline[];
      }[]
    | null;
  unassigned: { name: string; reason: string }[] | null;
}
