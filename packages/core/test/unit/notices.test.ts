// Batch notices: the runtime writes them as CloudEvents ahead of the batch's events, outside the mapping and
// the contract check, with ids that do not change when the batch is read again.
import { describe, expect, it } from 'vitest';
import { runPipeline } from '../../src/index.js';
import type { Batch, CanonicalEvent, CheckpointStore, DeadLetterSink, Sink, Source } from '../../src/sdk.js';

function memory() {
  const events: CanonicalEvent[] = [];
  const saved: unknown[] = [];
  const sink: Sink = { type: 'memory', write: async (e) => void events.push(...e), close: async () => {} };
  const deadLetters: DeadLetterSink = { type: 'memory', write: async () => {}, close: async () => {} };
  const checkpoints: CheckpointStore = {
    type: 'memory',
    load: async () => undefined,
    save: async (_p, position) => void saved.push(position),
  };
  return { events, saved, sink, deadLetters, checkpoints };
}

const batches: Batch<number>[] = [
  {
    notices: [
      {
        type: 'ferry.file.started',
        stream: 'in/*.csv',
        subject: '/in/a.csv',
        key: '/in/a.csv#abc',
        data: { file: '/in/a.csv', sha256: 'abc' },
        origin: { file: '/in/a.csv', sha256: 'abc' },
      },
    ],
    records: [{ stream: 'in/*.csv', op: 'read', key: { id: 1 }, after: { id: 1 }, origin: { line: 2 } }],
    position: 1,
  },
  {
    notices: [
      {
        type: 'ferry.file.completed',
        stream: 'in/*.csv',
        subject: '/in/a.csv',
        key: '/in/a.csv#abc',
        data: { file: '/in/a.csv', sha256: 'abc', rowsRead: 1, rowsRejected: 0 },
        origin: { file: '/in/a.csv', sha256: 'abc' },
      },
    ],
    records: [],
    position: 2,
  },
];

async function run(): Promise<ReturnType<typeof memory>> {
  const m = memory();
  const source: Source<number> = {
    type: 'test',
    cadence: { kind: 'stream' },
    async *read() {
      yield* batches;
    },
    close: async () => {},
  };
  const mapped: string[] = [];
  await runPipeline({
    name: 'p',
    source,
    mapping: {
      canonicalType: 'test.row',
      map: (record) => {
        mapped.push(record.op);
        return { subject: String(record.key.id), data: record.after };
      },
    },
    validate: (event) => (event.type.startsWith('ferry.') ? { code: 'X', message: 'validated' } : undefined),
    ...m,
  });
  expect(mapped).toEqual(['read']);
  return m;
}

describe('batch notices', () => {
  it('become CloudEvents ahead of the batch events, unmapped and unvalidated, committed with the batch', async () => {
    const { events, saved } = await run();
    expect(events.map((e) => e.type)).toEqual([
      'ferry.file.started',
      'test.row.snapshotted',
      'ferry.file.completed',
    ]);
    const completed = events[2]!;
    expect(completed).toMatchObject({
      specversion: '1.0',
      source: '/ferry/p/in%2F*.csv',
      subject: '/in/a.csv',
      datacontenttype: 'application/json',
      data: { rowsRead: 1, rowsRejected: 0 },
    });
    expect(JSON.parse(completed.ferryorigin)).toEqual({
      stream: 'in/*.csv',
      file: '/in/a.csv',
      sha256: 'abc',
    });
    expect(saved).toEqual([1, 2]);
  });

  it('have ids derived from the notice, stable across runs and distinct per type', async () => {
    const first = (await run()).events.map((e) => e.id);
    const second = (await run()).events.map((e) => e.id);
    expect(second).toEqual(first);
    expect(new Set(first).size).toBe(3);
  });
});
