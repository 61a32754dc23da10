// The court-list migration over 14 simulated days (`node migrate.mjs`) against the real sshd: the shadow
// runs catch the day-4 mapping defect by key and field, ignore a correction that came after the cut-off,
// keep an explained legacy quirk clean, and the cut-over gate opens on day 11, not before. The report page
// is checked as headless Chromium renders it; its screenshot is kept under test-results/.
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderInChromium } from '../../../test/chromium.js';
import { type CliResult, runCli, runScript } from '../../quickstart/test/cli.js';
import { courtList } from '../court-list.mjs';

const example = join(import.meta.dirname, '..');
const artefacts = join(import.meta.dirname, '..', '..', '..', 'test-results', 'court-lists-migration');
const START = '2026-11-02';
/** Day 14's shadow run: 03:30 London, GMT in November. */
const END = '2026-11-15T03:30:00Z';
const date = (day: number) =>
  new Date(Date.parse(`${START}T00:00:00Z`) + (day - 1) * 86_400_000).toISOString().slice(0, 10);

interface Delivery {
  day: number;
  file: string;
  sittingDate: string;
  kind: 'list' | 'correction' | 'late correction';
  uploadedAt: string;
  hearings: number;
  pipeline: 'fixed' | 'broken';
  changed?: string[];
  removed?: string[];
  longSurname?: string;
}
interface Run {
  slot: string;
  cutoff: string;
  status: string;
  keys: number;
  matching: number;
  missing: number;
  extra: number;
  differing: number;
  unexplained: number;
  afterCutoff: number;
  clean: boolean;
  parity: number;
  fields: Record<string, { column: string; differing: number }>;
}
interface Status {
  migration: string;
  phase: string;
  gate: { open: boolean; required: number; cleanRuns: number; reasons: string[] };
  runs: Run[];
  notes: { key?: string; field?: string; kind?: string; reason: string; author: string }[];
  topFields: {
    field: string;
    samples: {
      slot: string;
      key: string;
      reference: string | null;
      stream: string | null;
      explained: boolean;
    }[];
  }[];
}
interface Event {
  type: string;
  subject: string;
  time: string;
  ferryop: string;
  data: { hearingType?: string; defendant: { name: { family: string } } };
}

/** The start tags of Chromium's serialised DOM (every attribute value in double quotes). */
function elements(html: string): { tag: string; attrs: Record<string, string>; classes: string[] }[] {
  return [...html.matchAll(/<([a-zA-Z][\w-]*)((?:\s+[^\s=/>]+(?:="[^"]*")?)*)\s*\/?>/g)].map((match) => {
    const attrs: Record<string, string> = {};
    for (const a of (match[2] ?? '').matchAll(/([^\s=]+)(?:="([^"]*)")?/g)) attrs[a[1] ?? ''] = a[2] ?? '';
    return { tag: (match[1] ?? '').toLowerCase(), attrs, classes: (attrs.class ?? '').split(/\s+/) };
  });
}

let workDir: string;
let result: CliResult;
let status: Status;
let deliveries: Delivery[];
let events: Event[];

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ferry-court-lists-migration-'));
  result = await runScript(join(example, 'migrate.mjs'), ['--work-dir', workDir], 8 * 60_000);
  if (result.code !== 0) console.error(result.stdout, result.stderr);
  const shown = await runCli(['shadow', 'status', join(workDir, 'migration.yaml'), '--json', '--now', END]);
  expect(shown.stderr).toBe('');
  status = JSON.parse(shown.stdout);
  deliveries = JSON.parse(await readFile(join(workDir, 'deliveries.json'), 'utf8'));
  events = (await readFile(join(workDir, '.ferry', 'events', 'justice.hearing.v1.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
}, 10 * 60_000);

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('examples/court-lists-sftp migration (14 simulated days)', () => {
  it('prints the gate per day: closed on days 1 to 10, open from day 11, and exits 0', () => {
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const verdicts = [...result.stdout.matchAll(/^migrate: day (\d+) (\S+) gate (open|closed)/gm)].map(
      (m) => [Number(m[1]), m[2], m[3]],
    );
    expect(verdicts).toEqual(
      Array.from({ length: 14 }, (_, i) => [i + 1, date(i + 1), i + 1 >= 11 ? 'open' : 'closed']),
    );
    expect(status).toMatchObject({ migration: 'court-lists', gate: { open: true, required: 7 } });
  });

  it('compares 14 slots, one per 03:00 run of the legacy job', () => {
    expect(status.runs).toHaveLength(14);
    expect(status.runs.map((r) => [r.status, r.slot])).toEqual(
      Array.from({ length: 14 }, (_, i) => ['complete', new Date(`${date(i + 1)}T03:00:00Z`).toISOString()]),
    );
    expect(status.runs.map((r) => r.clean)).toEqual(Array.from({ length: 14 }, (_, i) => i + 1 !== 4));
  });

  it('catches the day-4 defect: the hearings listed SE or ME differ in hearingType, by key', async () => {
    const run = status.runs[3]!;
    const swapped = courtList(date(4), 200).filter((h) => h.type === 'SE' || h.type === 'ME');
    expect(swapped.length).toBeGreaterThan(0);
    expect(run).toMatchObject({
      clean: false,
      keys: 200,
      missing: 0,
      extra: 0,
      differing: swapped.length,
      unexplained: swapped.length,
    });
    expect(run.fields.hearingType).toEqual({ column: 'HEARING_TYPE', differing: swapped.length });
    expect(Object.values(run.fields).filter((f) => f.differing > 0)).toHaveLength(1);
    // The event log agrees: those hearings, and only those, were published with the other type.
    const lookup: Record<string, string> = {
      FA: 'first-appearance',
      TR: 'trial',
      SE: 'sentence',
      ME: 'mention',
      OT: 'other',
    };
    const listed = new Map(courtList(date(4), 200).map((h) => [h.ref, lookup[h.type]]));
    const wrong = events.filter((e) => listed.has(e.subject) && e.data.hearingType !== listed.get(e.subject));
    expect(wrong.map((e) => e.subject).sort()).toEqual(swapped.map((h) => h.ref).sort());
    // The ledger names them, with both values: the listed type in the reference, the other in the stream.
    const samples = status.topFields.find((f) => f.field === 'hearingType')!.samples;
    expect(samples.length).toBeGreaterThan(0);
    for (const sample of samples) {
      const code = swapped.find((h) => h.ref === sample.key)?.type;
      expect(code, sample.key).toBeDefined();
      expect(sample).toEqual({
        slot: run.slot,
        key: sample.key,
        reference: code === 'SE' ? 'sentence' : 'mention',
        stream: code === 'SE' ? 'mention' : 'sentence',
        explained: false,
      });
    }
    const markdown = await readFile(join(workDir, 'report.md'), 'utf8');
    expect(markdown).toContain(`| ${run.slot} | ${samples[0]!.key} |`);
  });

  it('counts the late day-6 correction after the cut-off, not as a mismatch', () => {
    const late = deliveries.find((d) => d.kind === 'late correction')!;
    expect(late).toMatchObject({ day: 6, sittingDate: date(6), uploadedAt: `${date(6)}T03:10:00.000Z` });
    const lateEvents = events.filter((e) => e.time === late.uploadedAt);
    expect(lateEvents.length).toBe(late.changed!.length + late.removed!.length);
    const run = status.runs[5]!;
    expect(run).toMatchObject({
      clean: true,
      afterCutoff: lateEvents.length,
      keys: 200,
      matching: 200,
      missing: 0,
      extra: 0,
      differing: 0,
    });
    for (const [i, r] of status.runs.entries()) if (i !== 5) expect(r.afterCutoff, r.slot).toBe(0);
  });

  it('keeps run 7 clean once the operator explains the truncated surname', () => {
    const long = deliveries.find((d) => d.longSurname)!;
    expect(long.day).toBe(7);
    const surnames = events.map((e) => e.data.defendant.name.family).filter((s) => s.length > 20);
    expect(surnames).toHaveLength(1);
    expect(status.runs[6]).toMatchObject({ clean: true, keys: 200, differing: 1, unexplained: 0 });
    expect(status.runs[6]!.fields['defendant.name.family']).toEqual({ column: 'DEF_SNAME', differing: 1 });
    expect(status.topFields.find((f) => f.field === 'defendant.name.family')!.samples).toEqual([
      {
        slot: status.runs[6]!.slot,
        key: long.longSurname,
        reference: surnames[0]!.slice(0, 20),
        stream: surnames[0],
        explained: true,
      },
    ]);
    expect(status.notes).toEqual([
      expect.objectContaining({
        key: long.longSurname,
        field: 'defendant.name.family',
        author: 'alice.operator',
        reason: 'the legacy job truncates surnames to 20 characters (CHAR(20))',
      }),
    ]);
  });

  it('carries corrections through both sides: updates, and deletes for the removed hearings', () => {
    const corrections = deliveries.filter((d) => d.kind === 'correction');
    expect(corrections.map((d) => d.day)).toEqual([3, 5, 9, 12]);
    const db = new Database(join(workDir, 'reporting.db'), { readonly: true });
    try {
      for (const c of corrections) {
        // Both sides hold the corrected list: 198 hearings.
        expect(status.runs[c.day - 1], c.file).toMatchObject({ keys: 198, matching: 198, clean: true });
        for (const ref of c.removed!) {
          expect(events.filter((e) => e.subject === ref).map((e) => [e.ferryop, e.type])).toEqual([
            ['read', 'justice.hearing.snapshotted'],
            ['delete', 'justice.hearing.deleted'],
          ]);
          expect(db.prepare('SELECT count(*) FROM RPT_HEARINGS WHERE HEARING_REF = ?').pluck().get(ref)).toBe(
            0,
          );
        }
        for (const ref of c.changed!)
          expect(events.filter((e) => e.subject === ref).map((e) => e.ferryop)).toEqual(['read', 'update']);
      }
      // The legacy job never loads the late correction (its day had passed): its removed hearing stays.
      const late = deliveries.find((d) => d.kind === 'late correction')!;
      expect(db.prepare('SELECT STATUS FROM RPT_LOAD_LOG WHERE FILE_NAME = ?').pluck().get(late.file)).toBe(
        'SKIPPED',
      );
      expect(
        db.prepare('SELECT count(*) FROM RPT_HEARINGS WHERE HEARING_REF = ?').pluck().get(late.removed![0]),
      ).toBe(1);
      expect(events.some((e) => e.subject === late.removed![0] && e.ferryop === 'delete')).toBe(true);
    } finally {
      db.close();
    }
  });

  it('renders the report page with day 4 the one unclean run and the gate open', async () => {
    await mkdir(artefacts, { recursive: true });
    await copyFile(join(workDir, 'report.html'), join(artefacts, 'report.html'));
    const screenshot = join(artefacts, 'report.png');
    const { dom } = await renderInChromium(join(workDir, 'report.html'), {
      screenshot,
      width: 1280,
      height: 2000,
    });
    const runs = elements(dom).filter((e) => e.classes.includes('run') && e.attrs['data-slot']);
    expect(runs).toHaveLength(14);
    const unclean = runs.filter((e) => e.classes.includes('unclean')).map((e) => e.attrs['data-slot']);
    expect(unclean).toEqual([status.runs[3]!.slot]);
    expect(dom).toContain('<span class="badge gate-open">Gate open</span>');
    expect((await readFile(screenshot)).subarray(1, 4).toString()).toBe('PNG');
  });
});
