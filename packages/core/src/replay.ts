// Dead-letter replay, for `ferry dlq replay` and the admin API alike: re-run the mapping and the contract
// check on pending letters, publish the events of those that now pass to the pipeline's sink, then mark
// them replayed so the next replay skips them. A replayed event is the event the record would have made
// when it was first read: the same id and the same `sequence`, so a consumer that keeps the latest state
// per subject can tell it is older than what it already has (see docs/kafka.md).
import { createDeadLetterSink, createValidator } from './assemble.js';
import { type LoadedPipeline, loadMapping } from './config.js';
import { FerryError, isFerryError } from './errors.js';
import { stableStringify, uuidV5 } from './event.js';
import { type Mapping, mappedEvents } from './mapping.js';
import type { EventValidator } from './pipeline.js';
import type { FactoryContext, Registry } from './registry.js';
import { createRetrier } from './retry.js';
import type { CanonicalEvent, ChangeRecord, DeadLetter, DeadLetterSink, Sink } from './types.js';

export interface ReplayOptions {
  /** Say what would pass without publishing or marking anything. */
  dryRun: boolean;
  /** Only these letters (ids from `letterId`); all pending letters when absent. */
  ids?: readonly string[];
}

export interface ReplayOutcome {
  dryRun: boolean;
  passed: { letter: DeadLetter; events: CanonicalEvent[] }[];
  failed: { letter: DeadLetter; error: { code: string; message: string } }[];
  /** Events published (or that would be, in a dry run). */
  events: number;
}

/** Events are published in chunks of this many, each chunk retried on its own. */
const CHUNK = 500;

/**
 * Replay a pipeline's pending dead letters. The caller holds the pipeline's run lock: the sink must not
 * have a second writer while the pipeline runs.
 */
export async function replayDeadLetters(
  pipeline: LoadedPipeline,
  registry: Registry,
  factoryContext: FactoryContext,
  options: ReplayOptions,
): Promise<ReplayOutcome> {
  const mapping = await loadMapping(pipeline);
  const validate = await createValidator(pipeline, registry);
  const store = await createDeadLetterSink(pipeline, registry, factoryContext);
  const wanted = options.ids ? new Set(options.ids) : undefined;
  let sink: Sink | undefined;
  try {
    const passed: ReplayOutcome['passed'] = [];
    const failed: ReplayOutcome['failed'] = [];
    for await (const letter of pendingLetters(store)) {
      if (wanted && !wanted.has(letterId(letter))) continue;
      const outcome = await replayOne(letter, mapping, validate, pipeline.name);
      if ('events' in outcome) passed.push(outcome);
      else failed.push(outcome);
    }
    const events = passed.flatMap((o) => o.events);
    if (!options.dryRun && passed.length > 0) {
      if (!store.markReplayed) {
        throw new FerryError(
          'DLQ_REPLAY_UNSUPPORTED',
          `the '${store.type}' dead-letter store cannot record replays, so letters would be replayed twice`,
        );
      }
      const retrier = createRetrier({ policy: pipeline.runtime.retry });
      const target = await registry.sinks
        .get(pipeline.sink.type)!
        .create(pipeline.sink.options, factoryContext);
      sink = target;
      // Events first, then the marks: a crash in between replays those letters again, with the same event ids.
      for (let start = 0; start < events.length; start += CHUNK) {
        const chunk = events.slice(start, start + CHUNK);
        const written = await retrier.run('sink.write', () => target.write(chunk));
        // An event the sink's target refuses for good is a new letter (stage `sink`), not a lost one.
        if (written && written.rejected.length > 0)
          await retrier.run('deadLetters.write', () => store.write(written.rejected));
      }
      const marks = passed.map((o) => ({ letter: o.letter, events: o.events.map((e) => e.id) }));
      await retrier.run('deadLetters.markReplayed', () => store.markReplayed!(marks));
    }
    return { dryRun: options.dryRun, passed, failed, events: events.length };
  } finally {
    await sink?.close();
    await store.close();
  }
}

/** Every letter the store holds and has not replayed, oldest first. */
export async function* pendingLetters(store: DeadLetterSink): AsyncIterable<DeadLetter> {
  if (!store.list) {
    throw new FerryError(
      'DLQ_LIST_UNSUPPORTED',
      `the '${store.type}' dead-letter store cannot list its letters; read them where it keeps them`,
    );
  }
  yield* store.list();
}

/** A stable id for a letter (the same wherever it is stored), for listing and replaying by id. */
export function letterId(letter: DeadLetter): string {
  return uuidV5(
    stableStringify(['dlq', letter.pipeline, letter.stream, letter.stage, letter.origin, letter.record]),
  );
}

async function replayOne(
  letter: DeadLetter,
  mapping: Mapping,
  validate: EventValidator | undefined,
  pipeline: string,
): Promise<
  | { letter: DeadLetter; events: CanonicalEvent[] }
  | { letter: DeadLetter; error: { code: string; message: string } }
> {
  // An event the sink's target refused (a webhook receiver's 410) is sent again as it was: same id, same
  // sequence, mapped and checked when it was first made.
  if (letter.stage === 'sink' && isCanonicalEvent(letter.record)) return { letter, events: [letter.record] };
  if (letter.stage === 'source' || letter.stage === 'sink') {
    return {
      letter,
      error: {
        code: 'DLQ_NOT_REPLAYABLE',
        message: `a ${letter.stage}-stage letter holds raw input, not a record`,
      },
    };
  }
  const record = reviveRecord(letter.record);
  try {
    const result = await mapping.map(record, { pipeline });
    const events = result === null ? [] : mappedEvents(pipeline, record, mapping, result);
    const violation = events.map((e) => validate?.(e)).find((v) => v !== undefined);
    if (violation) return { letter, error: { code: violation.code, message: violation.message } };
    return { letter, events };
  } catch (error) {
    return {
      letter,
      error: {
        code: isFerryError(error) ? error.code : 'MAPPING_FAILED',
        message: error instanceof Error ? error.message : String(error),
      },
    };
  }
}

function isCanonicalEvent(value: unknown): value is CanonicalEvent {
  const event = value as Partial<CanonicalEvent> | null;
  return (
    typeof event === 'object' &&
    event !== null &&
    event.specversion === '1.0' &&
    typeof event.id === 'string' &&
    typeof event.type === 'string'
  );
}

/** A letter's record went through JSON: turn its time back into a Date, as the source produced it. */
function reviveRecord(value: unknown): ChangeRecord {
  const record = { ...(value as ChangeRecord) };
  if (typeof record.occurredAt === 'string') record.occurredAt = new Date(record.occurredAt);
  return record;
}
