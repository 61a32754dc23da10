// Bounded polling for tests and conformance checks: wait for an observable condition, never for a fixed time.

export interface WaitOptions {
  /** Give up after this long (default 5 s). The condition is always tried at least once. */
  timeoutMs?: number;
  /** Pause between tries (default 50 ms). */
  intervalMs?: number;
}

/**
 * Try `condition` until it holds, then resolve; reject when `timeoutMs` passes first. `describe` says what
 * was awaited, for the error message.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  describe = 'condition',
): Promise<void> {
  await eventually(condition, (held) => held, { timeoutMs }).then((held) => {
    if (!held) throw new Error(`${describe} did not hold within ${timeoutMs} ms`);
  });
}

/**
 * Read `observe` until `done(value)` holds or the time is up, and return the last value read either way, so
 * the caller can say precisely what it saw when the wait failed.
 */
export async function eventually<T>(
  observe: () => T | Promise<T>,
  done: (value: T) => boolean,
  { timeoutMs = 5_000, intervalMs = 50 }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await observe();
    if (done(value) || Date.now() >= deadline) return value;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now()))),
    );
  }
}
