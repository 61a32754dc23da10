// What the SFTP source may hold at once, derived from the runtime's in-flight budget
// (`runtime.maxInFlightBytes`, given to factories as FactoryContext.maxInFlightBytes): the download's
// requests in flight, the read-ahead of the local copy, and the raw text of one batch. Each is a small
// fraction of the budget, so memory is bounded by configuration, not by the size of the file.

/** The runtime's default budget (core's DEFAULT_MAX_IN_FLIGHT_BYTES), for a source built without one. */
export const DEFAULT_MAX_IN_FLIGHT_BYTES = 32 * 1024 * 1024;

/** The size of one SFTP read request of a download (ssh2's fastGet holds concurrency × this). */
export const TRANSFER_CHUNK_BYTES = 64 * 1024;

export interface ReadBudget {
  /** Bytes read from the local copy per chunk (stream highWaterMark), for hashing and for parsing. */
  readChunkBytes: number;
  /**
   * Raw bytes of file text after which a batch is closed even if it has fewer than `batchSize` rows: wide
   * rows cannot make one batch (which the runtime always lets through) bigger than a share of the budget.
   */
  batchBytes: number;
  /** SFTP read requests in flight during a download: the configured value, capped by the budget. */
  transferConcurrency: number;
}

const KiB = 1024;

function clamp(n: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, n));
}

/**
 * Shares of the budget. A batch's raw text becomes roughly 3–4 times as many bytes once encoded as events,
 * and the runtime holds a few batches in flight (maxInFlightBatches, 4 by default) plus the one being
 * prepared, so a batch gets 1/32 of the budget; the read-ahead 1/128 (it feeds one batch at a time), and
 * the download 1/16 (it ends before any row is parsed, so it never adds to the batches).
 */
export function readBudget(maxInFlightBytes: number | undefined, transferConcurrency: number): ReadBudget {
  const budget = maxInFlightBytes ?? DEFAULT_MAX_IN_FLIGHT_BYTES;
  return {
    readChunkBytes: clamp(Math.floor(budget / 128), 16 * KiB, 256 * KiB),
    batchBytes: Math.max(64 * KiB, Math.floor(budget / 32)),
    transferConcurrency: clamp(Math.floor(budget / 16 / TRANSFER_CHUNK_BYTES), 1, transferConcurrency),
  };
}
