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
