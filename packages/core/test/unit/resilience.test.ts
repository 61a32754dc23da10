// One backoff for every source failure: Retry-After and backoff are honoured after progress as before it,
// a streak of failures alternating with progress still ends, and the breaker leaves a failing source alone.
import { describe, expect, it } from 'vitest';
import { type RetryObserved, runPipeline } from '../../src/index.js';
import { type Batch, FerryError, type ReadContext, type Source } from '../../src/sdk.js';
import { identityMapping, MemoryCheckpoints, MemoryDeadLetters, MemorySink, record } from './helpers.js';

/**
 * A stream source whose every read yields `good` batches, then fails with a retryable error asking to wait
 * `retryAfterMs` (a throttled service); after `failures` failures it reads to the end.
 */
class FlakySource implements Source<number> {
  readonly type = 'flaky';
  readonly cadence = { kind: 'stream' } as const;
  readonly readsAt: number[] = [];
  failed = 0;

  constructor(
    private readonly failures: number,
    private readonly good: number,
    private readonly retryAfterMs?: number,
  ) {}

  async *read(ctx: ReadContext<number>): AsyncIterable<Batch<number>> {
    this.readsAt.push(performance.now());
    let at = ctx.from ?? 0;
    for (let i = 0; i < this.good; i += 1) {
      at += 1;
      yield { records: [record(at)], position: at };
    }
    if (this.failed < this.failures) {
      this.failed += 1;
      throw new FerryError('TEST_THROTTLED', 'service answered 503', {
        retryable: true,
        ...(this.retryAfterMs !== undefined ? { retryAfterMs: this.retryAfterMs } : {}),
      });
    }
  }

  async close(): Promise<void> {}
}

function run(source: Source<number>, options: Record<string, unknown> = {}) {
  const retries: RetryObserved[] = [];
  const result = runPipeline<number>({
    name: 'flaky',
    source,
    mapping: identityMapping,
    sink: new MemorySink(),
    deadLetters: new MemoryDeadLetters(),
    checkpoints: new MemoryCheckpoints(),
    retry: { retries: 8, minTimeoutMs: 1, maxTimeoutMs: 10, maxRetryTimeMs: 60_000, jitter: false },
    breaker: false,
    observer: { retrying: (r) => retries.push(r) },
    ...options,
  });
  return { result, retries };
}

describe('source failures', () => {
  it('after progress, waits at least Retry-After before reading again', async () => {
    const source = new FlakySource(3, 2, 120);
    const { result, retries } = run(source);
    const summary = await result;
    expect(summary.eventsWritten).toBe(8);
    expect(summary.retries).toBe(3);
    const gaps = source.readsAt.slice(1).map((t, i) => t - source.readsAt[i]!);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(115);
    expect(retries.map((r) => [r.operation, r.attempt, r.delayMs])).toEqual([
      ['source.read', 1, 120],
      ['source.read', 2, 120],
      ['source.read', 3, 120],
    ]);
  });

  it('after progress, backs off exponentially like any retry', async () => {
    const source = new FlakySource(4, 1);
    const { result, retries } = run(source, {
      retry: {
        retries: 8,
        minTimeoutMs: 10,
        maxTimeoutMs: 1_000,
        factor: 2,
        maxRetryTimeMs: 60_000,
        jitter: false,
      },
    });
    await result;
    expect(retries.map((r) => r.delayMs)).toEqual([10, 20, 40, 80]);
  });

  it('failures that alternate with progress still exhaust the retries', async () => {
    const source = new FlakySource(100, 1);
    const { result } = run(source, {
      retry: { retries: 3, minTimeoutMs: 1, maxTimeoutMs: 2, jitter: false },
    });
    await expect(result).rejects.toMatchObject({ code: 'RETRIES_EXHAUSTED', retryable: false });
    // Four failures, three retries: progress in between bought no fresh budget.
    expect(source.failed).toBe(4);
  });

  it('opens the breaker when failures dominate, and waits its cool-down before a trial read', async () => {
    // Each read: one batch, then a failure. Outcomes alternate; with window 4 and ratio 0.4 the share of
    // failures (1/2) dominates once the window is full.
    const source = new FlakySource(4, 1);
    const { result, retries } = run(source, {
      breaker: { failureThreshold: 100, failureRatio: 0.4, window: 4, cooldownMs: 150 },
    });
    await result;
    expect(retries[0]!.circuit).toBe('closed');
    const opened = retries.find((r) => r.circuit === 'open');
    expect(opened).toBeDefined();
    expect(opened!.delayMs).toBeGreaterThanOrEqual(140);
    const index = retries.indexOf(opened!);
    const trialGap = source.readsAt[index + 1]! - source.readsAt[index]!;
    expect(trialGap).toBeGreaterThanOrEqual(140);
  });

  it('opens the breaker after consecutive failures without progress', async () => {
    const source = new FlakySource(3, 0);
    const { result, retries } = run(source, {
      breaker: { failureThreshold: 2, failureRatio: 1, window: 10, cooldownMs: 80 },
    });
    await result;
    expect(retries.map((r) => r.circuit)).toEqual(['closed', 'open', 'open']);
    expect(retries[1]!.delayMs).toBeGreaterThanOrEqual(75);
  });
});

/** Virtual time: each wait the runtime asks for passes at once, and is added to the clock. */
class VirtualClock {
  current = Date.UTC(2026, 0, 1);
  now(): number {
    return this.current;
  }
  async sleep(ms: number): Promise<void> {
    this.current += Math.max(0, ms);
  }
}

/** A stream source that yields `good` batches in its first read, then fails every read (a server gone). */
class DownSource implements Source<number> {
  readonly type = 'down';
  readonly cadence = { kind: 'stream' } as const;
  readonly failedAt: number[] = [];
  private reads = 0;

  constructor(
    private readonly clock: VirtualClock,
    private readonly good: number,
  ) {}

  async *read(): AsyncIterable<Batch<number>> {
    this.reads += 1;
    if (this.reads === 1) for (let i = 1; i <= this.good; i += 1) yield { records: [record(i)], position: i };
    this.failedAt.push(this.clock.now());
    throw new FerryError('TEST_CONNECTION_REFUSED', 'connect ECONNREFUSED 127.0.0.1:5432', {
      retryable: true,
    });
  }

  async close(): Promise<void> {}
}

describe('the start-up budget', () => {
  // The long policy a flapping source gets mid-run: minutes of retries.
  const policy = {
    retries: 50,
    minTimeoutMs: 1_000,
    factor: 2,
    maxTimeoutMs: 30_000,
    maxRetryTimeMs: 300_000,
    startupMaxRetryTimeMs: 30_000,
    jitter: false,
  };

  it('fails a source that never answered within startupMaxRetryTimeMs, breaker waits included', async () => {
    const clock = new VirtualClock();
    const started = clock.now();
    const source = new DownSource(clock, 0);
    // Default breaker: it opens after 5 failures with a 30 s cool-down, which must not outlast the budget.
    const { result, retries } = run(source, { retry: policy, breaker: {}, clock });
    const error = await result.catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'RETRIES_EXHAUSTED',
      details: { code: 'TEST_CONNECTION_REFUSED', startup: true },
    });
    expect((error as Error).message).toMatch(/startupMaxRetryTimeMs: 30000 ms\): connect ECONNREFUSED/);
    // The last try is at the end of the budget, not a backoff or cool-down later.
    expect(source.failedAt.at(-1)! - started).toBe(30_000);
    expect(retries.map((r) => r.delayMs)).toEqual([1_000, 2_000, 4_000, 8_000, 15_000]);
  });

  it('counts the budget from the first read, not from the start of a run that waits for its schedule', async () => {
    const clock = new VirtualClock();
    const started = clock.now();
    // A pass source on an hourly cron whose last pass just ended: the first read waits for the next hour.
    const source = new DownSource(clock, 0);
    Object.assign(source, { cadence: { kind: 'passes', intervalMs: 1000 } });
    const checkpoints = new MemoryCheckpoints();
    Object.assign(checkpoints, {
      loadPassState: async () => ({ endedAt: new Date(started).toISOString(), position: 'null' }),
      savePassState: async () => {},
    });
    const { result } = run(source, {
      retry: policy,
      breaker: false,
      clock,
      checkpoints,
      schedule: { cron: '0 * * * *', timezone: 'UTC' },
    });
    await expect(result).rejects.toMatchObject({ code: 'RETRIES_EXHAUSTED', details: { startup: true } });
    const first = source.failedAt[0]!;
    expect(first - started).toBeGreaterThanOrEqual(60 * 60_000 - 60_000);
    expect(source.failedAt.at(-1)! - first).toBe(30_000);
  });

  it('gives a source that answered once the long policy when it fails later', async () => {
    const clock = new VirtualClock();
    const started = clock.now();
    const source = new DownSource(clock, 2);
    const { result } = run(source, { retry: { ...policy, retries: 10 }, breaker: false, clock });
    const error = await result.catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'RETRIES_EXHAUSTED', details: { code: 'TEST_CONNECTION_REFUSED' } });
    expect((error as FerryError).details.startup).toBeUndefined();
    // 1 + 2 + 4 + 8 + 16 + 30 × 5 s of backoff: far past the 30 s a start-up gets.
    expect(source.failedAt.at(-1)! - started).toBe(181_000);
  });

  it('bounds what runs before the first read too: a checkpoint store that cannot be reached', async () => {
    const checkpoints = new MemoryCheckpoints();
    let loads = 0;
    checkpoints.load = async () => {
      loads += 1;
      throw new FerryError('TEST_STORE_DOWN', 'checkpoint store unreachable', { retryable: true });
    };
    const started = performance.now();
    const { result } = run(new FlakySource(0, 1), {
      checkpoints,
      retry: { ...policy, minTimeoutMs: 20, maxTimeoutMs: 40, startupMaxRetryTimeMs: 300 },
    });
    await expect(result).rejects.toMatchObject({
      code: 'RETRIES_EXHAUSTED',
      details: { operation: 'checkpoint.load', code: 'TEST_STORE_DOWN' },
    });
    // 50 retries of up to 40 ms would take 2 s; the budget stops them after about 300 ms.
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(loads).toBeLessThan(50);
  });
});
