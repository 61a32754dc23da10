// Shared by the database tests: read a source to the end (or for a number of batches) with a fresh context.
import type { Batch, ChangeRecord, Source } from '@ferry/core/sdk';
import { silentLogger } from '@ferry/core/sdk';
import type { DatabasePosition } from '../src/index.js';

export interface ReadResult {
  batches: Batch<DatabasePosition>[];
  records: ChangeRecord[];
  /** Position of the last batch, or the starting position when nothing was read. */
  position: DatabasePosition | undefined;
}

/** Read in once mode from `from`, stopping after `maxBatches` batches if given. */
export async function readOnce(
  source: Source<DatabasePosition>,
  from?: DatabasePosition,
  maxBatches = Number.POSITIVE_INFINITY,
): Promise<ReadResult> {
  const batches: Batch<DatabasePosition>[] = [];
  const controller = new AbortController();
  for await (const batch of source.read({
    from,
    signal: controller.signal,
    once: true,
    log: silentLogger(),
  })) {
    batches.push(batch);
    if (batches.length >= maxBatches) break;
  }
  return {
    batches,
    records: batches.flatMap((b) => b.records),
    position: batches.length > 0 ? batches[batches.length - 1]?.position : from,
  };
}

/** Keys of the records, as `stream:key-values`, to compare sets across reads. */
export function keysOf(records: ChangeRecord[]): string[] {
  return records.map((r) => `${r.stream}:${Object.values(r.key).join(',')}`);
}

/** Poll `condition` until it holds or `timeoutMs` passes. */
export async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
