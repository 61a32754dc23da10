// What the runtime tells an observer while it runs: metrics, freshness monitors, the admin host and progress
// bars all listen here. Observers run inside a guard: one that throws is logged and never breaks the run.
import type { Logger } from './logging.js';
import type { BatchProgress, RunSummary } from './types.js';

export interface NoticeSummary {
  type: string;
  stream: string;
  data: Record<string, unknown>;
}

/** Counts for one stream of one batch (or of a committed group of batches). */
export interface StreamCounts {
  stream: string;
  /** Change records read from the source. */
  records: number;
  /** Canonical events built (written, once committed). */
  events: number;
  /** Records the mapping dropped on purpose. */
  skipped: number;
  /** Dead letters by error code. */
  deadLetters: Record<string, number>;
}

export interface BatchPrepared {
  pipeline: string;
  /** Per stream: what this batch read, mapped and rejected. Nothing of it is durable yet. */
  streams: StreamCounts[];
  /** Notices (file started/completed) in the batch. */
  notices: NoticeSummary[];
  /**
   * How far behind the legacy system the batch is, in seconds, when the source can tell (replication
   * lag, file age, watermark age); 0 for an empty batch (caught up); undefined when unknown.
   */
  lagSeconds: number | undefined;
  progress?: BatchProgress;
}

export interface BatchesCommitted {
  pipeline: string;
  /** Batches in this group commit. */
  batches: number;
  /** Per stream, summed over the group. */
  streams: StreamCounts[];
  /** The notices (file started/completed) of the group's batches, now durable with them. */
  notices: NoticeSummary[];
  /** Per batch: seconds from the start of its read to the end of its commit. */
  latencySeconds: number[];
  /** The position saved by the checkpoint. */
  position: unknown;
  at: Date;
}

export interface RetryObserved {
  pipeline: string;
  /** `source.read`, `sink.write`, `checkpoint.save`… */
  operation: string;
  code: string | undefined;
  attempt: number;
  /** How long the runtime waits before the next try, when it decides it (source reads). */
  delayMs?: number;
  /** The source's circuit breaker after this failure (source reads). */
  circuit?: 'closed' | 'open' | 'half-open';
}

export interface RunEnded {
  pipeline: string;
  summary?: RunSummary;
  /** Set when the run failed. */
  error?: { code: string; message: string; retryable: boolean };
}

/** Every method optional; see the module comment for the guard. */
export interface PipelineObserver {
  runStarted?(info: { pipeline: string; from: unknown }): void;
  batchPrepared?(info: BatchPrepared): void;
  committed?(info: BatchesCommitted): void;
  retrying?(info: RetryObserved): void;
  /** The source has read everything there is now (see `ReadContext.caughtUp`): its lag is 0. */
  caughtUp?(info: { pipeline: string; at: Date }): void;
  /** Batches read but not yet committed, after each change. */
  inFlight?(info: { pipeline: string; batches: number }): void;
  /** The source's report on its load on the legacy system (see `Source.health`), each time it is asked. */
  sourceHealth?(info: SourceHealthObserved): void;
  runEnded?(info: RunEnded): void;
}

export interface SourceHealthObserved {
  pipeline: string;
  at: Date;
  gauges: Record<string, number>;
  problems: { code: string; message: string }[];
}

/** Several observers as one; each call is guarded so a failing observer is logged and skipped. */
export function combineObservers(
  observers: readonly (PipelineObserver | undefined)[],
  log?: Logger,
): PipelineObserver {
  const list = observers.filter((o): o is PipelineObserver => o !== undefined);
  const call = <K extends keyof PipelineObserver>(
    name: K,
    arg: Parameters<NonNullable<PipelineObserver[K]>>[0],
  ): void => {
    for (const observer of list) {
      const fn = observer[name] as ((a: typeof arg) => void) | undefined;
      if (fn === undefined) continue;
      try {
        fn.call(observer, arg);
      } catch (error) {
        log?.warn({ err: error, hook: name }, 'a pipeline observer failed; the run goes on');
      }
    }
  };
  return {
    runStarted: (info) => call('runStarted', info),
    batchPrepared: (info) => call('batchPrepared', info),
    committed: (info) => call('committed', info),
    retrying: (info) => call('retrying', info),
    caughtUp: (info) => call('caughtUp', info),
    inFlight: (info) => call('inFlight', info),
    sourceHealth: (info) => call('sourceHealth', info),
    runEnded: (info) => call('runEnded', info),
  };
}
