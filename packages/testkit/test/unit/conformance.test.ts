// The suite passes a well-behaved source and catches broken ones: a lost record, a changed id, an
// ignored abort, a leaked timer, a wrong retry flag.
import {
  type Batch,
  type ChangeRecord,
  FerryError,
  type ReadContext,
  type Source,
  type SourceCadence,
  sequenceOf,
  sleep,
} from '@ferry/core/sdk';
import {
  acknowledgesOnlyGivenPositions,
  closeReleasesResources,
  declaresCadence,
  describeSourceConformance,
  flagsRetryableErrors,
  honoursAbort,
  type MakeSource,
  ordersBySequence,
  resumesFromEveryPosition,
  type SourceFixture,
} from '@ferry/testkit';
import { describe, expect, it } from 'vitest';

interface ListState {
  broken?: 'retryable' | 'fatal';
  /** What the source confirmed upstream (the legacy system's "read up to here"). */
  upstream?: number;
}

/**
 * A legacy "table" in memory: a source that does everything right. Position = rows read. As a stream it
 * waits for new rows until stopped; as a pass source each read ends when it has read what is there.
 */
class ListSource implements Source<number> {
  readonly type = 'list';
  protected timer: NodeJS.Timeout | undefined;

  constructor(
    protected readonly rows: () => string[],
    protected readonly state: ListState,
    readonly cadence: SourceCadence = { kind: 'stream' },
  ) {}

  protected record(index: number): ChangeRecord {
    const row = this.rows()[index]!;
    return {
      stream: 'list',
      op: 'read',
      key: { index },
      after: { row },
      origin: { index },
      sequence: sequenceOf(index),
    };
  }

  async acknowledge(positions: readonly number[]): Promise<void> {
    this.state.upstream = positions.at(-1);
  }

  async *read(ctx: ReadContext<number>): AsyncIterable<Batch<number>> {
    if (this.state.broken === 'retryable')
      throw new FerryError('LIST_DOWN', 'list unreachable', { retryable: true });
    if (this.state.broken === 'fatal') throw new FerryError('LIST_GONE', 'list dropped');
    let offset = ctx.from ?? 0;
    for (;;) {
      while (offset < this.rows().length && !ctx.signal.aborted) {
        const end = Math.min(offset + 3, this.rows().length);
        const records = [];
        for (let i = offset; i < end; i += 1) records.push(this.record(i));
        offset = end;
        yield { records, position: end };
      }
      if (ctx.once || ctx.signal.aborted || this.cadence.kind === 'passes') return;
      await sleep(50, ctx.signal);
    }
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
  }
}

function fixtureFor(rows: string[], state: ListState): SourceFixture {
  return {
    seed: async () => ({ expected: rows.length }),
    acknowledgedUpstream: async () => state.upstream,
    failRetryable: {
      break: async () => {
        state.broken = 'retryable';
      },
      repair: async () => void delete state.broken,
    },
    failFatal: {
      break: async () => {
        state.broken = 'fatal';
      },
      repair: async () => void delete state.broken,
    },
    timeoutMs: 5_000,
  };
}

const rows = Array.from({ length: 20 }, (_, i) => `row-${i}`);
const state: ListState = {};
describeSourceConformance(
  'a well-behaved list stream',
  () => new ListSource(() => rows, state),
  fixtureFor(rows, state),
  {
    timeoutMs: 30_000,
  },
);
const passState: ListState = {};
describeSourceConformance(
  'a well-behaved list read in passes',
  () => new ListSource(() => rows, passState, { kind: 'passes', intervalMs: 1_000 }),
  fixtureFor(rows, passState),
  { timeoutMs: 30_000 },
);

async function failsWith(
  check: { run: (m: MakeSource, f: SourceFixture) => Promise<void> },
  make: MakeSource,
  fixture: SourceFixture,
) {
  const error = await check.run(make, fixture).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return (error as Error).message;
}

describe('the conformance suite catches broken sources', () => {
  it('a source that loses a record when resuming', async () => {
    class Lossy extends ListSource {
      override async *read(ctx: ReadContext<number>): AsyncIterable<Batch<number>> {
        // Off by one: skips the first row after the saved position.
        yield* super.read({ ...ctx, from: ctx.from === undefined ? undefined : ctx.from + 1 });
      }
    }
    const s = {};
    const message = await failsWith(
      resumesFromEveryPosition,
      () => new Lossy(() => rows, s),
      fixtureFor(rows, s),
    );
    expect(message).toMatch(/lost 1 records/);
  });

  it('a source whose ids change between reads (origin from a clock)', async () => {
    class Clocked extends ListSource {
      protected override record(index: number): ChangeRecord {
        return { ...super.record(index), origin: { index, readAt: performance.now() } };
      }
    }
    const s = {};
    const message = await failsWith(
      resumesFromEveryPosition,
      () => new Clocked(() => rows, s),
      fixtureFor(rows, s),
    );
    expect(message).toMatch(/lost \d+ records \(or changed their ids\)/);
  });

  it('a source that ignores the abort signal', async () => {
    // It listens to its own signal only, which the test pulls afterwards so the loop does not outlive it.
    const own = new AbortController();
    class Deaf extends ListSource {
      override async *read(ctx: ReadContext<number>): AsyncIterable<Batch<number>> {
        yield* super.read({ ...ctx, signal: own.signal });
      }
    }
    const s = {};
    try {
      const message = await failsWith(honoursAbort, () => new Deaf(() => rows, s), fixtureFor(rows, s));
      expect(message).toMatch(/did not stop within 5 s/);
    } finally {
      own.abort();
    }
  }, 20_000);

  it('a source that leaves a timer running after close()', async () => {
    class Leaky extends ListSource {
      override async close(): Promise<void> {
        this.timer = setInterval(() => {}, 60_000);
      }
    }
    const s = {};
    let leaky: Leaky | undefined;
    try {
      const message = await failsWith(
        closeReleasesResources,
        () => {
          leaky = new Leaky(() => rows, s);
          return leaky;
        },
        fixtureFor(rows, s),
      );
      expect(message).toMatch(/handles left open after close\(\): 1 Timeout/);
    } finally {
      clearInterval((leaky as unknown as { timer: NodeJS.Timeout }).timer);
    }
  }, 20_000);

  it('a source that flags a fatal error as retryable', async () => {
    class Wrong extends ListSource {
      override async *read(ctx: ReadContext<number>): AsyncIterable<Batch<number>> {
        if (this.state.broken === 'fatal')
          throw new FerryError('LIST_GONE', 'list dropped', { retryable: true });
        yield* super.read(ctx);
      }
    }
    const s: ListState = {};
    const message = await failsWith(
      flagsRetryableErrors,
      () => new Wrong(() => rows, s),
      fixtureFor(rows, s),
    );
    expect(message).toMatch(/LIST_GONE was flagged retryable=true, expected false/);
  });

  it('a source that lacks acknowledge without declaring it', async () => {
    class NoAck extends ListSource {}
    Object.defineProperty(NoAck.prototype, 'acknowledge', { value: undefined });
    const s = {};
    const message = await failsWith(
      acknowledgesOnlyGivenPositions,
      () => new NoAck(() => rows, s),
      fixtureFor(rows, s),
    );
    expect(message).toMatch(
      /Source.acknowledge is missing and the fixture does not declare lacks.acknowledge/,
    );
    // Declared with a reason, the absence is accepted...
    const declared = { ...fixtureFor(rows, s), lacks: { acknowledge: 'nothing to confirm upstream' } };
    await acknowledgesOnlyGivenPositions.run(() => new NoAck(() => rows, s), declared);
    // ...and a declared absence that is not real fails.
    const wrong = await failsWith(
      acknowledgesOnlyGivenPositions,
      () => new ListSource(() => rows, s),
      declared,
    );
    expect(wrong).toMatch(/declares lacks.acknowledge .* but Source.acknowledge is there/);
  });

  it('a source that acknowledges more than it was given', async () => {
    class Eager extends ListSource {
      override async acknowledge(): Promise<void> {
        this.state.upstream = rows.length;
      }
    }
    const s = {};
    const message = await failsWith(
      acknowledgesOnlyGivenPositions,
      () => new Eager(() => rows, s),
      fixtureFor(rows, s),
    );
    expect(message).toMatch(/upstream shows 20/);
  });

  it('a fixture that cannot break the source and does not say so', async () => {
    const s = {};
    const { failRetryable: _dropped, ...fixture } = fixtureFor(rows, s);
    const message = await failsWith(flagsRetryableErrors, () => new ListSource(() => rows, s), fixture);
    expect(message).toMatch(/fixture.failRetryable is missing .* lacks.retryableFailure/);
  });

  it('a pass source that waits for more instead of ending its pass', async () => {
    const s = {};
    const waiting = () => new ListSource(() => rows, s, { kind: 'passes', intervalMs: 1_000 });
    class Waiting extends ListSource {
      override async *read(ctx: ReadContext<number>): AsyncIterable<Batch<number>> {
        yield* super.read(ctx);
        await sleep(60_000, ctx.signal);
      }
    }
    await declaresCadence.run(waiting, { ...fixtureFor(rows, s), timeoutMs: 3_000 });
    const message = await failsWith(
      declaresCadence,
      () => new Waiting(() => rows, s, { kind: 'passes', intervalMs: 1_000 }),
      { ...fixtureFor(rows, s), timeoutMs: 3_000 },
    );
    expect(message).toMatch(/a pass did not end by itself/);
  }, 20_000);

  it('records without a sequence, or whose sequence goes back', async () => {
    class Unordered extends ListSource {
      protected override record(index: number): ChangeRecord {
        const { sequence: _dropped, ...rest } = super.record(index);
        return index === 3 ? rest : { ...rest, key: { index: 0 }, sequence: sequenceOf(100 - index) };
      }
    }
    const s = {};
    const message = await failsWith(
      ordersBySequence,
      () => new Unordered(() => rows, s),
      fixtureFor(rows, s),
    );
    expect(message).toMatch(/sequence of \{"index":0\} went back/);
  });
});
