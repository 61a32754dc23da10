// A kafkajs producer in a worker thread (producer-thread.ts) behind the same ProducerTransport: the
// pipeline's thread hands each send over and waits for its acknowledgement, while kafkajs's encoding,
// compression and network work run on another core. Plain (at-least-once) produce only: a transaction
// stays on the pipeline's thread, where its sends and commit are ordered with the checkpoint.
import { Worker } from 'node:worker_threads';
import type { Logger } from '@ferry/core/sdk';
import type { KafkaConnectionConfig } from '../config.js';
import { KafkaError, KafkaErrorCodes } from '../errors.js';
import type { ThreadReply, ThreadRequest, ThreadStart } from './producer-thread.js';
import type { ProducerOptions, ProducerTransport, TopicMessages } from './transport.js';

/** The worker's script: the built file beside this one; under vitest, which runs the sources, the build's. */
function threadScript(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts')
    ? new URL('../../dist/internal/producer-thread.js', here)
    : new URL('./producer-thread.js', here);
}

interface Pending {
  resolve: () => void;
  reject: (error: Error) => void;
}

export async function threadedProducer(
  connection: KafkaConnectionConfig,
  options: ProducerOptions,
  logger: Logger,
): Promise<ProducerTransport> {
  if (options.transactionalId !== undefined) {
    throw new TypeError(
      'a threaded producer has no transactions: exactly-once produces on the pipeline thread',
    );
  }
  const log = logger.child({ component: 'kafka-producer-thread' });
  const start: ThreadStart = { connection, options };
  const worker = new Worker(threadScript(), { workerData: start });
  const pending = new Map<number, Pending>();
  let next = 0;
  let ended: Error | undefined;

  const endAll = (error: Error) => {
    ended ??= error;
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  };
  worker.on('message', (reply: ThreadReply) => {
    if ('log' in reply) {
      log[reply.log](reply.message);
      return;
    }
    const waiting = pending.get(reply.id);
    if (waiting === undefined) return;
    pending.delete(reply.id);
    if (reply.error === undefined) {
      waiting.resolve();
      return;
    }
    const { code, message, retryable, details, retryAfterMs } = reply.error;
    waiting.reject(
      new KafkaError(code, message, {
        retryable,
        details,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      }),
    );
  });
  worker.on('error', (error) => {
    endAll(
      new KafkaError(
        KafkaErrorCodes.KAFKA_BROKER_UNAVAILABLE,
        `the Kafka producer thread failed: ${error.message}`,
        {
          retryable: true,
          cause: error,
          details: { operation: 'send', brokers: connection.brokers },
        },
      ),
    );
  });
  worker.on('exit', (code) => {
    endAll(
      new KafkaError(
        KafkaErrorCodes.KAFKA_BROKER_UNAVAILABLE,
        `the Kafka producer thread ended (exit ${code})`,
        {
          retryable: true,
          details: { operation: 'send', brokers: connection.brokers },
        },
      ),
    );
  });

  const ask = (request: Omit<ThreadRequest, 'id'>) =>
    new Promise<void>((resolve, reject) => {
      if (ended !== undefined) {
        reject(ended);
        return;
      }
      const id = next;
      next += 1;
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...request, id });
    });

  return {
    send: (batches: TopicMessages[]) => ask({ send: batches }),
    async transaction() {
      throw new TypeError('a threaded producer has no transactions');
    },
    async close() {
      if (ended === undefined) await ask({ close: true }).catch(() => undefined);
      await worker.terminate();
    },
  };
}
