// The shadow runs' pure parts: the schedule's slots (across a change of clocks), which notes explain which
// mismatches, the gate's verdict and its reasons, tolerances, cut-off values and the migration file's checks.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@ferry/core';
import { describe, expect, it } from 'vitest';
import { withinTolerance } from '../../src/internal/reconcile.js';
import { loadMigrationFile, type MigrationFile, migrationFileSchema } from '../../src/migration/config.js';
import { explains, gateOf, judgeRun, phaseOf, slotsBetween } from '../../src/migration/gate.js';
import type { RecordedRun } from '../../src/migration/ledger.js';
import type { Note } from '../../src/migration/model.js';
import { localDate, parseCutoff } from '../../src/migration/shadow.js';

const config = (extra: Record<string, unknown> = {}): MigrationFile =>
  migrationFileSchema.parse({
    migration: 'court-lists',
    legacy: {
      job: 'RPT_HEARINGS nightly load',
      schedule: { cron: '0 3 * * *', timezone: 'Europe/London' },
      output: { reference: 'sqlite:r.db', table: 'RPT', key: ['ID'] },
    },
    stream: { type: 'justice.hearing', events: { file: 'e.jsonl' } },
    fields: { courtCode: 'CRT_CD', hearingType: 'HRG_TYPE' },
    gate: { runs: 3, threshold: 0.99 },
    ...extra,
  });

const run = (slot: string, over: Partial<RecordedRun> = {}): RecordedRun => ({
  slot,
  cutoff: slot,
  status: 'complete',
  parity: 1,
  threshold: 0.99,
  keys: 100,
  matching: 100,
  missing: 0,
  extra: 0,
  differing: 0,
  afterCutoff: 0,
  unrecorded: 0,
  fields: {},
  ...over,
});

const note = (over: Partial<Note>): Note => ({
  id: 1,
  reason: 'known',
  author: 'alice',
  at: '2026-11-01T00:00:00Z',
  ...over,
});

describe('slots', () => {
  it('follows the schedule’s time zone across the end of summer time', () => {
    const slots = slotsBetween(config(), new Date('2026-10-23T00:00:00Z'), new Date('2026-10-27T12:00:00Z'));
    // 03:00 in London is 02:00 UTC in summer time and 03:00 UTC after 25 October.
    expect(slots.map((s) => s.toISOString())).toEqual([
      '2026-10-23T02:00:00.000Z',
      '2026-10-24T02:00:00.000Z',
      '2026-10-25T03:00:00.000Z',
      '2026-10-26T03:00:00.000Z',
      '2026-10-27T03:00:00.000Z',
    ]);
  });

  it('dates a cut-off in the schedule’s time zone', () => {
    expect(localDate(new Date('2026-06-30T23:30:00Z'), 'Europe/London')).toBe('2026-07-01');
    expect(localDate(new Date('2026-06-30T23:30:00Z'), 'UTC', 1)).toBe('2026-07-01');
    expect(localDate(new Date('2026-03-01T10:00:00Z'), 'UTC', -1)).toBe('2026-02-28');
  });

  it('reads cut-off values from a database: dates, zoned and unzoned text (UTC), nothing', () => {
    expect(parseCutoff(new Date('2026-11-02T03:00:00Z'))?.toISOString()).toBe('2026-11-02T03:00:00.000Z');
    expect(parseCutoff('2026-11-02 03:12:00')?.toISOString()).toBe('2026-11-02T03:12:00.000Z');
    expect(parseCutoff('2026-11-02T03:12:00+01:00')?.toISOString()).toBe('2026-11-02T02:12:00.000Z');
    expect(parseCutoff(null)).toBeUndefined();
    expect(() => parseCutoff('yesterday')).toThrow(/not a timestamp/);
  });
});

describe('notes', () => {
  const differs = {
    key: 'H1',
    kind: 'differs' as const,
    fields: [
      { field: 'courtCode', column: 'CRT_CD', reference: 'A', stream: 'B' },
      { field: 'hearingType', column: 'HRG_TYPE', reference: 'trial', stream: 'mention' },
    ],
  };

  it('explain a differing key only when every differing field is covered', () => {
    expect(explains([note({ key: 'H1', field: 'courtCode' })], differs)).toBe(false);
    expect(explains([note({ key: 'H1', field: 'courtCode' }), note({ field: 'hearingType' })], differs)).toBe(
      true,
    );
    expect(explains([note({ key: 'H1' })], differs)).toBe(true);
    expect(explains([note({ key: 'H2' })], differs)).toBe(false);
    expect(explains([note({ kind: 'missing' })], differs)).toBe(false);
  });

  it('explain a missing or extra key only without a field', () => {
    expect(explains([note({ key: 'H1', field: 'courtCode' })], { key: 'H1', kind: 'missing' })).toBe(false);
    expect(explains([note({ key: 'H1', kind: 'missing' })], { key: 'H1', kind: 'missing' })).toBe(true);
    expect(explains([note({ kind: 'extra' })], { key: 'H9', kind: 'missing' })).toBe(false);
  });

  it('cannot explain mismatches past the mismatch limit', () => {
    const judged = judgeRun(
      run('2026-11-02T03:00:00.000Z', { differing: 3, unrecorded: 1, parity: 0.99 }),
      [differs, differs],
      [note({})],
    );
    expect(judged).toMatchObject({ unexplained: 1, clean: false });
  });
});

describe('the gate', () => {
  const c = config();
  const start = new Date('2026-11-02T03:00:00Z');
  const slots = ['2026-11-02', '2026-11-03', '2026-11-04', '2026-11-05'].map((d) => `${d}T03:00:00.000Z`);
  const judged = (runs: RecordedRun[]) => runs.map((r) => judgeRun(r, [], []));

  it('opens after the required consecutive clean runs, not before', () => {
    const runs = judged(slots.slice(0, 2).map((s) => run(s)));
    const closed = gateOf(c, start, runs, new Date('2026-11-03T04:00:00Z'));
    expect(closed).toMatchObject({ open: false, cleanRuns: 2, cleanDays: 2 });
    expect(closed.reasons).toEqual(['2 of the 3 runs needed have been due since shadowing started']);
    const open = gateOf(
      c,
      start,
      judged(slots.slice(0, 3).map((s) => run(s))),
      new Date('2026-11-04T04:00:00Z'),
    );
    expect(open).toMatchObject({ open: true, cleanRuns: 3, cleanDays: 3, reasons: [] });
  });

  it('names each run that keeps it closed: parity, unexplained differences, missed', () => {
    const runs = judged([
      run(slots[0]!),
      run(slots[1]!, { parity: 0.95, differing: 5, matching: 95, unrecorded: 5 }),
      run(slots[2]!, { status: 'missed', reason: 'the runner was down' }),
      run(slots[3]!),
    ]);
    const gate = gateOf(c, start, runs, new Date('2026-11-05T04:00:00Z'));
    expect(gate.open).toBe(false);
    expect(gate.cleanRuns).toBe(1);
    expect(gate.reasons).toEqual([
      '2026-11-03T03:00:00.000Z: parity 95.00% below 99.00%; 5 differences not explained',
      '2026-11-04T03:00:00.000Z: missed (the runner was down)',
    ]);
  });

  it('waits for the newest slot rather than calling it missed, but not for older ones', () => {
    const runs = judged(slots.slice(0, 3).map((s) => run(s)));
    // 04:00 on the 5th: the 5th's run is due and not recorded yet: judged on the three before it.
    expect(gateOf(c, start, runs, new Date('2026-11-05T04:00:00Z')).open).toBe(true);
    const gap = judged([run(slots[0]!), run(slots[2]!), run(slots[3]!)]);
    expect(gateOf(c, start, gap, new Date('2026-11-05T04:00:00Z')).reasons).toEqual([
      '2026-11-03T03:00:00.000Z: no run recorded (missed)',
    ]);
  });

  it('counts a run compared before its grace ended (a cut-off query saw the legacy run land)', () => {
    const one = config({ gate: { runs: 1, threshold: 1 } });
    const early = judged([run(slots[0]!, { cutoff: '2026-11-02T03:05:00.000Z' })]);
    expect(gateOf(one, start, early, new Date('2026-11-02T03:06:00Z'))).toMatchObject({
      open: true,
      cleanRuns: 1,
    });
    expect(gateOf(one, start, [], new Date('2026-11-02T03:06:00Z')).open).toBe(false);
  });

  it('says where the migration stands', () => {
    const runs = judged(slots.slice(0, 3).map((s) => run(s)));
    const now = new Date('2026-11-04T04:00:00Z');
    const gate = gateOf(c, start, runs, now);
    expect(phaseOf([], gate, [], now)).toEqual({ phase: 'not started', status: 'not started' });
    expect(phaseOf(runs, gate, [], now).phase).toBe('gate open');
    expect(phaseOf(runs, { ...gate, open: false }, [], now)).toEqual({
      phase: 'shadowing',
      status: 'shadowing 3 days',
    });
    expect(
      phaseOf(runs, gate, [{ phase: 'cut over', author: 'alice', at: '2026-11-04T05:00:00.000Z' }], now)
        .status,
    ).toBe('cut over 2026-11-04 by alice');
  });
});

describe('tolerances', () => {
  const t = { numeric: { listNumber: 0.5 }, timeMs: { sittingAt: 60_000 } };
  it('accept numbers and times within them, and nothing else', () => {
    expect(withinTolerance('listNumber', '3', '3.4', t)).toBe(true);
    expect(withinTolerance('listNumber', '3', '3.6', t)).toBe(false);
    expect(withinTolerance('listNumber', '3', 'three', t)).toBe(false);
    expect(withinTolerance('sittingAt', '2026-11-02T10:00:00Z', '2026-11-02T10:00:59Z', t)).toBe(true);
    expect(withinTolerance('sittingAt', '2026-11-02T10:00:00Z', '2026-11-02T10:01:01Z', t)).toBe(false);
    expect(withinTolerance('courtCode', 'A', 'B', t)).toBe(false);
    expect(withinTolerance('listNumber', null, '3', t)).toBe(false);
  });
});

describe('migration.yaml', () => {
  it('fails at load with the file, the line and the path of each mistake', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-migration-'));
    const file = join(dir, 'migration.yaml');
    await writeFile(
      file,
      `migration: court-lists
legacy:
  job: nightly
  schedule: { cron: '0 3 * * *', timezone: Europe/Londres }
  output: { reference: sqlite:r.db, key: [ID] }
stream: { type: justice.hearing, events: { file: e.jsonl } }
fields: { courtCode: CRT_CD }
tolerances: { ignore: [courtRoom] }
`,
    );
    const error = await loadMigrationFile(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^legacy\.schedule: .*Europe\/Londres.*IANA/),
        'legacy.output.table: an SQL reference needs exactly one of table or query',
        'tolerances.ignore: courtRoom is not one of the mapped fields (courtCode)',
      ]),
    );
    expect((error as ConfigError).message).toContain(file);
  });

  it('resolves relative paths against its own directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-migration-'));
    const file = join(dir, 'migration.yaml');
    await writeFile(
      file,
      `migration: court-lists
legacy:
  job: nightly
  schedule: { cron: '0 3 * * *' }
  output: { reference: extract.csv, key: [ID] }
stream: { type: justice.hearing, events: { file: events/e.jsonl }, pipelines: [pipeline.yaml] }
fields: { courtCode: CRT_CD }
`,
    );
    const { config } = await loadMigrationFile(file);
    expect(config.legacy.output.reference).toBe(join(dir, 'extract.csv'));
    expect(config.stream.events).toEqual({ file: join(dir, 'events', 'e.jsonl') });
    expect(config.stream.pipelines).toEqual([join(dir, 'pipeline.yaml')]);
    expect(config.ledger).toEqual({ type: 'sqlite', path: join(dir, '.ferry', 'migration', 'ledger.db') });
    expect(config.gate).toEqual({ runs: 14, threshold: 1 });
  });
});
