// The event side of `ferry reconcile`: CloudEvents from a file event log (`.ferry/events/<topic>.jsonl`) or
// a Kafka topic read from the beginning with read_committed isolation, streamed in the order they were
// written (per subject, which is per Kafka partition since the subject is the message key).
import { resolve } from 'node:path';
import { type CanonicalEvent, ConfigError, FerryError } from '@ferry/core';
import { KafkaError, readKafkaEvents } from '@ferry/kafka';
import { lineBatches } from './reconcile-lines.js';
import { usage } from './reconcile-usage.js';

export type StreamSpec =
  | { kind: 'file'; path: string }
  | { kind: 'kafka'; topic: string; brokers: string[]; timeoutMs: number };

export function describeStream(spec: StreamSpec): string {
  return spec.kind === 'file' ? `file ${spec.path}` : `kafka ${spec.brokers.join(',')} topic ${spec.topic}`;
}

/**
 * Apply every event, in the order they were written. `apply` runs as each event is read (the next read
 * waits for it), so memory holds one batch whatever the size of the stream.
 */
export async function forEachEvent(
  spec: StreamSpec,
  apply: (event: CanonicalEvent, position?: { partition: number; offset: string }) => void,
): Promise<void> {
  if (spec.kind === 'kafka') return readKafka(spec, apply);
  for await (const events of readFileLog(resolve(spec.path))) for (const event of events) apply(event);
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

/** The topic up to the end it had when the read started (read_committed), through @ferry/kafka. */
async function readKafka(
  spec: Extract<StreamSpec, { kind: 'kafka' }>,
  apply: (event: CanonicalEvent, position?: { partition: number; offset: string }) => void,
): Promise<void> {
  try {
    await readKafkaEvents(
      { brokers: spec.brokers, clientId: 'ferry-reconcile', topic: spec.topic, timeoutMs: spec.timeoutMs },
      apply,
    );
  } catch (error) {
    if (error instanceof ConfigError) {
      const path = error.issues[0]?.path ?? '';
      const flag = path.startsWith('kafka.topic')
        ? '--kafka-topic'
        : path.startsWith('kafka.timeoutMs')
          ? '--timeout-ms'
          : '--brokers';
      throw usage(flag, error.issues.map((issue) => `${issue.path}: ${issue.message}`).join('; '));
    }
    // Kafka's own code says what went wrong and whether trying again can help; the command's code stays
    // the one its users script against. An error of the comparison itself passes through.
    if (!(error instanceof KafkaError)) throw error;
    throw new FerryError('RECONCILE_STREAM_FAILED', `${describeStream(spec)}: ${error.message}`, {
      cause: error,
      retryable: error.retryable,
      details: { code: error.code },
    });
  }
}
