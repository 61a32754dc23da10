// The shadow report page as a browser sees it: renderReportHtml's output opened in the system's headless
// Chromium (installed by test/services/up.sh), asserted on the DOM Chromium built from it, and a
// screenshot kept under test-results/shadow-report/ to look at.
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderInChromium } from '../../../../test/chromium.js';
import type { MigrationView, RunSummary, ShadowReport } from '../../src/migration/model.js';
import { renderReportHtml } from '../../src/migration/report.js';

const artefacts = join(import.meta.dirname, '..', '..', '..', '..', 'test-results', 'shadow-report');
const XSS = '<script>alert(1)</script>';
const DEFECT_SLOT = '2026-05-05T02:00:00Z';
const MISSED_SLOT = '2026-05-09T02:00:00Z';

function day(n: number, time: string): string {
  return `2026-05-${String(n).padStart(2, '0')}T${time}Z`;
}

function cleanRun(slot: string, cutoff: string, keys: number): RunSummary {
  return {
    slot,
    cutoff,
    status: 'complete',
    trigger: 'schedule',
    parity: 1,
    threshold: 0.999,
    keys,
    matching: keys,
    missing: 0,
    extra: 0,
    differing: 0,
    unexplained: 0,
    afterCutoff: 3,
    clean: true,
    fields: {},
  };
}

/** 14 nightly runs: the 5th has 13 unexplained hearingType differences, the 9th was missed. */
function hearings(): MigrationView {
  const runs: RunSummary[] = [];
  for (let d = 1; d <= 14; d++) {
    const slot = day(d, '02:00:00');
    const run = cleanRun(slot, day(d, '01:30:00'), 4000 + d);
    if (slot === DEFECT_SLOT) {
      Object.assign(run, {
        parity: 3992 / 4005,
        matching: 3992,
        differing: 13,
        unexplained: 13,
        clean: false,
        fields: { hearingType: { column: 'HRG_TYPE', differing: 13 } },
      });
    } else if (slot === MISSED_SLOT) {
      Object.assign(run, {
        status: 'missed',
        reason: 'the legacy output file was not there by 03:00 (grace 60 min)',
        parity: 0,
        keys: 0,
        matching: 0,
        afterCutoff: 0,
        clean: false,
      });
    } else if (d % 3 === 0) {
      // A few explained courtRoom differences: still clean, parity just under 100%.
      Object.assign(run, {
        parity: (run.keys - 2) / run.keys,
        matching: run.keys - 2,
        differing: 2,
        fields: { courtRoom: { column: 'CRT_ROOM', differing: 2 } },
      });
    }
    runs.push(run);
  }
  return {
    name: 'hearings-nightly',
    description: 'The nightly hearing list export (LISTX01) replaced by the hearings pipeline.',
    legacyJob: 'LISTX01',
    schedule: { cron: '0 2 * * *', timezone: 'Europe/London' },
    phase: 'shadowing',
    gate: {
      open: false,
      required: 14,
      threshold: 0.999,
      cleanRuns: 5,
      cleanDays: 5,
      reasons: [
        '5 of 14 required clean runs in a row (the run of 2026-05-09T02:00:00Z was missed).',
        'The run of 2026-05-05T02:00:00Z had 13 unexplained differences in hearingType.',
      ],
    },
    runs,
    topFields: [
      {
        field: 'hearingType',
        column: 'HRG_TYPE',
        differing: 13,
        samples: [
          { slot: DEFECT_SLOT, key: 'H-0005-001', reference: 'TRIAL', stream: 'TRL', explained: false },
          { slot: DEFECT_SLOT, key: 'H-0005-002', reference: XSS, stream: null, explained: false },
        ],
      },
      {
        field: 'courtRoom',
        column: 'CRT_ROOM',
        differing: 8,
        samples: [
          { slot: day(3, '02:00:00'), key: 'H-0003-017', reference: '0004', stream: '4', explained: true },
        ],
      },
    ],
    notes: [
      {
        id: 1,
        field: 'courtRoom',
        kind: 'differs',
        reason: 'LISTX01 pads room numbers to 4 digits; the stream does not. Agreed with the listings team.',
        author: 'alice.mensah',
        at: '2026-05-04T09:12:00Z',
      },
    ],
    inventory: {
      migration: 'hearings-nightly',
      legacyJob: 'LISTX01',
      schedule: '0 2 * * * Europe/London',
      pipelines: ['hearings'],
      topics: ['justice.hearings.v1'],
      contracts: ['justice.hearing@2'],
      consumers: [],
      consumersError: 'the broker did not answer within 5 s',
      phase: 'shadowing',
      status: 'shadowing 14 days',
      freshness: { lastRun: day(14, '02:04:10'), lastCutoff: day(14, '01:30:00'), ageMs: 3_600_000 },
    },
  };
}

function fines(): MigrationView {
  const runs = [1, 8, 15, 22].map((d) =>
    cleanRun(
      `2026-04-${String(d).padStart(2, '0')}T05:00:00Z`,
      `2026-04-${String(d).padStart(2, '0')}T04:00:00Z`,
      1200,
    ),
  );
  return {
    name: 'fines-weekly',
    legacyJob: 'FINEWK',
    schedule: { cron: '0 5 * * 3', timezone: 'UTC' },
    phase: 'gate open',
    gate: { open: true, required: 4, threshold: 0.999, cleanRuns: 4, cleanDays: 22, reasons: [] },
    runs,
    topFields: [],
    notes: [],
    inventory: {
      migration: 'fines-weekly',
      description: 'Weekly fines ledger',
      legacyJob: 'FINEWK',
      schedule: '0 5 * * 3 UTC',
      pipelines: ['fines'],
      topics: ['justice.fines.v1'],
      contracts: ['justice.fine@1'],
      consumers: [
        {
          group: 'finance-ledger',
          state: 'Stable',
          members: 2,
          topics: [{ topic: 'justice.fines.v1', lag: 0 }],
        },
      ],
      phase: 'gate open',
      status: 'gate open',
      freshness: { lastRun: '2026-04-22T05:01:00Z' },
    },
  };
}

interface Element {
  tag: string;
  attrs: Record<string, string>;
  classes: string[];
}

/** The start tags of serialised HTML (Chromium's serialiser: every attribute value in double quotes). */
function elements(html: string): Element[] {
  const found: Element[] = [];
  for (const match of html.matchAll(/<([a-zA-Z][\w-]*)((?:\s+[^\s=/>]+(?:="[^"]*")?)*)\s*\/?>/g)) {
    const attrs: Record<string, string> = {};
    for (const a of (match[2] ?? '').matchAll(/([^\s=]+)(?:="([^"]*)")?/g)) attrs[a[1] ?? ''] = a[2] ?? '';
    found.push({ tag: (match[1] ?? '').toLowerCase(), attrs, classes: (attrs.class ?? '').split(/\s+/) });
  }
  return found;
}

const withClasses = (html: string, ...classes: string[]) =>
  elements(html).filter((e) => classes.every((c) => e.classes.includes(c)));

/** One migration's <section>, from its opening tag to its end. */
function section(dom: string, name: string): string {
  const start = dom.indexOf(`id="migration-${name}"`);
  expect(start, `no section for ${name}`).toBeGreaterThan(-1);
  return dom.slice(dom.lastIndexOf('<section', start), dom.indexOf('</section>', start));
}

describe('shadow report page in headless Chromium', () => {
  let dir: string;
  let dom: string;
  const screenshot = join(artefacts, 'shadow-report.png');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-shadow-report-'));
    await mkdir(artefacts, { recursive: true });
    await rm(screenshot, { force: true });
    const report: ShadowReport = { generatedAt: '2026-05-14T06:00:00Z', migrations: [hearings(), fines()] };
    const page = join(dir, 'report.html');
    await writeFile(page, renderReportHtml(report));
    await copyFile(page, join(artefacts, 'shadow-report.html'));
    ({ dom } = await renderInChromium(page, { screenshot, width: 1280, height: 2000 }));
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('shows each gate state as a badge, with the closed gate’s figures and reasons', () => {
    const closed = section(dom, 'hearings-nightly');
    expect(closed).toContain('<span class="badge gate-closed">Gate closed</span>');
    expect(closed).toMatch(/<strong>5<\/strong> clean runs in a row \(<strong>14<\/strong> needed\)/);
    expect(closed).toContain('<li>5 of 14 required clean runs in a row');
    const open = section(dom, 'fines-weekly');
    expect(open).toContain('<span class="badge gate-open">Gate open</span>');
    // Several migrations: the inventory of all comes first, a badge per migration.
    const overview = dom.slice(0, dom.indexOf('id="migration-'));
    expect(withClasses(overview, 'badge')).toHaveLength(2);
    expect(dom).toContain('Generated <time datetime="2026-05-14T06:00:00Z">2026-05-14T06:00:00Z</time>');
  });

  it('draws 14 runs, the defect day alone in the unclean colour and the missed night hollow', () => {
    const html = section(dom, 'hearings-nightly');
    const runs = withClasses(html, 'run');
    expect(runs).toHaveLength(14);
    expect(runs.every((r) => r.tag === 'circle' && r.attrs['data-slot'])).toBe(true);
    const unclean = withClasses(html, 'run', 'unclean');
    expect(unclean.map((r) => r.attrs['data-slot'])).toEqual([DEFECT_SLOT]);
    expect(withClasses(html, 'run', 'missed').map((r) => r.attrs['data-slot'])).toEqual([MISSED_SLOT]);
    expect(withClasses(html, 'threshold').some((e) => e.tag === 'line')).toBe(true);
    expect(html).toMatch(/<title>2026-05-05T02:00:00Z: parity 99\.67% \(unclean\)/);
    expect(withClasses(section(dom, 'fines-weekly'), 'run', 'clean')).toHaveLength(4);
  });

  it('lists the defect day in the runs table, marked unclean', () => {
    const html = section(dom, 'hearings-nightly');
    const rows = elements(html).filter((e) => e.tag === 'tr' && e.attrs['data-slot'] !== undefined);
    expect(rows.filter((r) => r.classes.includes('unclean')).map((r) => r.attrs['data-slot'])).toContain(
      DEFECT_SLOT,
    );
    const row = html.slice(html.indexOf(`<tr data-slot="${DEFECT_SLOT}" class="unclean">`));
    const cells = row.slice(0, row.indexOf('</tr>'));
    expect(cells).toContain('99.67%');
    expect(cells).toContain('<td class="verdict">no</td>');
    expect(html).toContain(`<tr data-slot="${MISSED_SLOT}" class="missed">`);
  });

  it('names the differing field, its column and a sample key, and the note’s author', () => {
    const html = section(dom, 'hearings-nightly');
    expect(html).toContain('<code>hearingType</code> ← <code>HRG_TYPE</code>');
    expect(html).toContain('H-0005-001');
    expect(html).toContain('alice.mensah');
    expect(html).toContain('Consumers unknown: the broker did not answer within 5 s');
    expect(section(dom, 'fines-weekly')).toContain('finance-ledger');
  });

  it('shows a <script> from the data as text: no script element in the DOM', () => {
    expect(dom).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(dom).not.toMatch(/<script[\s>]/i);
    expect(elements(dom).filter((e) => e.tag === 'script')).toHaveLength(0);
  });

  it('leaves a screenshot of 1280 × 2000 pixels', async () => {
    const png = await readFile(screenshot);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    // IHDR: width and height right after the chunk's length and type.
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1280, 2000]);
    expect((await stat(screenshot)).size).toBeGreaterThan(20 * 1024);
  });
});
