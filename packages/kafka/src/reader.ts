// A topic's CloudEvents from the beginning to the end it has when the read starts, read_committed, for tools
// that rebuild state from a topic (`ferry reconcile`): events of aborted or still-open transactions never
// count. It reads through the same transport as the sink, so the same client settings and errors apply.
import { type CanonicalEvent, type Logger, parseComponentOptions, silentLogger } from '@ferry/core/sdk';
import { z } from 'zod';
import { decodeEvent } from './binding.js';
import { connectionOf, kafkaConnectionShape } from './config.js';
import { KafkaError, KafkaErrorCodes } from './errors.js';
import { createTransport } from './internal/client.js';

export const kafkaTopicReadConfigSchema = z
  .object({
    ...kafkaConnectionShape,
    topic: z.string().min(1).describe('Topic to read from its beginning.'),
    timeoutMs: z
      .number()
      .int()
      .min(100)
      .default(300_000)
      .describe('Give up (KAFKA_TIMEOUT, retryable) when the end is not reached in this time.'),
  })
  .strict();

export type KafkaTopicReadConfigInput = z.input<typeof kafkaTopicReadConfigSchema>;
export type KafkaTopicReadConfig = z.output<typeof kafkaTopicReadConfigSchema>;

/** Where an event was read. */
export interface KafkaEventPosition {
  topic: string;
  partition: number;
  offset: string;
}

export interface KafkaTopicReadContext {
  /** Where the client's own log lines go, at debug level (default nowhere). */
  logger?: Logger;
}

/**
 * Call `onEvent` for every committed event of the topic up to its end as of the call, in offset order per
 * partition (so per subject, the message key). Messages in either CloudEvents binding are decoded, not
 * validated. `onEvent` runs inside the fetch loop and the next fetch waits for it, so doing the work there
 * keeps memory bounded. A message that is not a CloudEvent fails the read with KAFKA_RECORD_CORRUPT, and an
 * error thrown by `onEvent` fails it as thrown; either stops the delivery of further events.
 */
export async function readKafkaEvents(
  config: KafkaTopicReadConfigInput,
  onEvent: (event: CanonicalEvent, position: KafkaEventPosition) => void,
  context: KafkaTopicReadContext = {},
): Promise<{ events: number }> {
  const parsed = parseComponentOptions(kafkaTopicReadConfigSchema, config, 'kafka');
  const transport = createTransport(connectionOf(parsed), context.logger ?? silentLogger());
  let events = 0;
  // Thrown after the read rather than from inside it: the client would retry the batch (calling onEvent
  // again for the same messages) and restart its consumer before giving up.
  let failure: { error: unknown } | undefined;
  await transport.readTopic(
    parsed.topic,
    (message) => {
      if (failure !== undefined) return;
      const position = { topic: message.topic, partition: message.partition, offset: message.offset };
      let event: CanonicalEvent;
      try {
        event = decodeEvent(message);
      } catch (error) {
        failure = { error: corrupt(position, error) };
        return;
      }
      try {
        onEvent(event, position);
        events += 1;
      } catch (error) {
        failure = { error };
      }
    },
    { timeoutMs: parsed.timeoutMs },
  );
  if (failure !== undefined) throw failure.error;
  return { events };
}

function corrupt(position: KafkaEventPosition, error: unknown): KafkaError {
  const reason = error instanceof Error ? error.message : String(error);
  return new KafkaError(
    KafkaErrorCodes.KAFKA_RECORD_CORRUPT,
    `topic ${position.topic} partition ${position.partition} offset ${position.offset} is not a CloudEvent ` +
      `in either binding (${reason})`,
    { cause: error, details: { ...position } },
  );
}
