// `ferry dlq list|replay`: a pipeline's dead letters, whatever holds them (the file dead-letter place, a
// Kafka dead-letter topic). Replay is core's (`replayDeadLetters`): it re-runs the mapping and the contract
// check, publishes what now passes with its original id and sequence, and marks those letters replayed.

import { readFile } from 'node:fs/promises';
import {
  createDeadLetterSink,
  type DeadLetter,
  letterId,
  pendingLetters,
  replayDeadLetters,
  stableStringify,
} from '@ferry/core';
import type { Command } from 'commander';
import { acquireRunLock } from '../lock.js';
import { type CommandContext, type OpenedPipeline, openPipeline } from './context.js';

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
    .option('--subscription <name>', 'a webhooks file: only this subscription’s letters')
    .action(async (file: string, opts: { json: boolean; limit?: number; subscription?: string }) => {
      if (await isWebhooksFile(file)) {
        await listWebhooks(file, opts, ctx);
        return;
      }
      const opened = await openPipeline(file, ctx);
      const store = await createDeadLetterSink(opened.pipeline, ctx.registry, opened.factoryContext);
      try {
        let count = 0;
        const limit = opts.limit ?? Number.POSITIVE_INFINITY;
        for await (const letter of pendingLetters(store)) {
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
    .option('--subscription <name>', 'a webhooks file: only this subscription’s letters')
    .action(async (file: string, opts: { dryRun: boolean; subscription?: string }) => {
      if (await isWebhooksFile(file)) {
        await replayWebhooks(file, opts, ctx);
        return;
      }
      const opened = await openPipeline(file, ctx);
      const release = await acquireRunLock(opened.pipeline.baseDir, opened.pipeline.name);
      try {
        await replay(opened, ctx, opts.dryRun);
      } finally {
        await release();
      }
    });
}

async function replay(opened: OpenedPipeline, ctx: CommandContext, dryRun: boolean): Promise<void> {
  const outcome = await replayDeadLetters(opened.pipeline, ctx.registry, opened.factoryContext, { dryRun });
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

/** A webhooks file (`ferry webhooks run`) rather than a pipeline: its letters are events to send again. */
async function isWebhooksFile(file: string): Promise<boolean> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const { isWebhooksText } = await import('../internal/webhooks-dlq.js');
  return isWebhooksText(text);
}

async function listWebhooks(
  file: string,
  opts: { json: boolean; limit?: number; subscription?: string },
  ctx: CommandContext,
): Promise<void> {
  const { listWebhookLetters } = await import('../internal/webhooks-dlq.js');
  const letters = await listWebhookLetters(file, opts.subscription);
  for (const { subscription, letter, id } of letters.slice(0, opts.limit ?? letters.length)) {
    if (opts.json) ctx.io.out(JSON.stringify({ id, subscription, ...letter }));
    else ctx.io.out(`${subscription}: ${describeLetter(letter)}`);
  }
  if (!opts.json) ctx.io.out(`${letters.length} dead letter${letters.length === 1 ? '' : 's'} pending`);
}

async function replayWebhooks(
  file: string,
  opts: { dryRun: boolean; subscription?: string },
  ctx: CommandContext,
): Promise<void> {
  const { replayWebhookLetters } = await import('../internal/webhooks-dlq.js');
  for (const result of await replayWebhookLetters(file, opts)) {
    for (const { letter, code, message } of result.failed)
      ctx.io.out(`still failing: ${result.subscription}: ${describeLetter(letter)} -> ${code}: ${message}`);
    for (const letter of result.unsendable)
      ctx.io.out(`not an event, left: ${result.subscription}: ${describeLetter(letter)}`);
    const n = result.delivered.length;
    ctx.io.out(
      `${result.subscription}: ${opts.dryRun ? 'would send' : 'delivered'} ${n} dead letter${n === 1 ? '' : 's'}; ` +
        `${result.failed.length + result.unsendable.length} left in the dead-letter store`,
    );
    if (result.failed.length > 0) ctx.setExit(1);
  }
}

function describeLetter(letter: DeadLetter): string {
  return (
    `${letter.failedAt} ${letter.stage} ${letter.code} ${letter.stream} ${stableStringify(letter.origin)} ` +
    `attempts=${letter.attempts}: ${letter.message}`
  );
}
