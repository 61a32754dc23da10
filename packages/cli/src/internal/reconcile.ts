// `ferry reconcile`: compare a reference dataset with the state materialised from events, key by key. The
// last event per subject wins and a `delete` removes the subject; values are compared as normalised text.
import { appendFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { type CanonicalEvent, FerryError, isFerryError, stableStringify } from '@ferry/core';
import { percent } from '../output.js';
import { describeReference, type ReferenceSpec, type Row, readReference } from './reconcile-reference.js';
import { ReconcileStore } from './reconcile-store.js';
import { describeStream, forEachEvent, type StreamSpec } from './reconcile-stream.js';
import { usage } from './reconcile-usage.js';

export interface FieldMapping {
  /** Dotted path in the event's data, e.g. `defendant.name.family`. */
  field: string;
  /** Reference column holding the same value. */
  column: string;
}

export interface ReconcileOptions {
  reference: ReferenceSpec;
  /** Reference key columns; their values joined by `keySeparator` must equal the event subject. */
  key: string[];
  keySeparator?: string;
  fields: FieldMapping[];
  stream: StreamSpec;
  /** Canonical type (e.g. `justice.hearing`) whose events count; default every type but `ferry.*` notices. */
  type?: string;
  /** Lowest acceptable parity, 0..1. */
  threshold: number;
  /** How many missing, extra and differing keys the report names (each). */
  samples: number;
  /** Where the scratch comparison store goes (default the OS temp dir). */
  workDir?: string;
  /**
   * The stream's state as of this moment (epoch ms): events whose `time` is later are left out and counted
   * (`afterCutoff`), so changes the reference could not yet hold are not differences (shadow runs).
   */
  asOf?: number;
  /** Compare only keys whose window field (stream) or column (reference) is at or after `from` on either side. */
  window?: { field: string; column: string; from: string };
  /** Differences within these are not differences: numbers by absolute value, times by milliseconds. */
  tolerances?: { numeric?: Record<string, number>; timeMs?: Record<string, number> };
  /** How many mismatched keys the report lists one by one (`mismatches`); default none. */
  mismatchLimit?: number;
  /**
   * Write the listed mismatches to this file (JSON Lines) instead of returning them in `mismatches`, so a
   * run with a million differences stays within the comparison's memory budget.
   */
  mismatchFile?: string;
}

/** One key that does not match, for a ledger: missing (reference only), extra (stream only) or differs. */
export interface Mismatch {
  key: string;
  kind: 'missing' | 'extra' | 'differs';
  fields?: FieldDifference[];
}

export interface FieldDifference {
  field: string;
  column: string;
  reference: string | null;
  stream: string | null;
}

export interface ReconcileReport {
  ok: boolean;
  parity: number;
  threshold: number;
  reference: { source: string; rows: number; keys: number; duplicateKeys: number; nullKeys: number };
  stream: {
    source: string;
    events: number;
    applied: number;
    deletes: number;
    ignored: number;
    unkeyed: number;
    keys: number;
    /** Events after `asOf`, left out. */
    afterCutoff: number;
    /** The newest event time applied (ISO 8601), when any. */
    lastEventTime?: string;
    /** How far the stream was read: a file's lines, or per Kafka partition the next offset. */
    positions: Record<string, unknown>;
  };
  counts: { keys: number; matching: number; missing: number; extra: number; differing: number };
  /** Per canonical field: how many keys differ in it. */
  fields: Record<string, { column: string; differing: number }>;
  missing: string[];
  extra: string[];
  differences: { key: string; fields: FieldDifference[] }[];
  /** Keys on both sides whose only differences are within the tolerances (they count as matching). */
  tolerated: number;
  /** Every mismatched key, up to `mismatchLimit` (none here when they went to `mismatchFile`). */
  mismatches: Mismatch[];
  /** How many were listed (here or in the file); `mismatchesTruncated` when there were more. */
  mismatchesListed: number;
  mismatchesTruncated: boolean;
  samples: number;
  durationMs: number;
}

/** Values compare as text: null, undefined and blank are equal; CHAR padding is ignored; dates are ISO 8601. */
export function normalise(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') {
    const text = value.trim();
    return text === '' ? null : text;
  }
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (value instanceof Date) return value.toISOString();
  return stableStringify(value);
}

export function valueAt(data: unknown, path: string): unknown {
  let current = data;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** Whether two normalised values differ by no more than the field's tolerance (numbers, or times in ms). */
export function withinTolerance(
  field: string,
  reference: string | null,
  stream: string | null,
  tolerances: ReconcileOptions['tolerances'],
): boolean {
  if (reference === null || stream === null || tolerances === undefined) return false;
  const numeric = tolerances.numeric?.[field];
  if (numeric !== undefined) {
    const a = Number(reference);
    const b = Number(stream);
    return Number.isFinite(a) && Number.isFinite(b) && Math.abs(a - b) <= numeric;
  }
  const timeMs = tolerances.timeMs?.[field];
  if (timeMs !== undefined) {
    const a = Date.parse(reference);
    const b = Date.parse(stream);
    return Number.isFinite(a) && Number.isFinite(b) && Math.abs(a - b) <= timeMs;
  }
  return false;
}

export async function reconcile(options: ReconcileOptions): Promise<ReconcileReport> {
  const started = Date.now();
  if (options.key.length === 0) throw usage('--key', 'name at least one reference key column');
  if (!(options.threshold >= 0 && options.threshold <= 1))
    throw usage('--threshold', 'a ratio between 0 and 1');
  const separator = options.keySeparator ?? '|';
  const store = new ReconcileStore(options.workDir ?? tmpdir());
  try {
    const reference = await loadReference(options, store, separator);
    const stream = await loadStream(options, store);
    store.seal(options.window?.from);
    const limit = options.mismatchLimit ?? 0;
    const mismatches: Mismatch[] = [];
    let listed = 0;
    let truncated = false;
    const pending: string[] = [];
    const flush = () => {
      if (options.mismatchFile !== undefined && pending.length > 0) {
        appendFileSync(options.mismatchFile, `${pending.join('\n')}\n`);
        pending.length = 0;
      }
    };
    const record = (mismatch: Mismatch) => {
      if (listed >= limit) {
        truncated = true;
        return;
      }
      listed += 1;
      if (options.mismatchFile === undefined) mismatches.push(mismatch);
      else {
        pending.push(JSON.stringify(mismatch));
        if (pending.length >= 1000) flush();
      }
    };
    if (options.mismatchFile !== undefined) writeFileSync(options.mismatchFile, '');
    const refKeys = store.count('ref');
    const streamKeys = store.count('stream');

    const missing: string[] = [];
    let missingCount = 0;
    for (const key of store.onlyIn('ref')) {
      missingCount += 1;
      if (missing.length < options.samples) missing.push(key);
      record({ key, kind: 'missing' });
    }
    const extra: string[] = [];
    let extraCount = 0;
    for (const key of store.onlyIn('stream')) {
      extraCount += 1;
      if (extra.length < options.samples) extra.push(key);
      record({ key, kind: 'extra' });
    }
    const fields: ReconcileReport['fields'] = {};
    for (const f of options.fields) fields[f.field] = { column: f.column, differing: 0 };
    const differences: ReconcileReport['differences'] = [];
    let differing = 0;
    let tolerated = 0;
    for (const row of store.differing()) {
      const ref = JSON.parse(row.ref) as (string | null)[];
      const got = JSON.parse(row.stream) as (string | null)[];
      const diff: FieldDifference[] = [];
      options.fields.forEach((f, i) => {
        if (ref[i] === got[i] || withinTolerance(f.field, ref[i] ?? null, got[i] ?? null, options.tolerances))
          return;
        diff.push({ field: f.field, column: f.column, reference: ref[i] ?? null, stream: got[i] ?? null });
      });
      if (diff.length === 0) {
        tolerated += 1;
        continue;
      }
      differing += 1;
      for (const d of diff) fields[d.field]!.differing += 1;
      if (differences.length < options.samples) differences.push({ key: row.key, fields: diff });
      record({ key: row.key, kind: 'differs', fields: diff });
    }
    flush();
    const both = refKeys - missingCount;
    const matching = both - differing;
    const union = refKeys + extraCount;
    const parity = union === 0 ? 1 : matching / union;
    return {
      ok: parity >= options.threshold,
      parity,
      threshold: options.threshold,
      reference: { ...reference, keys: refKeys, duplicateKeys: store.duplicateReferenceKeys() },
      stream: { ...stream, keys: streamKeys },
      counts: { keys: union, matching, missing: missingCount, extra: extraCount, differing },
      fields,
      missing,
      extra,
      differences,
      tolerated,
      mismatches,
      mismatchesListed: listed,
      mismatchesTruncated: truncated,
      samples: options.samples,
      durationMs: Date.now() - started,
    };
  } finally {
    store.close();
  }
}

async function loadReference(options: ReconcileOptions, store: ReconcileStore, separator: string) {
  const source = describeReference(options.reference);
  let rows = 0;
  let nullKeys = 0;
  try {
    for await (const batch of readReference(options.reference, options.key)) {
      for (const row of batch) {
        if (rows === 0) checkColumns(row, options);
        rows += 1;
        const parts = options.key.map((k) => normalise(row[k]));
        if (parts.some((p) => p === null)) {
          nullKeys += 1;
          continue;
        }
        const doc = JSON.stringify(options.fields.map((f) => normalise(row[f.column])));
        const win = options.window === undefined ? null : normalise(row[options.window.column]);
        store.putReference(parts.join(separator), doc, win);
      }
    }
  } catch (error) {
    if (isFerryError(error)) throw error;
    throw new FerryError('RECONCILE_REFERENCE_FAILED', `${source}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return { source, rows, nullKeys };
}

function checkColumns(row: Row, options: ReconcileOptions): void {
  const names = [
    ...options.key,
    ...options.fields.map((f) => f.column),
    ...(options.window === undefined ? [] : [options.window.column]),
  ];
  const absent = names.filter((name) => !(name in row));
  if (absent.length > 0) {
    throw usage(
      '--field',
      `the reference has no column ${absent.map((a) => `'${a}'`).join(', ')} (it has ${Object.keys(row).join(', ')})`,
    );
  }
}

async function loadStream(options: ReconcileOptions, store: ReconcileStore) {
  const source = describeStream(options.stream);
  const counts = { events: 0, applied: 0, deletes: 0, ignored: 0, unkeyed: 0, afterCutoff: 0 };
  let lastEventMs = Number.NEGATIVE_INFINITY;
  const positions: Record<string, number> = {};
  const wanted = (event: CanonicalEvent): boolean => {
    const type = typeof event.type === 'string' ? event.type : '';
    if (options.type === undefined) return !type.startsWith('ferry.');
    return type.startsWith(`${options.type}.`) && !type.slice(options.type.length + 1).includes('.');
  };
  const apply = (event: CanonicalEvent, position?: { partition: number; offset: string }): void => {
    counts.events += 1;
    if (position !== undefined) positions[String(position.partition)] = Number(position.offset) + 1;
    if (!wanted(event)) {
      counts.ignored += 1;
      return;
    }
    if (options.asOf !== undefined) {
      const time = Date.parse(event.time);
      if (time > options.asOf) {
        counts.afterCutoff += 1;
        return;
      }
      if (time > lastEventMs) lastEventMs = time;
    }
    const subject = typeof event.subject === 'string' && event.subject !== '' ? event.subject : undefined;
    if (subject === undefined) {
      counts.unkeyed += 1;
      return;
    }
    if (event.ferryop === 'delete' || event.type.endsWith('.deleted')) {
      counts.deletes += 1;
      store.deleteFromStream(subject);
      return;
    }
    counts.applied += 1;
    store.putStream(
      subject,
      JSON.stringify(options.fields.map((f) => normalise(valueAt(event.data, f.field)))),
      options.window === undefined ? null : normalise(valueAt(event.data, options.window.field)),
    );
  };
  try {
    await forEachEvent(options.stream, apply);
  } catch (error) {
    if (isFerryError(error)) throw error;
    throw new FerryError('RECONCILE_STREAM_FAILED', `${source}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return {
    source,
    ...counts,
    ...(Number.isFinite(lastEventMs) ? { lastEventTime: new Date(lastEventMs).toISOString() } : {}),
    positions:
      options.stream.kind === 'file'
        ? { file: options.stream.path, events: counts.events }
        : { topic: options.stream.topic, partitions: positions },
  };
}

/** The readable summary: a verdict first, then what to look at. */
export function formatReconcileSummary(report: ReconcileReport): string[] {
  const { counts } = report;
  const lines = [
    `reference: ${report.reference.source}: ${report.reference.rows} rows, ${report.reference.keys} keys` +
      (report.reference.duplicateKeys > 0
        ? `, ${report.reference.duplicateKeys} keys seen more than once`
        : '') +
      (report.reference.nullKeys > 0 ? `, ${report.reference.nullKeys} rows without a key (skipped)` : ''),
    `stream:    ${report.stream.source}: ${report.stream.events} events (${report.stream.applied} applied, ${report.stream.deletes} deletes, ${report.stream.ignored} of other types) -> ${report.stream.keys} keys`,
    `parity ${percent(report.parity)} (${counts.matching} of ${counts.keys} keys match; threshold ${percent(report.threshold)}): ${report.ok ? 'OK' : 'BELOW THRESHOLD'}`,
    `missing ${counts.missing} (in the reference, not in the stream), extra ${counts.extra} (in the stream only), differing ${counts.differing}`,
  ];
  const differingFields = Object.entries(report.fields).filter(([, f]) => f.differing > 0);
  if (differingFields.length > 0) {
    lines.push(
      `fields differing: ${differingFields.map(([name, f]) => `${name} <- ${f.column} (${f.differing})`).join(', ')}`,
    );
  }
  const more = (shown: number, total: number) => (total > shown ? ` … and ${total - shown} more` : '');
  if (report.missing.length > 0)
    lines.push(`missing: ${report.missing.join(', ')}${more(report.missing.length, counts.missing)}`);
  if (report.extra.length > 0)
    lines.push(`extra: ${report.extra.join(', ')}${more(report.extra.length, counts.extra)}`);
  for (const d of report.differences) {
    const what = d.fields
      .map(
        (f) => `${f.field}: reference ${JSON.stringify(f.reference)} != stream ${JSON.stringify(f.stream)}`,
      )
      .join('; ');
    lines.push(`differs ${d.key}: ${what}`);
  }
  if (counts.differing > report.differences.length)
    lines.push(`… and ${counts.differing - report.differences.length} more differing keys (raise --samples)`);
  return lines;
}
