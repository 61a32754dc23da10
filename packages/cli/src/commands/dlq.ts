// `ferry dlq list|replay`: a pipeline's dead letters, whatever holds them (the file dead-letter place, a
// Kafka dead-letter topic). Replay re-runs the mapping and the contract check on each letter, publishes the
// events of those that now pass to the pipeline's sink, then marks them replayed in the dead-letter store
// (markReplayed), so the next list/replay skips them; the others stay as they are.
import {
  type CanonicalEvent,
  type ChangeRecord,
  createDeadLetterSink,
  createRetrier,
  createValidator,
  type DeadLetter,
  type DeadLetterSink,
  type EventValidator,
  FerryError,
  isFerryError,
  loadMapping,
  type Mapping,
  mappedEvents,
  type Registry,
  type Sink,
  stableStringify,
  uuidV5,
} from '@ferry/core';
import type { Command } from 'commander';
import { acquireRunLock } from '../lock.js';
import { type CommandContext, type OpenedPipeline, openPipeline } from './context.js';

interface LetterOutcome {
  letter: DeadLetter;
  events?: CanonicalEvent[];
  error?: { code: string; message: string };
}

export function registerDlqCommands(program: Command, ctx: CommandContext): void {
  const dlq = program
    .command('dlq')
    .description(
      'Inspect and replay a pipeline’s dead letters (records that failed mapping, contract or source).',
    );

  dlq
    .command('list')
    .description('Print the dead letters not yet replayed, oldest first.')
    .argument('<pipeline>', 'pipeline YAML file')
    .option('--json', 'print JSON lines (one dead letter each)', false)
    .option('--limit <n>', 'print at most this many', (v) => Number.parseInt(v, 10))
    .action(async (file: string, opts: { json: boolean; limit?: number }) => {
      const opened = await openPipeline(file, ctx);
      const store = await createDeadLetterSink(opened.pipeline, ctx.registry, opened.factoryContext);
      try {
        let count = 0;
        const limit = opts.limit ?? Number.POSITIVE_INFINITY;
        for await (const letter of lettersOf(store)) {
          count += 1;
          if (count > limit) continue;
          if (opts.json) ctx.io.out(JSON.stringify({ id: letterId(letter), ...letter }));
          else ctx.io.out(describeLetter(letter));
        }
        if (!opts.json)
          ctx.io.out(`${opened.pipeline.name}: ${count} dead letter${count === 1 ? '' : 's'} pending`);
      } finally {
        await store.close();
      }
    });

  dlq
    .command('replay')
    .description(
      'Re-run the mapping and contract check on each pending dead letter; publish those that now pass to the sink and mark them replayed; leave the rest.',
    )
    .argument('<pipeline>', 'pipeline YAML file')
    .option('--dry-run', 'say what would pass without publishing or marking anything', false)
    .action(async (file: string, opts: { dryRun: boolean }) => {
      const opened = await openPipeline(file, ctx);
      const release = await acquireRunLock(opened.pipeline.baseDir, opened.pipeline.name);
      try {
        await replay(opened, ctx, opts.dryRun);
      } finally {
        await release();
      }
    });
}

export async function* lettersOf(store: DeadLetterSink): AsyncIterable<DeadLetter> {
  if (!store.list) {
    throw new FerryError(
      'DLQ_LIST_UNSUPPORTED',
      `the '${store.type}' dead-letter store cannot list its letters; read them where it keeps them`,
    );
  }
  yield* store.list();
}

export interface ReplayOutcome {
  dryRun: boolean;
  passed: { letter: DeadLetter; events: CanonicalEvent[] }[];
  failed: { letter: DeadLetter; error: { code: string; message: string } }[];
  events: number;
}

/**
 * Re-run the mapping and the contract check on pending dead letters (those whose id is in `ids`, or all),
 * publish the events of those that pass to the pipeline's sink, then mark them replayed. The caller holds
 * the pipeline's run lock.
 */
export async function replayDeadLetters(
  opened: OpenedPipeline,
  registry: Registry,
  options: { dryRun: boolean; ids?: readonly string[] },
): Promise<ReplayOutcome> {
  const { pipeline, factoryContext } = opened;
  const mapping = await loadMapping(pipeline);
  const validate = await createValidator(pipeline, registry);
  const store = await createDeadLetterSink(pipeline, registry, factoryContext);
  const wanted = options.ids ? new Set(options.ids) : undefined;
  let sink: Sink | undefined;
  try {
    const outcomes: LetterOutcome[] = [];
    for await (const letter of lettersOf(store)) {
      if (wanted && !wanted.has(letterId(letter))) continue;
      outcomes.push(await replayOne(letter, mapping, validate, pipeline.name));
    }
    const passed = outcomes.filter((o) => o.events !== undefined);
    const failed = outcomes.filter((o) => o.error !== undefined);
    const events = passed.flatMap((o) => o.events!);
    if (!options.dryRun && passed.length > 0) {
      if (!store.markReplayed) {
        throw new FerryError(
          'DLQ_REPLAY_UNSUPPORTED',
          `the '${store.type}' dead-letter store cannot record replays, so letters would be replayed twice`,
        );
      }
      const retrier = createRetrier({ policy: pipeline.runtime.retry });
      sink = (await registry.sinks
        .get(pipeline.sink.type)!
        .create(pipeline.sink.options, factoryContext)) as Sink;
      // Events first, then the marks: a crash in between replays those letters again, with the same event ids.
      for (let start = 0; start < events.length; start += 500) {
        const chunk = events.slice(start, start + 500);
        await retrier.run('sink.write', () => sink!.write(chunk));
      }
      const marks = passed.map((o) => ({ letter: o.letter, events: o.events!.map((e) => e.id) }));
      await retrier.run('deadLetters.markReplayed', () => store.markReplayed!(marks));
    }
    return {
      dryRun: options.dryRun,
      passed: passed.map((o) => ({ letter: o.letter, events: o.events! })),
      failed: failed.map((o) => ({ letter: o.letter, error: o.error! })),
      events: events.length,
    };
  } finally {
    await sink?.close();
    await store.close();
  }
}

async function replayOne(
  letter: DeadLetter,
  mapping: Mapping,
  validate: EventValidator | undefined,
  pipeline: string,
): Promise<LetterOutcome> {
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

async function replay(opened: OpenedPipeline, ctx: CommandContext, dryRun: boolean): Promise<void> {
  const outcome = await replayDeadLetters(opened, ctx.registry, { dryRun });
  for (const { letter, error } of outcome.failed) {
    ctx.io.out(`still failing: ${describeLetter(letter)} -> ${error.code}: ${error.message}`);
  }
  const verb = dryRun ? 'would replay' : 'replayed';
  const n = outcome.passed.length;
  ctx.io.out(
    `${opened.pipeline.name}: ${verb} ${n} dead letter${n === 1 ? '' : 's'} ` +
      `(${outcome.events} events to ${opened.pipeline.sink.type}); ${outcome.failed.length} left in the dead-letter store`,
  );
}

/** A letter's record went through JSON: turn its time back into a Date, as the source produced it. */
function reviveRecord(value: unknown): ChangeRecord {
  const record = { ...(value as ChangeRecord) };
  if (typeof record.occurredAt === 'string') record.occurredAt = new Date(record.occurredAt);
  return record;
}

export function letterId(letter: DeadLetter): string {
  return uuidV5(
    stableStringify(['dlq', letter.pipeline, letter.stream, letter.stage, letter.origin, letter.record]),
  );
}

function describeLetter(letter: DeadLetter): string {
  return (
    `${letter.failedAt} ${letter.stage} ${letter.code} ${letter.stream} ${stableStringify(letter.origin)} ` +
    `attempts=${letter.attempts}: ${letter.message}`
  );
}
