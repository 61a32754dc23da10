// The pipeline-level schedule, run by core, driving the SFTP pass source against the real sshd with an
// injected clock: a pass at start when a run was missed, the next pass only at the cron time, never while
// another pass runs. The source only reads what is there when a pass starts.
import { FakeClock } from '@ferry/testkit';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../../examples/quickstart/test/cli.js';
import { drop, remoteDir, runOnce, stored, workDir } from '../helpers.js';

const csv = { type: 'csv' as const };
// 02:15 in London is 01:15 UTC in summer.
const schedule = { cron: '15 2 * * *', timezone: 'Europe/London' };

function files(events: { data: unknown }[]): string[] {
  return events.map((e) => (e.data as { id: string }).id);
}

describe('sftp schedule (pipeline-level cron, injected clock)', () => {
  it('runs at start, then only at the next cron time; a restart before it waits, one after it catches up', async () => {
    const dir = await workDir();
    const { remote, local } = remoteDir('schedule');
    const options = {
      paths: [`${remote}/*.csv`],
      format: csv,
      key: ['id'],
      stability: { mode: 'rename' as const },
      afterProcessing: 'leave' as const,
    };
    drop(local, 'a.csv', 'id\na\n');

    const clock = new FakeClock(new Date('2026-06-01T01:00:00Z'));
    const stop = new AbortController();
    const running = runOnce(dir, options, { once: false, signal: stop.signal, clock, schedule });
    // Nothing ever ran: the first pass is due at once.
    await waitFor(async () => files((await stored(dir)).events).length === 1, 10_000, 'the first pass');
    await waitFor(() => clock.waiting === 1, 10_000, 'the wait for 02:15 London');
    drop(local, 'b.csv', 'id\nb\n');
    await clock.advance(14 * 60_000);
    await waitFor(() => clock.waiting === 1, 10_000, 'still waiting at 02:14');
    expect(files((await stored(dir)).events)).toEqual(['a']);
    await clock.advance(60_000);
    await waitFor(async () => files((await stored(dir)).events).length === 2, 10_000, 'the 02:15 pass');
    await waitFor(() => clock.waiting === 1, 10_000, 'the wait for the next day');
    expect(clock.now()).toBe(Date.parse('2026-06-01T01:15:00Z'));
    stop.abort();
    await running;

    // Restarted the same day after that run: no run was missed, so it waits (c.csv stays unread).
    drop(local, 'c.csv', 'id\nc\n');
    const later = new FakeClock(new Date('2026-06-01T09:00:00Z'));
    const stop2 = new AbortController();
    const waiting = runOnce(dir, options, {
      once: false,
      signal: stop2.signal,
      clock: later,
      schedule,
    });
    await waitFor(() => later.waiting === 1, 10_000, 'the restarted source waiting');
    expect(files((await stored(dir)).events)).toEqual(['a', 'b']);
    stop2.abort();
    await waiting;

    // Restarted the next day after 02:15: that run was missed while down and is caught up at once.
    const nextDay = new FakeClock(new Date('2026-06-02T09:00:00Z'));
    const stop3 = new AbortController();
    const catchUp = runOnce(dir, options, {
      once: false,
      signal: stop3.signal,
      clock: nextDay,
      schedule,
    });
    await waitFor(async () => files((await stored(dir)).events).length === 3, 10_000, 'the catch-up pass');
    expect(files((await stored(dir)).events)).toEqual(['a', 'b', 'c']);
    stop3.abort();
    await catchUp;
  });
});
