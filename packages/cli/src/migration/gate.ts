// What the ledger says today: which mismatches the operators' notes explain, which runs are clean, whether
// the cut-over gate is open and why not, and where the migration stands. Pure functions of the ledger's
// contents and the clock, so the CLI, the admin API, the report and the inventory all say the same thing.
import { cronSchedule } from '@ferry/core';
import { percent } from '../output.js';
import type { MigrationFile } from './config.js';
import type { Decision, LedgerMismatch, RecordedRun } from './ledger.js';
import type { Gate, MigrationPhase, Note, RunSummary } from './model.js';

const DAY_MS = 86_400_000;

/** The schedule's slots in [from, to], oldest first. */
export function slotsBetween(config: MigrationFile, from: Date, to: Date): Date[] {
  const next = cronSchedule(config.legacy.schedule.cron, config.legacy.schedule.timezone);
  const slots: Date[] = [];
  let at = next(new Date(from.getTime() - 1000));
  while (at !== undefined && at.getTime() <= to.getTime()) {
    slots.push(at);
    at = next(at);
  }
  return slots;
}

/** The slot after `slot`, if the schedule has one. */
export function slotAfter(config: MigrationFile, slot: Date): Date | undefined {
  return cronSchedule(config.legacy.schedule.cron, config.legacy.schedule.timezone)(slot);
}

/** How long after a slot its comparison may start: the legacy output's grace and the events' allowed lag. */
export function waitAfterSlot(config: MigrationFile): number {
  return Math.max(config.legacy.graceMs, config.tolerances.lagMs);
}

/** Does a note explain a mismatch? A differing key is explained when every one of its fields is. */
export function explains(notes: Note[], mismatch: LedgerMismatch): boolean {
  const applicable = notes.filter(
    (n) =>
      (n.key === undefined || n.key === mismatch.key) && (n.kind === undefined || n.kind === mismatch.kind),
  );
  if (mismatch.kind !== 'differs' || mismatch.fields === undefined)
    return applicable.some((n) => n.field === undefined);
  return mismatch.fields.every((f) => applicable.some((n) => n.field === undefined || n.field === f.field));
}

/** A recorded run as it stands with today's notes. */
export function judgeRun(run: RecordedRun, mismatches: LedgerMismatch[], notes: Note[]): RunSummary {
  return judgeCounted(run, mismatches.filter((m) => !explains(notes, m)).length);
}

/** The same, given how many of the run's recorded mismatches no note explains. */
export function judgeCounted(run: RecordedRun, unexplainedRecorded: number): RunSummary {
  const { unrecorded: _u, samples: _s, ...summary } = run;
  if (run.status === 'missed') return { ...summary, unexplained: 0, clean: false };
  // Mismatches past the migration's mismatchLimit were only counted: no note can be checked against them.
  const unexplained = unexplainedRecorded + run.unrecorded;
  return { ...summary, unexplained, clean: run.parity >= run.threshold && unexplained === 0 };
}

/**
 * The gate: the last `gate.runs` slots due by `now` (since shadowing started) must each have a clean run.
 * The newest slot not compared yet is waiting, not missed: the gate is judged on the slots before it.
 */
export function gateOf(config: MigrationFile, start: Date | undefined, runs: RunSummary[], now: Date): Gate {
  const required = config.gate.runs;
  const threshold = config.gate.threshold;
  const bySlot = new Map(runs.map((r) => [r.slot, r]));
  const wait = waitAfterSlot(config);
  // Due: past the slot's wait, or already compared (a cut-off query lets a run come before its grace ends).
  let due =
    start === undefined
      ? []
      : slotsBetween(config, start, now)
          .filter((s) => s.getTime() + wait <= now.getTime() || bySlot.has(s.toISOString()))
          .map((s) => s.toISOString());
  if (due.length > 0 && !bySlot.has(due.at(-1)!)) due = due.slice(0, -1);
  const reasons: string[] = [];
  let cleanRuns = 0;
  for (let i = due.length - 1; i >= 0; i -= 1) {
    if (bySlot.get(due[i]!)?.clean !== true) break;
    cleanRuns += 1;
  }
  const streak = due.slice(due.length - cleanRuns);
  const cleanDays =
    cleanRuns === 0 ? 0 : Math.round((Date.parse(streak.at(-1)!) - Date.parse(streak[0]!)) / DAY_MS) + 1;
  if (start === undefined) reasons.push('no shadow run yet: run `ferry shadow run`');
  else if (due.length < required)
    reasons.push(`${due.length} of the ${required} runs needed have been due since shadowing started`);
  for (const slot of due.slice(-required)) {
    const run = bySlot.get(slot);
    if (run === undefined) reasons.push(`${slot}: no run recorded (missed)`);
    else if (run.status === 'missed') reasons.push(`${slot}: missed (${run.reason ?? 'no comparison'})`);
    else if (!run.clean) {
      const why: string[] = [];
      if (run.parity < threshold) why.push(`parity ${percent(run.parity)} below ${percent(threshold)}`);
      if (run.unexplained > 0)
        why.push(`${run.unexplained} difference${run.unexplained === 1 ? '' : 's'} not explained`);
      reasons.push(`${slot}: ${why.join('; ')}`);
    }
  }
  return {
    open: reasons.length === 0 && due.length >= required,
    required,
    threshold,
    cleanRuns,
    cleanDays,
    reasons,
  };
}

/** Where a migration stands, and the words for it ("shadowing 6 days", "cut over 2026-12-01 by alice"). */
export function phaseOf(
  runs: RunSummary[],
  gate: Gate,
  decisions: Decision[],
  now: Date,
): { phase: MigrationPhase; status: string } {
  const last = decisions.at(-1);
  if (last !== undefined)
    return { phase: last.phase, status: `${last.phase} ${last.at.slice(0, 10)} by ${last.author}` };
  if (runs.length === 0) return { phase: 'not started', status: 'not started' };
  // Days counted inclusively: a first run today is one day of shadowing.
  const days = Math.floor((now.getTime() - Date.parse(runs[0]!.slot)) / DAY_MS) + 1;
  if (gate.open)
    return {
      phase: 'gate open',
      status: `gate open (${gate.cleanRuns} clean run${gate.cleanRuns === 1 ? '' : 's'}, shadowing ${days} day${days === 1 ? '' : 's'})`,
    };
  return { phase: 'shadowing', status: `shadowing ${days} day${days === 1 ? '' : 's'}` };
}
