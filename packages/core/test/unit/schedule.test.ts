// Schedules with an injected clock: catch-up at start, waits that end at the due time or on abort.
import { describe, expect, it } from 'vitest';
import { type Clock, intervalSchedule, isRunDue, waitForNextRun } from '../../src/schedule.js';

function fakeClock(start: number): Clock & { slept: number[] } {
  let now = start;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
}

const hourly = (after: Date) => new Date((Math.floor(after.getTime() / 3_600_000) + 1) * 3_600_000);

describe('schedule', () => {
  it('a run missed while down is due at start; one not yet due is not', () => {
    const now = new Date('2024-01-02T10:30:00Z');
    expect(isRunDue(undefined, now, hourly)).toBe(true);
    expect(isRunDue(new Date('2024-01-02T08:10:00Z'), now, hourly)).toBe(true);
    expect(isRunDue(new Date('2024-01-02T10:05:00Z'), now, hourly)).toBe(false);
    expect(isRunDue(new Date('2024-01-02T10:05:00Z'), now, () => undefined)).toBe(false);
  });

  it('waits until the next run in slices of at most a minute', async () => {
    const clock = fakeClock(Date.parse('2024-01-02T10:58:30Z'));
    const due = await waitForNextRun(new Date(clock.now()), hourly, new AbortController().signal, clock);
    expect(due?.toISOString()).toBe('2024-01-02T11:00:00.000Z');
    expect(clock.slept).toEqual([60_000, 30_000]);
  });

  it('returns undefined at once when aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const clock = fakeClock(0);
    expect(
      await waitForNextRun(new Date(0), intervalSchedule(1000), controller.signal, clock),
    ).toBeUndefined();
    expect(clock.slept).toEqual([]);
  });

  it('a pass longer than the interval does not queue runs (no overlap, no burst)', async () => {
    const clock = fakeClock(0);
    const next = intervalSchedule(1000);
    // The pass ended at 5 s; the next run is measured from its end, not from the missed ticks.
    const due = await waitForNextRun(new Date(5000), next, new AbortController().signal, fakeClock(5000));
    expect(due?.getTime()).toBe(6000);
    expect(clock.now()).toBe(0);
  });
});
