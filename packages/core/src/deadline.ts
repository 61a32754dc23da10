// Bounds a readiness probe: it settles by its deadline or when the caller aborts, whichever comes first,
// while the check it started is left to finish (and clean up after itself) in the background.

/**
 * Run `check` with a signal that aborts at the deadline or with `signal`. Rejects with `late(cancelled)`
 * when that signal fires first (`cancelled` says the caller aborted rather than the deadline passed).
 */
export function withDeadline(
  check: (signal: AbortSignal) => Promise<void>,
  signal: AbortSignal,
  timeoutMs: number,
  late: (cancelled: boolean) => Error,
): Promise<void> {
  const bound = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
  return new Promise<void>((resolve, reject) => {
    const stop = () => reject(late(signal.aborted));
    if (bound.aborted) return stop();
    bound.addEventListener('abort', stop, { once: true });
    check(bound)
      .then(resolve, reject)
      .finally(() => bound.removeEventListener('abort', stop));
  });
}
