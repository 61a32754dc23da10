import { appendFile, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildEvent,
  type CanonicalEvent,
  createFileCheckpointStore,
  createFileDeadLetterSink,
  createFileSink,
  readEventLog,
} from '@ferry/core';
import { describe, expect, it } from 'vitest';

function event(n: number, type = 'justice.offender'): CanonicalEvent {
  return buildEvent({
    pipeline: 'p',
    record: { stream: 's', op: 'create', key: { id: n }, after: { id: n }, origin: { id: n } },
    canonicalType: type,
    dataschema: `urn:ferry:contract:${type}:2.1.0`,
    subject: String(n),
    data: { id: n },
    now: new Date(0),
  });
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

describe('file event log sink', () => {
  it('appends JSON Lines per topic', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-sink-'));
    const sink = createFileSink({ dir });
    await sink.write([event(1), event(2, 'justice.location'), event(3)]);
    await sink.write([event(4)]);
    await sink.close();
    expect((await readdir(dir)).sort()).toEqual(['justice.location.v2.jsonl', 'justice.offender.v2.jsonl']);
    const offenders = await collect(readEventLog(join(dir, 'justice.offender.v2.jsonl')));
    expect(offenders.map((e) => e.subject)).toEqual(['1', '3', '4']);
  });

  it('cuts a torn last line left by a crash before appending again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-sink-'));
    const path = join(dir, 'justice.offender.v2.jsonl');
    await writeFile(path, `${JSON.stringify(event(1))}\n{"specversion":"1.0","id":"torn`);
    const sink = createFileSink({ dir });
    await sink.write([event(2)]);
    await sink.close();
    const lines = (await readFile(path, 'utf8')).split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(0, -1).map((l) => JSON.parse(l).subject)).toEqual(['1', '2']);
  });
});

describe('file checkpoint store', () => {
  it('round-trips a position and leaves no temp files behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-cp-'));
    const store = createFileCheckpointStore({ dir });
    expect(await store.load('p')).toBeUndefined();
    await store.save('p', { tables: { A: { ts: '2024-01-01T00:00:00.000Z', id: 7 } } });
    await store.save('p', { tables: { A: { ts: '2024-01-02T00:00:00.000Z', id: 9 } } });
    expect(await store.load('p')).toEqual({ tables: { A: { ts: '2024-01-02T00:00:00.000Z', id: 9 } } });
    expect(await readdir(dir)).toEqual(['p.checkpoint.json']);
    await store.clear('p');
    expect(await store.load('p')).toBeUndefined();
  });

  it('refuses a corrupt checkpoint with a code and a fix, instead of starting over silently', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-cp-'));
    await writeFile(join(dir, 'p.checkpoint.json'), '{"pipeline": "p", "posit');
    await expect(createFileCheckpointStore({ dir }).load('p')).rejects.toMatchObject({
      code: 'CHECKPOINT_CORRUPT',
      retryable: false,
      message: expect.stringContaining('ferry offsets'),
    });
  });
});

describe('file dead-letter sink', () => {
  it('stores dead letters and lists them back in order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-dlq-'));
    const sink = createFileDeadLetterSink({ dir, pipeline: 'p' });
    const letter = {
      pipeline: 'p',
      stream: 's',
      stage: 'mapping' as const,
      code: 'MAPPING_INVALID_VALUE',
      message: 'bad',
      retryable: false,
      record: { key: { id: 1 } },
      origin: { id: 1 },
      attempts: 1,
      failedAt: new Date(0).toISOString(),
    };
    await sink.write([letter, { ...letter, origin: { id: 2 } }]);
    await appendFile(sink.path, '');
    expect((await collect(sink.list())).map((l) => l.origin)).toEqual([{ id: 1 }, { id: 2 }]);
    await sink.close();
  });
});
