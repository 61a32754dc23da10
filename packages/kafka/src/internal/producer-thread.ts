// The worker-thread side of the threaded producer (threaded.ts): a kafkajs producer in a thread of its own,
// so kafkajs's encoding of record batches and its network handling run beside the pipeline (on the second
// core), not between its batches. It answers the parent's send and close requests in the order they come.
import { parentPort, workerData } from 'node:worker_threads';
import { type Logger, silentLogger } from '@ferry/core/sdk';
import type { KafkaConnectionConfig } from '../config.js';
import { classifyKafkaError, KafkaError } from '../errors.js';
import { createKafkaJsTransport } from './kafkajs.js';
import type { OutMessage, ProducerOptions, TopicMessages } from './transport.js';

export interface ThreadStart {
  connection: KafkaConnectionConfig;
  options: ProducerOptions;
}

export type ThreadRequest = { id: number; send: TopicMessages[] } | { id: number; close: true };

export interface ThreadError {
  code: string;
  message: string;
  retryable: boolean;
  details: Record<string, unknown>;
  retryAfterMs?: number;
}

export type ThreadReply = { id: number; error?: ThreadError } | { log: 'warn' | 'error'; message: string };

const port = parentPort;
if (port === null) throw new TypeError('producer-thread.js runs only as a worker thread');
const { connection, options } = workerData as ThreadStart;

/** kafkajs's own lines go to the parent's logger at warn and above; the rest is detail. */
const forward = (level: 'warn' | 'error') => (object: unknown, message?: string) =>
  port.postMessage({ log: level, message: message ?? String(object) } satisfies ThreadReply);
const logger: Logger = Object.assign(silentLogger(), { warn: forward('warn'), error: forward('error') });

const producer = createKafkaJsTransport(connection, logger).producer(options);

/** A structured clone turns a Buffer value into a Uint8Array: kafkajs wants a Buffer or a string. */
function revived(batches: TopicMessages[]): TopicMessages[] {
  for (const batch of batches) {
    for (const message of batch.messages as OutMessage[]) {
      const value: unknown = message.value;
      if (value instanceof Uint8Array && !Buffer.isBuffer(value))
        message.value = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    }
  }
  return batches;
}

function described(error: unknown): ThreadError {
  const failure =
    error instanceof KafkaError
      ? error
      : classifyKafkaError(error, { operation: 'send', brokers: connection.brokers });
  return {
    code: failure.code,
    message: failure.message,
    retryable: failure.retryable,
    details: failure.details,
    ...(failure.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {}),
  };
}

// One request at a time, in order: the idempotent producer keeps one request in flight anyway, and order
// across sends is what the pipeline's per-key order rests on.
let chain: Promise<void> = Promise.resolve();
port.on('message', (request: ThreadRequest) => {
  chain = chain.then(async () => {
    try {
      const ready = await producer;
      if ('close' in request) {
        await ready.close();
        port.postMessage({ id: request.id } satisfies ThreadReply);
        port.close();
        return;
      }
      await ready.send(revived(request.send));
      port.postMessage({ id: request.id } satisfies ThreadReply);
    } catch (error) {
      port.postMessage({ id: request.id, error: described(error) } satisfies ThreadReply);
    }
  });
});
