// How dead letters, replay markers and checkpoints are laid out as Kafka records. The sink writes them
// inside its transactions (exactly-once) and the dead-letter and checkpoint stores read them back, so the
// layout lives once, here.
import { type DeadLetter, stableStringify, uuidV5 } from '@ferry/core/sdk';
import { DLQ_HEADERS } from '../dlq-headers.js';
import { KafkaError, KafkaErrorCodes } from '../errors.js';
import type { InMessage, OutMessage } from './transport.js';

/** A dead letter's identity: where it came from and what it was, so a re-written letter has the same id. */
export function deadLetterId(letter: DeadLetter): string {
  return uuidV5(
    stableStringify(['dlq', letter.pipeline, letter.stream, letter.stage, letter.origin, letter.record]),
  );
}

export function encodeDeadLetter(letter: DeadLetter): OutMessage {
  const id = deadLetterId(letter);
  return {
    key: id,
    value: JSON.stringify(letter),
    headers: {
      [DLQ_HEADERS.id]: id,
      [DLQ_HEADERS.kind]: 'letter',
      [DLQ_HEADERS.code]: letter.code,
      // Headers are for routing and dashboards; the full message is in the value.
      [DLQ_HEADERS.message]: letter.message.slice(0, 1000),
      [DLQ_HEADERS.retryable]: String(letter.retryable),
      [DLQ_HEADERS.pipeline]: letter.pipeline,
      [DLQ_HEADERS.stream]: letter.stream,
      [DLQ_HEADERS.stage]: letter.stage,
      [DLQ_HEADERS.origin]: stableStringify(letter.origin),
      [DLQ_HEADERS.attempts]: String(letter.attempts),
      [DLQ_HEADERS.failedAt]: letter.failedAt,
    },
  };
}

export interface ReplayMarker {
  id: string;
  replayedAt: string;
  events: string[];
}

/** Written after a replayed letter's events are in the sink: the letter is then no longer pending. */
export function encodeReplayMarker(letter: DeadLetter, events: string[], at = new Date()): OutMessage {
  const id = deadLetterId(letter);
  const marker: ReplayMarker = { id, replayedAt: at.toISOString(), events };
  return {
    key: id,
    value: JSON.stringify(marker),
    headers: {
      [DLQ_HEADERS.id]: id,
      [DLQ_HEADERS.kind]: 'replayed',
      [DLQ_HEADERS.pipeline]: letter.pipeline,
      [DLQ_HEADERS.stream]: letter.stream,
    },
  };
}

export type DlqRecord =
  | { kind: 'letter'; id: string; letter: DeadLetter }
  | { kind: 'replayed'; id: string; marker: ReplayMarker };

export function decodeDlqRecord(message: InMessage): DlqRecord {
  const kind = message.headers[DLQ_HEADERS.kind];
  const id = message.headers[DLQ_HEADERS.id];
  try {
    const value = JSON.parse(message.value?.toString() ?? 'null') as unknown;
    if (kind === 'replayed' && id) return { kind, id, marker: value as ReplayMarker };
    if (kind === 'letter' && id) return { kind, id, letter: value as DeadLetter };
  } catch {
    // fall through to the error below
  }
  throw new KafkaError(
    KafkaErrorCodes.KAFKA_RECORD_CORRUPT,
    `dead-letter topic ${message.topic} partition ${message.partition} offset ${message.offset} is not a Ferry dead letter`,
    { details: { topic: message.topic, partition: message.partition, offset: message.offset } },
  );
}

/**
 * Who committed a checkpoint, when owners are fenced: the worker, and the pipeline's ownership generation
 * (one more than the previous owner's, taken as a run claims the pipeline). Ordered by offset, a pipeline's
 * commits never go back to an older generation: that is what shows one owner at a time.
 */
export interface CheckpointOwner {
  worker: string;
  generation: number;
}

interface CheckpointValue {
  pipeline: string;
  position: unknown;
  savedAt: string;
  owner?: CheckpointOwner;
}

export function encodeCheckpoint(pipeline: string, position: unknown, owner?: CheckpointOwner): OutMessage {
  const value: CheckpointValue = {
    pipeline,
    position,
    savedAt: new Date().toISOString(),
    ...(owner ? { owner } : {}),
  };
  return { key: pipeline, value: JSON.stringify(value), headers: {} };
}

/** A tombstone: compaction then forgets the pipeline's position. */
export function encodeCheckpointTombstone(pipeline: string): OutMessage {
  return { key: pipeline, value: null, headers: {} };
}

export function decodeCheckpoint(
  message: InMessage,
): { pipeline: string; position: unknown; owner?: CheckpointOwner } | null {
  if (message.value === null) return null;
  try {
    const value = JSON.parse(message.value.toString()) as CheckpointValue;
    return {
      pipeline: value.pipeline,
      position: value.position,
      ...(value.owner ? { owner: value.owner } : {}),
    };
  } catch (error) {
    throw new KafkaError(
      KafkaErrorCodes.KAFKA_RECORD_CORRUPT,
      `checkpoint topic ${message.topic} partition ${message.partition} offset ${message.offset} is not valid JSON; ` +
        "inspect it, then fix the position with 'ferry offsets set'",
      { cause: error, details: { topic: message.topic, offset: message.offset } },
    );
  }
}
