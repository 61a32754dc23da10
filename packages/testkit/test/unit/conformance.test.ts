// The suite passes a well-behaved source and catches broken ones: a lost record, a changed id, an
// ignored abort, a leaked timer, a wrong retry flag.
import {
  type Batch,
  type ChangeRecord,
  FerryError,
  type ReadContext,
  type Source,
  sleep,
} from '@ferry/core/sdk';
import {
  closeReleasesResources,
  describeSourceConformance,
  flagsRetryableErrors,
  honoursAbort,
  type MakeSource,
  resumesFromEveryPosition,
  type SourceFixture,
} from '@ferry/testkit';
import { describe, expect, it } from 'vitest';

/** A legacy "table" in memory: a source that does everything right. Position = rows read. */
class ListSource implements Source<number> {
  readonly type = 'list';
  protected timer: NodeJS.Timeout | undefined;

  constructor(
    protected readonly rows: () => string[],
    protected readonly state: { broken?: 'retryable' | 'fatal' },
  ) {}

  protected record(index: number): ChangeRecord {
    const row = this.rows()[index]!;
    return { stream: 'list', op: 'read', key: { index }, after: { row }, origin: { index } };
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
      if (ctx.once || ctx.signal.aborted) return;
      await sleep(50, ctx.signal);
    }
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
  }
}

function fixtureFor(rows: string[], state: { broken?: 'retryable' | 'fatal' }): SourceFixture {
  return {
    seed: async () => ({ expected: rows.length }),
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
const state: { broken?: 'retryable' | 'fatal' } = {};
describeSourceConformance(
  'a well-behaved list source',
  () => new ListSource(() => rows, state),
  fixtureFor(rows, state),
  {
    timeoutMs: 30_000,
  },
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
    const s: { broken?: 'retryable' | 'fatal' } = {};
    const message = await failsWith(
      flagsRetryableErrors,
      () => new Wrong(() => rows, s),
      fixtureFor(rows, s),
    );
    expect(message).toMatch(/LIST_GONE was flagged retryable=true, expected false/);
  });
});
