// `ferry webhooks run|status <webhooks.yaml>`: deliver canonical events from Kafka topics to subscribers'
// HTTPS endpoints, signed (Standard Webhooks), in order per subject, retried and dead-lettered
// (@ferry/webhooks, docs/webhooks.md); and what each subscription has done so far.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { Option } from 'commander';
import type { WebhooksStatusFile } from '../internal/webhooks-run.js';
import type { CommandContext } from './context.js';

export function registerWebhooksCommands(program: Command, ctx: CommandContext): void {
  const webhooks = program
    .command('webhooks')
    .description('Deliver canonical events to subscribers’ endpoints as signed webhooks (docs/webhooks.md).');
  webhooks
    .command('run')
    .description(
      'Read the Kafka topics through a consumer group per subscription and deliver each event to the subscriptions that select it.',
    )
    .argument('<config>', 'the webhooks YAML file (webhooks.yaml)')
    .addOption(
      new Option('--log-level <level>', 'log level for the JSON logs on stderr')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default(process.env.FERRY_LOG_LEVEL ?? 'info'),
    )
    .action(async (file: string, opts: { logLevel: string }) => {
      const { runWebhooks } = await import('../internal/webhooks-run.js');
      await runWebhooks(file, opts, ctx);
    });
  webhooks
    .command('status')
    .description(
      'Per subscription: delivered, dead-lettered, retries, pending, oldest undelivered, paused, circuit.',
    )
    .argument('<config>', 'the webhooks YAML file (webhooks.yaml)')
    .option('--json', 'print the status file as JSON', false)
    .action(async (file: string, opts: { json: boolean }) => {
      const [{ loadWebhooksFile }, { statusFileOf }] = await Promise.all([
        import('@ferry/webhooks'),
        import('../internal/webhooks-run.js'),
      ]);
      const { config } = await loadWebhooksFile(file);
      const path = statusFileOf(config);
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch {
        ctx.io.out(
          opts.json
            ? JSON.stringify({ webhooks: config.webhooks, subscriptions: {} })
            : `${config.webhooks}: no status yet (${path}); is \`ferry webhooks run\` running?`,
        );
        return;
      }
      if (opts.json) {
        ctx.io.out(text.trim());
        return;
      }
      const status = JSON.parse(text) as WebhooksStatusFile;
      ctx.io.out(`${status.webhooks}: pid ${status.pid}, updated ${status.updatedAt}`);
      for (const [name, s] of Object.entries(status.subscriptions))
        ctx.io.out(
          `  ${name}: ${s.delivered} delivered, ${s.deadLettered} dead-lettered, ${s.retries} retries, ${s.pending} pending (oldest ${Math.round(s.oldestPendingMs / 1000)} s), circuit ${s.circuit}${s.paused ? `, PAUSED: ${s.pausedReason}` : ''}${s.state === 'failed' ? `, FAILED: ${s.error?.code}: ${s.error?.message}` : ''}`,
        );
    });
}
