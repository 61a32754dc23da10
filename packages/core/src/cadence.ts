// When a pass source's next pass runs: on the pipeline's cron schedule (in its time zone) or every
// `intervalMs`, never overlapping (the wait starts when a pass has ended), at once on an operator's wake-up,
// and at start only when a run was missed while the process was down or the last pass was cut short.
import { runSchedule } from './cron.js';
import { type Clock, isRunDue, type NextRun, waitForNextRun } from './schedule.js';
import type { PassState, WakeSignal } from './types.js';

export interface PassTimerOptions {
  intervalMs: number;
  schedule?: { cron: string; timezone: string } | undefined;
  clock: Clock;
  wake?: WakeSignal | undefined;
}

export class PassTimer {
  private readonly next: NextRun;

  constructor(private readonly options: PassTimerOptions) {
    this.next = runSchedule(options.schedule, options.intervalMs);
  }

  /** Only a cron schedule makes the end of the last pass worth remembering across processes. */
  get remembers(): boolean {
    return this.options.schedule !== undefined;
  }

  /**
   * Whether the first pass of this process runs at once: always on an interval; on a cron schedule when
   * nothing is remembered, when the checkpoint moved since the last pass ended (a pass was cut short), or
   * when a run fell due since then (catch-up: one pass, however many runs were missed).
   */
  dueAtStart(state: PassState | undefined, committed: string): boolean {
    if (!this.remembers || state === undefined || state.position !== committed) return true;
    return isRunDue(new Date(state.endedAt), new Date(this.options.clock.now()), this.next);
  }

  /**
   * Wait for the first run after `from` (or a wake-up). False when the run stopped first or the schedule
   * never fires again.
   */
  async wait(from: Date, signal: AbortSignal): Promise<boolean> {
    const at = await waitForNextRun(from, this.next, signal, this.options.clock, this.options.wake);
    return at !== undefined && !signal.aborted;
  }
}
