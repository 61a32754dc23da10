// The SFTP source's buffers as shares of the runtime's in-flight budget (runtime.maxInFlightBytes).
import { describe, expect, it } from 'vitest';
import { readBudget } from '../../src/internal/budget.js';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('readBudget', () => {
  it.each([
    // budget, configured concurrency → read-ahead, batch text, requests in flight
    [undefined, 32, 256 * KiB, 1 * MiB, 32],
    [32 * MiB, 32, 256 * KiB, 1 * MiB, 32],
    [32 * MiB, 8, 256 * KiB, 1 * MiB, 8],
    [8 * MiB, 32, 64 * KiB, 256 * KiB, 8],
    [1 * MiB, 32, 16 * KiB, 64 * KiB, 1],
    [1024 * MiB, 128, 256 * KiB, 32 * MiB, 128],
  ])('budget %s, transferConcurrency %i', (budget, concurrency, chunk, batch, requests) => {
    expect(readBudget(budget, concurrency)).toEqual({
      readChunkBytes: chunk,
      batchBytes: batch,
      transferConcurrency: requests,
    });
  });

  it('keeps what it holds at once within a fraction of any budget the runtime accepts', () => {
    for (let budget = 1 * MiB; budget <= 2 ** 31; budget *= 2) {
      const b = readBudget(budget, 128);
      expect(b.transferConcurrency * 64 * KiB).toBeLessThanOrEqual(budget / 16);
      expect(b.readChunkBytes).toBeLessThanOrEqual(budget / 64);
      expect(b.batchBytes).toBeLessThanOrEqual(budget / 16);
    }
  });
});
