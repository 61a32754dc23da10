// What `ferry webhooks run` runs: a WebhooksRunner (@ferry/webhooks) for the file, and a status file
// refreshed every second for `ferry webhooks status`. SIGINT/SIGTERM stops reading; deliveries under way are
// not committed, so a restart sends them again with the same webhook-id. Imported when the command runs.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createLogger, handleShutdownSignals } from '@ferry/core';
import {
  loadWebhooksFile,
  type SubscriptionStatus,
  type WebhooksFile,
  WebhooksRunner,
} from '@ferry/webhooks';
import type { CommandContext } from '../commands/context.js';
import { routeConsoleToLog } from '../console.js';
import { exitCodeFor, formatError } from '../output.js';

/** What `ferry webhooks status` reads. */
export interface WebhooksStatusFile {
  webhooks: string;
  pid: number;
  updatedAt: string;
  /** Each subscription's status (`WebhooksRunner.list()`) without its name, the key. */
  subscriptions: Record<string, Omit<SubscriptionStatus, 'name'>>;
}

/** Where a runner keeps its status: next to its dead letters. */
export function statusFileOf(config: WebhooksFile): string {
  return join(config.deadLetters.dir, `webhooks_${config.webhooks}.status.json`);
}

export async function runWebhooks(
  file: string,
  opts: { logLevel: string },
  ctx: CommandContext,
): Promise<void> {
  let loaded: Awaited<ReturnType<typeof loadWebhooksFile>>;
  try {
    loaded = await loadWebhooksFile(file);
  } catch (error) {
    ctx.io.err(formatError(error));
    ctx.setExit(exitCodeFor(error));
    return;
  }
  const { config, redactor } = loaded;
  const logger = createLogger({ redactor, level: opts.logLevel });
  routeConsoleToLog(logger);
  const shutdown = handleShutdownSignals((signal) =>
    logger.info({ signal }, 'stopping: deliveries under way are sent again on restart'),
  );
  const runner = new WebhooksRunner(config, { logger });
  const writeStatus = async () => {
    const status: WebhooksStatusFile = {
      webhooks: config.webhooks,
      pid: process.pid,
      updatedAt: new Date().toISOString(),
      subscriptions: Object.fromEntries(runner.list().map(({ name, ...s }) => [name, s])),
    };
    const path = statusFileOf(config);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(`${path}.tmp`, `${JSON.stringify(status, null, 2)}\n`);
    await rename(`${path}.tmp`, path);
  };
  const ticker = setInterval(() => {
    writeStatus().catch((error) => logger.warn({ err: error }, 'webhooks: cannot write the status file'));
  }, 1000);
  try {
    await runner.run(shutdown.signal);
    await writeStatus();
    for (const s of runner.list())
      ctx.io.out(
        `ferry webhooks ${s.name}: ${s.delivered} delivered, ${s.deadLettered} dead-lettered, ${s.retries} retries`,
      );
  } catch (error) {
    ctx.io.err(formatError(error, redactor));
    ctx.setExit(exitCodeFor(error));
  } finally {
    clearInterval(ticker);
    await runner.close();
    shutdown.dispose();
  }
}
