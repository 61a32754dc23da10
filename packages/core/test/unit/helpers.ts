// In-memory parts for unit tests of the runtime (never a stand-in for a connector's integration test).
import type {
  CanonicalEvent,
  ChangeRecord,
  CheckpointStore,
  DeadLetter,
  DeadLetterSink,
  Mapping,
  Sink,
  Source,
} from '@ferry/core';
import { type Batch, type ReadContext, sleep } from '@ferry/core/sdk';

export interface Journal {
  entries: string[];
}

export function record(n: number, extra: Record<string, unknown> = {}): ChangeRecord {
  return {
    stream: 'legacy.PEOPLE',
    op: 'update',
    key: { ID: n },
    after: { ID: n, NAME: `person-${n}`, ...extra },
    origin: { table: 'legacy.PEOPLE', id: n },
  };
}

/** A source over a fixed list of records, `batchSize` per batch; position = count of records read. */
export class ArraySource implements Source<number> {
  readonly type = 'array';
  readonly cadence = { kind: 'stream' } as const;
  readonly acknowledged: number[] = [];
  readonly reads: (number | undefined)[] = [];
  closed = false;
  /** Throw this (once each) before yielding the batch that starts at the given offset. */
  readonly failures = new Map<number, Error>();
  /** Wait this long before each batch (simulates a slow legacy system). */
  delayMs = 0;

  constructor(
    private readonly records: ChangeRecord[],
    private readonly batchSize = 10,
    private readonly journal?: Journal,
  ) {}

  async *read(ctx: ReadContext<number>): AsyncIterable<Batch<number>> {
    this.reads.push(ctx.from);
    for (let offset = ctx.from ?? 0; offset < this.records.length; offset += this.batchSize) {
      if (ctx.signal.aborted) return;
      const failure = this.failures.get(offset);
      if (failure) {
        this.failures.delete(offset);
        throw failure;
      }
      if (this.delayMs > 0) await sleep(this.delayMs, ctx.signal);
      const end = Math.min(offset + this.batchSize, this.records.length);
      this.journal?.entries.push(`read:${end}`);
      yield { records: this.records.slice(offset, end), position: end };
    }
  }

  async acknowledge(positions: readonly number[]): Promise<void> {
    for (const position of positions) {
      this.journal?.entries.push(`ack:${position}`);
      this.acknowledged.push(position);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export class MemorySink implements Sink {
  readonly type = 'memory';
  readonly events: CanonicalEvent[] = [];
  /** Fail the next N writes with these errors, in order. */
  readonly failures: Error[] = [];
  writeDelayMs = 0;
  writes = 0;

  constructor(private readonly journal?: Journal) {}

  async write(events: CanonicalEvent[]): Promise<void> {
    this.writes += 1;
    if (this.writeDelayMs > 0) await sleep(this.writeDelayMs);
    const failure = this.failures.shift();
    if (failure) throw failure;
    this.events.push(...events);
    this.journal?.entries.push(`sink:${events.length}`);
  }

  async close(): Promise<void> {}
}

export class MemoryDeadLetters implements DeadLetterSink {
  readonly type = 'memory';
  readonly letters: DeadLetter[] = [];

  constructor(private readonly journal?: Journal) {}

  async write(letters: DeadLetter[]): Promise<void> {
    this.letters.push(...letters);
    this.journal?.entries.push(`dlq:${letters.length}`);
  }

  async close(): Promise<void> {}
}

export class MemoryCheckpoints implements CheckpointStore {
  readonly type = 'memory';
  readonly saved = new Map<string, unknown>();

  constructor(private readonly journal?: Journal) {}

  async load(pipeline: string): Promise<unknown> {
    return this.saved.get(pipeline);
  }

  async save(pipeline: string, position: unknown): Promise<void> {
    this.saved.set(pipeline, position);
    this.journal?.entries.push(`save:${String(position)}`);
  }
}

export const identityMapping: Mapping = {
  canonicalType: 'test.person',
  dataschema: 'urn:ferry:contract:test.person:1.0.0',
  map: (r) => ({ subject: String(r.key.ID), data: r.after ?? r.key }),
};

export const fastRetry = {
  retries: 3,
  minTimeoutMs: 1,
  maxTimeoutMs: 5,
  maxRetryTimeMs: 5_000,
  jitter: true,
};

export function records(count: number): ChangeRecord[] {
  return Array.from({ length: count }, (_, i) => record(i + 1));
}
