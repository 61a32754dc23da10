// The Kafka sink against the real broker: the CloudEvents binding read back by the official SDK, keys and
// partitions, and topic provisioning.
import { type CanonicalEvent, isFerryError, silentLogger } from '@ferry/core/sdk';
import { Kafka as CloudEventsKafka } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import {
  createKafkaSink,
  type KafkaSink,
  type KafkaSinkConfigInput,
  kafkaSinkConfigSchema,
} from '../../src/index.js';
import {
  brokers,
  capturingLogger,
  consumeAll,
  createTopic,
  type RawMessage,
  sampleEvents,
  topicConfig,
  topicPartitions,
  unique,
} from '../helpers.js';
import { platformaticOnThisNode } from '../transports.js';

async function sinkFor(options: Partial<KafkaSinkConfigInput>, logger = silentLogger()): Promise<KafkaSink> {
  const config = kafkaSinkConfigSchema.parse({ brokers, ...options });
  return createKafkaSink(config, { pipeline: 'kafka-it', logger });
}

/** What the official cloudevents SDK makes of a message (after validating it), as a plain object. */
function viaSdk(message: RawMessage): Record<string, unknown> {
  const event = CloudEventsKafka.toEvent({
    key: message.key ?? undefined,
    value: message.value ?? undefined,
    headers: message.headers,
  } as never);
  const single = Array.isArray(event) ? event[0] : event;
  expect(single.validate()).toBe(true);
  return JSON.parse(JSON.stringify(single.toJSON())) as Record<string, unknown>;
}

function expectSameEvent(read: Record<string, unknown>, written: CanonicalEvent): void {
  const { partitionkey, ...attributes } = read;
  expect(partitionkey).toBe(written.subject);
  expect(attributes).toEqual(JSON.parse(JSON.stringify(written)));
}

describe('kafka sink: CloudEvents binding', () => {
  for (const mode of ['binary', 'structured'] as const) {
    it(`round-trips events in ${mode} mode through the cloudevents SDK's Kafka binding`, async () => {
      const topic = unique(`ferry-it-${mode}`);
      const sink = await sinkFor({ topic, mode, topics: { partitions: 3 } });
      const events = sampleEvents('kafka-it', 'justice.offender', ['A1234BC', 'B2345CD', 'C3456DE'], 4);
      try {
        await sink.write(events);
      } finally {
        await sink.close();
      }
      const messages = await consumeAll(topic, events.length);
      expect(messages).toHaveLength(events.length);
      if (mode === 'binary') {
        expect(messages[0]!.headers['content-type']).toBe('application/json');
        expect(messages[0]!.headers.ce_id).toBeDefined();
      } else {
        expect(messages[0]!.headers['content-type']).toMatch(/^application\/cloudevents\+json/);
      }
      const byId = new Map(events.map((e) => [e.id, e]));
      for (const message of messages) {
        const read = viaSdk(message);
        const written = byId.get(read.id as string);
        expect(written, `event ${String(read.id)} was written`).toBeDefined();
        expectSameEvent(read, written!);
        byId.delete(read.id as string);
      }
      expect(byId.size).toBe(0);
    });
  }

  it('names the topic from the canonical type and major version by default', async () => {
    const domain = unique('itest').replace(/[^a-z0-9]/g, '');
    const sink = await sinkFor({});
    const events = sampleEvents('kafka-it', `${domain}.offender`, ['A1'], 1);
    try {
      await sink.write(events);
    } finally {
      await sink.close();
    }
    const messages = await consumeAll(`${domain}.offender.v1`, 1);
    expect(messages.map((m) => m.headers.ce_id)).toEqual([events[0]!.id]);
  });
});

describe('kafka sink: keys and partitions', () => {
  it('keys every message by subject, so one entity’s events share a partition in order', async () => {
    const topic = unique('ferry-it-keys');
    const sink = await sinkFor({ topic, topics: { partitions: 6 }, maxMessagesPerSend: 7 });
    const subjects = Array.from({ length: 30 }, (_, i) => `S${i}`);
    const events = sampleEvents('kafka-it', 'justice.offender', subjects, 5);
    try {
      await sink.write(events.slice(0, 60));
      await sink.write(events.slice(60));
    } finally {
      await sink.close();
    }
    const messages = await consumeAll(topic, events.length);
    expect(messages).toHaveLength(events.length);
    const partitionOf = new Map<string, Set<number>>();
    const rounds = new Map<string, number[]>();
    for (const m of messages.sort((a, b) => Number(a.offset) - Number(b.offset))) {
      expect(m.key).toBe(m.headers.ce_subject);
      const set = partitionOf.get(m.key!) ?? new Set<number>();
      set.add(m.partition);
      partitionOf.set(m.key!, set);
      rounds.set(m.key!, [...(rounds.get(m.key!) ?? []), (JSON.parse(m.value!) as { round: number }).round]);
    }
    for (const [subject, set] of partitionOf) expect(set.size, subject).toBe(1);
    for (const [, order] of rounds) expect(order).toEqual([0, 1, 2, 3, 4]);
    const used = new Set(messages.map((m) => m.partition));
    expect(used.size).toBeGreaterThan(1);
  });
});

describe('kafka sink: topic provisioning', () => {
  it('creates a missing topic with the configured partitions, replication and configs', async () => {
    const topic = unique('ferry-it-create');
    const sink = await sinkFor({
      topic,
      topics: {
        partitions: 3,
        replicationFactor: 1,
        config: { 'cleanup.policy': 'compact', 'retention.ms': '3600000' },
      },
    });
    try {
      await sink.write(sampleEvents('kafka-it', 'justice.offender', ['A1'], 1));
    } finally {
      await sink.close();
    }
    expect(await topicPartitions(topic)).toBe(3);
    expect(await topicConfig(topic, ['cleanup.policy', 'retention.ms'])).toEqual({
      'cleanup.policy': 'compact',
      'retention.ms': '3600000',
    });
  });

  it('warns when an existing topic has another partition count, and uses it', async () => {
    const topic = unique('ferry-it-mismatch');
    await createTopic(topic, 2);
    const { logger, lines } = capturingLogger();
    const sink = await sinkFor({ topic, topics: { partitions: 4 } }, logger);
    try {
      await sink.write(sampleEvents('kafka-it', 'justice.offender', ['A1', 'B2'], 1));
    } finally {
      await sink.close();
    }
    expect(sink.warnings).toHaveLength(1);
    expect(sink.warnings[0]).toContain(`topic ${topic} has 2 partitions but 4 are configured`);
    expect(lines().some((l) => l.level === 'warn' && l.topic === topic)).toBe(true);
    expect(await topicPartitions(topic)).toBe(2);
    expect(await consumeAll(topic, 2)).toHaveLength(2);
  });

  it('refuses a missing topic with a clear error when topics.create is false', async () => {
    const topic = unique('ferry-it-nocreate');
    const sink = await sinkFor({ topic, topics: { create: false } });
    let caught: unknown;
    try {
      await sink.write(sampleEvents('kafka-it', 'justice.offender', ['A1'], 1));
    } catch (error) {
      caught = error;
    } finally {
      await sink.close();
    }
    expect(isFerryError(caught) && caught.code).toBe('KAFKA_TOPIC_MISSING');
    expect(isFerryError(caught) && caught.retryable).toBe(false);
    expect((caught as Error).message).toContain(topic);
    expect((caught as Error).message).toContain('topics.create');
    expect(await topicPartitions(topic)).toBeUndefined();
  });
});

describe('kafka sink: producer in a worker thread', () => {
  it('puts each key on the same partition as the in-thread producer, in order', async () => {
    const events = sampleEvents('kafka-it', 'justice.offender', ['A1', 'B2', 'C3', 'D4', 'E5'], 4);
    const placed: Map<string, number>[] = [];
    for (const producerThread of [false, true]) {
      const topic = unique(`ferry-it-thread-${producerThread}`);
      const sink = await sinkFor({ topic, producerThread, topics: { partitions: 3 } });
      try {
        await sink.write(events.slice(0, 8));
        await sink.write(events.slice(8));
      } finally {
        await sink.close();
      }
      const read = await consumeAll(topic, events.length);
      const ids = read.map((m) => m.headers.ce_id);
      // Per partition, the events of one key come back in the order written.
      for (const subject of ['A1', 'B2', 'C3', 'D4', 'E5']) {
        const written = events.filter((e) => e.subject === subject).map((e) => e.id);
        expect(ids.filter((id) => written.includes(id!))).toEqual(written);
      }
      placed.push(new Map(read.map((m) => [m.key!, m.partition])));
    }
    expect(placed[1]).toEqual(placed[0]);
  });

  it('hands back a send the broker refuses as the same classified error as the in-thread producer', async () => {
    const outcomes: unknown[] = [];
    for (const producerThread of [false, true]) {
      const topic = unique(`ferry-it-thread-big-${producerThread}`);
      // A topic that takes messages of at most 1,000 bytes: a 5 KB event is refused by the broker.
      const sink = await sinkFor({
        topic,
        producerThread,
        compression: 'none',
        topics: { partitions: 1, config: { 'max.message.bytes': '1000' } },
      });
      const [event] = sampleEvents('kafka-it', 'justice.offender', ['A1'], 1);
      try {
        await sink.write([{ ...event!, data: { notes: 'x'.repeat(5000) } }]);
        outcomes.push('written');
      } catch (error) {
        outcomes.push(isFerryError(error) ? { code: error.code, retryable: error.retryable } : String(error));
      } finally {
        await sink.close();
      }
    }
    expect(outcomes[0]).toMatchObject({ code: expect.stringMatching(/^KAFKA_/) });
    expect(outcomes[1]).toEqual(outcomes[0]);
  });
});

// On Node 20 @platformatic/kafka is not installed; this runs in the Node 22 and 24 legs (see ../transports.ts).
if (platformaticOnThisNode) {
  describe('kafka sink: platformatic transport', () => {
    it('writes the same binding and puts each key on the same partition as the kafkajs transport', async () => {
      const subjects = Array.from({ length: 40 }, (_, i) => `P${i}`);
      const partitionsBy: Map<string, number>[] = [];
      for (const transport of ['kafkajs', 'platformatic'] as const) {
        const topic = unique(`ferry-it-${transport}`);
        const sink = await sinkFor({ topic, transport, topics: { partitions: 4 } });
        const events = sampleEvents('kafka-it', 'justice.offender', subjects, 1);
        try {
          await sink.write(events);
        } finally {
          await sink.close();
        }
        const messages = await consumeAll(topic, events.length);
        expect(messages).toHaveLength(events.length);
        const byId = new Map(events.map((e) => [e.id, e]));
        for (const m of messages) expectSameEvent(viaSdk(m), byId.get(m.headers.ce_id!)!);
        partitionsBy.push(new Map(messages.map((m) => [m.key!, m.partition])));
      }
      expect(partitionsBy[1]).toEqual(partitionsBy[0]);
    });
  });
}
