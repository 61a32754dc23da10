// Shared by the database tests: read a source to the end (or for a number of batches) with a fresh context,
// and what every read must show about record sequences.
import type { Batch, ChangeRecord, Source } from '@ferry/core/sdk';
import { silentLogger } from '@ferry/core/sdk';
import { expect } from 'vitest';

export interface ReadResult<P> {
  batches: Batch<P>[];
  records: ChangeRecord[];
  /** Position of the last batch, or the starting position when nothing was read. */
  position: P | undefined;
}

/**
 * Read from `from` until the read ends (a pass always ends; a stream ends in once mode), stopping after
 * `maxBatches` batches if given. Every read checks that sequences never go down for a key.
 */
export async function readOnce<P>(
  source: Source<P>,
  from?: P,
  maxBatches = Number.POSITIVE_INFINITY,
  once = true,
): Promise<ReadResult<P>> {
  const batches: Batch<P>[] = [];
  const controller = new AbortController();
  for await (const batch of source.read({
    from,
    signal: controller.signal,
    once,
    log: silentLogger(),
    caughtUp: () => undefined,
  })) {
    batches.push(batch);
    if (batches.length >= maxBatches) break;
  }
  const records = batches.flatMap((b) => b.records);
  expectSequencesInOrder(records);
  return { batches, records, position: batches.length > 0 ? batches[batches.length - 1]?.position : from };
}

/**
 * Every record has a sequence, and for each key the sequences never go down in read order: a consumer that
 * keeps the change with the greatest sequence per key ends with the latest state.
 */
export function expectSequencesInOrder(records: ChangeRecord[]): void {
  const last = new Map<string, string>();
  for (const record of records) {
    expect(typeof record.sequence, `sequence of ${JSON.stringify(record.origin)}`).toBe('string');
    const key = `${record.stream}:${JSON.stringify(record.key)}`;
    const before = last.get(key);
    const sequence = record.sequence ?? '';
    if (before !== undefined && sequence < before)
      expect.fail(
        `sequence of ${key} went down: ${before} then ${sequence} (${JSON.stringify(record.origin)})`,
      );
    last.set(key, sequence);
  }
}

/** Keys of the records, as `stream:key-values`, to compare sets across reads. */
export function keysOf(records: ChangeRecord[]): string[] {
  return records.map((r) => `${r.stream}:${Object.values(r.key).join(',')}`);
}

/** What identifies a record across reads: its origin and its sequence. */
export function identities(records: ChangeRecord[]): unknown[] {
  return records.map((r) => [r.origin, r.sequence]);
}

/** Poll `condition` until it holds or `timeoutMs` passes. */
export async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
