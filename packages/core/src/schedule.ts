// Schedules for batch sources, driven by what was last done rather than by timer ticks: a pass runs at
// start when one was missed while the process was down, passes never overlap (the next wait starts only
// when a pass has ended), and a tick that fell inside a long pass is not queued up.
import type { WakeSignal } from './types.js';

/** Time, injectable so schedules are tested without waiting. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or early (without error) when the signal aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, Math.max(0, ms));
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    }),
};

/** The first run strictly after a moment, or undefined when the schedule never fires again. */
export type NextRun = (after: Date) => Date | undefined;

/** A fixed interval as a schedule (used when no cron is configured). */
export function intervalSchedule(ms: number): NextRun {
  return (after) => new Date(after.getTime() + ms);
}

/** True when a run was due between the last run and now (or nothing ever ran): catch up at once. */
export function isRunDue(lastRunAt: Date | undefined, now: Date, next: NextRun): boolean {
  if (lastRunAt === undefined) return true;
  const due = next(lastRunAt);
  return due !== undefined && due.getTime() <= now.getTime();
}

/**
 * Wait until the schedule's next run after `from` (normally: when the last pass ended), or until `wake`
 * fires (an operator asked for a pass now). Returns the moment waited for (now, when woken), or undefined
 * when the signal aborted first or the schedule never fires again.
 */
export async function waitForNextRun(
  from: Date,
  next: NextRun,
  signal: AbortSignal,
  clock: Clock = systemClock,
  wake?: WakeSignal,
): Promise<Date | undefined> {
  const due = next(from);
  if (due === undefined && wake === undefined) return undefined;
  const stopWaiting = new AbortController();
  const both = AbortSignal.any([signal, stopWaiting.signal]);
  let woken = false;
  void wake?.next(both).then(() => {
    if (both.aborted) return;
    woken = true;
    stopWaiting.abort();
  });
  try {
    // Sleep in slices: a clock jump (suspend, NTP) or a far-away run never oversleeps by more than a minute.
    while (!both.aborted) {
      const left = due === undefined ? 60_000 : due.getTime() - clock.now();
      if (left <= 0) return due;
      await clock.sleep(Math.min(left, 60_000), both);
    }
    return woken && !signal.aborted ? new Date(clock.now()) : undefined;
  } finally {
    stopWaiting.abort();
  }
}

/** A wake-up call an operator fires (`ferry serve`'s trigger) and scheduled sources wait on. */
export class WakeUp implements WakeSignal {
  private waiters: (() => void)[] = [];

  /** Wake every source waiting now; returns how many were waiting. */
  wake(): number {
    const waiting = this.waiters;
    this.waiters = [];
    for (const resolve of waiting) resolve();
    return waiting.length;
  }

  /** True when a source is waiting for its next tick (so a wake-up starts a pass at once). */
  get waiting(): boolean {
    return this.waiters.length > 0;
  }

  next(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const done = (): void => {
        signal.removeEventListener('abort', done);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      this.waiters.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
