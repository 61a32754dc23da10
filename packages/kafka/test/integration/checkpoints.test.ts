// Kafka checkpoints against the real broker: positions in a compacted topic keyed by pipeline, read back by a
// fresh store; exactly-once batches carry their checkpoint in the same transaction; contradictory exactly-once
// configuration is refused at start.
import { ConfigError, type DeadLetter, isFerryError, silentLogger } from '@ferry/core/sdk';
import { describe, expect, it } from 'vitest';
import {
  createKafkaCheckpointStore,
  createKafkaDeadLetterSink,
  createKafkaSink,
  kafkaCheckpointConfigSchema,
  kafkaDeadLetterConfigSchema,
  kafkaSinkConfigSchema,
} from '../../src/index.js';
import {
  brokers,
  consumeAll,
  rawKafka,
  sampleEvents,
  topicConfig,
  topicPartitions,
  unique,
} from '../helpers.js';

const logger = silentLogger();
const storeOn = (topic: string) =>
  createKafkaCheckpointStore(kafkaCheckpointConfigSchema.parse({ brokers, topic }), { logger });

describe('kafka checkpoints', () => {
  it('saves positions keyed by pipeline in a compacted topic and reads the latest back at start', async () => {
    const topic = unique('ferry-it-ckpt');
    const writer = storeOn(topic);
    try {
      expect(await writer.load('a')).toBeUndefined();
      await writer.save('a', { seq: 1 });
      await writer.save('b', { seq: 100 });
      await writer.save('a', { seq: 2, at: '2024-01-01T00:00:00Z' });
    } finally {
      await writer.close();
    }
    expect(await topicPartitions(topic)).toBe(1);
    expect(await topicConfig(topic, ['cleanup.policy'])).toEqual({ 'cleanup.policy': 'compact' });
    const reader = storeOn(topic);
    try {
      expect(await reader.load('a')).toEqual({ seq: 2, at: '2024-01-01T00:00:00Z' });
      expect(await reader.load('b')).toEqual({ seq: 100 });
      await reader.clear('a');
      expect(await reader.load('a')).toBeUndefined();
      expect(await reader.load('b')).toEqual({ seq: 100 });
    } finally {
      await reader.close();
    }
  });

  it('keeps a scheduled pipeline’s pass state beside its position; a reset clears both', async () => {
    const topic = unique('ferry-it-ckpt-pass');
    const writer = storeOn(topic);
    const state = { endedAt: '2026-01-01T02:30:05.000Z', position: '{"seq":2}' };
    try {
      await writer.save('a', { seq: 2 });
      await writer.savePassState('a', state);
    } finally {
      await writer.close();
    }
    const reader = storeOn(topic);
    try {
      expect(await reader.load('a')).toEqual({ seq: 2 });
      expect(await reader.loadPassState('a')).toEqual(state);
      expect(await reader.loadPassState('b')).toBeUndefined();
      await reader.clear('a');
      expect(await reader.load('a')).toBeUndefined();
      expect(await reader.loadPassState('a')).toBeUndefined();
    } finally {
      await reader.close();
    }
  });

  it('waits for another pipeline’s unfinished transaction instead of reading a stale position', async () => {
    const topic = unique('ferry-it-ckpt-open');
    const store = createKafkaCheckpointStore(
      kafkaCheckpointConfigSchema.parse({ brokers, topic, readTimeoutMs: 2000 }),
      { logger },
    );
    const other = rawKafka().producer({
      transactionalId: unique('other-pipeline'),
      maxInFlightRequests: 1,
      idempotent: true,
    });
    await other.connect();
    try {
      await store.save('a', { seq: 1 });
      // Another pipeline's instance opens a transaction on the shared topic and hangs (crashed).
      const open = await other.transaction();
      await open.send({
        topic,
        acks: -1,
        messages: [{ key: 'b', value: JSON.stringify({ pipeline: 'b', position: 9 }) }],
      });
      await store.save('a', { seq: 2 });
      const stale = await store.load('a').catch((e: unknown) => e);
      expect(isFerryError(stale) && stale.code).toBe('KAFKA_TIMEOUT');
      expect(isFerryError(stale) && stale.retryable).toBe(true);
      await open.abort();
      expect(await store.load('a')).toEqual({ seq: 2 });
      expect(await store.load('b')).toBeUndefined();
    } finally {
      await other.disconnect();
      await store.close();
    }
  });

  it('exactly-once: events, dead letters and the checkpoint commit in one transaction', async () => {
    const pipeline = unique('eos-unit');
    const ckptTopic = unique('ferry-it-eos-ckpt');
    const eventTopic = unique('ferry-it-eos-events');
    const components = {
      source: { type: 'database', options: {} },
      sink: { type: 'kafka', options: {} },
      deadLetters: { type: 'kafka', options: kafkaDeadLetterConfigSchema.parse({ brokers }) },
      checkpoints: {
        type: 'kafka',
        options: kafkaCheckpointConfigSchema.parse({ brokers, topic: ckptTopic }),
      },
    };
    const checkpoints = storeOn(ckptTopic);
    await checkpoints.provision();
    const dlq = createKafkaDeadLetterSink(kafkaDeadLetterConfigSchema.parse({ brokers }), {
      pipeline,
      logger,
    });
    await dlq.provision();
    const sink = await createKafkaSink(
      kafkaSinkConfigSchema.parse({ brokers, topic: eventTopic, delivery: 'exactly-once' }),
      { pipeline, logger, components },
    );
    const letter: DeadLetter = {
      pipeline,
      stream: 'OFFENDERS',
      stage: 'mapping',
      code: 'MAPPING_INVALID_VALUE',
      message: 'bad date',
      retryable: false,
      record: { stream: 'OFFENDERS', op: 'create', key: { id: 1 }, origin: { id: 1 } },
      origin: { id: 1 },
      attempts: 1,
      failedAt: new Date(0).toISOString(),
    };
    try {
      expect(sink.commitBatch).toBeTypeOf('function');
      await sink.commitBatch!({
        pipeline,
        events: sampleEvents(pipeline, 'justice.offender', ['A', 'B', 'C'], 1),
        deadLetters: [letter],
        position: { seq: 3 },
      });
      // The broker writes the commit markers just after it answers the commit: poll, bounded.
      const deadline = Date.now() + 10_000;
      let position: unknown;
      while (Date.now() < deadline) {
        position = await checkpoints.load(pipeline);
        if (position !== undefined) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(position).toEqual({ seq: 3 });
      expect(await consumeAll(eventTopic, 3)).toHaveLength(3);
      const listed = [];
      for await (const l of dlq.list()) listed.push(l);
      expect(listed).toEqual([letter]);
      // A commit whose answer was lost (the broker committed it, the client saw an error) is retried by the
      // runtime: the retry finds the batch's position already committed and sends nothing again.
      (sink as unknown as { commitFailed: boolean }).commitFailed = true;
      await sink.commitBatch!({
        pipeline,
        events: sampleEvents(pipeline, 'justice.offender', ['A', 'B', 'C'], 1),
        deadLetters: [letter],
        position: { seq: 3 },
      });
      expect(await consumeAll(eventTopic, 4, { timeoutMs: 3000 })).toHaveLength(3);
    } finally {
      await sink.close();
      await dlq.close();
      await checkpoints.close();
    }
  });

  it('exactly-once: a second instance fences the first, whose next commit fails for good', async () => {
    const pipeline = unique('eos-zombie');
    const components = {
      source: { type: 'database', options: {} },
      sink: { type: 'kafka', options: {} },
      deadLetters: { type: 'kafka', options: kafkaDeadLetterConfigSchema.parse({ brokers }) },
      checkpoints: {
        type: 'kafka',
        options: kafkaCheckpointConfigSchema.parse({ brokers, topic: unique('ferry-it-zombie-ckpt') }),
      },
    };
    const checkpoints = storeOn(components.checkpoints.options.topic);
    await checkpoints.provision();
    const dlq = createKafkaDeadLetterSink(kafkaDeadLetterConfigSchema.parse({ brokers }), {
      pipeline,
      logger,
    });
    await dlq.provision();
    const eventTopic = unique('ferry-it-zombie-events');
    const config = kafkaSinkConfigSchema.parse({ brokers, topic: eventTopic, delivery: 'exactly-once' });
    const zombie = await createKafkaSink(config, { pipeline, logger, components });
    const batch = (seq: number, subject: string) => ({
      pipeline,
      events: sampleEvents(pipeline, 'justice.offender', [subject], 1),
      deadLetters: [],
      position: { seq },
    });
    try {
      await zombie.commitBatch!(batch(1, 'Z1'));
      const successor = await createKafkaSink(config, { pipeline, logger, components });
      try {
        const failure = await zombie.commitBatch!(batch(2, 'Z2')).catch((e: unknown) => e);
        expect(isFerryError(failure) && failure.code).toBe('KAFKA_PRODUCER_FENCED');
        expect(isFerryError(failure) && failure.retryable).toBe(false);
        await successor.commitBatch!(batch(2, 'S2'));
      } finally {
        await successor.close();
      }
      const keys = (await consumeAll(eventTopic, 3, { timeoutMs: 5000 })).map((m) => m.key);
      expect(keys.sort()).toEqual(['S2', 'Z1']);
    } finally {
      await zombie.close();
      await dlq.close();
      await checkpoints.close();
    }
  });

  it('refuses exactly-once with file checkpoints or file dead letters, naming the path', async () => {
    const config = kafkaSinkConfigSchema.parse({ brokers, delivery: 'exactly-once' });
    const components = {
      source: { type: 'database', options: {} },
      sink: { type: 'kafka', options: config },
      deadLetters: { type: 'file', options: { dir: '.ferry/dead-letters' } },
      checkpoints: { type: 'file', options: { dir: '.ferry/checkpoints' } },
    };
    const attempt = createKafkaSink(config, { pipeline: 'p', logger, components });
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    const error = (await attempt.catch((e: unknown) => e)) as ConfigError;
    expect(error.issues.map((i) => i.path)).toEqual(['deadLetters.type', 'checkpoints.type']);
    expect(error.message).toContain('checkpoints.type: kafka');
  });
});
