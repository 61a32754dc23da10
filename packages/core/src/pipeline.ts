// The pipeline runtime: one loop drives every source the same way. It reads batches, maps records to
// canonical events, writes them to the sink (rejects to the dead-letter sink), then saves the checkpoint,
// then acknowledges the position to the source. A position is never saved before everything before it is
// durable, so a crash at any point loses nothing and a replay yields the same event ids.
import {
  DeadLetterThresholdError,
  FerryError,
  isFerryError,
  isProgrammerError,
  isRetryable,
  MappingError,
} from './errors.js';
import { buildEvent } from './event.js';
import { type Logger, silentLogger } from './logging.js';
import type { MappedEvent, Mapping } from './mapping.js';
import { noticeEvent } from './notice.js';
import { createRetrier, type RetryPolicy } from './retry.js';
import type {
  Batch,
  CanonicalEvent,
  ChangeRecord,
  CheckpointStore,
  DeadLetter,
  DeadLetterSink,
  Sink,
  Source,
} from './types.js';

/** A contract check on a finished event: return a reason to reject it, or undefined when it is valid. */
export type EventValidator = (
  event: CanonicalEvent,
) => { code: string; message: string; errors?: unknown[] } | undefined;

export interface DeadLetterThreshold {
  /** How many of the most recent records the share is measured over. */
  windowSize: number;
  /** Stop the run when more than this share of the window went to the dead-letter sink (0..1). */
  maxRatio: number;
  /** Do not judge before this many records were seen. */
  minRecords: number;
}

export const defaultDeadLetterThreshold: DeadLetterThreshold = {
  windowSize: 1000,
  maxRatio: 0.5,
  minRecords: 100,
};

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
  deadLetterThreshold?: DeadLetterThreshold | false;
  /** Abort to stop gracefully: stop reading, commit what was read, save the checkpoint, return. */
  signal?: AbortSignal;
  /** Read what is there now and end (`ferry run --once`). */
  once?: boolean;
  logger?: Logger;
  /** Called after each batch is committed (metrics, tests). */
  onCommit?: (info: CommitInfo<P>) => void;
}

export interface CommitInfo<P> {
  position: P;
  events: number;
  deadLetters: number;
}

export interface RunSummary {
  pipeline: string;
  recordsRead: number;
  eventsWritten: number;
  deadLetters: number;
  /** Records the mapping dropped on purpose (returned null). */
  skipped: number;
  batches: number;
  retries: number;
  durationMs: number;
  eventsPerSecond: number;
  stoppedBy: 'end' | 'signal';
  position: unknown;
}

interface PreparedBatch<P> {
  events: CanonicalEvent[];
  letters: DeadLetter[];
  position: P;
  records: number;
}

/** Marks a retryable source failure after which batches were committed: retrying starts a fresh budget. */
class ProgressedBeforeFailure extends Error {
  constructor(readonly original: unknown) {
    super('source failed after making progress');
  }
}

export async function runPipeline<P>(options: PipelineOptions<P>): Promise<RunSummary> {
  const runner = new PipelineRun(options);
  return runner.run();
}

class PipelineRun<P> {
  private readonly log: Logger;
  private readonly maxInFlight: number;
  private readonly threshold: DeadLetterThreshold | false;
  private readonly window: boolean[] = [];
  private windowDead = 0;
  private windowIndex = 0;
  private committed: P | undefined;
  private committedBatches = 0;
  private inFlight = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private readonly queue: PreparedBatch<P>[] = [];
  private writer: Promise<void> | undefined;
  private commitError: unknown;
  private readonly internal = new AbortController();
  private readonly signal: AbortSignal;
  private readonly retrier;
  private readonly stats = {
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
    this.threshold = options.deadLetterThreshold ?? defaultDeadLetterThreshold;
    this.signal = options.signal
      ? AbortSignal.any([options.signal, this.internal.signal])
      : this.internal.signal;
    this.retrier = createRetrier({
      ...(options.retry ? { policy: options.retry } : {}),
      onRetry: ({ operation, attempt, retriesLeft, error }) => {
        this.stats.retries += 1;
        this.log.warn(
          { operation, attempt, retriesLeft, code: isFerryError(error) ? error.code : undefined, err: error },
          `${operation} failed, retrying`,
        );
      },
    });
  }

  async run(): Promise<RunSummary> {
    const started = performance.now();
    const { name, checkpoints } = this.options;
    try {
      this.committed = (await this.retrier.run(
        'checkpoint.load',
        () => checkpoints.load(name),
        this.signal,
      )) as P | undefined;
      this.log.info({ from: this.committed ?? null }, 'pipeline starting');
      await this.readWithResume();
      await this.drain();
    } catch (error) {
      // Whatever failed, commit what is already in flight so no finished work is thrown away.
      this.internal.abort();
      await this.drain().catch(() => undefined);
      throw this.commitError ?? error;
    } finally {
      await this.closeAll();
    }
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
    return summary;
  }

  private async closeAll(): Promise<void> {
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

  /** Read until the source ends or the run stops; retryable source failures resume from the last commit. */
  private async readWithResume(): Promise<void> {
    for (;;) {
      try {
        await this.retrier.run(
          'source.read',
          async () => {
            const before = this.committedBatches;
            try {
              await this.readSession();
            } catch (error) {
              await this.drain();
              if (this.committedBatches > before && isRetryable(error))
                throw new ProgressedBeforeFailure(error);
              throw error;
            }
          },
          this.signal,
        );
        return;
      } catch (error) {
        if (error instanceof ProgressedBeforeFailure) {
          this.stats.retries += 1;
          this.log.warn(
            { err: error.original },
            'source failed after progress; resuming from the last checkpoint',
          );
          continue;
        }
        // A requested stop that interrupted the source is a clean end, not a failure.
        const stopping = this.options.signal?.aborted === true;
        if (stopping && this.commitError === undefined && !(error instanceof DeadLetterThresholdError)) {
          this.log.debug({ err: error }, 'source ended while stopping');
          return;
        }
        throw error;
      }
    }
  }

  private async readSession(): Promise<void> {
    const { source } = this.options;
    const batches = source.read({
      from: this.committed,
      signal: this.signal,
      once: this.options.once ?? false,
      log: this.log,
    });
    for await (const batch of batches) {
      if (this.commitError !== undefined) throw this.commitError;
      const prepared = await this.prepare(batch);
      await this.acquireSlot();
      this.enqueue(prepared);
      if (this.signal.aborted) break;
    }
    if (this.commitError !== undefined) throw this.commitError;
  }

  private async prepare(batch: Batch<P>): Promise<PreparedBatch<P>> {
    const { name, mapping, validate } = this.options;
    const letters: DeadLetter[] = [];
    const now = new Date();
    const events: CanonicalEvent[] = batch.notices?.map((n) => noticeEvent(name, n, now)) ?? [];
    for (const record of batch.records) {
      this.stats.recordsRead += 1;
      let mapped: MappedEvent[] | null;
      try {
        const result = await mapping.map(record, { pipeline: name });
        mapped = result === null ? null : Array.isArray(result) ? result : [result];
      } catch (error) {
        letters.push(this.deadLetter(record, 'mapping', error));
        this.observe(true);
        continue;
      }
      if (mapped === null) {
        this.stats.skipped += 1;
        this.observe(false);
        continue;
      }
      const built: CanonicalEvent[] = [];
      let rejected: DeadLetter | undefined;
      for (const [index, item] of mapped.entries()) {
        const event = buildEvent({
          pipeline: name,
          record,
          canonicalType: mapping.canonicalType,
          dataschema: mapping.dataschema,
          subject: item.subject,
          data: item.data,
          index,
          now,
        });
        const violation = validate?.(event);
        if (violation) {
          rejected = this.deadLetter(
            record,
            'contract',
            new FerryError(violation.code, violation.message, {
              details: { errors: violation.errors ?? [] },
            }),
          );
          break;
        }
        built.push(event);
      }
      if (rejected) {
        letters.push(rejected);
        this.observe(true);
      } else {
        events.push(...built);
        this.observe(false);
      }
    }
    for (const reject of batch.rejected ?? []) {
      letters.push({
        pipeline: name,
        stream: reject.stream,
        stage: 'source',
        code: reject.code,
        message: reject.message,
        retryable: false,
        record: reject.raw,
        origin: reject.origin,
        attempts: 1,
        failedAt: now.toISOString(),
      });
      this.observe(true);
    }
    this.checkThreshold();
    return { events, letters, position: batch.position, records: batch.records.length };
  }

  private deadLetter(record: ChangeRecord, stage: DeadLetter['stage'], error: unknown): DeadLetter {
    const ferry = isFerryError(error);
    const code = ferry ? error.code : stage === 'mapping' ? 'MAPPING_FAILED' : 'INTERNAL';
    const message = error instanceof Error ? error.message : String(error);
    if (!ferry && !(error instanceof MappingError) && isProgrammerError(error)) {
      this.log.warn(
        { stream: record.stream, origin: record.origin, err: error },
        'mapping threw a programmer error',
      );
    }
    return {
      pipeline: this.options.name,
      stream: record.stream,
      stage,
      code,
      message,
      retryable: false,
      record,
      origin: record.origin,
      attempts: 1,
      failedAt: new Date().toISOString(),
    };
  }

  private observe(dead: boolean): void {
    if (this.threshold === false) return;
    const size = this.threshold.windowSize;
    if (this.window.length < size) {
      this.window.push(dead);
    } else {
      if (this.window[this.windowIndex]) this.windowDead -= 1;
      this.window[this.windowIndex] = dead;
      this.windowIndex = (this.windowIndex + 1) % size;
    }
    if (dead) this.windowDead += 1;
  }

  private checkThreshold(): void {
    if (this.threshold === false) return;
    const seen = this.window.length;
    if (seen < this.threshold.minRecords) return;
    const ratio = this.windowDead / seen;
    if (ratio > this.threshold.maxRatio) {
      throw new DeadLetterThresholdError(
        'DEAD_LETTER_THRESHOLD',
        `${this.windowDead} of the last ${seen} records were rejected (${(ratio * 100).toFixed(1)}% > ` +
          `${(this.threshold.maxRatio * 100).toFixed(1)}% allowed): the source or the mapping looks broken. ` +
          'Nothing from the offending batch was committed; fix the cause and run again, or raise deadLetters.threshold.',
        { details: { deadLetters: this.windowDead, window: seen, ratio, maxRatio: this.threshold.maxRatio } },
      );
    }
  }

  private async acquireSlot(): Promise<void> {
    while (this.inFlight >= this.maxInFlight) {
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    }
    this.inFlight += 1;
  }

  private releaseSlot(): void {
    this.inFlight -= 1;
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
      const group = this.queue.splice(0, this.queue.length);
      try {
        if (this.commitError === undefined) await this.commit(group);
      } catch (error) {
        this.commitError ??= error;
        this.internal.abort();
      } finally {
        for (let i = 0; i < group.length; i += 1) this.releaseSlot();
      }
    }
  }

  private async commit(group: PreparedBatch<P>[]): Promise<void> {
    const { name, sink, deadLetters, checkpoints, source } = this.options;
    const events = group.length === 1 ? group[0]!.events : group.flatMap((b) => b.events);
    const letters = group.length === 1 ? group[0]!.letters : group.flatMap((b) => b.letters);
    const position = group.at(-1)!.position;
    // Writes finish even when a stop was requested: in-flight work is flushed, not dropped.
    if (sink.commitBatch) {
      const atomic = { pipeline: name, events, deadLetters: letters, position };
      await this.retrier.run('sink.commitBatch', () => sink.commitBatch!(atomic));
    } else {
      if (events.length > 0) await this.retrier.run('sink.write', () => sink.write(events));
      if (letters.length > 0) await this.retrier.run('deadLetters.write', () => deadLetters.write(letters));
      await this.retrier.run('checkpoint.save', () => checkpoints.save(name, position));
    }
    this.committed = position;
    this.committedBatches += group.length;
    this.stats.batches += group.length;
    this.stats.eventsWritten += events.length;
    this.stats.deadLetters += letters.length;
    if (source.acknowledge) await this.retrier.run('source.acknowledge', () => source.acknowledge!(position));
    for (const batch of group) {
      this.options.onCommit?.({
        position: batch.position,
        events: batch.events.length,
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
