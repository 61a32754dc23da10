// What `ferry webhooks run` runs: per subscription a dispatcher fed by a consumer group of its own (restarted
// with backoff after a retryable Kafka failure), its dead letters in the file dead-letter place, and a status
// file refreshed every second for `ferry webhooks status`. SIGINT/SIGTERM stops reading; deliveries under way
// are not committed, so a restart sends them again with the same webhook-id. Imported when the command runs.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  createFileDeadLetterSink,
  createLogger,
  createRetrier,
  type FerryError,
  handleShutdownSignals,
  type Logger,
} from '@ferry/core';
import {
  type DeliveryStats,
  Dispatcher,
  deliverFromKafka,
  groupOf,
  loadWebhooksFile,
  type WebhooksFile,
} from '@ferry/webhooks';
import type { CommandContext } from '../commands/context.js';
import { routeConsoleToLog } from '../console.js';
import { exitCodeFor, formatError } from '../output.js';

/** What `ferry webhooks status` reads. */
export interface WebhooksStatusFile {
  webhooks: string;
  pid: number;
  updatedAt: string;
  subscriptions: Record<string, DeliveryStats & { url: string; group: string }>;
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
  const policy = { allow: config.allow };
  const running = config.subscriptions.map((subscription) => {
    const letters = createFileDeadLetterSink({
      dir: config.deadLetters.dir,
      pipeline: `webhooks/${subscription.name}`,
    });
    const dispatcher = new Dispatcher({
      subscription,
      policy,
      deadLetters: (l) => letters.write(l),
      observer: {
        deadLettered: (name, letter) =>
          logger.warn(
            {
              subscription: name,
              code: letter.code,
              event: (letter.record as { id?: string }).id,
              ...letter.origin,
            },
            `webhook event dead-lettered: ${letter.message}`,
          ),
        paused: (name, reason) => logger.warn({ subscription: name }, `subscription paused: ${reason}`),
      },
    });
    return { subscription, dispatcher, letters };
  });
  const writeStatus = async () => {
    const status: WebhooksStatusFile = {
      webhooks: config.webhooks,
      pid: process.pid,
      updatedAt: new Date().toISOString(),
      subscriptions: Object.fromEntries(
        running.map(({ subscription, dispatcher }) => [
          subscription.name,
          { ...dispatcher.stats(), url: subscription.url, group: groupOf(config, subscription.name) },
        ]),
      ),
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
    logger.info(
      { subscriptions: running.map((r) => r.subscription.name), topics: config.kafka.topics },
      `webhooks ${config.webhooks} delivering`,
    );
    await Promise.all(
      running.map(({ subscription, dispatcher, letters }) =>
        consume(config, dispatcher, (l) => letters.write(l), logger, shutdown.signal, subscription.name),
      ),
    );
    await writeStatus();
    for (const { subscription, dispatcher } of running) {
      const s = dispatcher.stats();
      ctx.io.out(
        `ferry webhooks ${subscription.name}: ${s.delivered} delivered, ${s.deadLettered} dead-lettered, ${s.retries} retries`,
      );
    }
  } catch (error) {
    ctx.io.err(formatError(error, redactor));
    ctx.setExit(exitCodeFor(error));
  } finally {
    clearInterval(ticker);
    for (const { dispatcher, letters } of running) {
      await dispatcher.close();
      await letters.close();
    }
    shutdown.dispose();
  }
}

/** One subscription's consumer until the shutdown; a retryable failure starts it again with backoff. */
function consume(
  config: WebhooksFile,
  dispatcher: Dispatcher,
  deadLetters: Parameters<typeof deliverFromKafka>[1]['deadLetters'],
  logger: Logger,
  signal: AbortSignal,
  name: string,
): Promise<void> {
  const retrier = createRetrier({
    policy: { retries: Number.MAX_SAFE_INTEGER, maxRetryTimeMs: Number.POSITIVE_INFINITY },
    onRetry: ({ attempt, error }) =>
      logger.warn(
        { code: (error as FerryError).code, attempt, subscription: name },
        `webhooks consumer failed, retrying: ${(error as Error).message}`,
      ),
  });
  const run = () =>
    deliverFromKafka(dispatcher, {
      brokers: config.kafka.brokers,
      topics: config.kafka.topics,
      groupId: groupOf(config, name),
      clientId: `ferry-webhooks-${config.webhooks}`,
      signal,
      deadLetters,
      logger,
    });
  return retrier.run(`deliver ${name}`, run, signal).catch((error: unknown) => {
    // SIGINT/SIGTERM: stopping is what was asked, not a failure.
    if (signal.aborted) return;
    throw error;
  });
}
