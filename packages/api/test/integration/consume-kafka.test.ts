// consumeKafka against the real broker and a real SQLite store: events written by Ferry's Kafka sink (binary
// binding) and by a transactional producer (structured binding, one transaction aborted) are folded into the
// store; a stop and a resume under another consumer group apply each event once, from the store's positions
// and not Kafka's; a message that is not a CloudEvent stops the consumer naming it, or goes to dead letters.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CanonicalEvent, type DeadLetterSink, silentLogger } from '@ferry/core';
import { createKafkaSink, encodeEvent, kafkaSinkConfigSchema } from '@ferry/kafka';
import { MemoryDeadLetters, waitFor } from '@ferry/testkit';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import { type ConsumeReport, consumeKafka, EntityStore } from '../../src/index.js';
import { eventStream, expectStoreToEqualFold, fold, liveEntities, TYPE } from '../consume-helpers.js';

const brokers = [...services.kafka.brokers];
const kafka = new Kafka({ brokers, clientId: 'ferry-api-test', logLevel: logLevel.NOTHING });
const opened: EntityStore[] = [];

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

async function openStore(): Promise<EntityStore> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-api-kafka-'));
  const store = await EntityStore.open({ type: 'sqlite', path: join(dir, 'state.db') });
  opened.push(store);
  return store;
}

async function createTopic(topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** Members of a consumer group that have an assignment. */
async function describeMembers(groupId: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([groupId]);
    return groups[0]?.state === 'Stable' ? groups[0].members.length : 0;
  } finally {
    await admin.disconnect();
  }
}

/** Ferry's own Kafka sink, binary binding, idempotent producer. */
async function writeWithSink(topic: string, events: readonly CanonicalEvent[]): Promise<void> {
  const config = kafkaSinkConfigSchema.parse({ brokers, topic, mode: 'binary', topics: { create: false } });
  const sink = await createKafkaSink(config, { pipeline: 'api-it', logger: silentLogger() });
  try {
    for (let at = 0; at < events.length; at += 1000) await sink.write(events.slice(at, at + 1000));
  } finally {
    await sink.close();
  }
}

/** Is every subject of the fold in the store at its last event (deletes as tombstones)? */
async function holdsFold(store: EntityStore, events: readonly CanonicalEvent[]): Promise<boolean> {
  const { live, deleted } = fold(events);
  const held = await liveEntities(store);
  if (held.size !== live.size) return false;
  for (const [subject, event] of live) if (held.get(subject)?.eventId !== event.id) return false;
  for (const [subject, event] of deleted)
    if ((await store.get(TYPE, 1, subject))?.eventId !== event.id) return false;
  return true;
}

/** Run a consumer until `until` holds, then abort it; its result and the batches it reported. */
async function consumeUntil(
  store: EntityStore,
  options: { topic: string; groupId: string; batchSize?: number; deadLetters?: DeadLetterSink },
  until: () => Promise<boolean>,
): Promise<{ result: ConsumeReport; batches: ConsumeReport[] }> {
  const controller = new AbortController();
  const batches: ConsumeReport[] = [];
  const running = consumeKafka(store, {
    consumer: 'api',
    brokers,
    topics: [options.topic],
    groupId: options.groupId,
    batchSize: options.batchSize ?? 250,
    signal: controller.signal,
    onBatch: (batch) => batches.push(batch),
    ...(options.deadLetters === undefined ? {} : { deadLetters: options.deadLetters }),
  });
  let failed: unknown;
  running.catch((error: unknown) => {
    failed = error;
  });
  try {
    await waitFor(async () => failed !== undefined || (await until()), 60_000, 'the consumer to catch up');
  } finally {
    controller.abort();
  }
  const stoppedAt = performance.now();
  const result = await running;
  // A stop waits for the batch in hand and the fetch in flight (maxWaitMs 500), then leaves the group.
  expect(performance.now() - stoppedAt).toBeLessThan(5000);
  return { result, batches };
}

describe('consumeKafka', () => {
  it('folds committed events into the store, resumes from the store’s offsets, never applies aborted ones', async () => {
    const topic = unique('ferry-api-it');
    await createTopic(topic, 3);
    const events = eventStream(6000, 700, 21);
    expect(fold(events).deleted.size).toBeGreaterThan(20);
    const store = await openStore();

    // Part one: 4,000 events through Ferry's Kafka sink.
    await writeWithSink(topic, events.slice(0, 4000));
    const first = await consumeUntil(store, { topic, groupId: unique('api-group') }, () =>
      holdsFold(store, events.slice(0, 4000)),
    );
    expect(first.result).toMatchObject({ events: 4000, applied: 4000, duplicates: 0, stale: 0 });
    await expectStoreToEqualFold(store, events.slice(0, 4000));
    const positions = await store.positions('api');
    expect(Object.keys(positions).sort()).toEqual([0, 1, 2].map((p) => `${topic}/${p}`));
    expect(first.result.positions).toEqual(positions);
    const admin = kafka.admin();
    await admin.connect();
    try {
      // Every partition read to its end: the store's next offset is the high watermark.
      const ends = await admin.fetchTopicOffsets(topic);
      for (const { partition, high } of ends) expect(positions[`${topic}/${partition}`]).toBe(high);
    } finally {
      await admin.disconnect();
    }

    // Part two, while no consumer runs: structured binding through a transactional producer; the middle
    // transaction is aborted. Its events would win over everything (the highest sequences) if applied.
    const aborted = eventStream(300, 700, 99).map((event) => ({
      ...event,
      sequence: `9${event.sequence!.slice(1)}`,
      data: event.data === null ? null : { aborted: true },
    }));
    const producer = kafka.producer({
      transactionalId: unique('api-it-tx'),
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    const send = async (batch: readonly CanonicalEvent[], commit: boolean) => {
      const tx = await producer.transaction();
      await tx.send({ topic, messages: batch.map((event) => encodeEvent(event, 'structured')) });
      await (commit ? tx.commit() : tx.abort());
    };
    try {
      await send(events.slice(4000, 5000), true);
      await send(aborted, false);
      await send(events.slice(5000), true);
    } finally {
      await producer.disconnect();
    }

    // Resumed under another consumer group, which has no offsets in Kafka: it starts where the store is.
    const second = await consumeUntil(store, { topic, groupId: unique('api-group-2') }, () =>
      holdsFold(store, events),
    );
    expect(second.result).toMatchObject({ events: 2000, applied: 2000, duplicates: 0, stale: 0 });
    await expectStoreToEqualFold(store, events);
    const held = await liveEntities(store);
    expect([...held.values()].some((entity) => (entity.data as { aborted?: boolean })?.aborted)).toBe(false);
    // Each offset was passed once: per partition the batches' positions only go up, across both runs.
    for (const partition of [0, 1, 2]) {
      const key = `${topic}/${partition}`;
      const seen = [...first.batches, ...second.batches]
        .map((batch) => batch.positions[key])
        .filter((at) => at !== undefined)
        .map(BigInt);
      expect(seen.every((at, i) => i === 0 || at > seen[i - 1]!)).toBe(true);
    }
    expect([...first.batches, ...second.batches].reduce((sum, batch) => sum + batch.events, 0)).toBe(6000);
  });

  it('shares the partitions between two instances of a group; each assignment starts at the store’s offsets', async () => {
    const topic = unique('ferry-api-it-group');
    await createTopic(topic, 3);
    const events = eventStream(4000, 500, 29);
    const store = await openStore();
    const groupId = unique('api-group');
    const start = (label: string) => {
      const controller = new AbortController();
      const batches: ConsumeReport[] = [];
      const running = consumeKafka(store, {
        consumer: 'api',
        brokers,
        topics: [topic],
        groupId,
        batchSize: 50,
        clientId: label,
        signal: controller.signal,
        onBatch: (batch) => batches.push(batch),
      });
      return { controller, batches, running };
    };
    const partitionsOf = (batches: ConsumeReport[]) =>
      new Set(batches.flatMap((batch) => Object.keys(batch.positions)));

    await writeWithSink(topic, events.slice(0, 1000));
    const a = start('a');
    await waitFor(() => holdsFold(store, events.slice(0, 1000)), 60_000, 'instance a alone');
    // A second instance joins: the group splits the partitions, each sought to where the store is.
    const b = start('b');
    await waitFor(async () => (await describeMembers(groupId)) === 2, 60_000, 'both instances in the group');
    await writeWithSink(topic, events.slice(1000, 3000));
    await waitFor(() => holdsFold(store, events.slice(0, 3000)), 60_000, 'both instances');
    expect(partitionsOf(b.batches).size).toBeGreaterThan(0);
    // The first leaves: the second takes every partition over from the store's offsets.
    a.controller.abort();
    const resultA = await a.running;
    await writeWithSink(topic, events.slice(3000));
    await waitFor(() => holdsFold(store, events), 60_000, 'instance b alone');
    b.controller.abort();
    const resultB = await b.running;
    expect(partitionsOf(b.batches).size).toBe(3);
    expect(resultA.events + resultB.events).toBe(4000);
    expect(resultA.duplicates + resultB.duplicates + resultA.stale + resultB.stale).toBe(0);
    await expectStoreToEqualFold(store, events);
  });

  it('stops at a message that is not a CloudEvent, naming it; with dead letters it goes on', async () => {
    const topic = unique('ferry-api-it-bad');
    await createTopic(topic, 1);
    const events = eventStream(40, 10, 5);
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      await producer.send({
        topic,
        messages: events.slice(0, 20).map((event) => encodeEvent(event, 'binary')),
      });
      await producer.send({
        topic,
        messages: [{ key: 'X', value: 'not json {', headers: { 'content-type': 'application/json' } }],
      });
      await producer.send({
        topic,
        messages: events.slice(20).map((event) => encodeEvent(event, 'structured')),
      });
    } finally {
      await producer.disconnect();
    }
    const store = await openStore();
    const controller = new AbortController();
    const failure = await consumeKafka(store, {
      consumer: 'api',
      brokers,
      topics: [topic],
      groupId: unique('api-group'),
      batchSize: 7,
      signal: controller.signal,
    }).catch((error: unknown) => error);
    expect(failure).toMatchObject({
      code: 'API_STREAM_INVALID',
      retryable: false,
      details: { topic, partition: 0, offset: '20' },
    });
    expect((failure as Error).message).toContain(`topic ${topic} partition 0 offset 20 is not a CloudEvent`);
    expect(await store.positions('api')).toEqual({ [`${topic}/0`]: '20' });
    await expectStoreToEqualFold(store, events.slice(0, 20));

    // With a dead-letter sink the message is kept there and the consumer goes on from the store's position.
    const deadLetters = new MemoryDeadLetters();
    const resumed = await consumeUntil(store, { topic, groupId: unique('api-group'), deadLetters }, () =>
      holdsFold(store, events),
    );
    expect(resumed.result).toMatchObject({
      events: 20,
      applied: 20,
      duplicates: 0,
      stale: 0,
      deadLettered: 1,
    });
    expect(resumed.result.positions).toEqual({ [`${topic}/0`]: '41' });
    await expectStoreToEqualFold(store, events);
    expect(deadLetters.letters).toHaveLength(1);
    expect(deadLetters.letters[0]).toMatchObject({
      pipeline: 'api',
      stream: `${topic}/0`,
      stage: 'source',
      code: 'API_STREAM_INVALID',
      record: { key: 'X', value: 'not json {' },
      origin: { topic, partition: 0, offset: '20' },
    });
  });

  it('refuses a saved offset that Kafka no longer has, rather than starting elsewhere', async () => {
    const topic = unique('ferry-api-it-gone');
    await createTopic(topic, 1);
    const events = eventStream(10, 5, 31);
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      await producer.send({ topic, messages: events.map((event) => encodeEvent(event, 'binary')) });
    } finally {
      await producer.disconnect();
    }
    const store = await openStore();
    // As if the topic had been recreated: the store has read further than the log now reaches.
    await store.apply('api', [], { [`${topic}/0`]: '500' });
    const controller = new AbortController();
    const failure = await consumeKafka(store, {
      consumer: 'api',
      brokers,
      topics: [topic],
      groupId: unique('api-group'),
      signal: controller.signal,
    }).catch((error: unknown) => error);
    expect(failure).toMatchObject({
      code: 'API_STREAM_POSITION_INVALID',
      retryable: false,
      details: { topic, partition: 0, position: '500', fetched: '0' },
    });
    expect(await store.positions('api')).toEqual({ [`${topic}/0`]: '500' });
    expect((await liveEntities(store)).size).toBe(0);
  });
});
