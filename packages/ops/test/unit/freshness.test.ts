// Expectations judged at their deadlines, driven by a fake clock: a late file is reported at the deadline
// (not when it finally turns up), short and oversized deliveries fail, and deadlines follow local time
// across a DST change.
import { type BatchesCommitted, createLogger, type Expectation } from '@ferry/core';
import { FakeClock } from '@ferry/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics, ExpectationMonitor, type FerryMetrics } from '../../src/index.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const courtList: Expectation = {
  name: 'court-list',
  description: 'a court-list file by 02:30 on weekdays',
  deadline: { cron: '30 2 * * 1-5', timezone: 'Europe/London' },
  stream: 'court-lists/*.csv',
  records: { min: 15_000, max: 25_000 },
};

interface Setup {
  clock: FakeClock;
  monitor: ExpectationMonitor;
  metrics: FerryMetrics;
  lines: Record<string, unknown>[];
}

const running: { stop: AbortController; done: Promise<void> }[] = [];

afterEach(async () => {
  for (const r of running.splice(0)) {
    r.stop.abort();
    await r.done;
  }
});

/** A monitor started at `start`, logging into `lines`. Monday 23 November 2026 is GMT (London = UTC). */
function setup(expectations: Expectation[], start = '2026-11-23T00:00:00Z'): Setup {
  const clock = new FakeClock(new Date(start));
  const metrics = createMetrics();
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'info', destination: { write: (line) => lines.push(JSON.parse(line)) } });
  const monitor = new ExpectationMonitor({ pipeline: 'courts', expectations, clock, log, metrics });
  const stop = new AbortController();
  running.push({ stop, done: monitor.start(stop.signal) });
  return { clock, monitor, metrics, lines };
}

/** A file arrives: its rows and its completion notice committed together (stamped with the clock's time). */
function deliver(s: Setup, rows: number, stream = 'court-lists/*.csv'): void {
  commit(s, rows, stream, new Date(s.clock.now()), [
    { type: 'ferry.file.completed', stream, data: { rows } },
  ]);
}

function commit(
  s: Setup,
  records: number,
  stream = 'court-lists/*.csv',
  at = new Date(s.clock.now()),
  notices: BatchesCommitted['notices'] = [],
): void {
  s.monitor.committed({
    pipeline: 'courts',
    batches: 1,
    streams: [{ stream, records, events: records, skipped: 0, deadLetters: {} }],
    notices,
    latencySeconds: [0.1],
    position: {},
    at,
  });
}

/** Advance to an instant (ISO), letting every check due on the way run. */
async function advanceTo(s: Setup, iso: string): Promise<void> {
  await s.clock.advance(Date.parse(iso) - s.clock.now());
}

const failures = (s: Setup) => s.lines.filter((l) => l.level === 'error');

async function metric(s: Setup, name: string, labels: Record<string, string> = {}) {
  const values = (await s.metrics.registry.getSingleMetric(name)!.get()).values;
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
}

describe('ExpectationMonitor', () => {
  it('reports a late file as missing at the deadline, and counts it in the next window', async () => {
    const s = setup([courtList]);
    expect(s.monitor.status()[0]).toMatchObject({
      name: 'court-list',
      status: 'pending',
      nextDeadline: '2026-11-23T02:30:00.000Z',
    });
    expect(await metric(s, 'ferry_expectation_met')).toBeUndefined();

    await advanceTo(s, '2026-11-23T02:29:59Z');
    expect(failures(s)).toEqual([]);
    await s.clock.advance(1000);
    expect(failures(s)).toHaveLength(1);
    expect(failures(s)[0]).toMatchObject({
      code: 'FRESHNESS_MISSING',
      pipeline: 'courts',
      expectation: 'court-list',
      stream: 'court-lists/*.csv',
      windowStart: '2026-11-23T00:00:00.000Z',
      windowEnd: '2026-11-23T02:30:00.000Z',
      records: 0,
      deliveries: 0,
      expected: { min: 15_000, max: 25_000 },
      msg: 'no court-list delivery by 02:30 Europe/London (window since 2026-11-23T00:00:00.000Z)',
    });
    expect(await metric(s, 'ferry_expectation_failures_total', { reason: 'missing' })).toBe(1);
    expect(await metric(s, 'ferry_expectation_met')).toBe(0);
    expect(s.monitor.status()[0]).toMatchObject({
      status: 'missing',
      lastCheck: {
        at: '2026-11-23T02:30:00.000Z',
        windowStart: '2026-11-23T00:00:00.000Z',
        records: 0,
        deliveries: 0,
      },
      nextDeadline: '2026-11-24T02:30:00.000Z',
    });

    // The file turns up at 07:10: it belongs to Tuesday's window, which it meets.
    await advanceTo(s, '2026-11-23T07:10:00Z');
    deliver(s, 18_000);
    await advanceTo(s, '2026-11-24T02:30:00Z');
    expect(failures(s)).toHaveLength(1);
    expect(s.monitor.status()[0]).toMatchObject({
      status: 'met',
      lastCheck: { windowStart: '2026-11-23T02:30:00.000Z', records: 18_000, deliveries: 1 },
    });
    expect(await metric(s, 'ferry_expectation_met')).toBe(1);
    expect(await metric(s, 'ferry_expectation_failures_total', { reason: 'missing' })).toBe(1);
  });

  it('fails a short delivery', async () => {
    const s = setup([courtList]);
    await advanceTo(s, '2026-11-23T01:50:00Z');
    deliver(s, 1_200);
    await advanceTo(s, '2026-11-23T02:30:00Z');
    expect(failures(s)).toHaveLength(1);
    expect(failures(s)[0]).toMatchObject({
      code: 'FRESHNESS_SHORT',
      records: 1_200,
      deliveries: 1,
      msg: 'short court-list delivery by 02:30 Europe/London: 1,200 records, expected at least 15,000 (window since 2026-11-23T00:00:00.000Z)',
    });
    expect(await metric(s, 'ferry_expectation_failures_total', { reason: 'short' })).toBe(1);
    expect(await metric(s, 'ferry_expectation_records')).toBe(1_200);
  });

  it('fails an oversized delivery', async () => {
    const s = setup([courtList]);
    await advanceTo(s, '2026-11-23T01:00:00Z');
    deliver(s, 20_000);
    deliver(s, 10_000);
    await advanceTo(s, '2026-11-23T02:30:00Z');
    expect(failures(s)).toHaveLength(1);
    expect(failures(s)[0]).toMatchObject({ code: 'FRESHNESS_OVER', records: 30_000, deliveries: 2 });
    expect(String(failures(s)[0]!.msg)).toContain('30,000 records, expected at most 25,000');
    expect(await metric(s, 'ferry_expectation_failures_total', { reason: 'over' })).toBe(1);
  });

  it('logs a met window at info and sums every commit in it', async () => {
    const s = setup([courtList]);
    await advanceTo(s, '2026-11-23T01:00:00Z');
    commit(s, 9_000, 'court-lists/*.csv', new Date(s.clock.now()), [
      { type: 'ferry.file.completed', stream: 'court-lists/*.csv', data: {} },
    ]);
    await advanceTo(s, '2026-11-23T01:05:00Z');
    commit(s, 9_000);
    await advanceTo(s, '2026-11-23T02:30:00Z');
    expect(failures(s)).toEqual([]);
    const met = s.lines.find((l) => l.expectation === 'court-list');
    expect(met).toMatchObject({ level: 'info', records: 18_000, deliveries: 1 });
    expect(met).not.toHaveProperty('code');
    expect(s.monitor.status()[0]!.status).toBe('met');
    expect(await metric(s, 'ferry_expectation_met')).toBe(1);
    expect(await metric(s, 'ferry_expectation_records')).toBe(18_000);
  });

  it('counts only the expectation’s stream', async () => {
    const anyStream: Expectation = { name: 'anything', deadline: courtList.deadline, records: { min: 1 } };
    const s = setup([courtList, anyStream]);
    await advanceTo(s, '2026-11-23T01:00:00Z');
    deliver(s, 20_000, 'prison-roll/*.csv');
    await advanceTo(s, '2026-11-23T02:30:00Z');
    const [courts, anything] = s.monitor.status();
    expect(courts).toMatchObject({ status: 'missing', lastCheck: { records: 0, deliveries: 0 } });
    expect(anything).toMatchObject({ status: 'met', lastCheck: { records: 20_000, deliveries: 1 } });
    expect(failures(s).map((l) => l.expectation)).toEqual(['court-list']);
  });

  it('counts an empty file as a delivery: short, not missing, and met when no rows are allowed', async () => {
    const s = setup([courtList, { ...courtList, name: 'may-be-empty', records: { min: 0 } }]);
    await advanceTo(s, '2026-11-23T01:00:00Z');
    deliver(s, 0);
    await advanceTo(s, '2026-11-23T02:30:00Z');
    expect(s.monitor.status().map((e) => e.status)).toEqual(['short', 'met']);
    expect(failures(s)[0]).toMatchObject({ code: 'FRESHNESS_SHORT', records: 0, deliveries: 1 });
  });

  it('checks weekdays only: Friday’s deadline is followed by Monday’s', async () => {
    const s = setup([courtList], '2026-11-27T00:00:00Z');
    await advanceTo(s, '2026-11-27T02:30:00Z');
    expect(s.monitor.status()[0]!.nextDeadline).toBe('2026-11-30T02:30:00.000Z');
    deliver(s, 16_000);
    await advanceTo(s, '2026-11-30T02:30:00Z');
    expect(s.monitor.status()[0]).toMatchObject({
      status: 'met',
      lastCheck: { windowStart: '2026-11-27T02:30:00.000Z', records: 16_000 },
    });
    expect(failures(s)).toHaveLength(1);
  });

  it('puts a commit stamped at or after the deadline into the next window', async () => {
    const s = setup([courtList]);
    await advanceTo(s, '2026-11-23T02:29:00Z');
    commit(s, 20_000, 'court-lists/*.csv', new Date('2026-11-23T02:30:00Z'));
    await advanceTo(s, '2026-11-23T02:30:00Z');
    expect(s.monitor.status()[0]!.status).toBe('missing');
    await advanceTo(s, '2026-11-24T02:30:00Z');
    expect(s.monitor.status()[0]).toMatchObject({ status: 'met', lastCheck: { records: 20_000 } });
  });

  it('follows 02:30 Europe/London across the March change to BST', async () => {
    // Sunday 29 March 2026: clocks go from 01:00 GMT to 02:00 BST, so 02:30 is 01:30 UTC from then on.
    const daily: Expectation = { ...courtList, deadline: { cron: '30 2 * * *', timezone: 'Europe/London' } };
    const s = setup([daily], '2026-03-28T00:00:00Z');
    await advanceTo(s, '2026-03-28T01:00:00Z');
    deliver(s, 20_000);
    await advanceTo(s, '2026-03-28T02:30:00Z');
    expect(s.monitor.status()[0]).toMatchObject({ status: 'met', nextDeadline: '2026-03-29T01:30:00.000Z' });

    // The file comes at 01:45 UTC: 02:45 BST, a quarter of an hour after the deadline.
    await advanceTo(s, '2026-03-29T01:29:59Z');
    expect(failures(s)).toEqual([]);
    await s.clock.advance(1000);
    expect(failures(s)).toHaveLength(1);
    expect(failures(s)[0]).toMatchObject({
      code: 'FRESHNESS_MISSING',
      windowStart: '2026-03-28T02:30:00.000Z',
      windowEnd: '2026-03-29T01:30:00.000Z',
      msg: 'no court-list delivery by 02:30 Europe/London (window since 2026-03-28T02:30:00.000Z)',
    });
    await advanceTo(s, '2026-03-29T01:45:00Z');
    deliver(s, 20_000);
    await advanceTo(s, '2026-03-30T01:30:00Z');
    expect(s.monitor.status()[0]).toMatchObject({
      status: 'met',
      lastCheck: { at: '2026-03-30T01:30:00.000Z', windowStart: '2026-03-29T01:30:00.000Z', records: 20_000 },
    });
  });

  it('refuses an expectation whose deadline cannot be scheduled', () => {
    const bad = { ...courtList, deadline: { cron: '30 2 * * *', timezone: 'Europe/Atlantis' } };
    expect(
      () =>
        new ExpectationMonitor({
          pipeline: 'courts',
          expectations: [bad],
          log: createLogger({ level: 'silent' }),
        }),
    ).toThrow(/expectations\[0\]\.deadline.*IANA time zone/s);
  });

  it('stops checking when the signal aborts', async () => {
    const clock = new FakeClock(new Date('2026-11-23T00:00:00Z'));
    const monitor = new ExpectationMonitor({
      pipeline: 'courts',
      expectations: [courtList],
      clock,
      log: createLogger({ level: 'silent' }),
    });
    const stop = new AbortController();
    const done = monitor.start(stop.signal);
    await clock.advance(MINUTE);
    expect(clock.waiting).toBe(1);
    stop.abort();
    await done;
    expect(clock.waiting).toBe(0);
    await clock.advance(3 * HOUR);
    expect(monitor.status()[0]!.status).toBe('pending');
  });
});
