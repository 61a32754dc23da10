// Canonical topics into one subscription's dispatcher, through a consumer group of its own reading
// read_committed (events of aborted transactions are never delivered). Kafka's committed offsets are where a
// restart resumes: a partition's offset is committed only up to the first event not yet done (delivered or
// dead-lettered), so after a crash the events since are sent again, in order, with the same webhook-id.
import type { CanonicalEvent, DeadLetter, Logger } from '@ferry/core';
import {
  ConsumerStop,
  decodeEvent,
  groupConsumer,
  messageHeaders,
  messageRecord,
  runGroupConsumer,
} from '@ferry/kafka';
import type { EachBatchPayload } from 'kafkajs';
import type { Dispatcher, Outcome } from './dispatcher.js';
import { WebhookError } from './errors.js';

export interface KafkaDeliveryOptions {
  brokers: readonly string[];
  topics: readonly string[];
  groupId: string;
  clientId: string;
  /** Stops reading; deliveries under way are abandoned (not committed, so sent again on restart). */
  signal: AbortSignal;
  /** Where messages that are not CloudEvents go (stage `source`), so they do not stop the others. */
  deadLetters: (letters: DeadLetter[]) => Promise<void>;
  /** How often the offsets of what is done are committed while a batch is delivered (default 500 ms). */
  commitIntervalMs?: number;
  logger?: Logger;
}

/** One message of a batch on its way: done once its event is delivered, dead-lettered or not selected. */
interface InFlight {
  offset: bigint;
  done: boolean;
}

/**
 * Deliver the topics' events until `signal` aborts. A Kafka failure rejects with a KafkaError (retryable when
 * trying again can help: call again, delivery resumes from the committed offsets).
 */
export async function deliverFromKafka(dispatcher: Dispatcher, options: KafkaDeliveryOptions): Promise<void> {
  const { brokers, topics, groupId, signal } = options;
  if (signal.aborted) return;
  const log = options.logger;
  const consumer = groupConsumer({
    brokers,
    clientId: options.clientId,
    groupId,
    // A runner killed outright gets its partitions back (or gives them to another instance) 10 s later.
    sessionTimeoutMs: 10_000,
    ...(log === undefined ? {} : { logger: log }),
  });
  const stop = new ConsumerStop(signal);
  const commitEvery = options.commitIntervalMs ?? 500;

  const eachBatch = async ({ batch, resolveOffset, heartbeat, isStale }: EachBatchPayload) => {
    const { topic, partition } = batch;
    const inFlight: InFlight[] = [];
    const outcomes: Promise<Outcome | undefined>[] = [];
    let committed = -1n;
    /** Commit up to the first message not done; `end` once the whole batch is (past control records). */
    const commit = async (end?: bigint) => {
      const first = inFlight.find((m) => !m.done);
      const offset = first?.offset ?? end ?? (inFlight.at(-1)?.offset ?? -1n) + 1n;
      if (offset <= committed || offset < 0n) return;
      committed = offset;
      await consumer
        .commitOffsets([{ topic, partition, offset: String(offset) }])
        .catch((error) => log?.warn({ err: error, topic, partition }, 'webhooks: offset commit failed'));
    };
    // Deliveries can take long (retries, a paused subscription): stay in the group meanwhile.
    const beat = setInterval(() => {
      heartbeat().catch(() => undefined);
      void commit();
    }, commitEvery);
    try {
      for (const message of batch.messages) {
        if (stop.stopping || isStale()) break;
        const entry: InFlight = { offset: BigInt(message.offset), done: false };
        inFlight.push(entry);
        const origin = { topic, partition, offset: message.offset };
        let event: CanonicalEvent;
        try {
          event = decodeEvent({ value: message.value, headers: messageHeaders(message) });
          const problem = eventProblem(event);
          if (problem !== undefined) throw new Error(problem);
        } catch (error) {
          await options.deadLetters([invalidLetter(dispatcher.name, topic, message, origin, error)]);
          entry.done = true;
          resolveOffset(message.offset);
          continue;
        }
        const { done } = await dispatcher.enqueue(event, origin);
        outcomes.push(
          done.then(
            (outcome) => {
              entry.done = true;
              return outcome;
            },
            () => undefined,
          ),
        );
        resolveOffset(message.offset);
      }
      await Promise.all(outcomes);
      if (inFlight.every((m) => m.done) && !isStale()) await commit(BigInt(batch.lastOffset()) + 1n);
      else await commit();
    } finally {
      clearInterval(beat);
    }
  };

  await runGroupConsumer(consumer, stop, { brokers, topics, eachBatch, partitionsConsumedConcurrently: 16 });
}

/** Why a decoded message is not an event a subscriber can be sent (undefined when it is). */
function eventProblem(event: CanonicalEvent): string | undefined {
  if (typeof event !== 'object' || event === null) return 'not a JSON object';
  if (event.specversion !== '1.0') return `specversion is ${JSON.stringify(event.specversion)}, not "1.0"`;
  for (const name of ['id', 'source', 'type'] as const)
    if (typeof event[name] !== 'string' || event[name] === '') return `${name} is missing or empty`;
  return undefined;
}

function invalidLetter(
  subscription: string,
  topic: string,
  message: Parameters<typeof messageRecord>[0],
  origin: Record<string, unknown>,
  error: unknown,
): DeadLetter {
  const reason = new WebhookError(
    'WEBHOOK_EVENT_INVALID',
    `topic ${topic} partition ${String(origin.partition)} offset ${String(origin.offset)} is not a CloudEvent (${(error as Error).message}); it is kept here and the subscription goes on`,
  );
  return {
    pipeline: `webhooks/${subscription}`,
    stream: topic,
    stage: 'source',
    code: reason.code,
    message: reason.message,
    retryable: false,
    record: messageRecord(message),
    origin,
    attempts: 1,
    failedAt: new Date().toISOString(),
  };
}
