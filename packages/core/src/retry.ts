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
  /** Multiply each delay by a random factor between 1 and 2, so many workers do not retry in step. */
  jitter: boolean;
}

export const defaultRetryPolicy: RetryPolicy = {
  retries: 8,
  minTimeoutMs: 200,
  maxTimeoutMs: 30_000,
  factor: 2,
  maxRetryTimeMs: 5 * 60_000,
  jitter: true,
};

export interface RetryAttempt {
  operation: string;
  attempt: number;
  retriesLeft: number;
  error: unknown;
}

export interface Retrier {
  run<T>(operation: string, fn: (attempt: number) => Promise<T>, signal?: AbortSignal): Promise<T>;
}

export interface RetrierOptions {
  policy?: Partial<RetryPolicy>;
  onRetry?: (attempt: RetryAttempt) => void;
}

export function createRetrier(options: RetrierOptions = {}): Retrier {
  const policy: RetryPolicy = { ...defaultRetryPolicy, ...options.policy };
  return {
    async run<T>(operation: string, fn: (attempt: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
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
