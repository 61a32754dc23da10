// A shadow pass: every legacy run (a slot of the legacy job's schedule) that is due and not yet in the
// ledger is compared: its output against the stream's state AS OF its cut-off (events later than the
// cut-off are held back for the next run), and the result is recorded in the ledger in one transaction.
// A slot that can no longer be compared (the legacy output has moved on to the next run) is recorded as
// missed, so the gate knows evidence is lacking rather than assuming it.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FerryError, isFerryError } from '@ferry/core';
import { readDatabaseRows } from '@ferry/database';
import type { ReconcileOptions } from '../internal/reconcile.js';
import { lineBatches } from '../internal/reconcile-lines.js';
import { parseReference, type ReferenceSpec } from '../internal/reconcile-reference.js';
import { reconcileInWorker } from '../internal/reconcile-run.js';
import type { StreamSpec } from '../internal/reconcile-stream.js';
import type { LoadedMigration, MigrationFile } from './config.js';
import { explains, judgeCounted, slotAfter, slotsBetween, waitAfterSlot } from './gate.js';
import type { Ledger, LedgerMismatch, RecordedRun } from './ledger.js';
import type { RunSummary } from './model.js';

/** A run counts as started by its schedule when its pass came within this of the moment it was due. */
const ON_TIME_MS = 60_000;

export interface PassResult {
  /** Runs recorded by this pass (complete or missed), judged with today's notes. */
  recorded: RunSummary[];
  /** Slots due but not comparable yet (the legacy run's cut-off has not appeared). */
  waiting: { slot: string; reason: string }[];
  /** When the next pass has something to do (a slot becomes due), if the schedule says. */
  nextDueAt?: Date;
}

export function referenceSpec(config: MigrationFile): ReferenceSpec {
  const output = config.legacy.output;
  return parseReference(output.reference, {
    ...(output.table === undefined ? {} : { table: output.table }),
    ...(output.query === undefined ? {} : { query: output.query }),
    ...(output.password === undefined ? {} : { password: output.password }),
    pageSize: output.pageSize,
  });
}

export function streamSpec(config: MigrationFile): StreamSpec {
  const events = config.stream.events;
  return 'file' in events
    ? { kind: 'file', path: events.file }
    : {
        kind: 'kafka',
        topic: events.kafka.topic,
        brokers: events.kafka.brokers,
        timeoutMs: events.kafka.timeoutMs,
      };
}

/** A date (YYYY-MM-DD) in a time zone, plus whole days. */
export function localDate(at: Date, timezone: string, plusDays = 0): string {
  const [y, m, d] = new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  })
    .format(at)
    .split('-')
    .map(Number);
  return new Date(Date.UTC(y!, m! - 1, d! + plusDays)).toISOString().slice(0, 10);
}

/** A timestamp from a database: a Date, or text (without a zone it is taken as UTC). */
export function parseCutoff(value: unknown): Date | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  if (value instanceof Date) return value;
  const text = String(value).trim();
  const zoned = /(Z|[+-]\d\d:?\d\d)$/i.test(text) ? text : `${text.replace(' ', 'T')}Z`;
  const at = new Date(zoned);
  if (Number.isNaN(at.getTime()))
    throw new FerryError(
      'SHADOW_CUTOFF_INVALID',
      `the cut-off query gave ${JSON.stringify(text)}, not a timestamp`,
    );
  return at;
}

/**
 * The legacy output's own cut-off (`legacy.cutoff`): the query's value, or the reference file's modification
 * time; undefined when there is none yet.
 */
export async function readLegacyCutoff(config: MigrationFile): Promise<Date | undefined> {
  const spec = referenceSpec(config);
  const cutoff = config.legacy.cutoff;
  if (cutoff === undefined) return undefined;
  if (spec.kind !== 'sql') {
    try {
      return (await stat(spec.path)).mtime;
    } catch (error) {
      // No file yet: the legacy job has not written one.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new FerryError(
        'SHADOW_CUTOFF_FAILED',
        `cannot read ${spec.path}'s modification time: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
  try {
    for await (const rows of readDatabaseRows({
      connection: spec.connection,
      query: cutoff.query!,
      key: ['cutoff'],
      pageSize: 1,
    }))
      return parseCutoff(rows[0]?.cutoff);
    return undefined;
  } catch (error) {
    if (isFerryError(error) && error.code === 'SHADOW_CUTOFF_INVALID') throw error;
    throw new FerryError(
      'SHADOW_CUTOFF_FAILED',
      `the legacy cut-off query failed: ${(error as Error).message}`,
      {
        cause: error,
        retryable: isFerryError(error) ? error.retryable : false,
      },
    );
  }
}

/** When shadowing started: migration.yaml's `start`, the ledger's, or (first pass) the latest slot begun. */
export async function shadowStart(loaded: LoadedMigration, ledger: Ledger): Promise<Date | undefined> {
  const { config } = loaded;
  if (config.start !== undefined) return new Date(config.start);
  const recorded = await ledger.startedAt(config.migration);
  return recorded === undefined ? undefined : new Date(recorded);
}

async function beginShadowing(loaded: LoadedMigration, ledger: Ledger, now: Date): Promise<Date> {
  const known = await shadowStart(loaded, ledger);
  if (known !== undefined) return known;
  // The latest slot already begun (looking back as far as a year), else the next one.
  let start: Date | undefined;
  // Widening windows: a frequent schedule finds its slot in the first hour without walking a day of them.
  for (const days of [1 / 24, 1, 8, 32, 366]) {
    const slots = slotsBetween(loaded.config, new Date(now.getTime() - days * 86_400_000), now);
    if (slots.length > 0) {
      start = slots.at(-1);
      break;
    }
  }
  start ??= slotAfter(loaded.config, now) ?? now;
  await ledger.recordStart(loaded.config.migration, start.toISOString());
  return start;
}

export interface PassOptions {
  now: Date;
  /** Where the comparison's scratch store goes. */
  workDir?: string;
  /** Told each run as it is recorded. */
  onRun?: (run: RunSummary) => void;
}

/** One pass over a migration's slots up to `now`. */
export async function shadowPass(
  loaded: LoadedMigration,
  ledger: Ledger,
  options: PassOptions,
): Promise<PassResult> {
  const { config } = loaded;
  const name = config.migration;
  const now = options.now;
  const start = await beginShadowing(loaded, ledger, now);
  const slots = slotsBetween(config, start, now);
  const recordedSlots = new Set((await ledger.runs(name)).map((r) => r.slot));
  const notes = await ledger.notes(name);
  const wait = waitAfterSlot(config);
  const result: PassResult = { recorded: [], waiting: [] };
  const cutoff = config.legacy.cutoff === undefined ? undefined : await readLegacyCutoff(config);
  const record = async (run: RecordedRun, mismatches: Mismatches = []) => {
    let unexplained = 0;
    async function* counted() {
      for await (const batch of mismatches) {
        for (const m of batch) if (!explains(notes, m)) unexplained += 1;
        yield batch;
      }
    }
    if (!(await ledger.recordRun(name, run, counted()))) return;
    const judged = judgeCounted(run, unexplained);
    result.recorded.push(judged);
    options.onRun?.(judged);
  };
  for (const [i, slot] of slots.entries()) {
    const iso = slot.toISOString();
    if (recordedSlots.has(iso)) continue;
    const next = slots[i + 1] ?? slotAfter(config, slot);
    const nextBegun = next !== undefined && next.getTime() <= now.getTime();
    if (config.legacy.cutoff !== undefined) {
      const inSlot =
        cutoff !== undefined &&
        cutoff.getTime() >= slot.getTime() &&
        (next === undefined || cutoff.getTime() < next.getTime());
      if (inSlot) {
        const readyAt = cutoff.getTime() + config.tolerances.lagMs;
        if (now.getTime() >= readyAt) await compare(loaded, slot, cutoff, 'freshness', options, record);
        else
          result.waiting.push({
            slot: iso,
            reason: `events may arrive until ${new Date(readyAt).toISOString()}`,
          });
      } else if (nextBegun) {
        await record(
          missed(
            config,
            slot,
            `the legacy output's cut-off (${cutoff?.toISOString() ?? 'none'}) is not in this slot: the legacy job did not run for it, or it was not compared before the next run`,
          ),
        );
      } else {
        result.waiting.push({
          slot: iso,
          reason: `the legacy output's cut-off is still ${cutoff?.toISOString() ?? 'empty'}${now.getTime() > slot.getTime() + config.legacy.graceMs ? ' (past the grace period)' : ''}`,
        });
      }
      continue;
    }
    const dueAt = slot.getTime() + wait;
    if (now.getTime() < dueAt) continue;
    if (nextBegun) {
      await record(
        missed(
          config,
          slot,
          `not compared before the legacy job's next run at ${next.toISOString()} (the shadow runner was not running)`,
        ),
      );
      continue;
    }
    const trigger = now.getTime() - dueAt <= ON_TIME_MS ? 'schedule' : 'catch-up';
    await compare(loaded, slot, slot, trigger, options, record);
  }
  const upcoming = slotAfter(config, slots.at(-1) ?? now);
  const lastSlot = slots.at(-1);
  const candidates = [
    ...(lastSlot !== undefined && !recordedSlots.has(lastSlot.toISOString())
      ? [lastSlot.getTime() + wait]
      : []),
    ...(upcoming === undefined ? [] : [upcoming.getTime() + wait]),
  ].filter((t) => t > now.getTime());
  if (candidates.length > 0) result.nextDueAt = new Date(Math.min(...candidates));
  return result;
}

function missed(config: MigrationFile, slot: Date, reason: string): RecordedRun {
  return {
    slot: slot.toISOString(),
    cutoff: slot.toISOString(),
    status: 'missed',
    reason,
    parity: 0,
    threshold: config.gate.threshold,
    keys: 0,
    matching: 0,
    missing: 0,
    extra: 0,
    differing: 0,
    afterCutoff: 0,
    unrecorded: 0,
    fields: {},
  };
}

type Mismatches = Iterable<LedgerMismatch[]> | AsyncIterable<LedgerMismatch[]>;

/**
 * The comparison of one slot: the reference as it is now against the stream as of the cut-off. Its
 * mismatches go through a scratch file (the comparison's worker keeps a fixed memory budget) into the
 * ledger, with the run, by `record`.
 */
async function compare(
  loaded: LoadedMigration,
  slot: Date,
  cutoff: Date,
  trigger: NonNullable<RunSummary['trigger']>,
  options: PassOptions,
  record: (run: RecordedRun, mismatches: Mismatches) => Promise<void>,
): Promise<void> {
  const scratch = await mkdtemp(join(options.workDir ?? tmpdir(), 'ferry-shadow-'));
  try {
    await compareInto(loaded, slot, cutoff, trigger, options, join(scratch, 'mismatches.jsonl'), record);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function compareInto(
  loaded: LoadedMigration,
  slot: Date,
  cutoff: Date,
  trigger: NonNullable<RunSummary['trigger']>,
  options: PassOptions,
  mismatchFile: string,
  record: (run: RecordedRun, mismatches: Mismatches) => Promise<void>,
): Promise<void> {
  const { config } = loaded;
  // The pass's clock, so a simulation's (`--now`) ledger reads in its own time.
  const startedAt = options.now;
  const ignored = new Set(config.tolerances.ignore);
  const reconcileOptions: ReconcileOptions = {
    reference: referenceSpec(config),
    key: config.legacy.output.key,
    keySeparator: config.legacy.output.keySeparator,
    fields: Object.entries(config.fields)
      .filter(([field]) => !ignored.has(field))
      .map(([field, column]) => ({ field, column })),
    stream: streamSpec(config),
    type: config.stream.type,
    threshold: config.gate.threshold,
    samples: config.samples,
    asOf: cutoff.getTime(),
    tolerances: { numeric: config.tolerances.numeric, timeMs: config.tolerances.timeMs },
    mismatchLimit: config.mismatchLimit,
    mismatchFile,
    ...(config.window === undefined
      ? {}
      : {
          window: {
            field: config.window.field,
            column: config.window.column,
            from: localDate(cutoff, config.legacy.schedule.timezone, config.window.fromCutoffDays),
          },
        }),
    ...(options.workDir === undefined ? {} : { workDir: options.workDir }),
  };
  const report = await reconcileInWorker(reconcileOptions);
  const total = report.counts.missing + report.counts.extra + report.counts.differing;
  const run: RecordedRun = {
    slot: slot.toISOString(),
    cutoff: cutoff.toISOString(),
    status: 'complete',
    trigger,
    startedAt: startedAt.toISOString(),
    durationMs: report.durationMs,
    parity: report.parity,
    threshold: report.threshold,
    keys: report.counts.keys,
    matching: report.counts.matching,
    missing: report.counts.missing,
    extra: report.counts.extra,
    differing: report.counts.differing,
    afterCutoff: report.stream.afterCutoff,
    unrecorded: total - report.mismatchesListed,
    fields: report.fields,
    positions: {
      reference: {
        source: report.reference.source,
        rows: report.reference.rows,
        keys: report.reference.keys,
      },
      stream: { source: report.stream.source, ...report.stream.positions },
      ...(reconcileOptions.window === undefined ? {} : { window: reconcileOptions.window }),
    },
    ...(report.stream.lastEventTime === undefined ? {} : { lastEventTime: report.stream.lastEventTime }),
    samples: { missing: report.missing, extra: report.extra },
  };
  async function* batches(): AsyncIterable<LedgerMismatch[]> {
    for await (const { lines } of lineBatches(mismatchFile))
      yield lines.filter((line) => line !== '').map((line) => JSON.parse(line) as LedgerMismatch);
  }
  await record(run, batches());
}
