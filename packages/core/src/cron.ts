// Next run of a cron schedule after any given moment, in an IANA time zone. node-cron 4 only answers "next
// runs from the real clock now" (getNextRuns), which an injected clock cannot drive and a catch-up check
// (was a run due since the last pass?) cannot ask; so the walk over days and candidate times is done here,
// from node-cron's parsed fields, with node-cron's own match() as the judge of every candidate.

import { createTask, parse, validate } from 'node-cron';
import { ConfigError } from './errors.js';
import { intervalSchedule, type NextRun } from './schedule.js';

/** Days searched before a schedule counts as never firing again (e.g. 30 February). */
const MAX_DAYS = 366 * 8;

/** Why a schedule cannot be used, or undefined when it can. */
export function scheduleProblem(expression: string, timezone: string): string | undefined {
  try {
    parse(expression);
    if (!validate(expression)) return `"${expression}" is not a cron expression node-cron accepts`;
  } catch (error) {
    return `"${expression}": ${(error as Error).message}`;
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    return `"${timezone}" is not an IANA time zone (such as Europe/London)`;
  }
  return undefined;
}

export function cronSchedule(expression: string, timezone: string): NextRun {
  const fields = parse(expression);
  const seconds = [...fields.second].sort((a, b) => a - b);
  const minutes = [...fields.minute].sort((a, b) => a - b);
  const hours = [...fields.hour].sort((a, b) => a - b);
  const months = new Set(fields.month);
  // Plain numbers can prefilter days cheaply; tokens such as L or 1#2 are left to match().
  const numeric = (values: (number | string)[]) =>
    values.every((v) => typeof v === 'number') ? new Set(values as number[]) : undefined;
  const daysOfMonth = numeric(fields.dayOfMonth);
  const daysOfWeek = numeric(fields.dayOfWeek);
  const zone = zoneOf(timezone);
  return (after) => {
    const task = createTask(expression, () => undefined, { timezone });
    try {
      const base = Math.floor(after.getTime() / 1000) * 1000;
      let { year, month, day } = zone.parts(base);
      for (let i = 0; i < MAX_DAYS; i++) {
        const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
        const dayMatches =
          months.has(month) &&
          (daysOfMonth === undefined || daysOfMonth.has(day)) &&
          (daysOfWeek === undefined || daysOfWeek.has(weekday));
        if (dayMatches) {
          for (const hour of hours)
            for (const minute of minutes)
              for (const second of seconds) {
                const ts = zone.toUtc(year, month, day, hour, minute, second);
                // match() rejects a local time that does not exist (skipped by a DST change) and any
                // day-of-month/week token the prefilter could not judge.
                if (ts > base && task.match(new Date(ts))) return new Date(ts);
              }
        }
        const next = new Date(Date.UTC(year, month - 1, day + 1));
        year = next.getUTCFullYear();
        month = next.getUTCMonth() + 1;
        day = next.getUTCDate();
      }
      return undefined;
    } finally {
      void task.destroy();
    }
  };
}

interface Zone {
  parts(ts: number): { year: number; month: number; day: number };
  toUtc(year: number, month: number, day: number, hour: number, minute: number, second: number): number;
}

function zoneOf(timezone: string): Zone {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  const wall = (ts: number) => {
    const p: Record<string, number> = {};
    for (const part of format.formatToParts(new Date(ts)))
      if (part.type !== 'literal') p[part.type] = Number(part.value);
    return p as { year: number; month: number; day: number; hour: number; minute: number; second: number };
  };
  const offset = (ts: number) => {
    const w = wall(ts);
    return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(ts / 1000) * 1000;
  };
  return {
    parts: (ts) => wall(ts),
    toUtc: (year, month, day, hour, minute, second) => {
      const guess = Date.UTC(year, month - 1, day, hour, minute, second);
      const first = guess - offset(guess);
      return guess - offset(first);
    },
  };
}

/**
 * The schedule a batch source runs on: the pipeline's cron (validated, ConfigError at path `schedule`)
 * or, without one, a fixed interval.
 */
export function runSchedule(
  schedule: { cron: string; timezone: string } | undefined,
  intervalMs: number,
): NextRun {
  if (schedule === undefined) return intervalSchedule(intervalMs);
  const problem = scheduleProblem(schedule.cron, schedule.timezone);
  if (problem) throw new ConfigError(undefined, [{ path: 'schedule', message: problem }]);
  return cronSchedule(schedule.cron, schedule.timezone);
}
