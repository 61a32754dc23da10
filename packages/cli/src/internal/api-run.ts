// What `ferry api` runs: the store opened, one consumer per configured stream feeding it (restarted with
// backoff after a retryable failure), and the HTTP server over it; SIGINT/SIGTERM stops the consumers after
// the batch in hand, closes the server and the store. Imported when the command runs, so the CLI's start does
// not load fastify, typeorm or kafkajs.
import {
  type ApiConfig,
  buildApiServer,
  type ConsumeReport,
  collectionsOf,
  consumeFileLog,
  consumeKafka,
  EntityStore,
  type Freshness,
  loadApiConfig,
} from '@ferry/api';
import { loadContractRepository } from '@ferry/contracts';
import { createLogger, createRetrier, FerryError, handleShutdownSignals, type Logger } from '@ferry/core';
import type { CommandContext } from '../commands/context.js';
import { routeConsoleToLog } from '../console.js';
import { exitCodeFor, formatError } from '../output.js';

export async function runApi(
  file: string,
  opts: { once: boolean; logLevel: string },
  ctx: CommandContext,
): Promise<void> {
  let loaded: Awaited<ReturnType<typeof loadApiConfig>>;
  try {
    loaded = await loadApiConfig(file);
  } catch (error) {
    ctx.io.err(formatError(error));
    ctx.setExit(exitCodeFor(error));
    return;
  }
  const { config, redactor } = loaded;
  const logger = createLogger({ redactor, level: opts.logLevel });
  routeConsoleToLog(logger);
  const shutdown = handleShutdownSignals((signal) =>
    logger.info({ signal }, 'stopping: finishing the batch in hand, then closing'),
  );
  let store: EntityStore | undefined;
  let server: Awaited<ReturnType<typeof buildApiServer>> | undefined;
  try {
    const repo = await loadContractRepository(config.contracts.repository);
    const collections = collectionsOf(config, repo, loaded.file);
    store = await EntityStore.open(config.store);
    const freshness: Freshness = { appliedAt: undefined, positions: await store.positions(config.api) };
    const total = { events: 0, applied: 0, duplicates: 0, stale: 0 };
    const onBatch = (batch: ConsumeReport) => {
      total.events += batch.events;
      total.applied += batch.applied;
      total.duplicates += batch.duplicates;
      total.stale += batch.stale;
      freshness.appliedAt = new Date().toISOString();
      Object.assign(freshness.positions, batch.positions);
      logger.debug({ ...batch }, 'batch applied');
    };
    if (!opts.once) {
      server = await buildApiServer({ config, collections, store, logger, freshness: () => freshness });
      const address = await server.listen({ host: config.listen.host, port: config.listen.port });
      logger.info(
        { address, collections: collections.map((c) => `/v${c.major}/${c.path}`) },
        `read API ${config.api} listening`,
      );
      if (config.auth.mode === 'none')
        logger.warn(
          { address },
          `read API is UNAUTHENTICATED (auth.mode: none): anyone who can reach ${address} reads every entity`,
        );
    }
    await Promise.all(
      config.streams.map((stream) =>
        consume(stream, config, store as EntityStore, logger, opts.once, onBatch, shutdown.signal),
      ),
    );
    ctx.io.out(
      `ferry api ${config.api}: ${total.events} events read, ${total.applied} applied, ${total.duplicates} duplicates, ${total.stale} stale`,
    );
  } catch (error) {
    ctx.io.err(formatError(error, redactor));
    ctx.setExit(exitCodeFor(error));
  } finally {
    await server?.close();
    await store?.close();
    shutdown.dispose();
  }
}

/**
 * One stream into the store until the shutdown (or, with --once, its end). A retryable failure (the broker
 * or the store unreachable) starts the consumer again with backoff, from the store's positions.
 */
function consume(
  stream: ApiConfig['streams'][number],
  config: ApiConfig,
  store: EntityStore,
  logger: Logger,
  once: boolean,
  onBatch: (batch: ConsumeReport) => void,
  signal: AbortSignal,
): Promise<ConsumeReport> {
  const run = () => {
    if ('file' in stream)
      return consumeFileLog(store, {
        consumer: config.api,
        path: stream.file,
        follow: !once,
        signal,
        onBatch,
      });
    if (once)
      throw new FerryError(
        'API_ONCE_UNSUPPORTED',
        '--once reads file event logs to their end; a Kafka stream has no end to stop at',
      );
    return consumeKafka(store, {
      consumer: config.api,
      brokers: stream.kafka.brokers,
      topics: stream.kafka.topics,
      groupId: stream.kafka.groupId,
      signal,
      onBatch,
      logger,
    });
  };
  const name = 'file' in stream ? stream.file : stream.kafka.topics.join(',');
  // Core's retrier: retryable failures only, with backoff and jitter, for as long as the API runs.
  const retrier = createRetrier({
    policy: { retries: Number.MAX_SAFE_INTEGER, maxRetryTimeMs: Number.POSITIVE_INFINITY },
    onRetry: ({ attempt, error }) =>
      logger.warn(
        { code: (error as FerryError).code, attempt, stream: name },
        `consumer failed, retrying: ${(error as Error).message}`,
      ),
  });
  return retrier.run(`consume ${name}`, run, signal).catch((error: unknown) => {
    // SIGINT/SIGTERM: the consumer stopped after its batch in hand; that is the end asked for, not a failure.
    if (signal.aborted) return stopped;
    throw error;
  });
}

const stopped: ConsumeReport = {
  events: 0,
  applied: 0,
  duplicates: 0,
  stale: 0,
  deadLettered: 0,
  batches: 0,
  positions: {},
};
