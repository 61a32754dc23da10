// A clock that only moves when the test says so, for schedules (core's Clock interface).
import type { Clock } from '@ferry/core/sdk';

export class FakeClock implements Clock {
  private current: number;
  private readonly sleepers: { until: number; resolve: () => void }[] = [];

  constructor(start: Date | number = Date.UTC(2026, 0, 1)) {
    this.current = typeof start === 'number' ? start : start.getTime();
  }

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const onAbort = (): void => {
        this.sleepers.splice(this.sleepers.indexOf(sleeper), 1);
        resolve();
      };
      // Woken by advance(): drop the abort listener so long waits on one signal do not pile listeners up.
      const sleeper = {
        until: this.current + Math.max(0, ms),
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.sleepers.push(sleeper);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Move time forward, waking every sleeper whose time has come (in order). */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      this.sleepers.sort((a, b) => a.until - b.until);
      const next = this.sleepers[0];
      if (!next || next.until > target) break;
      this.sleepers.shift();
      this.current = next.until;
      next.resolve();
      // Let the woken code run (and maybe sleep again) before moving on.
      await new Promise((r) => setImmediate(r));
    }
    this.current = target;
  }

  /** How many sleepers are waiting (a schedule waiting for its next run shows 1). */
  get waiting(): number {
    return this.sleepers.length;
  }
}
