// readKafkaEvents against the real broker: committed events of both bindings from the beginning to the end
// the topic had when the read started, in order per partition; aborted transactions never count; a message
// that is not a CloudEvent, and an error of the caller, fail the read.
import type { CanonicalEvent } from '@ferry/core/sdk';
import { describe, expect, it } from 'vitest';
import { encodeEvent, type KafkaEventPosition, readKafkaEvents } from '../../src/index.js';
import { brokers, createTopic, rawKafka, sampleEvents, unique } from '../helpers.js';

function message(event: CanonicalEvent, mode: 'binary' | 'structured') {
  const m = encodeEvent(event, mode);
  return { key: m.key, value: m.value, headers: m.headers };
}

describe('readKafkaEvents', () => {
  it('reads committed events of both bindings, skips aborted transactions, and stops at the end', async () => {
    const topic = unique('reader');
    await createTopic(topic, 3);
    const events = sampleEvents('reader', 'justice.offender', ['A1', 'B2', 'C3', 'D4'], 3);
    const aborted = sampleEvents('reader', 'justice.offender', ['X9'], 1);
    const producer = rawKafka().producer({
      transactionalId: unique('reader-tx'),
      maxInFlightRequests: 1,
      idempotent: true,
    });
    await producer.connect();
    try {
      const half = events.length / 2;
      let tx = await producer.transaction();
      await tx.send({ topic, messages: events.slice(0, half).map((e) => message(e, 'binary')) });
      await tx.commit();
      tx = await producer.transaction();
      await tx.send({ topic, messages: aborted.map((e) => message(e, 'binary')) });
      await tx.abort();
      tx = await producer.transaction();
      await tx.send({ topic, messages: events.slice(half).map((e) => message(e, 'structured')) });
      await tx.commit();
    } finally {
      await producer.disconnect();
    }

    const read: { event: CanonicalEvent; position: KafkaEventPosition }[] = [];
    const result = await readKafkaEvents({ brokers, topic, timeoutMs: 60_000 }, (event, position) => {
      read.push({ event, position });
    });
    expect(result.events).toBe(events.length);
    expect(read.map((r) => r.event.id).sort()).toEqual(events.map((e) => e.id).sort());
    expect(read.some((r) => r.event.subject === 'X9')).toBe(false);
    // Binary and structured messages decode to the same attributes and data.
    for (const { event } of read) {
      const original = events.find((e) => e.id === event.id)!;
      expect(event).toMatchObject({
        specversion: '1.0',
        type: original.type,
        subject: original.subject,
        data: original.data,
      });
    }
    // Per subject (the message key, so one partition), events arrive in the order they were written.
    for (const subject of ['A1', 'B2', 'C3', 'D4']) {
      const mine = read.filter((r) => r.event.subject === subject);
      expect(mine.map((r) => r.event.id)).toEqual(
        events.filter((e) => e.subject === subject).map((e) => e.id),
      );
      expect(new Set(mine.map((r) => r.position.partition)).size).toBe(1);
    }
  });

  it('reads an empty topic as no events', async () => {
    const topic = unique('reader-empty');
    await createTopic(topic, 2);
    const seen: CanonicalEvent[] = [];
    expect(await readKafkaEvents({ brokers, topic, timeoutMs: 30_000 }, (e) => seen.push(e))).toEqual({
      events: 0,
    });
    expect(seen).toEqual([]);
  });

  it('fails with KAFKA_RECORD_CORRUPT on a message that is not a CloudEvent, and with the caller’s own error', async () => {
    const topic = unique('reader-corrupt');
    await createTopic(topic, 1);
    const [good] = sampleEvents('reader', 'justice.offender', ['A1']);
    const producer = rawKafka().producer();
    await producer.connect();
    try {
      await producer.send({
        topic,
        messages: [
          message(good!, 'binary'),
          { key: 'A1', value: 'not json {', headers: { 'content-type': 'application/json' } },
          message(good!, 'binary'),
        ],
      });
    } finally {
      await producer.disconnect();
    }
    const delivered: CanonicalEvent[] = [];
    const corrupt = await readKafkaEvents({ brokers, topic, timeoutMs: 30_000 }, (e) =>
      delivered.push(e),
    ).catch((error: unknown) => error);
    expect(corrupt).toMatchObject({
      code: 'KAFKA_RECORD_CORRUPT',
      retryable: false,
      details: { topic, partition: 0, offset: '1' },
    });
    // Nothing after the bad message is delivered.
    expect(delivered).toHaveLength(1);

    const mine = new Error('the store is full');
    const calls: string[] = [];
    const thrown = await readKafkaEvents({ brokers, topic, timeoutMs: 30_000 }, (e) => {
      calls.push(e.id);
      throw mine;
    }).catch((error: unknown) => error);
    expect(thrown).toBe(mine);
    expect(calls).toHaveLength(1);
  });

  it('refuses options as a pipeline file would', async () => {
    await expect(readKafkaEvents({ brokers: ['no-port'], topic: 't' }, () => {})).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
  });
});
