// Core drives a pass source's time: one pass per cron tick on an injected clock, catch-up of a run missed
// while down (and only then), a pass at once on an operator's wake-up, one pass with --once, and a schedule
// refused for a stream source.
import { FakeClock } from '@ferry/testkit';
import { describe, expect, it } from 'vitest';
import { type PipelineOptions, runPipeline, WakeUp } from '../../src/index.js';
import type { Batch, PassState, ReadContext, Source } from '../../src/sdk.js';
import { identityMapping, MemoryCheckpoints, MemoryDeadLetters, MemorySink, record } from './helpers.js';

/** A pass source: each pass yields one batch of one new record; it remembers where every pass began. */
class PassSource implements Source<number> {
  readonly type = 'passes';
  readonly cadence = { kind: 'passes', intervalMs: 60_000 } as const;
  readonly starts: (number | undefined)[] = [];
  readonly passed = new Set<() => void>();

  async *read(ctx: ReadContext<number>): AsyncIterable<Batch<number>> {
    this.starts.push(ctx.from);
    const next = (ctx.from ?? 0) + 1;
    yield { records: [record(next)], position: next };
    for (const notify of this.passed) notify();
  }

  /** Resolves when `count` passes have started in all. */
  async untilPasses(count: number): Promise<void> {
    for (let i = 0; i < 500 && this.starts.length < count; i += 1) await new Promise((r) => setTimeout(r, 2));
    expect(this.starts.length).toBe(count);
  }

  async close(): Promise<void> {}
}

class PassStateCheckpoints extends MemoryCheckpoints {
  state: PassState | undefined;
  async loadPassState(): Promise<PassState | undefined> {
    return this.state;
  }
  async savePassState(_pipeline: string, state: PassState): Promise<void> {
    this.state = state;
  }
}

function start(source: Source<number>, extra: Partial<PipelineOptions<number>> = {}) {
  const stop = new AbortController();
  const run = runPipeline<number>({
    name: 'cadence',
    source,
    mapping: identityMapping,
    sink: new MemorySink(),
    deadLetters: new MemoryDeadLetters(),
    checkpoints: new PassStateCheckpoints(),
    signal: stop.signal,
    ...extra,
  });
  return { stop, run };
}

/** Let the run reach its next wait for the clock. */
async function settle(clock: FakeClock): Promise<void> {
  for (let i = 0; i < 500 && clock.waiting === 0; i += 1) await new Promise((r) => setTimeout(r, 2));
  expect(clock.waiting).toBeGreaterThan(0);
}

describe('pass cadence', () => {
  it('runs one pass per cron tick, each from the last checkpoint', async () => {
    const clock = new FakeClock(Date.parse('2026-01-01T00:00:30Z'));
    const source = new PassSource();
    const { stop, run } = start(source, { clock, schedule: { cron: '*/1 * * * *', timezone: 'UTC' } });
    // Nothing remembered: the first pass runs at start.
    await source.untilPasses(1);
    await settle(clock);
    await clock.advance(29_000);
    expect(source.starts).toHaveLength(1);
    await clock.advance(1_000); // 00:01:00
    await source.untilPasses(2);
    await settle(clock);
    await clock.advance(60_000); // 00:02:00
    await source.untilPasses(3);
    await settle(clock);
    stop.abort();
    const summary = await run;
    expect(source.starts).toEqual([undefined, 1, 2]);
    expect(summary.eventsWritten).toBe(3);
  });

  it('at start, runs a pass only when a run was missed while down or the last pass was cut short', async () => {
    const schedule = { cron: '0 * * * *', timezone: 'UTC' };
    const scenario = async (state: PassState, saved: number) => {
      const clock = new FakeClock(Date.parse('2026-01-01T10:30:00Z'));
      const checkpoints = new PassStateCheckpoints();
      checkpoints.state = state;
      await checkpoints.save('cadence', saved);
      const source = new PassSource();
      const { stop, run } = start(source, { clock, schedule, checkpoints });
      await settle(clock);
      const startsAtStart = source.starts.length;
      stop.abort();
      await run;
      return startsAtStart;
    };
    // The 10:00 run happened (ended 10:00:05 at checkpoint 4): wait for 11:00.
    expect(await scenario({ endedAt: '2026-01-01T10:00:05.000Z', position: '4' }, 4)).toBe(0);
    // The last pass ended at 08:00:05: the 09:00 and 10:00 runs were missed; one pass catches up.
    expect(await scenario({ endedAt: '2026-01-01T08:00:05.000Z', position: '4' }, 4)).toBe(1);
    // The checkpoint moved after the last pass ended: a pass was cut short; finish it now.
    expect(await scenario({ endedAt: '2026-01-01T10:00:05.000Z', position: '4' }, 6)).toBe(1);
  });

  it('remembers when the last pass ended and at which checkpoint', async () => {
    const clock = new FakeClock(Date.parse('2026-01-01T10:30:00Z'));
    const checkpoints = new PassStateCheckpoints();
    const source = new PassSource();
    const { stop, run } = start(source, {
      clock,
      checkpoints,
      schedule: { cron: '0 * * * *', timezone: 'UTC' },
    });
    await settle(clock);
    stop.abort();
    await run;
    expect(checkpoints.state).toEqual({ endedAt: '2026-01-01T10:30:00.000Z', position: '1' });
  });

  it('starts a pass at once when an operator wakes it', async () => {
    const clock = new FakeClock(Date.parse('2026-01-01T10:30:00Z'));
    const wake = new WakeUp();
    const source = new PassSource();
    const { stop, run } = start(source, { clock, wake, schedule: { cron: '0 3 * * *', timezone: 'UTC' } });
    await source.untilPasses(1);
    await settle(clock);
    for (let i = 0; i < 500 && !wake.waiting; i += 1) await new Promise((r) => setTimeout(r, 2));
    expect(wake.wake()).toBe(1);
    await source.untilPasses(2);
    stop.abort();
    await run;
    expect(source.starts).toEqual([undefined, 1]);
  });

  it('without a schedule, waits pollIntervalMs after a pass ends; --once reads one pass and ends', async () => {
    const clock = new FakeClock();
    const source = new PassSource();
    const { stop, run } = start(source, { clock });
    await source.untilPasses(1);
    await settle(clock);
    await clock.advance(59_999);
    expect(source.starts).toHaveLength(1);
    await clock.advance(1);
    await source.untilPasses(2);
    stop.abort();
    await run;

    const once = new PassSource();
    const summary = await start(once, { clock: new FakeClock(), once: true }).run;
    expect(once.starts).toEqual([undefined]);
    expect(summary.stoppedBy).toBe('end');
  });

  it('refuses a schedule for a stream source, naming the option', async () => {
    const source: Source<number> = {
      type: 'replication',
      cadence: { kind: 'stream' },
      async *read() {},
      close: async () => {},
    };
    await expect(
      start(source, { schedule: { cron: '0 * * * *', timezone: 'UTC' } }).run,
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('schedule') });
  });
});
