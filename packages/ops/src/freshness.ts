// Freshness and completeness against the legacy schedule: a pipeline declares what should have arrived by
// each deadline ("a court-list file by 02:30 Europe/London on weekdays, 15,000–25,000 rows"), and a missing,
// short or oversized delivery is reported at the deadline itself, as a metric and one log line.
// Counts are kept in memory from the moment the monitor is created; a restart starts a fresh window.
import {
  type BatchesCommitted,
  cronSchedule,
  type Expectation,
  type NextRun,
  type PipelineObserver,
  scheduleProblem,
  waitForNextRun,
} from '@ferry/core';
import { type Clock, ConfigError, type Logger, systemClock } from '@ferry/core/sdk';
import type { ExpectationOutcome, FerryMetrics } from './metrics.js';

/** The same shape as `ExpectationStatus` in @ferry/server's admin API. */
export interface ExpectationStatus {
  name: string;
  /** `pending` until the first deadline has passed. */
  status: 'pending' | ExpectationOutcome;
  deadline: { cron: string; timezone: string };
  /** The last deadline checked, and what had arrived in its window. */
  lastCheck?: { at: string; windowStart: string; records: number; deliveries: number };
  nextDeadline?: string;
}

export interface ExpectationMonitorOptions {
  pipeline: string;
  expectations: Expectation[];
  clock?: Clock;
  log: Logger;
  metrics?: FerryMetrics;
}

/** A notice of this type counts as one delivery, even when the file had no rows. */
const DELIVERY_NOTICE = 'ferry.file.completed';

const CODES = {
  missing: 'FRESHNESS_MISSING',
  short: 'FRESHNESS_SHORT',
  over: 'FRESHNESS_OVER',
} as const;

interface Tally {
  records: number;
  deliveries: number;
}

interface Watch {
  expectation: Expectation;
  next: NextRun;
  windowStart: number;
  /** The deadline being waited for; undefined before start() or when the schedule never fires again. */
  deadline: number | undefined;
  /** What arrived before the deadline (the window being judged). */
  open: Tally;
  /** What arrived at or after the deadline but before the check ran: the next window's. */
  early: Tally;
  status: ExpectationStatus['status'];
  lastCheck?: ExpectationStatus['lastCheck'];
}

export class ExpectationMonitor implements PipelineObserver {
  private readonly pipeline: string;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly metrics: FerryMetrics | undefined;
  private readonly watches: Watch[];

  constructor(options: ExpectationMonitorOptions) {
    this.pipeline = options.pipeline;
    this.clock = options.clock ?? systemClock;
    this.log = options.log;
    this.metrics = options.metrics;
    const created = this.clock.now();
    this.watches = options.expectations.map((expectation, i) => {
      const { cron, timezone } = expectation.deadline;
      const problem = scheduleProblem(cron, timezone);
      if (problem)
        throw new ConfigError(undefined, [{ path: `expectations[${i}].deadline`, message: problem }]);
      return {
        expectation,
        next: cronSchedule(cron, timezone),
        windowStart: created,
        deadline: undefined,
        open: { records: 0, deliveries: 0 },
        early: { records: 0, deliveries: 0 },
        status: 'pending',
      };
    });
  }

  /** Rows and deliveries count when they are durable, together, in the window of their commit. */
  committed(info: BatchesCommitted): void {
    const at = info.at.getTime();
    for (const s of info.streams) {
      if (s.records > 0) this.add(s.stream, at, { records: s.records, deliveries: 0 });
    }
    for (const notice of info.notices) {
      if (notice.type === DELIVERY_NOTICE) this.add(notice.stream, at, { records: 0, deliveries: 1 });
    }
  }

  /** Check every expectation at each of its deadlines until the signal aborts. */
  async start(signal: AbortSignal): Promise<void> {
    await Promise.all(this.watches.map((watch) => this.watch(watch, signal)));
  }

  status(): ExpectationStatus[] {
    return this.watches.map((w) => ({
      name: w.expectation.name,
      status: w.status,
      deadline: { ...w.expectation.deadline },
      ...(w.lastCheck ? { lastCheck: { ...w.lastCheck } } : {}),
      ...(w.deadline === undefined ? {} : { nextDeadline: new Date(w.deadline).toISOString() }),
    }));
  }

  private add(stream: string, at: number, tally: Tally): void {
    for (const w of this.watches) {
      if (w.expectation.stream !== undefined && w.expectation.stream !== stream) continue;
      // Anything that reports late for an already judged window counts towards the open one.
      const into = w.deadline !== undefined && at >= w.deadline ? w.early : w.open;
      into.records += tally.records;
      into.deliveries += tally.deliveries;
    }
  }

  private async watch(w: Watch, signal: AbortSignal): Promise<void> {
    let from = new Date(this.clock.now());
    while (!signal.aborted) {
      w.deadline = w.next(from)?.getTime();
      if (w.deadline === undefined) return;
      const due = await waitForNextRun(from, w.next, signal, this.clock);
      if (due === undefined) return;
      this.judge(w, due.getTime());
      from = due;
    }
  }

  private judge(w: Watch, deadline: number): void {
    const { name, records: expected, deadline: when } = w.expectation;
    const { records, deliveries } = w.open;
    const outcome: ExpectationOutcome =
      records === 0 && deliveries === 0
        ? 'missing'
        : records < expected.min
          ? 'short'
          : expected.max !== undefined && records > expected.max
            ? 'over'
            : 'met';
    const windowStart = new Date(w.windowStart).toISOString();
    const windowEnd = new Date(deadline).toISOString();
    w.status = outcome;
    w.lastCheck = { at: windowEnd, windowStart, records, deliveries };
    w.windowStart = deadline;
    w.open = w.early;
    w.early = { records: 0, deliveries: 0 };
    this.metrics?.expectationChecked(this.pipeline, name, outcome, records);

    const fields = {
      pipeline: this.pipeline,
      expectation: name,
      ...(w.expectation.stream === undefined ? {} : { stream: w.expectation.stream }),
      windowStart,
      windowEnd,
      records,
      deliveries,
      expected: { min: expected.min, ...(expected.max === undefined ? {} : { max: expected.max }) },
    };
    const by = `by ${localTime(deadline, when.timezone)} ${when.timezone}`;
    const since = `(window since ${windowStart})`;
    const n = (x: number) => x.toLocaleString('en-GB');
    if (outcome === 'met') {
      this.log.info(fields, `${name}: ${n(records)} records in ${n(deliveries)} deliveries ${by} ${since}`);
      return;
    }
    const message =
      outcome === 'missing'
        ? `no ${name} delivery ${by} ${since}`
        : outcome === 'short'
          ? `short ${name} delivery ${by}: ${n(records)} records, expected at least ${n(expected.min)} ${since}`
          : `oversized ${name} delivery ${by}: ${n(records)} records, expected at most ${n(expected.max ?? 0)} ${since}`;
    this.log.error({ code: CODES[outcome], ...fields }, message);
  }
}

/** The deadline as the batch owner wrote it: local wall time in the expectation's zone ("02:30"). */
function localTime(at: number, timezone: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: timezone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(new Date(at));
}
