// Cron next-run computation from any moment (not the real clock), in a time zone, across DST changes.
import { cronSchedule, scheduleProblem } from '@ferry/core';
import { describe, expect, it } from 'vitest';
import { isRunDue } from '../../src/schedule.js';

const at = (iso: string) => new Date(iso);

describe('cronSchedule', () => {
  it('answers relative to the moment given, not to the real clock', () => {
    const next = cronSchedule('15 2 * * *', 'UTC');
    expect(next(at('2001-03-04T01:00:00Z'))?.toISOString()).toBe('2001-03-04T02:15:00.000Z');
    expect(next(at('2001-03-04T02:15:00Z'))?.toISOString()).toBe('2001-03-05T02:15:00.000Z');
    expect(next(at('2040-12-31T23:59:59Z'))?.toISOString()).toBe('2041-01-01T02:15:00.000Z');
  });

  it('uses the time zone, including both DST changes (Europe/London)', () => {
    const next = cronSchedule('30 6 * * *', 'Europe/London');
    // Winter: GMT = UTC; summer: BST = UTC+1.
    expect(next(at('2026-01-10T12:00:00Z'))?.toISOString()).toBe('2026-01-11T06:30:00.000Z');
    expect(next(at('2026-03-28T12:00:00Z'))?.toISOString()).toBe('2026-03-29T05:30:00.000Z');
    expect(next(at('2026-10-24T12:00:00Z'))?.toISOString()).toBe('2026-10-25T06:30:00.000Z');
  });

  it('skips a local time that does not exist on the spring-forward day', () => {
    const next = cronSchedule('30 1 * * *', 'Europe/London');
    // 01:30 on 29 March 2026 does not exist in London; the next 01:30 is on 30 March (BST).
    expect(next(at('2026-03-28T12:00:00Z'))?.toISOString()).toBe('2026-03-30T00:30:00.000Z');
  });

  it('weekdays, last day of month and month lists', () => {
    expect(cronSchedule('0 2 * * 1-5', 'UTC')(at('2026-11-27T03:00:00Z'))?.toISOString()).toBe(
      '2026-11-30T02:00:00.000Z',
    );
    expect(cronSchedule('0 23 L * *', 'UTC')(at('2026-02-01T00:00:00Z'))?.toISOString()).toBe(
      '2026-02-28T23:00:00.000Z',
    );
    expect(cronSchedule('0 0 1 1 *', 'UTC')(at('2026-01-01T00:00:00Z'))?.toISOString()).toBe(
      '2027-01-01T00:00:00.000Z',
    );
  });

  it('refuses an impossible expression or an unknown time zone up front', () => {
    expect(scheduleProblem('0 0 30 2 *', 'UTC')).toMatch(/impossible day/);
    expect(scheduleProblem('every day', 'UTC')).toMatch(/5 or 6 fields/);
    expect(scheduleProblem('0 2 * * *', 'Mars/Olympus')).toMatch(/IANA time zone/);
    expect(scheduleProblem('0 2 * * *', 'Europe/London')).toBeUndefined();
  });

  it('drives the catch-up check: a run missed while down is due at start', () => {
    const next = cronSchedule('15 2 * * *', 'Europe/London');
    const lastPass = at('2026-06-01T01:20:00Z'); // 02:20 BST, after that day's run
    expect(isRunDue(lastPass, at('2026-06-01T20:00:00Z'), next)).toBe(false);
    expect(isRunDue(lastPass, at('2026-06-02T01:16:00Z'), next)).toBe(true);
  });
});
