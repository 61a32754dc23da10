// Turning a source's batch into what is committed: every record mapped, every event checked against the
// contract, rejects and failures turned into dead letters with where they came from, per-stream counts for
// observers, and the dead-letter threshold judged. Nothing here touches the sink or the checkpoint.
import { context, type Span, type Tracer, trace } from '@opentelemetry/api';
import {
  DeadLetterThresholdError,
  FerryError,
  isFerryError,
  isProgrammerError,
  MappingError,
} from './errors.js';
import type { Logger } from './logging.js';
import { type MappedEvent, type Mapping, mappedEvents } from './mapping.js';
import { noticeEvent } from './notice.js';
import type { NoticeSummary, PipelineObserver, StreamCounts } from './observe.js';
import type {
  BaselineHandoff,
  Batch,
  BatchNotice,
  CanonicalEvent,
  ChangeRecord,
  DeadLetter,
  EncodedEvents,
  RunCounts,
  UnitCounts,
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

/** Counters of a run, shared by the reader and the writer. */
export type RunStats = RunCounts;

export interface BatchPreparerOptions {
  name: string;
  mapping: Mapping;
  validate: EventValidator | undefined;
  threshold: DeadLetterThreshold | false;
  observer: PipelineObserver | undefined;
  log: Logger;
  tracer: Tracer;
  stats: RunStats;
}

export interface PreparedBatch<P> {
  /** The events, until the sink encodes them (then empty: see `encoded`). */
  events: CanonicalEvent[];
  /** How many events the batch has, encoded or not. */
  eventCount: number;
  /** The events as the sink encoded them (Sink.encode); undefined for a sink that does not encode. */
  encoded: EncodedEvents | undefined;
  /** About how many bytes the batch holds in flight (runtime.maxInFlightBytes); set by the runtime. */
  bytes: number;
  /**
   * Each mapped record with its events, until the batch is encoded: an event the sink cannot encode is
   * traced back to its record for the dead letter. The runtime drops it after encoding.
   */
  sources: { record: ChangeRecord; built: CanonicalEvent[] }[] | undefined;
  letters: DeadLetter[];
  position: P;
  records: number;
  /** performance.now() when the source handed this batch over: batch latency runs from here to its commit. */
  yieldedAt: number;
  /** The batch's trace span (a no-op span when no tracer is registered). */
  span: Span;
  streams: StreamCounts[] | undefined;
  /** Kept only when someone observes the run. */
  notices: NoticeSummary[];
  /** Ends its commit group (see Batch.boundary). */
  boundary: boolean;
  baseline: BaselineHandoff | undefined;
  /** The counts of the unit of work open after this batch (see BatchNotice.unit); undefined when none is. */
  unit: UnitCounts | undefined;
}

/** Per-stream counts of one batch, built only when someone observes the run. */
export class StreamTally {
  private readonly byStream = new Map<string, StreamCounts>();

  of(stream: string): StreamCounts {
    let counts = this.byStream.get(stream);
    if (counts === undefined) {
      counts = { stream, records: 0, events: 0, skipped: 0, deadLetters: {} };
      this.byStream.set(stream, counts);
    }
    return counts;
  }

  letter(stream: string, code: string): void {
    const letters = this.of(stream).deadLetters;
    letters[code] = (letters[code] ?? 0) + 1;
  }

  list(): StreamCounts[] {
    return [...this.byStream.values()];
  }

  static sum(groups: (StreamCounts[] | undefined)[]): StreamCounts[] {
    const total = new StreamTally();
    for (const group of groups) {
      for (const c of group ?? []) {
        const t = total.of(c.stream);
        t.records += c.records;
        t.events += c.events;
        t.skipped += c.skipped;
        for (const [code, n] of Object.entries(c.deadLetters))
          t.deadLetters[code] = (t.deadLetters[code] ?? 0) + n;
      }
    }
    return total.list();
  }
}

/** W3C trace context of a span, or undefined when the span is not recorded (no tracer: no cost). */
function traceparentOf(span: Span): string | undefined {
  if (!span.isRecording()) return undefined;
  const { traceId, spanId, traceFlags } = span.spanContext();
  return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

export class BatchPreparer<P> {
  private readonly window: boolean[] = [];
  private windowDead = 0;
  private windowIndex = 0;
  /** The open unit of work's counts so far; undefined when none is open (or its counts are unknown). */
  private unit: UnitCounts | undefined;

  constructor(private readonly options: BatchPreparerOptions) {}

  /** Read again from a checkpoint: the unit open there had these counts (undefined: none, or unknown). */
  resumeUnit(counts: UnitCounts | undefined): void {
    this.unit = counts === undefined ? undefined : { ...counts };
  }

  private get stats(): RunStats {
    return this.options.stats;
  }

  private get observer(): PipelineObserver | undefined {
    return this.options.observer;
  }

  private get log(): Logger {
    return this.options.log;
  }

  private get tracer(): Tracer {
    return this.options.tracer;
  }

  /**
   * Map every record, then check every event against the contract (two passes, so a trace shows the map
   * and validate times apart). A record whose mapping throws or whose event breaks the contract becomes a
   * dead letter; the rest of the batch goes on.
   */
  async prepare(batch: Batch<P>, span: Span, yieldedAt: number): Promise<PreparedBatch<P>> {
    const { name, mapping, validate } = this.options;
    const letters: DeadLetter[] = [];
    const now = new Date();
    // A record without its own change time takes the batch's source time (a file's mtime, a watermark):
    // reading the same batch again gives the same `time`, so a replayed event is byte-identical. Only a
    // source that says neither falls back to the processing time.
    const eventTime = batch.sourceTime ?? now;
    const tally = this.observer ? new StreamTally() : undefined;
    const traceparent = traceparentOf(span);
    const parent = traceparent ? trace.setSpan(context.active(), span) : undefined;
    const events: CanonicalEvent[] = [];
    let skipped = 0;

    const mapSpan = parent ? this.tracer.startSpan('ferry.map', undefined, parent) : undefined;
    const mappedRecords: { record: ChangeRecord; built: CanonicalEvent[] }[] = [];
    const mappingContext = { pipeline: name };
    for (const record of batch.records) {
      this.stats.recordsRead += 1;
      const counts = tally?.of(record.stream);
      if (counts) counts.records += 1;
      let mapped: MappedEvent | MappedEvent[] | null;
      try {
        // Await only what is a promise: a synchronous field map then costs no microtask per record.
        const returned = mapping.map(record, mappingContext);
        mapped = returned instanceof Promise ? await returned : returned;
      } catch (error) {
        const letter = this.deadLetter(record, 'mapping', error);
        letters.push(letter);
        tally?.letter(record.stream, letter.code);
        this.observe(true);
        continue;
      }
      if (mapped === null) {
        skipped += 1;
        this.stats.skipped += 1;
        if (counts) counts.skipped += 1;
        this.observe(false);
        continue;
      }
      const built = mappedEvents(name, record, mapping, mapped, eventTime);
      if (traceparent) for (const event of built) event.traceparent = traceparent;
      mappedRecords.push({ record, built });
    }
    mapSpan?.setAttribute('ferry.records', batch.records.length);
    mapSpan?.end();

    const validateSpan =
      parent && validate ? this.tracer.startSpan('ferry.validate', undefined, parent) : undefined;
    for (const { record, built } of mappedRecords) {
      const violation = validate ? this.firstViolation(built, validate) : undefined;
      if (violation) {
        const letter = this.deadLetter(
          record,
          'contract',
          new FerryError(violation.code, violation.message, { details: { errors: violation.errors ?? [] } }),
        );
        letters.push(letter);
        tally?.letter(record.stream, letter.code);
        this.observe(true);
      } else {
        for (const event of built) events.push(event);
        const counts = tally?.of(record.stream);
        if (counts) counts.events += built.length;
        this.observe(false);
      }
    }
    validateSpan?.end();

    const rejectSequences = new Map<DeadLetter, string | undefined>();
    for (const reject of batch.rejected ?? []) {
      const letter: DeadLetter = {
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
      };
      letters.push(letter);
      rejectSequences.set(letter, reject.sequence);
      tally?.letter(reject.stream, reject.code);
      this.observe(true);
    }
    inSourceOrder(letters, (letter) =>
      rejectSequences.has(letter) ? rejectSequences.get(letter) : (letter.record as ChangeRecord).sequence,
    );
    const counted = this.countUnit(batch.notices ?? [], {
      events: events.length,
      deadLetters: letters.length,
      skipped,
    });
    const noticeEvents = counted.map((n) => noticeEvent(name, n, eventTime));
    if (traceparent) for (const event of noticeEvents) event.traceparent = traceparent;
    const streams = tally?.list();
    const notices = this.observer
      ? counted.map((n) => ({ type: n.type, stream: n.stream, data: n.data }))
      : [];
    if (this.observer?.batchPrepared) {
      this.observer.batchPrepared({
        pipeline: name,
        streams: streams ?? [],
        notices,
        lagSeconds: lagOf(batch, now),
        ...(batch.progress ? { progress: batch.progress } : {}),
      });
    }
    this.checkThreshold();
    // Notices go ahead of the batch's record events.
    const all = noticeEvents.length === 0 ? events : [...noticeEvents, ...events];
    return {
      events: all,
      eventCount: all.length,
      encoded: undefined,
      bytes: 0,
      sources: mappedRecords,
      letters,
      position: batch.position,
      records: batch.records.length,
      yieldedAt,
      span,
      streams,
      notices,
      boundary: batch.boundary === true || batch.baseline !== undefined,
      baseline: batch.baseline,
      unit: this.unit === undefined ? undefined : { ...this.unit },
    };
  }

  /**
   * Add a batch's counts to its unit of work (an opening notice starts one) and give each closing notice the
   * unit's counts: what the unit's records became, so a file's notice reconciles with its events.
   */
  private countUnit(notices: BatchNotice[], batch: UnitCounts): BatchNotice[] {
    if (notices.length === 0 && this.unit === undefined) return notices;
    if (notices.some((n) => n.unit === 'opens' || n.unit === 'whole'))
      this.unit = { events: 0, deadLetters: 0, skipped: 0 };
    if (this.unit !== undefined) {
      this.unit.events += batch.events;
      this.unit.deadLetters += batch.deadLetters;
      this.unit.skipped += batch.skipped;
    }
    const closes = (n: BatchNotice) => n.unit === 'closes' || n.unit === 'whole';
    if (!notices.some(closes)) return notices;
    const counts: Record<string, unknown> =
      this.unit !== undefined
        ? { ...this.unit }
        : {
            events: null,
            deadLetters: null,
            skipped: null,
            countsIncomplete:
              'the run resumed inside this unit of work without the counts of its earlier part (the checkpoint ' +
              'store keeps none, or the checkpoint was moved); they are unknown',
          };
    this.unit = undefined;
    return notices.map((n) => (closes(n) ? { ...n, data: { ...n.data, ...counts } } : n));
  }

  private firstViolation(events: CanonicalEvent[], validate: EventValidator) {
    for (const event of events) {
      const violation = validate(event);
      if (violation) return violation;
    }
    return undefined;
  }

  /** The dead letter of a record whose events cannot be written (the runtime's encoding found it). */
  unwritable(record: ChangeRecord, error: unknown): DeadLetter {
    const message = error instanceof Error ? error.message : String(error);
    const letter = this.deadLetter(
      record,
      'mapping',
      new FerryError(
        'MAPPING_NOT_SERIALIZABLE',
        `the mapping made an event of ${record.stream} that cannot be written as JSON (${message}): return ` +
          'plain JSON values (strings for big integers and binary data)',
        { cause: error },
      ),
    );
    this.observe(true);
    return letter;
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
    if (this.options.threshold === false) return;
    const size = this.options.threshold.windowSize;
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
    if (this.options.threshold === false) return;
    const seen = this.window.length;
    if (seen < this.options.threshold.minRecords) return;
    const ratio = this.windowDead / seen;
    if (ratio > this.options.threshold.maxRatio) {
      throw new DeadLetterThresholdError(
        'DEAD_LETTER_THRESHOLD',
        `${this.windowDead} of the last ${seen} records were rejected (${(ratio * 100).toFixed(1)}% > ` +
          `${(this.options.threshold.maxRatio * 100).toFixed(1)}% allowed): the source or the mapping looks broken. ` +
          'Nothing from the offending batch was committed; fix the cause and run again, or raise deadLetters.threshold.',
        {
          details: {
            deadLetters: this.windowDead,
            window: seen,
            ratio,
            maxRatio: this.options.threshold.maxRatio,
          },
        },
      );
    }
  }
}

/**
 * Seconds the batch is behind the legacy system: from the source's own time for the batch, else the
 * newest record's change time; an empty batch means caught up (0); unknown when records carry no time.
 */
function lagOf(batch: Batch<unknown>, now: Date): number | undefined {
  let at = batch.sourceTime;
  if (at === undefined) {
    if (batch.records.length === 0) return batch.rejected?.length ? undefined : 0;
    at = batch.records.at(-1)!.occurredAt;
  }
  if (at === undefined) return undefined;
  return Math.max(0, (now.getTime() - at.getTime()) / 1000);
}

/**
 * Put a batch's dead letters (mapping failures, contract violations, rejected input: gathered in that
 * order) back in the order the source read them, by sequence, when every one has a sequence. Sequences of
 * one source compare as strings (sequenceOf pads its numbers).
 */
function inSourceOrder(letters: DeadLetter[], sequenceFor: (letter: DeadLetter) => string | undefined): void {
  if (letters.length < 2) return;
  const sequences = new Map(letters.map((letter) => [letter, sequenceFor(letter)]));
  if ([...sequences.values()].some((sequence) => sequence === undefined)) return;
  // Array sort is stable: letters with the same sequence keep the order they were gathered in.
  letters.sort((a, b) => {
    const [x, y] = [sequences.get(a)!, sequences.get(b)!];
    return x < y ? -1 : x > y ? 1 : 0;
  });
}
