// What the consumers that feed the entity store share: their figures, the check that a record is a
// CloudEvent the store can apply, and what happens to one that is not (a dead letter, or a stop that names it).
import { type DeadLetter, type DeadLetterSink, FerryError } from '@ferry/core';

/** What a consumer did, per batch or in total. */
export interface ConsumeFigures {
  /** Events read and handed to the store. */
  events: number;
  /** Events that changed an entity. */
  applied: number;
  /** Events the store already held (the same event id): a replay after a crash, or a resent batch. */
  duplicates: number;
  /** Events older than the entity's state (a lower `sequence`): not applied. */
  stale: number;
  /** Records that were not CloudEvents, written to the dead-letter sink. */
  deadLettered: number;
  /** Store transactions, each one batch of events with the positions it brings the consumer to. */
  batches: number;
}

/** Figures with the positions the store holds for the consumer afterwards (stream → position). */
export interface ConsumeReport extends ConsumeFigures {
  positions: Record<string, string>;
}

/** Options every consumer takes. */
export interface ConsumeOptions {
  /** The consumer's name: its positions are saved under it, so a restart with the same name resumes. */
  consumer: string;
  /** Events per store transaction (default 1000). */
  batchSize?: number;
  /**
   * Where a record that is not a CloudEvent goes (stage `source`, code `API_STREAM_INVALID`, the raw record
   * and where it was); the consumer goes on past it. Without one, such a record stops the consumer with an
   * `API_STREAM_INVALID` error that names it, after applying everything before it.
   */
  deadLetters?: DeadLetterSink;
  /** Called after each batch the store committed, with that batch's figures and the positions it saved. */
  onBatch?: (batch: ConsumeReport) => void;
}

export class ConsumeError extends FerryError {
  override readonly name = 'ConsumeError';
}

export const DEFAULT_BATCH_SIZE = 1000;

export function batchSizeOf(options: ConsumeOptions): number {
  const size = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`batchSize must be a positive integer, not ${size}`);
  return size;
}

export function noFigures(): ConsumeFigures {
  return { events: 0, applied: 0, duplicates: 0, stale: 0, deadLettered: 0, batches: 0 };
}

export function addFigures(total: ConsumeFigures, batch: ConsumeFigures): void {
  total.events += batch.events;
  total.applied += batch.applied;
  total.duplicates += batch.duplicates;
  total.stale += batch.stale;
  total.deadLettered += batch.deadLettered;
  total.batches += batch.batches;
}

/** Report a batch to the caller's hook; a hook that throws cannot stop or break the consumer. */
export function report(options: ConsumeOptions, batch: ConsumeReport): void {
  try {
    options.onBatch?.(batch);
  } catch {
    // The hook is the caller's logging or metrics; the batch is committed whatever it does.
  }
}

const nonEmpty = (value: unknown) => typeof value === 'string' && value !== '';

/**
 * Why a decoded record is not an event the store can apply, or undefined when it is one: a CloudEvents 1.0
 * object with an id, a source, a type with a canonical type before its last segment, a subject and a time.
 */
export function cloudEventProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const event = value as Record<string, unknown>;
  if (event.specversion !== '1.0') return `specversion is ${JSON.stringify(event.specversion)}, not "1.0"`;
  for (const name of ['id', 'source', 'type', 'subject', 'time']) {
    if (!nonEmpty(event[name])) return `${name} is missing or not a non-empty string`;
  }
  if (!(event.type as string).includes('.'))
    return `type "${event.type as string}" has no canonical type before its last segment`;
  if (event.sequence !== undefined && typeof event.sequence !== 'string') return 'sequence is not a string';
  return undefined;
}

/** The dead letter of a record that is not a CloudEvent, so it is kept rather than lost. */
export function invalidRecordLetter(
  consumer: string,
  stream: string,
  message: string,
  record: unknown,
  origin: Record<string, unknown>,
): DeadLetter {
  return {
    pipeline: consumer,
    stream,
    stage: 'source',
    code: 'API_STREAM_INVALID',
    message,
    retryable: false,
    record,
    origin,
    attempts: 1,
    failedAt: new Date().toISOString(),
  };
}
