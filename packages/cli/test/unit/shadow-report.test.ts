// The shadow report's renderers without a browser: the Markdown version, escaping of legacy data in both,
// percentages rounded down, and a page that needs nothing from outside.
import { describe, expect, it } from 'vitest';
import type { MigrationView, RunSummary, ShadowReport } from '../../src/migration/model.js';
import { renderReportHtml, renderReportMarkdown } from '../../src/migration/report.js';

function run(slot: string, over: Partial<RunSummary> = {}): RunSummary {
  return {
    slot,
    cutoff: slot.replace('T02:00', 'T01:30'),
    status: 'complete',
    parity: 1,
    threshold: 0.999,
    keys: 100_000,
    matching: 100_000,
    missing: 0,
    extra: 0,
    differing: 0,
    unexplained: 0,
    afterCutoff: 0,
    clean: true,
    fields: {},
    ...over,
  };
}

function view(over: Partial<MigrationView> = {}): MigrationView {
  return {
    name: 'hearings',
    description: 'Nightly hearing list',
    legacyJob: 'LISTX01',
    schedule: { cron: '0 2 * * *', timezone: 'Europe/London' },
    phase: 'shadowing',
    gate: {
      open: false,
      required: 3,
      threshold: 0.999,
      cleanRuns: 1,
      cleanDays: 1,
      reasons: ['Only 1 of 3 clean runs in a row.', 'The run of 2026-05-02 had a | in it & <b>bold</b>.'],
    },
    runs: [
      run('2026-05-01T02:00:00Z', { parity: 0.99999, matching: 99_999, differing: 1 }),
      run('2026-05-02T02:00:00Z', {
        parity: 0.29,
        matching: 29_000,
        differing: 71_000,
        unexplained: 71_000,
        clean: false,
      }),
      run('2026-05-03T02:00:00Z', { status: 'missed', reason: 'no legacy file', parity: 0, clean: false }),
      run('2026-05-04T02:00:00Z'),
    ],
    topFields: [
      {
        field: 'hearingType',
        column: 'HRG_TYPE',
        differing: 71_000,
        samples: [
          {
            slot: '2026-05-02T02:00:00Z',
            key: 'H|0005|001',
            reference: '<script>alert(1)</script>',
            stream: null,
            explained: false,
          },
          { slot: '2026-05-02T02:00:00Z', key: 'H-2', reference: 'a\nb', stream: '', explained: true },
        ],
      },
    ],
    notes: [
      { id: 7, key: 'H-2', reason: 'line breaks differ | known', author: 'bob "the" ops', at: '2026-05-03' },
    ],
    inventory: {
      migration: 'hearings',
      legacyJob: 'LISTX01',
      schedule: '0 2 * * * Europe/London',
      pipelines: ['hearings'],
      topics: ['justice.hearings.v1'],
      contracts: ['justice.hearing@2'],
      consumers: [
        {
          group: 'listings',
          state: 'Stable',
          members: 1,
          topics: [{ topic: 'justice.hearings.v1', lag: 12 }],
        },
      ],
      phase: 'shadowing',
      status: 'shadowing 4 days',
      freshness: { lastRun: '2026-05-04T02:03:00Z', ageMs: 90 * 60_000 },
    },
    ...over,
  };
}

const report = (...migrations: MigrationView[]): ShadowReport => ({
  generatedAt: '2026-05-04T06:00:00Z',
  migrations,
});

describe('shadow report: percentages', () => {
  it('rounds down to 2 decimals: 99.999% is never 100.00%, 29% stays 29.00%', () => {
    const md = renderReportMarkdown(report(view()));
    const html = renderReportHtml(report(view()));
    for (const out of [md, html]) {
      expect(out).toContain('99.99%');
      expect(out).toContain('29.00%');
      expect(out).toContain('99.90%'); // the threshold
      expect(out).toContain('100.00%'); // the last run, which is exactly 1
    }
    expect(md.split('\n').find((line) => line.startsWith('| 2026-05-01T02:00:00Z |'))).toContain(
      '| 99.99% |',
    );
    const tiny = renderReportMarkdown(
      report(view({ runs: [run('2026-05-01T02:00:00Z', { parity: 1 - 1e-9 })] })),
    );
    expect(tiny).toContain('| 99.99% |');
    expect(tiny).not.toContain('| 100.00% |');
  });
});

describe('shadow report: Markdown', () => {
  const md = renderReportMarkdown(report(view()));
  const lines = md.split('\n');

  it('gives the gate state, its figures and each reason', () => {
    expect(md).toContain('**Gate closed**: 1 clean run in a row (3 needed), 1 clean day, threshold 99.90%.');
    expect(lines).toContain('- Only 1 of 3 clean runs in a row.');
    expect(
      renderReportMarkdown(report(view({ gate: { ...view().gate, open: true, reasons: [] } }))),
    ).toContain('**Gate open**');
  });

  it('has a runs table, one row per run, with a sparkline on the same axis as the chart', () => {
    const header = lines.findIndex((l) => l.startsWith('| Slot | Cut-off | Status | Parity |'));
    expect(header).toBeGreaterThan(-1);
    const rows = lines.slice(header + 2, header + 6);
    expect(rows).toHaveLength(4);
    expect(rows[1]).toMatch(/\| 29\.00% \|.*\| \*\*no\*\* \|$/);
    expect(rows[2]).toContain('missed: no legacy file');
    expect(md).toMatch(/`[▁-█]{2}·[▁-█]`/u);
  });

  it('lists the top fields with samples, the notes and the inventory', () => {
    expect(md).toContain('#### hearingType ← HRG\\_TYPE (71000 differences)');
    expect(md).toContain('| Slot | Key | Reference | Stream | Explained |');
    expect(md).toContain('| *null* |');
    expect(md).toContain('a<br>b');
    expect(md).toContain('| bob "the" ops |');
    expect(md).toContain('- Legacy job: LISTX01');
    expect(md).toContain('| listings | Stable | 1 | justice.hearings.v1: 12 |');
    expect(md).toContain('age 1 h 30 min');
  });

  it('escapes | in cells and markup in values, so every row keeps its columns', () => {
    expect(md).toContain('H\\|0005\\|001');
    expect(md).toContain('\\<script\\>alert(1)\\</script\\>');
    expect(md).not.toContain('<script>');
    expect(md).toContain('line breaks differ \\| known');
    expect(md).toContain('a \\| in it \\& \\<b\\>bold\\</b\\>');
    // In every table, each row has as many unescaped pipes as its header.
    let columns = 0;
    for (const line of lines) {
      if (!line.startsWith('|')) {
        columns = 0;
        continue;
      }
      const pipes = line.replace(/\\\|/g, '').split('|').length;
      if (columns === 0) columns = pipes;
      expect(pipes, line).toBe(columns);
    }
  });

  it('opens with an inventory of all migrations when there are several', () => {
    const two = renderReportMarkdown(
      report(view(), view({ name: 'fines', gate: { ...view().gate, open: true } })),
    );
    const inventoryAt = two.indexOf('\n## Inventory\n');
    expect(inventoryAt).toBeGreaterThan(0);
    expect(inventoryAt).toBeLessThan(two.indexOf('\n## hearings\n'));
    expect(two).toContain('| fines | LISTX01 |');
    expect(lines).not.toContain('## Inventory');
  });
});

describe('shadow report: HTML', () => {
  const html = renderReportHtml(report(view(), view({ name: 'fines' })));

  it('escapes every string from the model', () => {
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain('bob &quot;the&quot; ops');
    expect(html).toContain('a | in it &amp; &lt;b&gt;bold&lt;/b&gt;');
    const hostile = renderReportHtml(
      report(view({ name: 'x"><img src=x>', runs: [run('2026"><svg onload=alert(1)>')] })),
    );
    expect(hostile).not.toMatch(/<img|<svg onload/);
    expect(hostile).toContain('data-slot="2026&quot;&gt;&lt;svg onload=alert(1)&gt;"');
  });

  it('is self-contained: nothing loaded from anywhere, no script', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<link|<script|<img|<iframe|\bsrc=|url\(|@import|href="(?!#)/i);
    expect(html).toContain("default-src 'none'");
  });

  it('marks each run by class and slot, in the chart and in the table', () => {
    expect(html).toContain('<section class="migration" id="migration-hearings">');
    expect(html).toContain('<span class="badge gate-closed">Gate closed</span>');
    expect(html.match(/<circle class="run /g)).toHaveLength(8);
    expect(html).toContain('<circle class="run unclean" data-slot="2026-05-02T02:00:00Z"');
    expect(html).toContain('<circle class="run missed" data-slot="2026-05-03T02:00:00Z"');
    expect(html).toContain('<tr data-slot="2026-05-02T02:00:00Z" class="unclean">');
    expect(html).toContain('<tr data-slot="2026-05-03T02:00:00Z" class="missed">');
    // The y axis starts at the lowest run rounded down (29% → 20%), not at 0, and says so.
    expect(html).toContain('the y axis starts at 20.00% (cut: not at 0%)');
  });
});
