// The event side of `ferry reconcile`: CloudEvents from a file event log (`.ferry/events/<topic>.jsonl`) or
// a Kafka topic read from the beginning with read_committed isolation, streamed in the order they were
// written (per subject, which is per Kafka partition since the subject is the message key).
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { type CanonicalEvent, FerryError } from '@ferry/core';
import { decodeEvent } from '@ferry/kafka';
import { Kafka, logLevel } from 'kafkajs';
import { lineBatches } from './reconcile-lines.js';

export type StreamSpec =
  | { kind: 'file'; path: string }
  | { kind: 'kafka'; topic: string; brokers: string[]; idleMs: number; timeoutMs: number };

export function describeStream(spec: StreamSpec): string {
  return spec.kind === 'file' ? `file ${spec.path}` : `kafka ${spec.brokers.join(',')} topic ${spec.topic}`;
}

/** The events, in batches, in the order they were written. */
export function readEvents(spec: StreamSpec): AsyncIterable<CanonicalEvent[]> {
  return spec.kind === 'file' ? readFileLog(resolve(spec.path)) : readKafka(spec);
}

async function* readFileLog(path: string): AsyncIterable<CanonicalEvent[]> {
  let line = 0;
  try {
    for await (const { first, lines } of lineBatches(path)) {
      const events: CanonicalEvent[] = [];
      for (let i = 0; i < lines.length; i += 1) {
        line = first + i;
        if (lines[i]!.trim() !== '') events.push(JSON.parse(lines[i]!) as CanonicalEvent);
      }
      yield events;
    }
  } catch (error) {
    throw new FerryError(
      'RECONCILE_STREAM_FAILED',
      `event log ${path}${line > 0 ? `:${line}` : ''}: ${(error as Error).message}`,
      { cause: error, details: { path, line } },
    );
  }
}

/**
 * Read the topic up to the end it had when the read started. A partition is finished when its last
 * message before that end has arrived; transaction markers and aborted records never arrive, so a
 * partition that stays silent for `idleMs` is finished too.
 */
async function* readKafka(spec: Extract<StreamSpec, { kind: 'kafka' }>): AsyncIterable<CanonicalEvent[]> {
  const kafka = new Kafka({
    brokers: spec.brokers,
    clientId: 'ferry-reconcile',
    logLevel: logLevel.NOTHING,
    retry: { retries: 2 },
  });
  const admin = kafka.admin();
  const fail = (error: unknown) =>
    new FerryError('RECONCILE_STREAM_FAILED', `${describeStream(spec)}: ${(error as Error).message}`, {
      cause: error,
      retryable: true,
    });
  const ends = new Map<number, bigint>();
  try {
    await admin.connect();
    for (const p of await admin.fetchTopicOffsets(spec.topic)) {
      if (BigInt(p.high) > BigInt(p.low)) ends.set(p.partition, BigInt(p.high));
    }
  } catch (error) {
    throw fail(error);
  } finally {
    await admin.disconnect();
  }
  if (ends.size === 0) return;

  // No group offsets are committed: the reader leaves nothing behind on the broker but an empty group.
  const consumer = kafka.consumer({
    groupId: `ferry-reconcile-${randomBytes(6).toString('hex')}`,
    readUncommitted: false,
    maxWaitTimeInMs: 250,
  });
  // A bounded hand-off between the consumer's callback and this generator, so a slow store pauses fetching.
  const queue: CanonicalEvent[][] = [];
  let wake: (() => void) | undefined;
  let resume: (() => void) | undefined;
  let failure: unknown;
  let lastActivity = Date.now();
  let joined = false;
  const started = Date.now();
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  try {
    // Idleness counts from the group join: joining alone takes seconds.
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = true;
      lastActivity = Date.now();
    });
    consumer.on(consumer.events.CRASH, (event) => {
      failure = event.payload.error;
      notify();
    });
    await consumer.connect();
    await consumer.subscribe({ topic: spec.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat }) => {
        const end = ends.get(batch.partition);
        const events: CanonicalEvent[] = [];
        for (const message of batch.messages) {
          if (end === undefined || BigInt(message.offset) >= end) break;
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
          events.push(decodeEvent({ value: message.value, headers }));
          if (BigInt(message.offset) + 1n >= end) ends.delete(batch.partition);
        }
        lastActivity = Date.now();
        if (events.length > 0) queue.push(events);
        notify();
        while (queue.length > 8) {
          await new Promise<void>((r) => {
            resume = r;
          });
          await heartbeat();
        }
      },
    });
    for (;;) {
      const events = queue.shift();
      if (events) {
        resume?.();
        resume = undefined;
        yield events;
        continue;
      }
      if (failure !== undefined) throw fail(failure);
      if (ends.size === 0) return;
      if (joined && Date.now() - lastActivity > spec.idleMs) return;
      if (Date.now() - started > spec.timeoutMs) {
        throw new FerryError(
          'RECONCILE_STREAM_FAILED',
          `${describeStream(spec)}: the topic was not read to its end within ${spec.timeoutMs} ms`,
          { retryable: true },
        );
      }
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 100);
      });
    }
  } catch (error) {
    throw error instanceof FerryError ? error : fail(error);
  } finally {
    resume?.();
    await consumer.disconnect();
  }
}
