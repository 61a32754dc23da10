// The one retrier of Ferry. Connector and sink calls are wrapped here and nowhere else, so retries never
// nest. Only errors that say `retryable: true` are retried; everything else stops at the first failure.
import pRetry, { AbortError } from 'p-retry';
import { FerryError, isProgrammerError, isRetryable, RetriesExhaustedError } from './errors.js';

export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  minTimeoutMs: number;
  maxTimeoutMs: number;
  factor: number;
  /** Give up when the operation has been failing for this long, whatever `retries` says. */
  maxRetryTimeMs: number;
  /**
   * Until the source has answered once in a run, give up after failing for this long: a wrong address or
   * a system that is down fails the start in about this time, while one that fails later in the run gets
   * `maxRetryTimeMs`.
   */
  startupMaxRetryTimeMs: number;
  /** Multiply each delay by a random factor between 1 and 2, so many workers do not retry in step. */
  jitter: boolean;
}

export const defaultRetryPolicy: RetryPolicy = {
  retries: 8,
  minTimeoutMs: 200,
  maxTimeoutMs: 30_000,
  factor: 2,
  maxRetryTimeMs: 5 * 60_000,
  startupMaxRetryTimeMs: 30_000,
  jitter: true,
};

export interface RetryAttempt {
  operation: string;
  attempt: number;
  retriesLeft: number;
  error: unknown;
}

export interface Retrier {
  /** `limit` tightens the policy for this call (the runtime's start-up budget). */
  run<T>(
    operation: string,
    fn: (attempt: number) => Promise<T>,
    signal?: AbortSignal,
    limit?: Partial<RetryPolicy>,
  ): Promise<T>;
}

export interface RetrierOptions {
  policy?: Partial<RetryPolicy>;
  onRetry?: (attempt: RetryAttempt) => void;
}

export function createRetrier(options: RetrierOptions = {}): Retrier {
  const base: RetryPolicy = { ...defaultRetryPolicy, ...options.policy };
  return {
    async run<T>(
      operation: string,
      fn: (attempt: number) => Promise<T>,
      signal?: AbortSignal,
      limit?: Partial<RetryPolicy>,
    ): Promise<T> {
      const policy: RetryPolicy = limit === undefined ? base : { ...base, ...limit };
      let lastError: unknown;
      try {
        return await pRetry(
          async (attempt) => {
            try {
              return await fn(attempt);
            } catch (error) {
              lastError = error;
              if (!isRetryable(error) || isProgrammerError(error)) {
                throw new AbortError(error instanceof Error ? error : new Error(String(error)));
              }
              throw error;
            }
          },
          {
            retries: policy.retries,
            factor: policy.factor,
            minTimeout: policy.minTimeoutMs,
            maxTimeout: policy.maxTimeoutMs,
            maxRetryTime: policy.maxRetryTimeMs,
            randomize: policy.jitter,
            ...(signal ? { signal } : {}),
            onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
              // p-retry also reports a stop requested after a clean return; that is no failure to retry.
              if (retriesLeft <= 0 || signal?.aborted) return;
              options.onRetry?.({ operation, attempt: attemptNumber, retriesLeft, error });
              const wait = error instanceof FerryError ? error.retryAfterMs : undefined;
              if (wait !== undefined && wait > 0) await sleep(Math.min(wait, policy.maxTimeoutMs), signal);
            },
          },
        );
      } catch (error) {
        // p-retry rethrows the original error for AbortError and when retries run out.
        const original = lastError ?? error;
        if (signal?.aborted) throw original;
        if (isRetryable(original)) {
          const reason = (original as FerryError).message;
          throw new RetriesExhaustedError(
            'RETRIES_EXHAUSTED',
            `${operation} still failing after retries (${policy.retries} retries, at most ${policy.maxRetryTimeMs} ms): ${reason}`,
            { cause: original, details: { operation, code: (original as FerryError).code } },
          );
        }
        throw original;
      }
    },
  };
}

/**
 * The wait before retry number `attempt` (1 for the first retry): exponential from minTimeoutMs, times a
 * random factor between 1 and 2 when jitter is on, at most maxTimeoutMs; the same curve p-retry follows.
 */
export function backoffDelay(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const base = policy.minTimeoutMs * policy.factor ** Math.max(0, attempt - 1);
  const jittered = policy.jitter ? base * (1 + random()) : base;
  return Math.round(Math.min(jittered, policy.maxTimeoutMs));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * The failures of a source's reads, counted as one streak whether or not batches were committed between
 * them: progress between failures does not buy a fresh budget, so a service that fails every third call
 * still ends in RETRIES_EXHAUSTED (or opens the breaker) instead of being called again at once, forever.
 * The streak ends when a pass completes, or after `maxRetryTimeMs` without a failure.
 */
export class FailureStreak {
  private attempts = 0;
  private startedAt = 0;
  private lastFailureAt = 0;
  private progressed = false;

  constructor(
    private readonly policy: RetryPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  get attempt(): number {
    return this.attempts;
  }

  reset(): void {
    this.attempts = 0;
    this.progressed = false;
  }

  /**
   * A retryable failure of `operation`: how long to wait before trying again (at least the error's
   * Retry-After, at least the backoff for this attempt), or RetriesExhaustedError when the streak is spent.
   * `startedAt` (when the run first read the source) is given while the source has not answered once in
   * this run: the start-up budget (`startupMaxRetryTimeMs` from then) also ends the streak, and no wait
   * runs past it.
   */
  failed(operation: string, error: FerryError, progressed: boolean, startedAt?: number): number {
    const now = this.now();
    if (startedAt !== undefined) {
      const spent = now - startedAt;
      const budget = this.policy.startupMaxRetryTimeMs;
      if (spent >= budget) {
        throw new RetriesExhaustedError(
          'RETRIES_EXHAUSTED',
          `${operation} has not succeeded since its first try ${Math.round(spent / 1000)} s ago ` +
            `(start-up budget runtime.retry.startupMaxRetryTimeMs: ${budget} ms): ${error.message}`,
          {
            cause: error,
            details: { operation, code: error.code, attempts: this.attempts + 1, startup: true },
          },
        );
      }
    }
    if (this.attempts > 0 && now - this.lastFailureAt > this.policy.maxRetryTimeMs) this.reset();
    if (this.attempts === 0) this.startedAt = now;
    this.attempts += 1;
    this.lastFailureAt = now;
    this.progressed ||= progressed;
    const overTime = !this.progressed && now - this.startedAt > this.policy.maxRetryTimeMs;
    if (this.attempts > this.policy.retries || overTime) {
      const spent = overTime ? `for ${now - this.startedAt} ms` : `${this.attempts - 1} retries`;
      throw new RetriesExhaustedError(
        'RETRIES_EXHAUSTED',
        `${operation} still failing after ${spent} (at most ${this.policy.retries} retries in a streak, ` +
          `${this.policy.maxRetryTimeMs} ms without progress): ${error.message}`,
        { cause: error, details: { operation, code: error.code, attempts: this.attempts } },
      );
    }
    const asked = Math.min(error.retryAfterMs ?? 0, this.policy.maxRetryTimeMs);
    const wait = Math.max(backoffDelay(this.policy, this.attempts), asked);
    return startedAt === undefined ? wait : Math.min(wait, this.startupRemaining(startedAt));
  }

  /** What is left of the start-up budget of a run that started at `startedAt` (0 when spent). */
  startupRemaining(startedAt: number): number {
    return Math.max(0, startedAt + this.policy.startupMaxRetryTimeMs - this.now());
  }
}
