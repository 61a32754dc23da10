// The file sink serialises a batch's events with one JSON.stringify of the list and turns the boundaries
// between them into newlines (file-sink.ts linesOf). Each line must still be exactly JSON.stringify(event):
// checked here against that reference for envelopes as the runtime builds them, and for what could fool the
// boundary search: data holding the boundary's characters (escaped in strings, raw in nested arrays),
// events whose first member is not specversion, toJSON, non-ASCII text, a mixture of all of these.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileEventLogSink } from '../../src/embedded/file-sink.js';
import { buildEvent } from '../../src/event.js';
import type { CanonicalEvent } from '../../src/types.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

function envelope(n: number, data: unknown): CanonicalEvent {
  return buildEvent({
    pipeline: 'lines',
    record: { stream: 'rows', op: 'create', key: { id: n }, origin: { line: n }, sequence: String(n) },
    canonicalType: 'test.row',
    dataschema: 'urn:test:1.0.0',
    subject: String(n),
    data,
    now: new Date(0),
  });
}

/** What the sink wrote for `events` (one write), against what one JSON.stringify per event gives. */
async function written(events: CanonicalEvent[]): Promise<{ got: string; want: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-file-sink-lines-'));
  dirs.push(dir);
  const sink = new FileEventLogSink({ dir, topic: 'all' });
  await sink.write(events);
  await sink.close();
  const got = await readFile(join(dir, 'all.jsonl'), 'utf8');
  return { got, want: events.map((event) => `${JSON.stringify(event)}\n`).join('') };
}

const TRAPS: unknown[] = [
  { id: 1, name: 'plain' },
  { text: '},{"specversion":"1.0"' },
  { nested: [{ a: 1 }, { specversion: '1.0', b: 2 }] },
  [{ x: 1 }, { specversion: 'x' }],
  { text: 'ünïcödé 😀 \n\t "quoted"' },
  null,
  'a string',
  12.5,
];

describe('file sink lines', () => {
  it('writes each event as its own JSON.stringify, for envelopes and for data that looks like a boundary', async () => {
    for (const [i, data] of TRAPS.entries()) {
      const { got, want } = await written([
        envelope(1, { id: 1 }),
        envelope(2, data),
        envelope(3, { id: 3 }),
      ]);
      expect(got, `data ${i}`).toBe(want);
    }
    const many = Array.from({ length: 500 }, (_, n) => envelope(n, TRAPS[n % TRAPS.length]));
    const { got, want } = await written(many);
    expect(got).toBe(want);
    expect(got.split('\n')).toHaveLength(501);
  });

  it('writes events that do not start with specversion, or rewrite themselves, exactly too', async () => {
    // Beside data holding a raw boundary: a missing boundary and a false one would balance each other out.
    const reordered = { id: 'r', ...envelope(6, 1) } as CanonicalEvent;
    const withoutVersion = { ...envelope(4, 1), specversion: undefined } as unknown as CanonicalEvent;
    const rewriting = { ...envelope(5, 1), toJSON: () => ({ rewritten: true }) } as unknown as CanonicalEvent;
    for (const odd of [reordered, withoutVersion, rewriting]) {
      const { got, want } = await written([
        envelope(1, { id: 1 }),
        odd,
        envelope(3, [{ a: 1 }, { specversion: '1.0' }]),
      ]);
      expect(got).toBe(want);
    }
    expect((await written([envelope(9, 'alone')])).got).toBe(`${JSON.stringify(envelope(9, 'alone'))}\n`);
  });
});
