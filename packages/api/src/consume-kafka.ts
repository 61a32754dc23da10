// Kafka topics of canonical events (either CloudEvents binding, decoded as @ferry/kafka writes them) into the
// entity store, through a consumer group reading read_committed: events of aborted or open transactions are
// never applied. The store, not Kafka, holds the truth of where the consumer is: each batch's next offset per
// `<topic>/<partition>` is saved with the state in one transaction, and every assigned partition is sought
// to that offset before it is fetched. Kafka's own committed offsets are written only for monitoring (lag).
import type { CanonicalEvent, DeadLetter, Logger } from '@ferry/core';
import {
  ConsumerStop,
  decodeEvent,
  groupConsumer,
  messageHeaders,
  messageRecord,
  runGroupConsumer,
} from '@ferry/kafka';
import type { Batch, EachBatchPayload, KafkaMessage } from 'kafkajs';
import {
  addFigures,
  batchSizeOf,
  ConsumeError,
  type ConsumeOptions,
  type ConsumeReport,
  cloudEventProblem,
  invalidRecordLetter,
  noFigures,
  report,
} from './consume.js';
import type { EntityStore } from './store.js';

export interface KafkaConsumeOptions extends ConsumeOptions {
  /** Bootstrap brokers, as host:port. */
  brokers: readonly string[];
  topics: readonly string[];
  /** The consumer group that shares the topics' partitions between the instances of this consumer. */
  groupId: string;
  /** Client id the brokers see (default `ferry-api`). */
  clientId?: string;
  /** Stops the consumer after the batch in hand and leaves the group. */
  signal: AbortSignal;
  /** Longest a fetch waits for new messages (default 500 ms); a stop waits for the fetch in flight. */
  maxWaitMs?: number;
  /** Where kafkajs's own log lines go, at debug level (default nowhere). */
  logger?: Logger;
}

/** A fetch that keeps not starting at the store's offset after this many seeks means the offset is gone. */
const SEEKS_BEFORE_GIVING_UP = 3;

/** The offset a fetch asked for: kafkajs keeps it on the batch but leaves it out of its types. */
type FetchedBatch = Batch & { fetchedOffset?: string };

/**
 * Consume the topics into the store until `signal` aborts; resolves then with the figures of this run and the
 * store's positions for the topics. A Kafka failure rejects with a KafkaError (retryable when trying again can
 * help: call again, the consumer resumes from the store's positions); a message that is not a CloudEvent
 * rejects with API_STREAM_INVALID unless `deadLetters` is given.
 */
export async function consumeKafka(store: EntityStore, options: KafkaConsumeOptions): Promise<ConsumeReport> {
  const batchSize = batchSizeOf(options);
  const { consumer: name, brokers, topics, groupId, signal, deadLetters } = options;
  if (topics.length === 0) throw new RangeError('topics must name at least one topic');
  const total = noFigures();
  const finish = async () => ({ ...total, positions: ownPositions(await store.positions(name), topics) });
  if (signal.aborted) return finish();

  const client = groupConsumer({
    brokers,
    clientId: options.clientId ?? 'ferry-api',
    groupId,
    ...(options.maxWaitMs === undefined ? {} : { maxWaitMs: options.maxWaitMs }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  const stop = new ConsumerStop(signal);

  /** Per assigned partition, the offset the store says comes next; undefined: the beginning of the log. */
  const expected = new Map<string, bigint | undefined>();
  /** Per partition, the next offset of the last batch this process committed to the store. */
  const appliedHere = new Map<string, bigint>();
  /** Partitions sought again because a fetch did not start at the expected offset: that offset and how often. */
  const reseeks = new Map<string, { offset: bigint; times: number }>();
  let generation = 0;

  // Positions come from the store at every assignment (another instance may have moved a partition on). The
  // partitions stay paused until they are sought there, so nothing is fetched from Kafka's own offsets.
  const positionAt = async (mine: number, assigned: { topic: string; partitions: number[] }[]) => {
    const stored = await store.positions(name);
    if (mine !== generation) return;
    for (const { topic, partitions } of assigned) {
      for (const partition of partitions) {
        const key = partitionKey(topic, partition);
        const at = stored[key];
        if (at !== undefined && !/^\d{1,19}$/.test(at)) {
          throw new ConsumeError(
            'API_STREAM_POSITION_INVALID',
            `the store's position for ${key} is "${at}", not a Kafka offset; reset the consumer's positions`,
            { details: { topic, partition, position: at } },
          );
        }
        // A batch of the previous assignment may have committed after the store was read (PostgreSQL runs
        // it on another connection): the later of the two offsets.
        const mineAt = appliedHere.get(key);
        const next =
          at === undefined ? mineAt : mineAt !== undefined && mineAt > BigInt(at) ? mineAt : BigInt(at);
        expected.set(key, next);
        // Offset 0 for a partition never read: when retention has moved the log's start past it, the broker
        // answers out of range and kafkajs resets to the earliest offset (fromBeginning).
        client.seek({ topic, partition, offset: next === undefined ? '0' : String(next) });
      }
    }
    client.resume(assigned);
  };
  client.on(client.events.GROUP_JOIN, ({ payload }) => {
    generation += 1;
    const assigned = Object.entries(payload.memberAssignment).map(([topic, partitions]) => ({
      topic,
      partitions,
    }));
    expected.clear();
    reseeks.clear();
    client.pause(assigned);
    positionAt(generation, assigned).catch((error) => stop.fail(error));
  });

  const eachBatch = async ({
    batch,
    resolveOffset,
    heartbeat,
    commitOffsetsIfNecessary,
    isStale,
  }: EachBatchPayload) => {
    const { topic, partition } = batch;
    const key = partitionKey(topic, partition);
    if (stop.stopping || isStale() || !expected.has(key)) return;
    const fetched = (batch as FetchedBatch).fetchedOffset;
    const next = expected.get(key);
    if (next !== undefined && fetched !== undefined && BigInt(fetched) !== next) {
      // Not where the store is (a fetch from before the seek): seek there again. When Kafka keeps serving
      // another offset, the store's offset is no longer in the log.
      const seen = reseeks.get(key);
      const times = seen?.offset === next ? seen.times + 1 : 1;
      if (times > SEEKS_BEFORE_GIVING_UP) {
        stop.fail(offsetGone(topic, partition, next, BigInt(fetched)));
        return;
      }
      reseeks.set(key, { offset: next, times });
      client.seek({ topic, partition, offset: String(next) });
      return;
    }
    reseeks.delete(key);
    const messages = batch.messages;
    let position = next;
    for (let from = 0; from < messages.length; from += batchSize) {
      if (stop.stopping) return;
      const slice = messages.slice(from, from + batchSize);
      const events: CanonicalEvent[] = [];
      const letters: DeadLetter[] = [];
      let invalid: { message: KafkaMessage; reason: string } | undefined;
      for (const message of slice) {
        const decoded = decode(message);
        if ('event' in decoded) {
          events.push(decoded.event);
          continue;
        }
        const where = `topic ${topic} partition ${partition} offset ${message.offset}`;
        if (deadLetters === undefined) {
          invalid = { message, reason: decoded.reason };
          break;
        }
        letters.push(
          invalidRecordLetter(
            name,
            key,
            `${where} is not a CloudEvent (${decoded.reason})`,
            messageRecord(message),
            {
              topic,
              partition,
              offset: message.offset,
            },
          ),
        );
      }
      // The next offset: the invalid message's own (it is read again), the end of the fetched batch (past
      // any transaction markers and aborted records it held), or the message after the slice.
      const reached = BigInt(
        invalid !== undefined
          ? invalid.message.offset
          : from + batchSize >= messages.length
            ? batch.lastOffset()
            : slice.at(-1)!.offset,
      );
      const after = invalid !== undefined ? reached : reached + 1n;
      if (events.length > 0 || letters.length > 0 || after !== position) {
        try {
          // Letters before the position passes them: after a crash in between they are written again.
          if (letters.length > 0) await deadLetters!.write(letters);
          const result = await store.apply(name, events, { [key]: String(after) });
          const figures = { events: events.length, ...result, deadLettered: letters.length, batches: 1 };
          addFigures(total, figures);
          report(options, { ...figures, positions: { [key]: String(after) } });
        } catch (error) {
          stop.fail(error);
          return;
        }
        position = after;
        expected.set(key, after);
        appliedHere.set(key, after);
      }
      if (invalid !== undefined) {
        stop.fail(
          new ConsumeError(
            'API_STREAM_INVALID',
            `topic ${topic} partition ${partition} offset ${invalid.message.offset} is not a CloudEvent ` +
              `(${invalid.reason}); the events before it are applied and the consumer stopped at it. Remove ` +
              'it from the stream (or skip it by setting the position), or give the consumer a dead-letter sink',
            { details: { topic, partition, offset: invalid.message.offset } },
          ),
        );
        return;
      }
      resolveOffset(String(reached));
      // A rebalance shows here as an error: kafkajs re-joins, and the partitions are sought from the store.
      await heartbeat();
    }
    if (position !== undefined) {
      // For monitoring only (consumer lag); nothing reads them back, so a failed commit changes nothing.
      await commitOffsetsIfNecessary({
        topics: [{ topic, partitions: [{ partition, offset: String(position) }] }],
      }).catch(() => undefined);
    }
  };

  await runGroupConsumer(client, stop, { brokers, topics, eachBatch });
  return finish();
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}

/** The store's positions of these topics' partitions. */
function ownPositions(positions: Record<string, string>, topics: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    Object.entries(positions).filter(([key]) => topics.includes(key.slice(0, key.lastIndexOf('/')))),
  );
}

/** The message as the CloudEvents binding decodes it (@ferry/kafka's decodeEvent), checked. */
function decode(message: KafkaMessage): { event: CanonicalEvent } | { reason: string } {
  let event: CanonicalEvent;
  try {
    event = decodeEvent({ value: message.value, headers: messageHeaders(message) });
  } catch (error) {
    return { reason: `not valid JSON in either binding: ${(error as Error).message}` };
  }
  const reason = cloudEventProblem(event);
  return reason === undefined ? { event } : { reason };
}

function offsetGone(topic: string, partition: number, next: bigint, fetched: bigint): ConsumeError {
  const why =
    fetched > next
      ? 'the records in between were deleted (retention) before this consumer applied them'
      : 'the log ends before it (the topic was recreated or truncated)';
  return new ConsumeError(
    'API_STREAM_POSITION_INVALID',
    `the store has applied ${topic}/${partition} up to offset ${next}, but Kafka serves it from offset ` +
      `${fetched}: ${why}. Rebuild the store from the topic, or reset the consumer's positions`,
    { details: { topic, partition, position: String(next), fetched: String(fetched) } },
  );
}
