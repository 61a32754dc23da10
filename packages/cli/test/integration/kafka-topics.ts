// What a topic holds, for the `ferry serve` tests that check events in Kafka: each message's row id (the
// `id` field of the event data), read from the beginning by a consumer with a group of its own.
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { waitFor } from '../../../../examples/quickstart/test/cli.js';
import { services } from '../../../../test/services/endpoints.js';

export interface TopicIds {
  /** Messages with an id. */
  total: number;
  /** Distinct ids. */
  ids: Set<string>;
}

/**
 * Read `topic` until it holds `want` distinct ids and nothing more has arrived for `quietMs` (so extra
 * copies would have been seen), or `timeoutMs` passes (then what was read is returned, for the test to
 * compare). The topic may not exist yet: the sink creates it with its first events.
 */
export async function topicIds(
  topic: string,
  want: number,
  options: { quietMs?: number; timeoutMs?: number; readUncommitted?: boolean } = {},
): Promise<TopicIds> {
  const { quietMs = 0, timeoutMs = 90_000, readUncommitted = false } = options;
  const kafka = new Kafka({
    brokers: [...services.kafka.brokers],
    clientId: 'ferry-test',
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitFor(async () => (await admin.listTopics()).includes(topic), timeoutMs, `topic ${topic}`);
  } finally {
    await admin.disconnect();
  }
  const consumer = kafka.consumer({
    groupId: `ferry-test-${randomBytes(4).toString('hex')}`,
    maxWaitTimeInMs: 200,
    readUncommitted,
  });
  const ids = new Set<string>();
  let total = 0;
  let last = Date.now();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const data = JSON.parse(message.value?.toString() ?? '{}') as { id?: unknown };
        if (data.id === undefined) return;
        total += 1;
        ids.add(String(data.id));
        last = Date.now();
      },
    });
    await waitFor(
      () => ids.size >= want && Date.now() - last >= quietMs,
      timeoutMs,
      `${want} ids in ${topic}`,
    ).catch(() => undefined);
    return { total, ids };
  } finally {
    await consumer.disconnect();
  }
}
