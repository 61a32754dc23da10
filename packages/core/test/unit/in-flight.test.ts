// What the runtime holds between reading a batch and committing it: at most maxInFlightBatches batches and,
// unless only one is in flight, at most maxInFlightBytes of encoded events. A sink that encodes gets each
// batch encoded once, on the reader's side, and writes what it encoded (the event objects are not kept).
import { describe, expect, it } from 'vitest';
import { runPipeline } from '../../src/index.js';
import { sleep } from '../../src/retry.js';
import type { CanonicalEvent, EncodedEvents, Sink } from '../../src/sdk.js';
import {
  ArraySource,
  identityMapping,
  MemoryCheckpoints,
  MemoryDeadLetters,
  MemorySink,
  records,
} from './helpers.js';

interface Lines extends EncodedEvents {
  readonly lines: string[];
}

/** Encodes events as JSON lines and records, at every encode, how many bytes were encoded but not written. */
class EncodingSink implements Sink {
  readonly type = 'encoding';
  readonly written: string[] = [];
  readonly plainWrites: CanonicalEvent[][] = [];
  encodes = 0;
  pendingBytes = 0;
  peakPendingBytes = 0;
  /** The largest group of batches written at once. */
  widestGroup = 0;

  async write(events: CanonicalEvent[]): Promise<void> {
    this.plainWrites.push(events);
  }

  encode(events: CanonicalEvent[]): Lines {
    this.encodes += 1;
    const lines = events.map((e) => JSON.stringify(e));
    const bytes = lines.reduce((n, l) => n + l.length, 0);
    this.pendingBytes += bytes;
    this.peakPendingBytes = Math.max(this.peakPendingBytes, this.pendingBytes);
    return { count: events.length, bytes, lines };
  }

  async writeEncoded(batches: EncodedEvents[]): Promise<void> {
    this.widestGroup = Math.max(this.widestGroup, batches.length);
    // Slow enough that the reader fills what it may hold before the first write ends.
    await sleep(15);
    for (const batch of batches as Lines[]) {
      this.written.push(...batch.lines);
      this.pendingBytes -= batch.bytes;
    }
  }

  async close(): Promise<void> {}
}

/** Records whose `after` carries `size` characters, so a batch's size is known. */
function big(count: number, size: number) {
  return records(count).map((r) => ({ ...r, after: { ...r.after, PAD: 'x'.repeat(size) } }));
}

function run(sink: Sink, source: ArraySource, options: { bytes?: number; batches?: number } = {}) {
  return runPipeline({
    name: 'in-flight',
    source,
    mapping: identityMapping,
    sink,
    deadLetters: new MemoryDeadLetters(),
    checkpoints: new MemoryCheckpoints(),
    ...(options.bytes !== undefined ? { maxInFlightBytes: options.bytes } : {}),
    ...(options.batches !== undefined ? { maxInFlightBatches: options.batches } : {}),
  });
}

describe('in-flight bounds and encoding sinks', () => {
  it('writes through encode and writeEncoded, each event encoded once, in order, nothing through write', async () => {
    const sink = new EncodingSink();
    const summary = await run(sink, new ArraySource(records(95), 10));
    expect(summary.eventsWritten).toBe(95);
    expect(sink.encodes).toBe(10);
    expect(sink.plainWrites).toEqual([]);
    expect(sink.written.map((l) => (JSON.parse(l) as CanonicalEvent).subject)).toEqual(
      Array.from({ length: 95 }, (_, i) => String(i + 1)),
    );
  });

  it('holds back the reader once the encoded bytes in flight would pass maxInFlightBytes', async () => {
    // 20 batches of 10 events of about 10 KB: about 100 KB a batch, 8 batches allowed by count.
    const sink = new EncodingSink();
    await run(sink, new ArraySource(big(200, 10_000), 10), { bytes: 250_000, batches: 8 });
    const batchBytes = 10 * 10_000;
    // Two batches fit the budget, a third does not: the reader waits with two in flight and the third
    // encoded, never more (eight would be let through by count alone).
    expect(sink.peakPendingBytes).toBeGreaterThan(2 * batchBytes);
    expect(sink.peakPendingBytes).toBeLessThan(3.5 * batchBytes);
    expect(sink.written).toHaveLength(200);
  });

  it('lets one batch through however big, so a batch over the budget still commits', async () => {
    const sink = new EncodingSink();
    const summary = await run(sink, new ArraySource(big(30, 50_000), 10), { bytes: 100_000 });
    expect(summary.eventsWritten).toBe(30);
    // Each batch (about 500 KB) is over the budget alone: one in flight at a time, so every write has one
    // batch; encoded but not written are at most that one and the next, encoded and waiting for room.
    expect(sink.widestGroup).toBe(1);
    expect(sink.peakPendingBytes).toBeLessThan(2.5 * 10 * 50_000);
  });

  it('counts bytes by the events’ JSON for a sink that does not encode', async () => {
    const written: number[] = [];
    const plain: Sink = {
      type: 'plain',
      async write(events) {
        written.push(events.length);
        await sleep(15);
      },
      async close() {},
    };
    // About 100 KB a batch against a budget of 150 KB: never more than one batch per write after the first.
    const summary = await run(plain, new ArraySource(big(100, 10_000), 10), { bytes: 150_000, batches: 8 });
    expect(summary.eventsWritten).toBe(100);
    expect(Math.max(...written)).toBeLessThanOrEqual(20);
  });

  it('sends a record whose event cannot be written as JSON to the dead letters, and writes the rest', async () => {
    for (const sink of [new EncodingSink(), new MemorySink()]) {
      const deadLetters = new MemoryDeadLetters();
      const summary = await runPipeline({
        name: 'in-flight',
        source: new ArraySource(records(25), 10),
        // Record 7's canonical object holds a BigInt, which JSON cannot write.
        mapping: {
          canonicalType: 'test.person',
          map: (r) => ({ subject: String(r.key.ID), data: r.key.ID === 7 ? { big: 7n } : r.after }),
        },
        sink,
        deadLetters,
        checkpoints: new MemoryCheckpoints(),
      });
      expect(summary.eventsWritten, sink.type).toBe(24);
      expect(summary.deadLetters).toBe(1);
      expect(deadLetters.letters).toHaveLength(1);
      expect(deadLetters.letters[0]).toMatchObject({
        code: 'MAPPING_NOT_SERIALIZABLE',
        stage: 'mapping',
        retryable: false,
        origin: { table: 'legacy.PEOPLE', id: 7 },
      });
      expect(deadLetters.letters[0]!.message).toMatch(/BigInt/);
    }
  });
});
