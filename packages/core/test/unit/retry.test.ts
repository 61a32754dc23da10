import { createRetrier, FerryError } from '@ferry/core';
import { describe, expect, it } from 'vitest';

describe('retrier', () => {
  it('honours Retry-After from the error before trying again', async () => {
    const retrier = createRetrier({
      policy: { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 1_000, jitter: false },
    });
    let calls = 0;
    const started = performance.now();
    const result = await retrier.run('call', async () => {
      calls += 1;
      if (calls === 1) throw new FerryError('HTTP_503', 'busy', { retryable: true, retryAfterMs: 150 });
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('stops retrying when aborted', async () => {
    const controller = new AbortController();
    const retrier = createRetrier({
      policy: { retries: 50, minTimeoutMs: 20, maxTimeoutMs: 20, jitter: false },
    });
    let calls = 0;
    const run = retrier.run(
      'call',
      async () => {
        calls += 1;
        if (calls === 2) controller.abort();
        throw new FerryError('DOWN', 'down', { retryable: true });
      },
      controller.signal,
    );
    await expect(run).rejects.toBeDefined();
    expect(calls).toBeLessThanOrEqual(3);
  });

  it('respects the total time limit', async () => {
    const retrier = createRetrier({
      policy: { retries: 1000, minTimeoutMs: 5, maxTimeoutMs: 5, maxRetryTimeMs: 60, jitter: false },
    });
    const error = await retrier
      .run('call', async () => {
        throw new FerryError('DOWN', 'down', { retryable: true });
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'RETRIES_EXHAUSTED' });
  });
});
