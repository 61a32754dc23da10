// The runs of `ferry serve`'s pipelines: start, stop, pause, resume and trigger them, each exactly as
// `ferry run` would run it under its run lock, and keep the state the admin API reports (counts, last
// checkpoint, lag, freshness), fed by the observers of each run.
import {
  assemblePipeline,
  combineObservers,
  FerryError,
  isFerryError,
  isRetryable,
  type LoadedPipeline,
  type PipelineObserver,
  runPipeline,
  WakeUp,
} from '@ferry/core';
import { ExpectationMonitor } from '@ferry/ops';
import type { PipelineState, PipelineStatus } from '@ferry/server';
import { acquireRunLock } from '../lock.js';
import type { HostedPipelines } from './hosted.js';
import type { RunWatcher } from './readiness.js';

/**
 * Errors that say another process holds what the pipeline reads exclusively: a PostgreSQL replication slot
 * (DB_SLOT_IN_USE). In a cluster that is usually the previous owner, alive past its session (a zombie) or
 * not yet timed out by the server (wal_sender_timeout), so the new owner waits rather than fails.
 */
const HELD_ELSEWHERE = new Set(['DB_SLOT_IN_USE']);
const HELD_RETRY_MS = 5_000;

/** The HELD_ELSEWHERE code of an error, or of the error its retries gave up on; undefined otherwise. */
function heldElsewhere(error: unknown): string | undefined {
  if (!isFerryError(error)) return undefined;
  const underlying = error.code === 'RETRIES_EXHAUSTED' ? error.details?.code : error.code;
  return typeof underlying === 'string' && HELD_ELSEWHERE.has(underlying) ? underlying : undefined;
}

interface Run {
  loaded: LoadedPipeline;
  state: PipelineState;
  error?: PipelineStatus['error'];
  lastCheckpoint?: { position: unknown; at: string };
  lagSeconds: number | null;
  counts: PipelineStatus['counts'];
  progress?: PipelineStatus['progress'];
  wake: WakeUp;
  monitor: ExpectationMonitor;
  /** Aborting it stops the current run gracefully (flush, checkpoint). */
  stop?: AbortController;
  run?: Promise<void>;
  /** Set by pause: the run that ends next is paused, not stopped. */
  pausing: boolean;
  /** Cluster mode: when the cluster gave this worker the pipeline, until its first commit here. */
  assignedAt?: number | undefined;
}

export class PipelineLifecycle {
  private readonly runs = new Map<string, Run>();
  private readonly monitors = new AbortController();
  /** The cluster assignment being applied (assign calls run one after the other). */
  private assigning: Promise<void> = Promise.resolve();
  /** The pipelines the cluster gave this worker last. */
  private assigned: ReadonlySet<string> = new Set();

  constructor(
    private readonly pipelines: HostedPipelines,
    private readonly watcher: RunWatcher,
  ) {
    const { logger, metrics } = pipelines.options;
    for (const loaded of pipelines.all()) {
      const monitor = new ExpectationMonitor({
        pipeline: loaded.name,
        expectations: loaded.raw.expectations,
        log: logger,
        metrics,
      });
      this.runs.set(loaded.name, {
        loaded,
        state: 'stopped',
        lagSeconds: null,
        counts: { recordsRead: 0, eventsWritten: 0, deadLetters: 0, retries: 0 },
        wake: new WakeUp(),
        monitor,
        pausing: false,
      });
    }
  }

  /** Start every pipeline and its freshness checks. */
  start(): void {
    for (const run of this.runs.values()) {
      void run.monitor.start(this.monitors.signal);
      this.startRun(run, false);
    }
  }

  /**
   * Cluster mode: run exactly the pipelines the cluster gave this worker. Those taken away are stopped
   * gracefully (flush, checkpoint) before this resolves; calls are applied one after the other.
   */
  assign(names: ReadonlySet<string>): Promise<void> {
    this.assigned = new Set(names);
    const apply = async () => {
      const moving: Promise<void>[] = [];
      for (const run of this.runs.values()) {
        const active = run.state === 'running' || run.state === 'starting';
        if (names.has(run.loaded.name) && !active) {
          run.assignedAt = Date.now();
          this.startRun(run, false);
        }
        if (!names.has(run.loaded.name) && active) {
          run.pausing = false;
          run.stop?.abort();
          if (run.run) moving.push(run.run);
        }
      }
      await Promise.all(moving);
    };
    this.assigning = this.assigning.then(apply, apply);
    return this.assigning;
  }

  /** Start the freshness checks alone (cluster mode: the runs start as the cluster assigns them). */
  startMonitors(): void {
    for (const run of this.runs.values()) void run.monitor.start(this.monitors.signal);
  }

  /** Stop every pipeline gracefully and wait for their checkpoints. */
  async close(): Promise<void> {
    this.monitors.abort();
    for (const run of this.runs.values()) run.stop?.abort();
    await Promise.all([...this.runs.values()].map((r) => r.run));
  }

  list(): PipelineStatus[] {
    return [...this.runs.values()].map((r) => this.status(r));
  }

  get(name: string): PipelineStatus {
    return this.status(this.find(name));
  }

  async pause(name: string): Promise<PipelineStatus> {
    const run = this.find(name);
    if (run.state !== 'running' && run.state !== 'starting') {
      throw new FerryError('PIPELINE_STATE', `pipeline ${name} is ${run.state}, not running`);
    }
    run.pausing = true;
    run.stop?.abort();
    await run.run;
    return this.status(run);
  }

  async resume(name: string): Promise<PipelineStatus> {
    const run = this.find(name);
    if (run.state === 'running' || run.state === 'starting') {
      throw new FerryError('PIPELINE_STATE', `pipeline ${name} is already ${run.state}`);
    }
    this.startRun(run, false);
    return this.status(run);
  }

  async trigger(name: string): Promise<{ started: boolean; detail: string }> {
    const run = this.find(name);
    if (run.state === 'running' || run.state === 'starting') {
      if (run.wake.wake() > 0)
        return { started: true, detail: 'the source was waiting for its next pass; the pass starts now' };
      return {
        started: false,
        detail: 'the pipeline is reading now (a pass under way, or a stream); what arrived is on its way',
      };
    }
    this.startRun(run, true);
    return {
      started: true,
      detail: `a single pass started; the pipeline is ${run.state} again afterwards`,
    };
  }

  /** The pipeline, unless it is running: what changes its stored state (offsets, a replay) may not race a run. */
  refuseWhileRunning(name: string, action: string): LoadedPipeline {
    const run = this.find(name);
    if (run.state === 'running' || run.state === 'starting') {
      throw new FerryError('PIPELINE_RUNNING', `pipeline ${name} is running; pause it before you ${action}`);
    }
    return run.loaded;
  }

  /** The saved position was changed behind the runs (offsets reset): stop reporting the old one. */
  forgetCheckpoint(name: string): void {
    delete this.find(name).lastCheckpoint;
  }

  private find(name: string): Run {
    const loaded = this.pipelines.find(name);
    return this.runs.get(loaded.name)!;
  }

  private setState(run: Run, state: PipelineState): void {
    run.state = state;
    this.pipelines.options.metrics.setState(run.loaded.name, state);
  }

  private startRun(run: Run, once: boolean): void {
    const name = run.loaded.name;
    const stop = new AbortController();
    run.stop = stop;
    run.pausing = false;
    this.setState(run, 'starting');
    const { logger, registry } = this.pipelines.options;
    run.run = (async () => {
      let release: (() => Promise<void>) | undefined;
      // The lock is released before the final state is set, so whoever sees the pipeline stopped or paused
      // (a resume, a replay, another process) finds the lock free.
      const end = async () => {
        this.watcher.ended(name);
        const releasing = release;
        release = undefined;
        await releasing?.().catch((error: unknown) =>
          logger.warn({ pipeline: name, err: error }, 'the run lock could not be released'),
        );
      };
      try {
        // In cluster mode the broker fences an earlier owner (checkpoints.fencing); a pid file would only
        // see this host.
        if (!this.pipelines.options.cluster) release = await acquireRunLock(run.loaded.baseDir, name);
        const options = await assemblePipeline(run.loaded, registry, {
          logger,
          signal: stop.signal,
          once,
          wake: run.wake,
          observer: this.observerFor(run),
          ...(this.pipelines.options.cluster ? { worker: this.pipelines.options.cluster.worker } : {}),
        });
        this.watcher.started(name, { source: options.source, sink: options.sink });
        this.setState(run, 'running');
        await runPipeline(options);
        await end();
        this.setState(run, run.pausing ? 'paused' : 'stopped');
      } catch (error) {
        await end();
        run.error = {
          code: isFerryError(error) ? error.code : 'INTERNAL',
          message: run.loaded.redactor.scrub(error instanceof Error ? error.message : String(error)),
          retryable: isRetryable(error),
          at: new Date().toISOString(),
        };
        // In a cluster, being fenced means another worker owns the pipeline now: it moved, it did not fail.
        if (this.pipelines.options.cluster && run.error.code === 'KAFKA_PRODUCER_FENCED') {
          this.pipelines.options.metrics.clusterFenced(name);
          this.setState(run, 'stopped');
          logger.warn(
            { pipeline: name, code: run.error.code },
            'another worker of the cluster took this pipeline; stopped here',
          );
          // The cluster may have given it back to this worker since (a rebalance after this worker hung):
          // then it claims it again, from the last committed checkpoint.
          if (this.assigned.has(name)) {
            run.assignedAt = Date.now();
            this.startRun(run, false);
          }
          return;
        }
        if (
          this.pipelines.options.cluster &&
          heldElsewhere(error) !== undefined &&
          this.assigned.has(name) &&
          !stop.signal.aborted
        ) {
          this.waitForRelease(run, stop, heldElsewhere(error)!);
          return;
        }
        this.setState(run, run.pausing && stop.signal.aborted ? 'paused' : 'failed');
        logger.error({ pipeline: name, code: run.error.code, err: error }, 'pipeline failed');
      }
    })();
  }

  /**
   * Cluster mode: the source's own exclusivity is held elsewhere (HELD_ELSEWHERE), most likely by this
   * pipeline's previous owner, still alive or not yet timed out by the server. That is not this worker
   * failing: the pipeline stays `starting` (its error says why) and is tried again every few seconds for as
   * long as the cluster gives it to this worker, however long the other holder takes to let go.
   */
  private waitForRelease(run: Run, stop: AbortController, code: string): void {
    const name = run.loaded.name;
    // The status names the holder's code (DB_SLOT_IN_USE), not the retries it exhausted meanwhile.
    if (run.error) run.error = { ...run.error, code, retryable: true };
    this.setState(run, 'starting');
    this.pipelines.options.logger.warn(
      { pipeline: name, code },
      `another process still holds what this pipeline reads exclusively (the previous owner?); trying again in ${HELD_RETRY_MS / 1000} s`,
    );
    const timer = setTimeout(() => {
      if (run.stop === stop && this.assigned.has(name)) this.startRun(run, false);
    }, HELD_RETRY_MS);
    stop.signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        if (run.stop === stop) this.setState(run, 'stopped');
      },
      { once: true },
    );
  }

  private observerFor(run: Run): PipelineObserver {
    const status: PipelineObserver = {
      runStarted: () => {
        delete run.error;
      },
      batchPrepared: (batch) => {
        if (batch.lagSeconds !== undefined) run.lagSeconds = batch.lagSeconds;
        if (batch.progress) run.progress = batch.progress;
        for (const s of batch.streams) {
          run.counts.recordsRead += s.records;
          for (const n of Object.values(s.deadLetters)) run.counts.deadLetters += n;
        }
      },
      committed: (commit) => {
        run.lastCheckpoint = { position: commit.position, at: commit.at.toISOString() };
        if (run.assignedAt !== undefined) {
          const seconds = (Date.now() - run.assignedAt) / 1000;
          run.assignedAt = undefined;
          this.pipelines.options.metrics.clusterHandover(run.loaded.name, seconds);
        }
        for (const s of commit.streams) run.counts.eventsWritten += s.events;
      },
      caughtUp: () => {
        run.lagSeconds = 0;
      },
      retrying: () => {
        run.counts.retries += 1;
      },
    };
    const { metrics, observer, logger } = this.pipelines.options;
    const name = run.loaded.name;
    const observers = [metrics.observer(name), run.monitor, status, this.watcher.observer(name)];
    if (observer) observers.push(observer);
    return combineObservers(observers, logger.child({ pipeline: name }));
  }

  private status(run: Run): PipelineStatus {
    return {
      name: run.loaded.name,
      state: run.state,
      source: run.loaded.source.type,
      sink: run.loaded.sink.type,
      ...(run.error ? { error: run.error } : {}),
      ...(run.lastCheckpoint ? { lastCheckpoint: run.lastCheckpoint } : {}),
      lagSeconds: run.lagSeconds,
      counts: { ...run.counts },
      scheduled: run.loaded.raw.schedule !== undefined,
      ...(run.progress ? { progress: run.progress } : {}),
      expectations: run.monitor.status(),
    };
  }
}
