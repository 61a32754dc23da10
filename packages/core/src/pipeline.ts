// The pipeline runtime: one loop drives every source the same way. It reads batches, maps records to
// canonical events, writes them to the sink (rejects to the dead-letter sink), then saves the checkpoint,
// then acknowledges the position to the source. A position is never saved before everything before it is
// durable, so a crash at any point loses nothing and a replay yields the same event ids.

import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import type { z } from 'zod';
import { type BreakerPolicy, CircuitBreaker, defaultBreakerPolicy } from './breaker.js';
import { PassTimer } from './cadence.js';
import {
  ConfigError,
  DeadLetterThresholdError,
  FerryError,
  isFerryError,
  isProgrammerError,
  isRetryable,
  toFerryError,
} from './errors.js';
import { stableStringify } from './event.js';
import { type Logger, silentLogger } from './logging.js';
import type { Mapping } from './mapping.js';
import { combineObservers, type PipelineObserver } from './observe.js';
import {
  BatchPreparer,
  type DeadLetterThreshold,
  defaultDeadLetterThreshold,
  type EventValidator,
  type PreparedBatch,
  type RunStats,
  StreamTally,
} from './prepare.js';
import { createRetrier, defaultRetryPolicy, FailureStreak, type RetryPolicy } from './retry.js';
import { type Clock, systemClock } from './schedule.js';
import type {
  CanonicalEvent,
  CheckpointStore,
  DeadLetter,
  DeadLetterSink,
  RunSummary,
  Sink,
  Source,
  UnitCounts,
  WakeSignal,
} from './types.js';

/** Looked up per run, so a tracer provider registered (or replaced) after import is honoured. */
function runTracer() {
  return trace.getTracer('@ferry/core', '0.1.0');
}

export interface PipelineOptions<P = unknown> {
  name: string;
  source: Source<P>;
  mapping: Mapping;
  sink: Sink;
  deadLetters: DeadLetterSink;
  checkpoints: CheckpointStore;
  validate?: EventValidator;
  retry?: Partial<RetryPolicy>;
  /** Batches read but not yet committed; the reader waits when this many are pending (backpressure). */
  maxInFlightBatches?: number;
  /**
   * Bytes of encoded events read but not yet committed; the reader waits when the next batch would pass it
   * (one batch always goes through, however big). Default DEFAULT_MAX_IN_FLIGHT_BYTES.
   */
  maxInFlightBytes?: number;
  deadLetterThreshold?: DeadLetterThreshold | false;
  /** Abort to stop gracefully: stop reading, commit what was read, save the checkpoint, return. */
  signal?: AbortSignal;
  /** Read what is there now and end (`ferry run --once`). */
  once?: boolean;
  logger?: Logger;
  /** Called after each batch is committed (metrics, tests). */
  onCommit?: (info: CommitInfo<P>) => void;
  /** Metrics, freshness monitors, progress bars: told what the run does; see observe.ts. */
  observer?: PipelineObserver;
  /** An operator's "run a pass now" (`ferry serve`'s trigger): a waiting pass source starts one at once. */
  wake?: WakeSignal;
  /** When a pass source runs (cron and IANA time zone); without it, every `cadence.intervalMs`. */
  schedule?: { cron: string; timezone: string };
  /** Time for schedules and retry waits; tests inject a fake one. */
  clock?: Clock;
  /**
   * The shape of the source's positions (its factory's `positionSchema`): a saved checkpoint that does not
   * fit stops the run at start with CHECKPOINT_INVALID, naming the path of the mistake.
   */
  positionSchema?: z.ZodType;
  /** The source's circuit breaker (see breaker.ts); false turns it off. */
  breaker?: Partial<BreakerPolicy> | false;
  /** How often a source with `health` is asked about its load on the legacy system (default 30 s). */
  healthIntervalMs?: number;
}

export const DEFAULT_HEALTH_INTERVAL_MS = 30_000;
/** In-flight bytes per pipeline unless `runtime.maxInFlightBytes` says otherwise: a few batches of big rows. */
export const DEFAULT_MAX_IN_FLIGHT_BYTES = 32 * 1024 * 1024;
/** One health report may take this long; a late one is skipped, not waited for. */
const HEALTH_TIMEOUT_MS = 10_000;

export interface CommitInfo<P> {
  position: P;
  events: number;
  deadLetters: number;
}

export { type DeadLetterThreshold, defaultDeadLetterThreshold, type EventValidator } from './prepare.js';

export async function runPipeline<P>(options: PipelineOptions<P>): Promise<RunSummary> {
  const runner = new PipelineRun(options);
  return runner.run();
}

class PipelineRun<P> {
  private readonly log: Logger;
  private readonly maxInFlight: number;
  private readonly maxInFlightBytes: number;
  private inFlightBytes = 0;
  /** The sink encodes batches itself (Sink.encode with writeEncoded): only encodings are kept in flight. */
  private readonly encodes: boolean;
  private committed: P | undefined;
  /** The counts of the unit of work (a file) open at the committed position, if one is. */
  private committedUnit: UnitCounts | undefined;
  private committedBatches = 0;
  private inFlight = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private readonly queue: PreparedBatch<P>[] = [];
  private writer: Promise<void> | undefined;
  private commitError: unknown;
  private readonly internal = new AbortController();
  private readonly signal: AbortSignal;
  private readonly retrier;
  /** What runs before the source first answers (checkpoint load, acknowledge) has the start-up budget. */
  private readonly startup: Partial<RetryPolicy>;
  /** The source has answered once in this run (a batch, or a read that ended); start-up is over. */
  private answered = false;
  /** When the first read began: the start-up budget runs from here (a cron pass may start hours in). */
  private firstReadAt: number | undefined;
  private readonly observer: PipelineObserver | undefined;
  private readonly tracer = runTracer();
  private readonly clock: Clock;
  private readonly streak: FailureStreak;
  private readonly breaker: CircuitBreaker | undefined;
  private readonly preparer: BatchPreparer<P>;
  /** Asks the source's health while the run goes on (see watchHealth). */
  private healthTimer: ReturnType<typeof setInterval> | undefined;
  /** Asks for a health report at once; set until the first catch-up uses it. */
  private askHealth: (() => void) | undefined;
  private readonly stats: RunStats = {
    recordsRead: 0,
    eventsWritten: 0,
    deadLetters: 0,
    skipped: 0,
    batches: 0,
    retries: 0,
  };

  constructor(private readonly options: PipelineOptions<P>) {
    this.log = (options.logger ?? silentLogger()).child({ pipeline: options.name });
    this.maxInFlight = Math.max(1, options.maxInFlightBatches ?? 4);
    this.maxInFlightBytes = Math.max(1, options.maxInFlightBytes ?? DEFAULT_MAX_IN_FLIGHT_BYTES);
    this.encodes = options.sink.encode !== undefined && options.sink.writeEncoded !== undefined;
    this.signal = options.signal
      ? AbortSignal.any([options.signal, this.internal.signal])
      : this.internal.signal;
    this.observer = options.observer ? combineObservers([options.observer], this.log) : undefined;
    this.clock = options.clock ?? systemClock;
    const now = () => this.clock.now();
    this.streak = new FailureStreak({ ...defaultRetryPolicy, ...options.retry }, now);
    this.breaker =
      options.breaker === false
        ? undefined
        : new CircuitBreaker({ ...defaultBreakerPolicy, ...options.breaker }, now);
    this.preparer = new BatchPreparer<P>({
      name: options.name,
      mapping: options.mapping,
      validate: options.validate,
      threshold: options.deadLetterThreshold ?? defaultDeadLetterThreshold,
      observer: this.observer,
      log: this.log,
      tracer: this.tracer,
      stats: this.stats,
    });
    this.retrier = createRetrier({
      ...(options.retry ? { policy: options.retry } : {}),
      onRetry: ({ operation, attempt, retriesLeft, error }) => {
        this.stats.retries += 1;
        this.observer?.retrying?.({
          pipeline: options.name,
          operation,
          code: isFerryError(error) ? error.code : undefined,
          attempt,
        });
        this.log.warn(
          { operation, attempt, retriesLeft, code: isFerryError(error) ? error.code : undefined, err: error },
          `${operation} failed, retrying`,
        );
      },
    });
    const policy = { ...defaultRetryPolicy, ...options.retry };
    this.startup = { maxRetryTimeMs: Math.min(policy.maxRetryTimeMs, policy.startupMaxRetryTimeMs) };
  }

  async run(): Promise<RunSummary> {
    const started = performance.now();
    const { name, checkpoints } = this.options;
    try {
      this.committed = (await this.retrier.run(
        'checkpoint.load',
        () => checkpoints.load(name),
        this.signal,
        this.startup,
      )) as P | undefined;
      this.checkPosition(this.committed);
      await this.loadUnitTally();
      this.log.info({ from: this.committed ?? null }, 'pipeline starting');
      this.observer?.runStarted?.({ pipeline: name, from: this.committed });
      this.watchHealth();
      await this.acknowledgeAtStart();
      await this.drive();
      await this.drain();
    } catch (error) {
      // Whatever failed, commit what is already in flight so no finished work is thrown away.
      this.internal.abort();
      await this.drain().catch(() => undefined);
      const failure = this.commitError ?? error;
      // A stop asked for while a step waited on the signal (p-retry, a timer, fetch throw the signal's
      // reason) is the stop the caller wanted, not a failure: it ends like any stop, with a summary.
      if (this.commitError !== undefined || !isStopReason(error, this.options.signal)) {
        await this.closeAll();
        this.observer?.runEnded?.({
          pipeline: name,
          error: {
            code: isFerryError(failure) ? failure.code : 'INTERNAL',
            message: failure instanceof Error ? failure.message : String(failure),
            retryable: isRetryable(failure),
          },
        });
        throw failure;
      }
    }
    await this.closeAll();
    const durationMs = performance.now() - started;
    const summary: RunSummary = {
      pipeline: name,
      ...this.stats,
      durationMs: Math.round(durationMs),
      eventsPerSecond: durationMs > 0 ? Math.round((this.stats.eventsWritten * 1000) / durationMs) : 0,
      stoppedBy: this.options.signal?.aborted ? 'signal' : 'end',
      position: this.committed ?? null,
    };
    this.log.info({ summary }, 'run summary');
    this.observer?.runEnded?.({ pipeline: name, summary });
    return summary;
  }

  /**
   * Ask the source about its load on the legacy system now and every `healthIntervalMs` until the run ends:
   * report it to the observer, and log each problem when it appears and when it clears.
   */
  private watchHealth(): void {
    const { source, name } = this.options;
    if (!source.health) return;
    let reported = new Map<string, string>();
    let asking = false;
    const ask = async () => {
      if (asking || this.healthTimer === undefined) return;
      asking = true;
      try {
        const health = await source.health!(
          AbortSignal.any([this.signal, AbortSignal.timeout(HEALTH_TIMEOUT_MS)]),
        );
        const problems = health.problems ?? [];
        const now = new Map(problems.map((p) => [p.code, p.message]));
        for (const [code, message] of now)
          if (reported.get(code) !== message) this.log.warn({ code }, `legacy system at risk: ${message}`);
        for (const code of reported.keys())
          if (!now.has(code))
            this.log.info({ code }, 'legacy system no longer at risk: the condition cleared');
        reported = now;
        this.observer?.sourceHealth?.({
          pipeline: name,
          at: new Date(this.clock.now()),
          gauges: health.gauges ?? {},
          problems,
        });
      } catch (error) {
        // Not the read's business: a failing report is logged and asked again next time.
        this.log.debug({ err: error }, 'source health report failed');
      } finally {
        asking = false;
      }
    };
    this.healthTimer = setInterval(
      () => void ask(),
      this.options.healthIntervalMs ?? DEFAULT_HEALTH_INTERVAL_MS,
    );
    // A report never keeps the process alive.
    this.healthTimer.unref();
    // Asked at start, and again once the source has caught up the first time (what it holds may only exist
    // from then on: a slot created at start), not only a whole interval later.
    this.askHealth = () => void ask();
    void ask();
  }

  private async closeAll(): Promise<void> {
    clearInterval(this.healthTimer);
    this.healthTimer = undefined;
    const { source, sink, deadLetters, checkpoints } = this.options;
    const results = await Promise.allSettled([
      source.close(),
      sink.close(),
      deadLetters.close(),
      checkpoints.close?.(),
    ]);
    for (const result of results) {
      if (result.status === 'rejected') this.log.warn({ err: result.reason }, 'close failed');
    }
  }

  /** A checkpoint the source could not have written stops the run before the source sees it. */
  private checkPosition(position: P | undefined): void {
    const schema = this.options.positionSchema;
    if (schema === undefined || position === undefined || position === null) return;
    const problems = positionProblems(schema, position);
    if (problems === undefined) return;
    throw new FerryError(
      'CHECKPOINT_INVALID',
      `the saved checkpoint of pipeline ${this.options.name} is not a position the ${this.options.source.type} ` +
        `source writes (${problems}). Fix it with \`ferry offsets set\` or start over with \`ferry offsets reset\`.`,
      { details: { position, problems } },
    );
  }

  /** The counts of the unit of work open at the loaded checkpoint, saved beside it (see commit). */
  private async loadUnitTally(): Promise<void> {
    const { checkpoints, name } = this.options;
    if (!checkpoints.loadUnitTally) return;
    const saved = await this.retrier.run(
      'checkpoint.loadUnitTally',
      async () => checkpoints.loadUnitTally!(name),
      this.signal,
      this.startup,
    );
    if (saved === undefined) return;
    const at = stableStringify(this.committed ?? null);
    // Saved before the checkpoint: a crash between the two leaves the previous checkpoint, and its counts.
    const counts =
      saved.position === at ? saved.counts : saved.previous.position === at ? saved.previous.counts : null;
    this.committedUnit = counts ?? undefined;
  }

  /** A crash may have fallen between the last checkpoint and its acknowledgement: acknowledge it again. */
  private async acknowledgeAtStart(): Promise<void> {
    const { source } = this.options;
    const from = this.committed;
    if (from === undefined || from === null || !source.acknowledge) return;
    await this.retrier.run(
      'source.acknowledge',
      () => source.acknowledge!([from]),
      this.signal,
      this.startup,
    );
  }

  /** Run the source at its cadence until it ends (or, for a pass source, until the run stops). */
  private async drive(): Promise<void> {
    const { source, checkpoints, name } = this.options;
    if (source.cadence.kind === 'stream') {
      if (this.options.schedule !== undefined) {
        throw new ConfigError(undefined, [
          {
            path: 'schedule',
            message: `the ${source.type} source streams continuously (it is never run in passes); remove schedule, or use a polling mode`,
          },
        ]);
      }
      await this.readResilient();
      return;
    }
    const timer = new PassTimer({
      intervalMs: source.cadence.intervalMs,
      schedule: this.options.schedule,
      clock: this.clock,
      wake: this.options.wake,
    });
    const once = this.options.once ?? false;
    let from: Date | undefined;
    if (!once && timer.remembers) {
      const state = await this.retrier.run(
        'checkpoint.loadPassState',
        async () => checkpoints.loadPassState?.(name),
        this.signal,
        this.startup,
      );
      if (!timer.dueAtStart(state, stableStringify(this.committed ?? null))) {
        this.log.info(
          { lastPassEndedAt: state?.endedAt },
          'no run was missed; waiting for the next scheduled run',
        );
        from = state === undefined ? undefined : new Date(state.endedAt);
      }
    }
    for (;;) {
      if (from !== undefined && !(await timer.wait(from, this.signal))) return;
      await this.readResilient();
      if (this.signal.aborted) return;
      // The pass counts as done once everything it read is committed and acknowledged.
      await this.drain();
      this.streak.reset();
      this.markCaughtUp();
      const ended = new Date(this.clock.now());
      if (timer.remembers && checkpoints.savePassState) {
        const state = { endedAt: ended.toISOString(), position: stableStringify(this.committed ?? null) };
        await this.retrier.run('checkpoint.savePassState', () => checkpoints.savePassState!(name, state));
      }
      if (once) return;
      from = ended;
    }
  }

  private markCaughtUp(): void {
    this.askHealth?.();
    this.askHealth = undefined;
    this.answered = true;
    this.observer?.caughtUp?.({ pipeline: this.options.name, at: new Date(this.clock.now()) });
  }

  /**
   * Read until the source ends or the run stops. A retryable failure, before or after progress, waits
   * `max(Retry-After, backoff)` (longer while the breaker is open) and reads again from the last commit;
   * the failures form one streak with one budget (see FailureStreak).
   */
  private async readResilient(): Promise<void> {
    this.firstReadAt ??= this.clock.now();
    for (;;) {
      const before = this.committedBatches;
      try {
        this.breaker?.admit();
        await this.readSession();
        // A read that ended cleanly (a pass with nothing new included) is the legacy system answering.
        if (this.breaker?.state === 'half-open') this.breaker.success();
        return;
      } catch (error) {
        await this.drain();
        // A requested stop that interrupted the source is a clean end, not a failure.
        const stopping = this.options.signal?.aborted === true;
        if (stopping && !(error instanceof DeadLetterThresholdError)) {
          this.log.debug({ err: error }, 'source ended while stopping');
          return;
        }
        if (!isRetryable(error) || isProgrammerError(error)) throw error;
        const failure = toFerryError(error);
        this.breaker?.failure();
        // Until the source has answered once, the start-up budget bounds the streak and every wait.
        const startup = this.answered ? undefined : this.firstReadAt;
        const backoff = this.streak.failed('source.read', failure, this.committedBatches > before, startup);
        const breakerWait = this.breaker?.waitMs() ?? 0;
        const wait =
          startup === undefined
            ? Math.max(backoff, breakerWait)
            : Math.min(Math.max(backoff, breakerWait), this.streak.startupRemaining(startup));
        this.stats.retries += 1;
        const circuit = this.breaker?.state ?? 'closed';
        this.observer?.retrying?.({
          pipeline: this.options.name,
          operation: 'source.read',
          code: failure.code,
          attempt: this.streak.attempt,
          delayMs: wait,
          circuit,
        });
        this.log.warn(
          { err: failure, code: failure.code, attempt: this.streak.attempt, waitMs: wait, circuit },
          circuit === 'open'
            ? `source failing (${this.breaker?.describe()}): circuit open, next trial read in ${wait} ms`
            : `source failed; reading again from the last checkpoint in ${wait} ms`,
        );
        await this.clock.sleep(wait, this.signal);
        if (this.signal.aborted) return;
      }
    }
  }

  private async readSession(): Promise<void> {
    const { source } = this.options;
    // Reading again from the last commit: the open unit's counts are those of that commit.
    this.preparer.resumeUnit(this.committedUnit);
    const batches = source.read({
      from: this.committed,
      signal: this.signal,
      once: this.options.once ?? false,
      log: this.log,
      caughtUp: () => this.markCaughtUp(),
    });
    const iterator = batches[Symbol.asyncIterator]();
    let finished = false;
    try {
      for (;;) {
        // The batch span starts with the read, so a trace shows how long the source took to answer.
        const readStartTime = Date.now();
        const next = await iterator.next();
        this.answered = true;
        if (next.done) {
          finished = true;
          break;
        }
        // A batch's latency starts when the source hands it over: the wait for it (a poll finding nothing,
        // a stream idle until the next change) is the `ferry.read` span, not time the batch spent in Ferry.
        const yieldedAt = performance.now();
        this.breaker?.success();
        if (this.commitError !== undefined) throw this.commitError;
        const span = this.tracer.startSpan('ferry.batch', {
          startTime: readStartTime,
          attributes: { 'ferry.pipeline': this.options.name },
        });
        if (span.isRecording()) {
          this.tracer
            .startSpan('ferry.read', { startTime: readStartTime }, trace.setSpan(context.active(), span))
            .end();
        }
        const prepared = await this.preparer.prepare(next.value, span, yieldedAt);
        this.encode(prepared);
        await this.acquireSlot(prepared.bytes);
        this.enqueue(prepared);
        // The source compares what it reads next with this baseline: it must be committed and promoted first.
        if (prepared.baseline !== undefined) await this.drain();
        if (this.signal.aborted) break;
      }
    } finally {
      if (!finished) await iterator.return?.();
    }
    if (this.commitError !== undefined) throw this.commitError;
  }

  /**
   * Hand a prepared batch's events to the sink's encoder at once, so that only the encoding stays in flight
   * and the event objects die young; its size counts against maxInFlightBytes. For a sink that does not
   * encode, the size is measured on the events' JSON.
   */
  private encode(batch: PreparedBatch<P>): void {
    try {
      this.encodeAll(batch);
    } catch (error) {
      // An event that cannot be serialised (a BigInt, a cycle in what a mapping returned) is its record's
      // fault: the record goes to the dead letters and the rest of the batch on. Anything else is the sink's.
      const letters = this.unwritable(batch);
      if (letters.length === 0) throw error;
      this.log.warn({ count: letters.length }, 'events that cannot be written went to the dead letters');
      this.encodeAll(batch);
    }
    batch.sources = undefined;
    if (this.encodes) batch.events = [];
  }

  private encodeAll(batch: PreparedBatch<P>): void {
    if (this.encodes) {
      batch.encoded = this.options.sink.encode!(batch.events);
      batch.bytes = batch.encoded.bytes;
      return;
    }
    let bytes = 0;
    for (const event of batch.events) bytes += JSON.stringify(event).length;
    batch.bytes = bytes;
  }

  /** Take the records whose events JSON cannot write out of the batch, as dead letters; returns them. */
  private unwritable(batch: PreparedBatch<P>): DeadLetter[] {
    const bad = new Set<CanonicalEvent>();
    const letters: DeadLetter[] = [];
    for (const { record, built } of batch.sources ?? []) {
      try {
        for (const event of built) JSON.stringify(event);
      } catch (error) {
        for (const event of built) bad.add(event);
        const letter = this.preparer.unwritable(record, error);
        letters.push(letter);
        // The batch's per-stream counts (for observers) counted these events as written.
        const counts = batch.streams?.find((c) => c.stream === record.stream);
        if (counts) {
          counts.events -= built.length;
          counts.deadLetters[letter.code] = (counts.deadLetters[letter.code] ?? 0) + 1;
        }
      }
    }
    if (letters.length === 0) return letters;
    batch.letters.push(...letters);
    batch.events = batch.events.filter((event) => !bad.has(event));
    batch.eventCount = batch.events.length;
    return letters;
  }

  /** Wait for room: a batch slot and, unless nothing is in flight, room for `bytes` more. */
  private async acquireSlot(bytes: number): Promise<void> {
    while (
      this.inFlight >= this.maxInFlight ||
      (this.inFlight > 0 && this.inFlightBytes + bytes > this.maxInFlightBytes)
    ) {
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    }
    this.inFlight += 1;
    this.inFlightBytes += bytes;
    this.observer?.inFlight?.({ pipeline: this.options.name, batches: this.inFlight });
  }

  private releaseSlot(bytes: number): void {
    this.inFlight -= 1;
    this.inFlightBytes -= bytes;
    this.observer?.inFlight?.({ pipeline: this.options.name, batches: this.inFlight });
    this.slotWaiters.shift()?.();
  }

  /**
   * Commits run one at a time, in read order, while the reader prepares the next batches. Batches that
   * queued up while a commit was running are committed together (group commit): one sink write, one
   * fsync and one checkpoint for all of them, so a slow disk or broker costs fewer round trips.
   */
  private enqueue(batch: PreparedBatch<P>): void {
    this.queue.push(batch);
    this.kickWriter();
  }

  private kickWriter(): void {
    if (this.writer !== undefined || this.queue.length === 0) return;
    this.writer = this.writeQueued().finally(() => {
      this.writer = undefined;
      this.kickWriter();
    });
  }

  private async writeQueued(): Promise<void> {
    while (this.queue.length > 0) {
      // A boundary batch ends its group, so its position is exactly the checkpoint saved.
      const cut = this.queue.findIndex((b) => b.boundary);
      const group = this.queue.splice(0, cut === -1 ? this.queue.length : cut + 1);
      try {
        if (this.commitError === undefined) await this.commit(group);
        else for (const batch of group) batch.span.end();
      } catch (error) {
        this.commitError ??= error;
        this.internal.abort();
        for (const batch of group) {
          batch.span.setStatus({
            code: SpanStatusCode.ERROR,
            message: (error as Error)?.message ?? String(error),
          });
          batch.span.end();
        }
      } finally {
        for (const batch of group) this.releaseSlot(batch.bytes);
      }
    }
  }

  private async commit(group: PreparedBatch<P>[]): Promise<void> {
    const { name, sink, deadLetters, checkpoints, source } = this.options;
    const events = group.length === 1 ? group[0]!.events : group.flatMap((b) => b.events);
    const encoded = this.encodes ? group.map((b) => b.encoded!) : undefined;
    let eventCount = 0;
    for (const batch of group) eventCount += batch.eventCount;
    let letters = group.length === 1 ? group[0]!.letters : group.flatMap((b) => b.letters);
    const position = group.at(-1)!.position;
    // One sink write serves the whole group; each batch's trace gets its own child span for it.
    const writeSpans = group
      .filter((b) => b.span.isRecording())
      .map((b) =>
        this.tracer.startSpan(
          'ferry.sink.write',
          { attributes: { 'ferry.events': eventCount, 'ferry.group.batches': group.length } },
          trace.setSpan(context.active(), b.span),
        ),
      );
    const baseline = group.at(-1)!.baseline;
    const unit = group.at(-1)!.unit;
    // Writes finish even when a stop was requested: in-flight work is flushed, not dropped.
    try {
      if (baseline !== undefined) await baseline.stage(stableStringify(position));
      // Inside a unit of work, its counts so far are saved before the checkpoint, with the previous ones.
      if (unit !== undefined && checkpoints.saveUnitTally) {
        const state = {
          position: stableStringify(position),
          counts: unit,
          previous: { position: stableStringify(this.committed ?? null), counts: this.committedUnit ?? null },
        };
        await this.retrier.run('checkpoint.saveUnitTally', () => checkpoints.saveUnitTally!(name, state));
      }
      if (sink.commitBatch) {
        const atomic = {
          pipeline: name,
          events,
          deadLetters: letters,
          position,
          ...(encoded ? { encoded } : {}),
        };
        await this.retrier.run('sink.commitBatch', () => sink.commitBatch!(atomic));
      } else {
        if (eventCount > 0) {
          const written = await this.retrier.run('sink.write', () =>
            encoded ? sink.writeEncoded!(encoded) : sink.write(events),
          );
          // What the sink's target refused for good goes to the dead letters with the batch's own.
          if (written && written.rejected.length > 0) {
            this.log.warn(
              { count: written.rejected.length, codes: [...new Set(written.rejected.map((l) => l.code))] },
              'events the sink refused go to the dead letters',
            );
            letters = [...letters, ...written.rejected];
          }
        }
        if (letters.length > 0) await this.retrier.run('deadLetters.write', () => deadLetters.write(letters));
        await this.retrier.run('checkpoint.save', () => checkpoints.save(name, position));
      }
    } catch (error) {
      for (const span of writeSpans) span.setStatus({ code: SpanStatusCode.ERROR }).end();
      throw error;
    }
    for (const span of writeSpans) span.end();
    this.committed = position;
    this.committedUnit = unit;
    this.committedBatches += group.length;
    this.stats.batches += group.length;
    this.stats.eventsWritten += eventCount;
    this.stats.deadLetters += letters.length;
    if (baseline !== undefined) await baseline.promote();
    if (source.acknowledge) {
      const positions = group.map((b) => b.position);
      await this.retrier.run('source.acknowledge', () => source.acknowledge!(positions));
    }
    const done = performance.now();
    for (const batch of group) batch.span.end();
    this.observer?.committed?.({
      pipeline: name,
      batches: group.length,
      streams: StreamTally.sum(group.map((b) => b.streams)),
      notices: group.flatMap((b) => b.notices),
      latencySeconds: group.map((b) => (done - b.yieldedAt) / 1000),
      position,
      at: new Date(),
    });
    for (const batch of group) {
      this.options.onCommit?.({
        position: batch.position,
        events: batch.eventCount,
        deadLetters: batch.letters.length,
      });
    }
  }

  /** Wait until everything queued is committed; rethrow the commit failure if there was one. */
  private async drain(): Promise<void> {
    while (this.writer !== undefined) await this.writer;
    if (this.commitError !== undefined) throw this.commitError;
  }
}

/**
 * Why a position does not fit a source's position schema, each problem with its path (`cursor.page: expected
 * number`), or undefined when it fits. Used for loaded checkpoints and by `ferry offsets set`.
 */
export function positionProblems(schema: z.ZodType, position: unknown): string | undefined {
  const result = schema.safeParse(position);
  if (result.success) return undefined;
  return result.error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(the position)'}: ${issue.message}`)
    .join('; ');
}

/** Whether `error` is how an operation answered the caller's own stop (`signal` aborted). */
function isStopReason(error: unknown, signal: AbortSignal | undefined): boolean {
  if (signal?.aborted !== true) return false;
  return error === signal.reason || (error instanceof Error && error.name === 'AbortError');
}
