// What a commit tells the source: every committed position in order, the saved checkpoint again at start,
// a boundary batch as exactly a checkpoint, a baseline staged before and promoted after its commit (before
// the source reads on); and a checkpoint the source could not have written refused before the first read.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runPipeline } from '../../src/index.js';
import type { Batch, ReadContext, Source } from '../../src/sdk.js';
import {
  identityMapping,
  type Journal,
  MemoryCheckpoints,
  MemoryDeadLetters,
  MemorySink,
  record,
} from './helpers.js';

/** Yields the given batches (records 1..n, position = batch number), logging reads into the journal. */
class ScriptedSource implements Source<number> {
  readonly type = 'scripted';
  readonly cadence = { kind: 'stream' } as const;
  readonly acks: number[][] = [];

  constructor(
    private readonly script: Omit<Batch<number>, 'records' | 'position'>[],
    private readonly journal: Journal,
  ) {}

  async *read(ctx: ReadContext<number>): AsyncIterable<Batch<number>> {
    for (let i = ctx.from ?? 0; i < this.script.length; i += 1) {
      this.journal.entries.push(`read:${i + 1}`);
      yield { ...this.script[i], records: [record(i + 1)], position: i + 1 };
    }
  }

  async acknowledge(positions: readonly number[]): Promise<void> {
    this.acks.push([...positions]);
    this.journal.entries.push(`ack:${positions.join(',')}`);
  }

  async close(): Promise<void> {}
}

function parts(journal: Journal) {
  const sink = new MemorySink(journal);
  sink.writeDelayMs = 20;
  return {
    name: 'commit',
    mapping: identityMapping,
    sink,
    deadLetters: new MemoryDeadLetters(journal),
    checkpoints: new MemoryCheckpoints(journal),
  };
}

describe('commits and the source', () => {
  it('acknowledges every committed position in order, a boundary batch ending its group', async () => {
    const journal: Journal = { entries: [] };
    const source = new ScriptedSource([{}, {}, {}, { boundary: true }, {}, {}], journal);
    await runPipeline({ ...parts(journal), source, maxInFlightBatches: 8 });
    expect(source.acks.flat()).toEqual([1, 2, 3, 4, 5, 6]);
    // The slow first write lets batches queue; the boundary batch 4 still ends its group, so it is saved.
    const saved = journal.entries.filter((e) => e.startsWith('save:')).map((e) => Number(e.slice(5)));
    expect(saved).toContain(4);
    expect(source.acks.find((group) => group.includes(4))?.at(-1)).toBe(4);
  });

  it('acknowledges the saved checkpoint again before the first read', async () => {
    const journal: Journal = { entries: [] };
    const source = new ScriptedSource([{}, {}, {}], journal);
    const checkpoints = new MemoryCheckpoints(journal);
    await checkpoints.save('commit', 2);
    await runPipeline({ ...parts(journal), checkpoints, source });
    expect(journal.entries.slice(0, 3)).toEqual(['save:2', 'ack:2', 'read:3']);
  });

  it('stages a baseline before the write, promotes it after the checkpoint, and reads on only then', async () => {
    const journal: Journal = { entries: [] };
    const baseline = {
      stage: (position: string) => void journal.entries.push(`stage:${position}`),
      promote: () => void journal.entries.push('promote'),
    };
    const source = new ScriptedSource([{}, { baseline }, {}], journal);
    await runPipeline({ ...parts(journal), source, maxInFlightBatches: 8 });
    const at = (entry: string) => journal.entries.indexOf(entry);
    expect(at('stage:2')).toBeGreaterThan(-1);
    expect(at('stage:2')).toBeLessThan(at('save:2'));
    expect(at('save:2')).toBeLessThan(at('promote'));
    expect(at('promote')).toBeLessThan(at('read:3'));
  });

  it('refuses a checkpoint that does not fit the source’s position schema, naming the path', async () => {
    const journal: Journal = { entries: [] };
    const source = new ScriptedSource([{}], journal);
    const checkpoints = new MemoryCheckpoints(journal);
    await checkpoints.save('commit', { file: 7 });
    const run = runPipeline<unknown>({
      ...parts(journal),
      checkpoints,
      source,
      positionSchema: z.object({ file: z.string() }),
    });
    await expect(run).rejects.toMatchObject({
      code: 'CHECKPOINT_INVALID',
      retryable: false,
      message: expect.stringMatching(/file: .*string/),
    });
    expect(journal.entries.some((e) => e.startsWith('read:'))).toBe(false);
  });
});
