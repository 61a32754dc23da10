// `ferry serve` runs several pipelines in one process and answers the admin API about them: state,
// pause/resume, a pass now, offsets, dead letters. Each pipeline runs exactly as `ferry run` would; the
// host adds observers (metrics, freshness, status) and holds each pipeline's run lock while it runs.

import { asyncApiDocument } from '@ferry/contracts';
import {
  assemblePipeline,
  combineObservers,
  createCheckpointStore,
  createDeadLetterSink,
  FerryError,
  factoryContextFor,
  isFerryError,
  isRetryable,
  type LoadedPipeline,
  type Logger,
  loadPipelineFile,
  type PipelineObserver,
  type Redactor,
  type Registry,
  runPipeline,
  type Sink,
  type Source,
  WakeUp,
} from '@ferry/core';
import { ExpectationMonitor, type FerryMetrics } from '@ferry/ops';
import type {
  AdminHost,
  DeadLetterView,
  PipelineState,
  PipelineStatus,
  Readiness,
  ReplayResult,
} from '@ferry/server';
import { pipelineChannels } from '../commands/contracts.js';
import { letterId, lettersOf, replayDeadLetters } from '../commands/dlq.js';
import { acquireRunLock } from '../lock.js';

export interface HostOptions {
  registry: Registry;
  logger: Logger;
  metrics: FerryMetrics;
  /** A batch read but not committed for this long, or retries for this long, makes /readyz fail. */
  stallAfterSeconds?: number;
  /** Extra observers for every pipeline (a progress bar). */
  observer?: PipelineObserver;
  /** The redactor of `logger`: every hosted pipeline's secrets are added to it as the files are loaded. */
  redactor?: Redactor;
}

interface Hosted {
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
  /** performance.now() of the oldest batch read and not yet committed. */
  pendingSince?: number;
  /** When the current streak of retries began (cleared by the next successful commit). */
  retryingSince?: number;
  lastRetryAt?: number;
  retryingOperation?: string;
  /** The running source and sink, probed by /readyz. */
  parts?: { source: Source; sink: Sink };
  /** The last probe's verdict, reused for a few seconds so frequent /readyz calls do not hammer systems. */
  probed?: { at: number; problem: string | undefined };
}

/** How long one probe may take, and how long its verdict is reused. */
const PROBE_TIMEOUT_MS = 5_000;
const PROBE_REUSE_MS = 10_000;
/** A retry streak is over when a batch arrives, or when no retry happened for this long. */
const RETRY_QUIET_MS = 30_000;

export class PipelineHost implements AdminHost {
  private readonly pipelines = new Map<string, Hosted>();
  private readonly monitors = new AbortController();
  private readonly stallMs: number;

  private constructor(private readonly options: HostOptions) {
    this.stallMs = (options.stallAfterSeconds ?? 300) * 1000;
  }

  /** Load every pipeline file (a configuration mistake fails here, before anything runs). */
  static async open(files: readonly string[], options: HostOptions): Promise<PipelineHost> {
    const host = new PipelineHost(options);
    for (const file of files) {
      const loaded = await loadPipelineFile(file, options.registry);
      options.redactor?.addAll(loaded.redactor);
      if (host.pipelines.has(loaded.name)) {
        throw new FerryError('USAGE', `two pipeline files are named '${loaded.name}' (${file})`);
      }
      const monitor = new ExpectationMonitor({
        pipeline: loaded.name,
        expectations: loaded.raw.expectations,
        log: options.logger,
        metrics: options.metrics,
      });
      host.pipelines.set(loaded.name, {
        loaded,
        state: 'stopped',
        lagSeconds: null,
        counts: { recordsRead: 0, eventsWritten: 0, deadLetters: 0, retries: 0 },
        wake: new WakeUp(),
        monitor,
        pausing: false,
      });
    }
    return host;
  }

  /** Start every pipeline and its freshness checks. */
  start(): void {
    for (const hosted of this.pipelines.values()) {
      void hosted.monitor.start(this.monitors.signal);
      this.startRun(hosted, false);
    }
  }

  /** Stop every pipeline gracefully and wait for their checkpoints. */
  async close(): Promise<void> {
    this.monitors.abort();
    for (const hosted of this.pipelines.values()) hosted.stop?.abort();
    await Promise.all([...this.pipelines.values()].map((h) => h.run));
  }

  list(): PipelineStatus[] {
    return [...this.pipelines.values()].map((h) => this.status(h));
  }

  get(name: string): PipelineStatus {
    return this.status(this.find(name));
  }

  async pause(name: string): Promise<PipelineStatus> {
    const hosted = this.find(name);
    if (hosted.state !== 'running' && hosted.state !== 'starting') {
      throw new FerryError('PIPELINE_STATE', `pipeline ${name} is ${hosted.state}, not running`);
    }
    hosted.pausing = true;
    hosted.stop?.abort();
    await hosted.run;
    return this.status(hosted);
  }

  async resume(name: string): Promise<PipelineStatus> {
    const hosted = this.find(name);
    if (hosted.state === 'running' || hosted.state === 'starting') {
      throw new FerryError('PIPELINE_STATE', `pipeline ${name} is already ${hosted.state}`);
    }
    this.startRun(hosted, false);
    return this.status(hosted);
  }

  async trigger(name: string): Promise<{ started: boolean; detail: string }> {
    const hosted = this.find(name);
    if (hosted.state === 'running' || hosted.state === 'starting') {
      if (hosted.wake.wake() > 0) return { started: true, detail: 'the scheduled source starts a pass now' };
      return { started: false, detail: 'the pipeline is already reading; the next batch is on its way' };
    }
    this.startRun(hosted, true);
    return {
      started: true,
      detail: `a single pass started; the pipeline is ${hosted.state} again afterwards`,
    };
  }

  async offsets(name: string): Promise<unknown> {
    const hosted = this.find(name);
    const store = await createCheckpointStore(hosted.loaded, this.options.registry, this.context(hosted));
    try {
      return (await store.load(name)) ?? null;
    } finally {
      await store.close?.();
    }
  }

  async resetOffsets(name: string): Promise<void> {
    const hosted = this.refuseWhileRunning(name, 'reset its offsets');
    const store = await createCheckpointStore(hosted.loaded, this.options.registry, this.context(hosted));
    try {
      if (store.clear) await store.clear(name);
      else await store.save(name, null);
      delete hosted.lastCheckpoint;
      this.options.logger.info({ pipeline: name }, 'offsets reset through the admin API');
    } finally {
      await store.close?.();
    }
  }

  async deadLetters(
    name: string,
    page: { limit: number; offset: number },
  ): Promise<{ total: number; items: DeadLetterView[] }> {
    const hosted = this.find(name);
    const store = await createDeadLetterSink(hosted.loaded, this.options.registry, this.context(hosted));
    try {
      const items: DeadLetterView[] = [];
      let total = 0;
      for await (const letter of lettersOf(store)) {
        if (total >= page.offset && items.length < page.limit)
          items.push({ id: letterId(letter), ...letter });
        total += 1;
      }
      return { total, items };
    } finally {
      await store.close();
    }
  }

  async deadLetter(name: string, id: string): Promise<DeadLetterView> {
    const hosted = this.find(name);
    const store = await createDeadLetterSink(hosted.loaded, this.options.registry, this.context(hosted));
    try {
      for await (const letter of lettersOf(store)) {
        if (letterId(letter) === id) return { id, ...letter };
      }
    } finally {
      await store.close();
    }
    throw new FerryError('DLQ_LETTER_NOT_FOUND', `pipeline ${name} has no pending dead letter ${id}`);
  }

  async replay(name: string, options: { ids?: string[]; dryRun: boolean }): Promise<ReplayResult> {
    const hosted = options.dryRun ? this.find(name) : this.refuseWhileRunning(name, 'replay dead letters');
    const release = options.dryRun ? undefined : await acquireRunLock(hosted.loaded.baseDir, name);
    try {
      const outcome = await replayDeadLetters(
        { pipeline: hosted.loaded, logger: this.options.logger, factoryContext: this.context(hosted) },
        this.options.registry,
        { dryRun: options.dryRun, ...(options.ids ? { ids: options.ids } : {}) },
      );
      return {
        dryRun: options.dryRun,
        replayed: outcome.passed.length,
        events: outcome.events,
        stillFailing: outcome.failed.map(({ letter, error }) => ({ id: letterId(letter), ...error })),
      };
    } finally {
      await release?.();
    }
  }

  async asyncapi(): Promise<Record<string, unknown>> {
    const described = [...this.pipelines.values()]
      .map((h) => h.loaded)
      .filter((p) => p.contract.repository !== undefined);
    if (described.length === 0) {
      // Still a valid document, saying why it is empty.
      return {
        asyncapi: '3.0.0',
        info: {
          title: 'Ferry canonical events',
          version: '1.0.0',
          description:
            'No hosted pipeline names a contract repository (contract.repository), so no event is described.',
        },
        channels: {},
        operations: {},
      };
    }
    const { repo, entries } = await pipelineChannels(described);
    return asyncApiDocument(repo, entries, {
      title: 'Ferry canonical events',
      version: '1.0.0',
      description: `Events published by ${described.map((p) => p.name).join(', ')}.`,
    });
  }

  async readiness(): Promise<Readiness> {
    const pipelines = await Promise.all(
      [...this.pipelines.values()].map(async (h) => {
        const name = h.loaded.name;
        const problem = this.runProblem(h) ?? (await this.probeProblem(h));
        if (problem !== undefined) return { name, ready: false, reason: problem };
        return h.state === 'paused'
          ? { name, ready: true, reason: 'paused by an operator' }
          : { name, ready: true };
      }),
    );
    return { ready: pipelines.every((p) => p.ready), pipelines };
  }

  /** What the run itself says: failed, stalled, or in a retry streak. */
  private runProblem(h: Hosted): string | undefined {
    const now = performance.now();
    if (h.state === 'failed') return `failed: ${h.error?.code ?? 'INTERNAL'}`;
    if (h.lastRetryAt !== undefined && now - h.lastRetryAt > RETRY_QUIET_MS) {
      delete h.retryingSince;
      delete h.lastRetryAt;
    }
    if (h.retryingSince !== undefined && now - h.retryingSince > this.stallMs) {
      return `${h.retryingOperation} has been failing for ${Math.round((now - h.retryingSince) / 1000)} s`;
    }
    if (h.pendingSince !== undefined && now - h.pendingSince > this.stallMs) {
      return `stalled: a batch has waited ${Math.round((now - h.pendingSince) / 1000)} s to be committed`;
    }
    if (h.retryingSince !== undefined) return `retrying ${h.retryingOperation}: source or sink unreachable`;
    return undefined;
  }

  /** Ask the running source and sink whether they answer now (connectors that cannot tell are trusted). */
  private async probeProblem(h: Hosted): Promise<string | undefined> {
    const parts = h.parts;
    if (parts === undefined) return undefined;
    if (h.probed && performance.now() - h.probed.at < PROBE_REUSE_MS) return h.probed.problem;
    const check = async (what: 'source' | 'sink', part: Source | Sink): Promise<string | undefined> => {
      if (part.probe === undefined) return undefined;
      const signal = AbortSignal.timeout(PROBE_TIMEOUT_MS);
      try {
        await Promise.race([
          part.probe(signal),
          new Promise((_, reject) =>
            signal.addEventListener('abort', () => reject(new Error(`no answer in ${PROBE_TIMEOUT_MS} ms`)), {
              once: true,
            }),
          ),
        ]);
        return undefined;
      } catch (error) {
        const code = isFerryError(error) ? `${error.code}: ` : '';
        const message = error instanceof Error ? error.message : String(error);
        return `${what} (${part.type}) unreachable: ${code}${h.loaded.redactor.scrub(message)}`;
      }
    };
    const problems = await Promise.all([check('source', parts.source), check('sink', parts.sink)]);
    const problem = problems.filter((p) => p !== undefined).join('; ') || undefined;
    h.probed = { at: performance.now(), problem };
    return problem;
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.options.metrics.contentType, body: await this.options.metrics.text() };
  }

  private find(name: string): Hosted {
    const hosted = this.pipelines.get(name);
    if (!hosted) {
      const known = [...this.pipelines.keys()].join(', ');
      throw new FerryError('PIPELINE_NOT_FOUND', `no pipeline '${name}' here; hosted: ${known}`);
    }
    return hosted;
  }

  private refuseWhileRunning(name: string, action: string): Hosted {
    const hosted = this.find(name);
    if (hosted.state === 'running' || hosted.state === 'starting') {
      throw new FerryError('PIPELINE_RUNNING', `pipeline ${name} is running; pause it before you ${action}`);
    }
    return hosted;
  }

  private context(hosted: Hosted) {
    return factoryContextFor(hosted.loaded, this.options.logger);
  }

  private setState(hosted: Hosted, state: PipelineState): void {
    hosted.state = state;
    this.options.metrics.setState(hosted.loaded.name, state);
  }

  private startRun(hosted: Hosted, once: boolean): void {
    const name = hosted.loaded.name;
    const stop = new AbortController();
    hosted.stop = stop;
    hosted.pausing = false;
    this.setState(hosted, 'starting');
    const logger = this.options.logger;
    hosted.run = (async () => {
      let release: (() => Promise<void>) | undefined;
      try {
        release = await acquireRunLock(hosted.loaded.baseDir, name);
        const options = await assemblePipeline(hosted.loaded, this.options.registry, {
          logger,
          signal: stop.signal,
          once,
          wake: hosted.wake,
          observer: this.observerFor(hosted),
        });
        hosted.parts = { source: options.source as Source, sink: options.sink };
        delete hosted.probed;
        this.setState(hosted, 'running');
        await runPipeline(options);
        this.setState(hosted, hosted.pausing ? 'paused' : 'stopped');
      } catch (error) {
        hosted.error = {
          code: isFerryError(error) ? error.code : 'INTERNAL',
          message: hosted.loaded.redactor.scrub(error instanceof Error ? error.message : String(error)),
          retryable: isRetryable(error),
          at: new Date().toISOString(),
        };
        this.setState(hosted, hosted.pausing && stop.signal.aborted ? 'paused' : 'failed');
        logger.error({ pipeline: name, code: hosted.error.code, err: error }, 'pipeline failed');
      } finally {
        delete hosted.parts;
        delete hosted.probed;
        delete hosted.pendingSince;
        delete hosted.retryingSince;
        await release?.();
      }
    })();
  }

  private observerFor(hosted: Hosted): PipelineObserver {
    const status: PipelineObserver = {
      runStarted: () => {
        delete hosted.error;
      },
      batchPrepared: (batch) => {
        // A batch arrived: the source answers again.
        delete hosted.retryingSince;
        delete hosted.lastRetryAt;
        hosted.pendingSince ??= performance.now();
        if (batch.lagSeconds !== undefined) hosted.lagSeconds = batch.lagSeconds;
        if (batch.progress) hosted.progress = batch.progress;
        for (const s of batch.streams) {
          hosted.counts.recordsRead += s.records;
          for (const n of Object.values(s.deadLetters)) hosted.counts.deadLetters += n;
        }
      },
      committed: (commit) => {
        hosted.lastCheckpoint = { position: commit.position, at: commit.at.toISOString() };
        for (const s of commit.streams) hosted.counts.eventsWritten += s.events;
        delete hosted.retryingSince;
        // Later batches may still be waiting; the next batchPrepared restarts the clock if so.
        delete hosted.pendingSince;
      },
      caughtUp: () => {
        hosted.lagSeconds = 0;
      },
      retrying: (retry) => {
        hosted.counts.retries += 1;
        hosted.retryingSince ??= performance.now();
        hosted.lastRetryAt = performance.now();
        hosted.retryingOperation = retry.operation;
      },
    };
    const observers = [this.options.metrics.observer(hosted.loaded.name), hosted.monitor, status];
    if (this.options.observer) observers.push(this.options.observer);
    return combineObservers(observers, this.options.logger.child({ pipeline: hosted.loaded.name }));
  }

  private status(hosted: Hosted): PipelineStatus {
    return {
      name: hosted.loaded.name,
      state: hosted.state,
      source: hosted.loaded.source.type,
      sink: hosted.loaded.sink.type,
      ...(hosted.error ? { error: hosted.error } : {}),
      ...(hosted.lastCheckpoint ? { lastCheckpoint: hosted.lastCheckpoint } : {}),
      lagSeconds: hosted.lagSeconds,
      counts: { ...hosted.counts },
      scheduled: hosted.loaded.raw.schedule !== undefined,
      ...(hosted.progress ? { progress: hosted.progress } : {}),
      expectations: hosted.monitor.status(),
    };
  }
}
