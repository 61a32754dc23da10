// One owner per pipeline, enforced by the real broker (checkpoints.fencing): the run that claims a pipeline
// fences the one before it (a zombie: a paused process, the far side of a partition, a second host), whose
// next save is refused with KAFKA_PRODUCER_FENCED and is never visible to a read_committed reader.
import { runPipeline } from '@ferry/core';
import { type Batch, type Source, silentLogger } from '@ferry/core/sdk';
import { describe, expect, it } from 'vitest';
import { createKafkaCheckpointStore, kafkaCheckpointConfigSchema } from '../../src/index.js';
import { brokers, consumeUntil, unique } from '../helpers.js';

function store(topic: string) {
  return createKafkaCheckpointStore(kafkaCheckpointConfigSchema.parse({ brokers, topic, fencing: true }), {
    logger: silentLogger(),
  });
}

describe('kafka checkpoints with fencing', () => {
  it('is refused with the platformatic transport, which has no transactions', () => {
    expect(() =>
      kafkaCheckpointConfigSchema.parse({ brokers, fencing: true, transport: 'platformatic' }),
    ).toThrow(/fencing needs transactions.*transport: kafkajs/);
  });

  it('a second owner fences the first: its save is refused and never visible; the new owner goes on', async () => {
    const topic = unique('ferry-fence');
    const first = store(topic);
    const second = store(topic);
    try {
      expect(await first.load('p')).toBeUndefined();
      await first.save('p', { seq: 1 });
      // The second owner claims the pipeline and reads what the first committed.
      expect(await second.load('p')).toEqual({ seq: 1 });
      await expect(first.save('p', { seq: 2 })).rejects.toMatchObject({
        code: 'KAFKA_PRODUCER_FENCED',
        retryable: false,
      });
      await second.save('p', { seq: 3 });
      // A pipeline the second has not claimed is still the first's to save.
      await first.load('q');
      await first.save('q', { seq: 1 });
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
    const committed = await consumeUntil(topic, (m) => m.length >= 3, { idleMs: 1500 });
    const positions = committed
      .filter((m) => m.key === 'p')
      .map((m) => (JSON.parse(m.value ?? 'null') as { position: unknown }).position);
    expect(positions).toEqual([{ seq: 1 }, { seq: 3 }]);
    expect(await store(topic).load('p')).toEqual({ seq: 3 });
  });

  it('a running pipeline whose owner is fenced stops with KAFKA_PRODUCER_FENCED, its later commits unseen', async () => {
    const topic = unique('ferry-fence');
    const zombie = store(topic);
    const claimed = { resolve: () => {} };
    const fenced = new Promise<void>((resolve) => {
      claimed.resolve = resolve;
    });
    let read = 0;
    let committed = 0;
    const source: Source<number> = {
      type: 'test',
      cadence: { kind: 'stream' },
      async *read({ from }) {
        for (let i = (from ?? 0) + 1; i <= 10; i += 1) {
          read = i;
          // After its third batch the zombie "pauses" while another worker claims the pipeline.
          if (i === 4) await fenced;
          yield { records: [], position: i } satisfies Batch<number>;
        }
      },
      close: async () => {},
    };
    const run = runPipeline({
      name: 'p',
      source,
      mapping: { canonicalType: 'test.row', map: () => null },
      sink: { type: 'memory', write: async () => {}, close: async () => {} },
      deadLetters: { type: 'memory', write: async () => {}, close: async () => {} },
      checkpoints: zombie,
      retry: { retries: 2, minTimeoutMs: 10, maxTimeoutMs: 20, jitter: false },
      onCommit: () => {
        committed += 1;
      },
    });
    const successor = store(topic);
    try {
      // Wait (bounded) for the zombie's first three commits, then claim the pipeline.
      for (let i = 0; i < 400 && (read < 4 || committed < 3); i += 1)
        await new Promise((r) => setTimeout(r, 25));
      expect(committed).toBe(3);
      const at = await successor.load('p');
      claimed.resolve();
      await expect(run).rejects.toMatchObject({ code: 'KAFKA_PRODUCER_FENCED' });
      // The successor resumes exactly where the zombie's last visible save left it.
      expect(at).toBe(3);
      expect(await successor.load('p')).toBe(3);
    } finally {
      await successor.close();
    }
    const visible = await consumeUntil(topic, (m) => m.length >= 1, { idleMs: 1500 });
    const positions = visible
      .filter((m) => m.key === 'p')
      .map((m) => (JSON.parse(m.value ?? 'null') as { position: unknown }).position);
    expect(Math.max(...positions.map(Number))).toBe(3);
  });
});
