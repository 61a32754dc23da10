// `ferry dlq list|replay`: a pipeline's dead letters, whatever holds them (the file dead-letter place, a
// Kafka dead-letter topic). Replay re-runs the mapping and the contract check on each letter, publishes the
// events of those that now pass to the pipeline's sink, then marks them replayed in the dead-letter store
// (markReplayed), so the next list/replay skips them; the others stay as they are.
import {
  buildEvent,
  type CanonicalEvent,
  type ChangeRecord,
  createDeadLetterSink,
  createRetrier,
  createValidator,
  type DeadLetter,
  type DeadLetterSink,
  FerryError,
  isFerryError,
  loadMapping,
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

async function* lettersOf(store: DeadLetterSink): AsyncIterable<DeadLetter> {
  if (!store.list) {
    throw new FerryError(
      'DLQ_LIST_UNSUPPORTED',
      `the '${store.type}' dead-letter store cannot list its letters; read them where it keeps them`,
    );
  }
  yield* store.list();
}

async function replay(opened: OpenedPipeline, ctx: CommandContext, dryRun: boolean): Promise<void> {
  const { pipeline, factoryContext } = opened;
  const mapping = await loadMapping(pipeline);
  const validate = await createValidator(pipeline, ctx.registry);
  const store = await createDeadLetterSink(pipeline, ctx.registry, factoryContext);
  let sink: Sink | undefined;
  try {
    const outcomes: LetterOutcome[] = [];
    for await (const letter of lettersOf(store)) {
      if (letter.stage === 'source' || letter.stage === 'sink') {
        outcomes.push({
          letter,
          error: {
            code: 'DLQ_NOT_REPLAYABLE',
            message: `a ${letter.stage}-stage letter holds raw input, not a record`,
          },
        });
        continue;
      }
      const record = reviveRecord(letter.record);
      try {
        const result = await mapping.map(record, { pipeline: pipeline.name });
        const items = result === null ? [] : Array.isArray(result) ? result : [result];
        const events = items.map((item, index) =>
          buildEvent({
            pipeline: pipeline.name,
            record,
            canonicalType: mapping.canonicalType,
            dataschema: mapping.dataschema,
            subject: item.subject,
            data: item.data,
            index,
          }),
        );
        const violation = events.map((e) => validate?.(e)).find((v) => v !== undefined);
        if (violation) outcomes.push({ letter, error: { code: violation.code, message: violation.message } });
        else outcomes.push({ letter, events });
      } catch (error) {
        outcomes.push({
          letter,
          error: {
            code: isFerryError(error) ? error.code : 'MAPPING_FAILED',
            message: error instanceof Error ? error.message : String(error),
          },
        });
      }
    }
    const passed = outcomes.filter((o) => o.events !== undefined);
    const failed = outcomes.filter((o) => o.error !== undefined);
    const events = passed.flatMap((o) => o.events!);
    if (!dryRun && passed.length > 0) {
      if (!store.markReplayed) {
        throw new FerryError(
          'DLQ_REPLAY_UNSUPPORTED',
          `the '${store.type}' dead-letter store cannot record replays, so letters would be replayed twice`,
        );
      }
      const retrier = createRetrier({ policy: pipeline.runtime.retry });
      sink = (await ctx.registry.sinks
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
    for (const outcome of failed) {
      ctx.io.out(
        `still failing: ${describeLetter(outcome.letter)} -> ${outcome.error!.code}: ${outcome.error!.message}`,
      );
    }
    const verb = dryRun ? 'would replay' : 'replayed';
    ctx.io.out(
      `${pipeline.name}: ${verb} ${passed.length} dead letter${passed.length === 1 ? '' : 's'} ` +
        `(${events.length} events to ${pipeline.sink.type}); ${failed.length} left in the dead-letter store`,
    );
  } finally {
    await sink?.close();
    await store.close();
  }
}

/** A letter's record went through JSON: turn its time back into a Date, as the source produced it. */
function reviveRecord(value: unknown): ChangeRecord {
  const record = { ...(value as ChangeRecord) };
  if (typeof record.occurredAt === 'string') record.occurredAt = new Date(record.occurredAt);
  return record;
}

function letterId(letter: DeadLetter): string {
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
