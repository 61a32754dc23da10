// The shadow report: a migration team's evidence that a legacy batch job can be retired, as one
// self-contained HTML page (inline style and SVG, nothing fetched, no script) and as GitHub-flavoured
// Markdown with the same content. Every string from the model is escaped: keys and values are legacy data.
import type {
  Consumer,
  FieldSample,
  Gate,
  InventoryEntry,
  MigrationView,
  Note,
  RunSummary,
  ShadowReport,
  TopField,
} from './model.js';

// --- numbers ------------------------------------------------------------------------------------------

/**
 * A ratio as a percentage with 2 decimals, rounded down: a run at 99.999% must never read as 100.00%.
 * Whole basis points, with a margin for the binary error of `ratio * 10000` (0.29 * 10000 is 2899.999…).
 */
function percent(ratio: number): string {
  let basisPoints = Math.floor(ratio * 10_000 + 1e-7);
  if (ratio < 1) basisPoints = Math.min(basisPoints, 9_999);
  return `${(basisPoints / 100).toFixed(2)}%`;
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h ${min % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

const runClass = (run: RunSummary): 'clean' | 'unclean' | 'missed' =>
  run.status === 'missed' ? 'missed' : run.clean ? 'clean' : 'unclean';

/**
 * The parity axis, in whole basis points. It does not start at 0: runs sit between 99% and 100%, where a
 * 0–100% axis would draw them all on one line. It starts at the lowest compared run (or the threshold, if
 * lower) rounded down to a tick and a little below, and the chart marks the cut with a break on the axis.
 */
interface ParityScale {
  min: number;
  step: number;
}

const STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000];

function parityScale(runs: RunSummary[], threshold: number): ParityScale {
  const compared = runs.filter((r) => r.status !== 'missed').map((r) => r.parity);
  const lowest = Math.floor(Math.min(threshold, ...compared) * 10_000 + 1e-7);
  const span = Math.max(10_000 - lowest, 1);
  const step = STEPS.find((s) => span / s <= 5) ?? 2000;
  let min = Math.floor(lowest / step) * step;
  if (lowest - min < step / 4) min -= step;
  return { min: Math.max(min, 0), step };
}

/** How a run's slot is labelled on an axis: its date, with the time when one date has several slots. */
function slotLabels(runs: RunSummary[]): string[] {
  const iso = runs.every((r) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(r.slot));
  if (!iso) return runs.map((r) => r.slot);
  const dates = runs.map((r) => r.slot.slice(0, 10));
  const repeated = new Set(dates).size < dates.length;
  return runs.map((r) => (repeated ? `${r.slot.slice(0, 10)} ${r.slot.slice(11, 16)}` : r.slot.slice(0, 10)));
}

function runTooltip(run: RunSummary): string {
  if (run.status === 'missed') return `${run.slot}: missed${run.reason ? `: ${run.reason}` : ''}`;
  return (
    `${run.slot}: parity ${percent(run.parity)} (${run.clean ? 'clean' : 'unclean'}); ` +
    `${run.keys} keys, ${run.matching} matching, ${run.missing} missing, ${run.extra} extra, ` +
    `${run.differing} differing, ${run.unexplained} unexplained, ${run.afterCutoff} after cut-off`
  );
}

function appliesTo(note: Note): string {
  const parts = [
    note.key === undefined ? undefined : `key ${note.key}`,
    note.field === undefined ? undefined : `field ${note.field}`,
    note.kind === undefined ? undefined : `kind ${note.kind}`,
  ].filter((p) => p !== undefined);
  return parts.length === 0 ? 'every mismatch' : parts.join(', ');
}

function gateFigures(gate: Gate): string {
  return (
    `${gate.cleanRuns} clean ${gate.cleanRuns === 1 ? 'run' : 'runs'} in a row (${gate.required} needed), ${gate.cleanDays} clean ` +
    `${gate.cleanDays === 1 ? 'day' : 'days'}, threshold ${percent(gate.threshold)}`
  );
}

const consumerLags = (consumer: Consumer): string =>
  consumer.topics.length === 0
    ? 'no topics'
    : consumer.topics.map((t) => `${t.topic}: ${t.lag === null ? 'unknown' : t.lag}`).join(', ');

function freshnessFacts(freshness: InventoryEntry['freshness']): [string, string][] {
  const facts: [string, string][] = [];
  if (freshness.lastRun !== undefined) facts.push(['last run', freshness.lastRun]);
  if (freshness.lastCutoff !== undefined) facts.push(['last cut-off', freshness.lastCutoff]);
  if (freshness.lastEventTime !== undefined) facts.push(['last event', freshness.lastEventTime]);
  if (freshness.ageMs !== undefined) facts.push(['age', duration(freshness.ageMs)]);
  return facts;
}

const listOrNone = (items: string[]): string => (items.length === 0 ? 'none' : items.join(', '));

// --- HTML ---------------------------------------------------------------------------------------------

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text and attribute values alike (also inside SVG, which the HTML parser reads the same way). */
const esc = (value: string): string => value.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);

const sectionId = (name: string): string => `migration-${name.replace(/\s+/g, '-')}`;

const htmlValue = (value: string | null): string =>
  value === null
    ? '<span class="null">null</span>'
    : value === ''
      ? '<span class="null">""</span>'
      : esc(value);

const STYLE = `
:root { --ok: #1b7f3b; --bad: #c62828; --muted: #6b7280; --line: #d1d5db; --soft: #f3f4f6; --warn: #b45309; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: #111827; background: #fff; }
header, main { max-width: 1220px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 20px; padding-bottom: 8px; border-bottom: 1px solid var(--line); }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0 0 4px; }
h3 { font-size: 16px; margin: 24px 0 8px; }
h4 { font-size: 14px; margin: 16px 0 6px; }
.muted, .generated { color: var(--muted); }
section.migration { padding: 24px 0 32px; border-bottom: 1px solid var(--line); }
table { border-collapse: collapse; width: 100%; margin: 4px 0 8px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { background: var(--soft); font-weight: 600; white-space: nowrap; }
td.time { white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.unclean td { background: #fdecea; }
tr.unclean td.verdict { color: var(--bad); font-weight: 600; }
tr.missed td { color: var(--muted); font-style: italic; }
code, .key { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
.null { color: var(--muted); font-style: italic; }
.gate { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px; margin: 12px 0; padding: 12px 16px;
  border: 2px solid var(--line); border-radius: 8px; }
.gate.gate-open { border-color: var(--ok); background: #edf7ef; }
.gate.gate-closed { border-color: var(--bad); background: #fdf0ef; }
.badge { display: inline-block; padding: 4px 12px; border-radius: 999px; color: #fff; font-weight: 700;
  font-size: 16px; white-space: nowrap; }
.badge.gate-open { background: var(--ok); }
.badge.gate-closed { background: var(--bad); }
table .badge { font-size: 12px; padding: 2px 8px; }
.gate-figures { margin: 0; font-size: 15px; }
.gate ul { flex-basis: 100%; margin: 0; padding-left: 20px; }
.chart { margin: 8px 0 4px; }
.chart svg { display: block; width: 100%; height: auto; }
.legend { display: flex; flex-wrap: wrap; gap: 16px; color: var(--muted); font-size: 13px; margin: 0 0 8px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 4px;
  vertical-align: -1px; }
.swatch.clean { background: var(--ok); }
.swatch.unclean { background: var(--bad); }
.swatch.missed { border: 2px solid var(--muted); background: #fff; }
.swatch.threshold { width: 16px; height: 0; border-top: 2px dashed var(--warn); border-radius: 0; vertical-align: 3px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 4px 0 8px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.error { color: var(--bad); }
svg .axis { stroke: #9ca3af; stroke-width: 1; }
svg .grid { stroke: #e5e7eb; stroke-width: 1; }
svg .threshold { stroke: var(--warn); stroke-width: 2; stroke-dasharray: 6 4; }
svg .trend { fill: none; stroke: #9ca3af; stroke-width: 1.5; }
svg text { font: 11px system-ui, "DejaVu Sans", sans-serif; fill: #374151; }
svg text.threshold-label { fill: var(--warn); font-weight: 600; }
svg .run.clean { fill: var(--ok); }
svg .run.unclean { fill: var(--bad); stroke: #7f1d1d; stroke-width: 1.5; }
svg .run.missed { fill: #fff; stroke: var(--muted); stroke-width: 2; }
svg .break { fill: #fff; stroke: #9ca3af; stroke-width: 1; }
`;

const CHART = { width: 1160, height: 300, left: 64, right: 128, top: 16, bottom: 76 };

function chartHtml(view: MigrationView): string {
  const runs = view.runs;
  if (runs.length === 0) return '<p class="muted">No shadow runs yet.</p>';
  const { width, height, left, right, top, bottom } = CHART;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const scale = parityScale(runs, view.gate.threshold);
  const y = (ratio: number) => {
    const bp = Math.min(Math.max(ratio * 10_000, scale.min), 10_000);
    return top + ((10_000 - bp) / (10_000 - scale.min)) * plotHeight;
  };
  const band = plotWidth / runs.length;
  const x = (i: number) => left + band * (i + 0.5);
  const fmt = (n: number) => n.toFixed(1);
  const parts: string[] = [];

  for (let bp = scale.min; bp <= 10_000; bp += scale.step) {
    parts.push(
      `<line class="grid" x1="${left}" x2="${left + plotWidth}" y1="${fmt(y(bp / 10_000))}" y2="${fmt(y(bp / 10_000))}"/>`,
      `<text x="${left - 8}" y="${fmt(y(bp / 10_000) + 4)}" text-anchor="end">${(bp / 100).toFixed(2)}%</text>`,
    );
  }
  parts.push(
    `<line class="axis" x1="${left}" x2="${left}" y1="${top}" y2="${top + plotHeight}"/>`,
    `<line class="axis" x1="${left}" x2="${left + plotWidth}" y1="${top + plotHeight}" y2="${top + plotHeight}"/>`,
  );
  if (scale.min > 0) {
    // The axis is cut: a zigzag where 0% would be.
    const by = top + plotHeight - 10;
    parts.push(
      `<path class="break" d="M${left - 6},${by + 4} l4,-6 l4,6 l4,-6 M${left - 6},${by + 9} l4,-6 l4,6 l4,-6"/>`,
    );
  }

  const thresholdY = fmt(y(view.gate.threshold));
  parts.push(
    `<line class="threshold" x1="${left}" x2="${left + plotWidth}" y1="${thresholdY}" y2="${thresholdY}"/>`,
    `<text class="threshold-label" x="${left + plotWidth + 6}" y="${fmt(Number(thresholdY) + 4)}">` +
      `threshold ${percent(view.gate.threshold)}</text>`,
  );

  const trend = runs
    .map((run, i) => (run.status === 'missed' ? undefined : `${fmt(x(i))},${fmt(y(run.parity))}`))
    .filter((p) => p !== undefined);
  if (trend.length > 1) parts.push(`<polyline class="trend" points="${trend.join(' ')}"/>`);

  const labels = slotLabels(runs);
  const every = Math.max(1, Math.ceil((16 * runs.length) / plotWidth));
  runs.forEach((run, i) => {
    const cls = runClass(run);
    const cy = run.status === 'missed' ? top + plotHeight : y(run.parity);
    const r = cls === 'unclean' ? 7 : 5.5;
    parts.push(
      `<circle class="run ${cls}" data-slot="${esc(run.slot)}" cx="${fmt(x(i))}" cy="${fmt(cy)}" r="${r}">` +
        `<title>${esc(runTooltip(run))}</title></circle>`,
    );
    if (i % every === 0 || i === runs.length - 1) {
      const lx = fmt(x(i));
      const ly = top + plotHeight + 14;
      parts.push(
        `<text x="${lx}" y="${ly}" text-anchor="end" transform="rotate(-40 ${lx} ${ly})">${esc(labels[i] ?? '')}</text>`,
      );
    }
  });

  const caption =
    `Parity per run, oldest first; the y axis starts at ${(scale.min / 100).toFixed(2)}%` +
    (scale.min > 0 ? ' (cut: not at 0%)' : '');
  return [
    `<figure class="chart">`,
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(`${view.name}: ${caption}`)}">`,
    ...parts,
    '</svg>',
    `<figcaption class="legend"><span>${esc(caption)}</span>` +
      '<span><i class="swatch clean"></i>clean</span><span><i class="swatch unclean"></i>unclean</span>' +
      '<span><i class="swatch missed"></i>missed</span><span><i class="swatch threshold"></i>threshold</span>' +
      '</figcaption>',
    '</figure>',
  ].join('\n');
}

function gateHtml(gate: Gate): string {
  const state = gate.open ? 'gate-open' : 'gate-closed';
  const reasons =
    gate.reasons.length === 0
      ? ''
      : `<ul class="reasons">${gate.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>`;
  return (
    `<div class="gate ${state}"><span class="badge ${state}">${gate.open ? 'Gate open' : 'Gate closed'}</span>` +
    `<p class="gate-figures"><strong>${gate.cleanRuns}</strong> clean ${gate.cleanRuns === 1 ? 'run' : 'runs'} ` +
    `in a row (<strong>${gate.required}</strong> needed) · <strong>${gate.cleanDays}</strong> clean ${gate.cleanDays === 1 ? 'day' : 'days'} · ` +
    `threshold ${percent(gate.threshold)}</p>${reasons}</div>`
  );
}

function runsTableHtml(runs: RunSummary[]): string {
  if (runs.length === 0) return '';
  const head = [
    'Slot',
    'Cut-off',
    'Status',
    'Parity',
    'Keys',
    'Missing',
    'Extra',
    'Differing',
    'Unexplained',
    'After cut-off',
    'Clean',
  ];
  const numeric = new Set([
    'Parity',
    'Keys',
    'Missing',
    'Extra',
    'Differing',
    'Unexplained',
    'After cut-off',
  ]);
  const rows = runs.map((run) => {
    const cls = runClass(run);
    const missed = run.status === 'missed';
    const n = (value: number) => `<td class="num">${missed ? '—' : value}</td>`;
    const status = missed ? `missed${run.reason ? `: ${esc(run.reason)}` : ''}` : 'complete';
    return (
      `<tr data-slot="${esc(run.slot)}" class="${cls}"><td class="time">${esc(run.slot)}</td>` +
      `<td class="time">${esc(run.cutoff)}</td>` +
      `<td>${status}</td><td class="num">${missed ? '—' : percent(run.parity)}</td>${n(run.keys)}` +
      `${n(run.missing)}${n(run.extra)}${n(run.differing)}${n(run.unexplained)}${n(run.afterCutoff)}` +
      `<td class="verdict">${run.clean ? 'yes' : 'no'}</td></tr>`
    );
  });
  return [
    '<table class="runs">',
    `<thead><tr>${head.map((h) => `<th${numeric.has(h) ? ' class="num"' : ''}>${h}</th>`).join('')}</tr></thead>`,
    `<tbody>${rows.join('\n')}</tbody>`,
    '</table>',
  ].join('\n');
}

function samplesHtml(samples: FieldSample[]): string {
  if (samples.length === 0) return '<p class="muted">No samples.</p>';
  const rows = samples.map(
    (s) =>
      `<tr data-slot="${esc(s.slot)}"><td>${esc(s.slot)}</td><td class="key">${esc(s.key)}</td>` +
      `<td>${htmlValue(s.reference)}</td><td>${htmlValue(s.stream)}</td><td>${s.explained ? 'yes' : 'no'}</td></tr>`,
  );
  return (
    '<table class="samples"><thead><tr><th>Slot</th><th>Key</th><th>Reference</th><th>Stream</th>' +
    `<th>Explained</th></tr></thead><tbody>${rows.join('\n')}</tbody></table>`
  );
}

function topFieldsHtml(fields: TopField[]): string {
  if (fields.length === 0) return '<p class="muted">No field differs.</p>';
  return fields
    .map(
      (f) =>
        `<div class="field"><h4><code>${esc(f.field)}</code> ← <code>${esc(f.column)}</code> ` +
        `<span class="muted">${f.differing} ${f.differing === 1 ? 'difference' : 'differences'}</span></h4>` +
        samplesHtml(f.samples) +
        '</div>',
    )
    .join('\n');
}

function notesHtml(notes: Note[]): string {
  if (notes.length === 0) return '<p class="muted">No operator notes.</p>';
  const rows = notes.map(
    (n) =>
      `<tr data-note="${n.id}"><td>${esc(n.author)}</td><td>${esc(n.at)}</td><td>${esc(appliesTo(n))}</td>` +
      `<td>${esc(n.reason)}</td></tr>`,
  );
  return (
    '<table class="notes"><thead><tr><th>Who</th><th>When</th><th>Applies to</th><th>Reason</th></tr></thead>' +
    `<tbody>${rows.join('\n')}</tbody></table>`
  );
}

function inventoryHtml(entry: InventoryEntry): string {
  const facts: [string, string][] = [
    ['Legacy job', esc(entry.legacyJob)],
    ['Schedule', `<code>${esc(entry.schedule)}</code>`],
    ['Phase', esc(entry.phase)],
    ['Status', esc(entry.status)],
    ['Pipelines', esc(listOrNone(entry.pipelines))],
    ['Topics', esc(listOrNone(entry.topics))],
    ['Contracts', esc(listOrNone(entry.contracts))],
    [
      'Freshness',
      esc(
        freshnessFacts(entry.freshness)
          .map(([k, v]) => `${k} ${v}`)
          .join(' · ') || 'no run yet',
      ),
    ],
  ];
  let consumers: string;
  if (entry.consumersError !== undefined) {
    consumers = `<p class="error">Consumers unknown: ${esc(entry.consumersError)}</p>`;
  } else if (entry.consumers.length === 0) {
    consumers = '<p class="muted">No consumer group reads these topics.</p>';
  } else {
    consumers =
      '<table class="consumers"><thead><tr><th>Group</th><th>State</th><th class="num">Members</th>' +
      '<th>Lag per topic</th></tr></thead><tbody>' +
      entry.consumers
        .map(
          (c) =>
            `<tr><td>${esc(c.group)}</td><td>${esc(c.state)}</td><td class="num">${c.members}</td>` +
            `<td>${esc(consumerLags(c))}</td></tr>`,
        )
        .join('\n') +
      '</tbody></table>';
  }
  return (
    `<dl class="facts">${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>` +
    `<h4>Consumers</h4>${consumers}`
  );
}

function migrationHtml(view: MigrationView): string {
  const description = view.description ?? view.inventory.description;
  return [
    `<section class="migration" id="${esc(sectionId(view.name))}">`,
    `<h2>${esc(view.name)}</h2>`,
    description === undefined ? '' : `<p class="description">${esc(description)}</p>`,
    `<p class="muted">Replaces <strong>${esc(view.legacyJob)}</strong> (<code>${esc(view.schedule.cron)}</code> ` +
      `${esc(view.schedule.timezone)}) · ${esc(view.phase)}</p>`,
    gateHtml(view.gate),
    '<h3>Parity per run</h3>',
    chartHtml(view),
    runsTableHtml(view.runs),
    '<h3>Top differing fields</h3>',
    topFieldsHtml(view.topFields),
    '<h3>Operator notes</h3>',
    notesHtml(view.notes),
    '<h3>Inventory</h3>',
    inventoryHtml(view.inventory),
    '</section>',
  ]
    .filter((line) => line !== '')
    .join('\n');
}

function overviewHtml(views: MigrationView[]): string {
  const rows = views.map((v) => {
    const gate = v.gate.open ? 'gate-open' : 'gate-closed';
    return (
      `<tr><td><a href="#${esc(sectionId(v.name))}">${esc(v.name)}</a></td><td>${esc(v.inventory.legacyJob)}</td>` +
      `<td><code>${esc(v.inventory.schedule)}</code></td><td>${esc(v.inventory.status)}</td>` +
      `<td><span class="badge ${gate}">${v.gate.open ? 'Gate open' : 'Gate closed'}</span></td>` +
      `<td class="num">${v.gate.cleanRuns} (${v.gate.required} needed)</td>` +
      `<td>${esc(listOrNone(v.inventory.pipelines))}</td><td>${esc(v.inventory.freshness.lastRun ?? '—')}</td></tr>`
    );
  });
  return (
    '<section class="inventory"><h2>Inventory</h2><table class="inventory"><thead><tr><th>Migration</th>' +
    '<th>Legacy job</th><th>Schedule</th><th>Status</th><th>Gate</th><th class="num">Clean runs</th>' +
    `<th>Pipelines</th><th>Last run</th></tr></thead><tbody>${rows.join('\n')}</tbody></table></section>`
  );
}

/** The report as one HTML5 page that needs nothing else: no network, no script, no external file. */
export function renderReportHtml(report: ShadowReport): string {
  const count = report.migrations.length;
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    // Nothing on this page may load or run anything, whatever the data says.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>Shadow report ${esc(report.generatedAt)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    '<header><h1>Shadow report</h1>',
    `<p class="generated">Generated <time datetime="${esc(report.generatedAt)}">${esc(report.generatedAt)}</time>` +
      ` · ${count} ${count === 1 ? 'migration' : 'migrations'}</p></header>`,
    '<main>',
    count > 1 ? overviewHtml(report.migrations) : '',
    count === 0 ? '<p class="muted">No migrations.</p>' : '',
    ...report.migrations.map(migrationHtml),
    '</main>',
    '</body>',
    '</html>',
  ]
    .filter((line) => line !== '')
    .join('\n')
    .concat('\n');
}

// --- Markdown -----------------------------------------------------------------------------------------

/**
 * Text that Markdown shows as written: every character GFM could read as markup is backslash-escaped
 * (`|` would end a table cell, `<` start raw HTML), and a line break in a value stays inside its cell.
 */
const md = (value: string): string =>
  value
    .replace(/[\\`*_[\]<>#|~&]/g, '\\$&')
    .replace(/^[-+=]/, '\\$&')
    .replace(/^(\d+)([.)])/, '$1\\$2')
    .replace(/\r?\n/g, '<br>');

const mdValue = (value: string | null): string =>
  value === null ? '*null*' : value === '' ? '""' : md(value);

function mdTable(head: string[], rows: string[][], numeric: Set<number> = new Set()): string[] {
  const align = head.map((_, i) => (numeric.has(i) ? '---:' : '---'));
  return [
    `| ${head.join(' | ')} |`,
    `| ${align.join(' | ')} |`,
    ...rows.map((cells) => `| ${cells.join(' | ')} |`),
  ];
}

const SPARKS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/** One character per run on the chart's axis; `·` is a missed run. */
function sparkline(runs: RunSummary[], scale: ParityScale): string {
  return runs
    .map((run) => {
      if (run.status === 'missed') return '·';
      const share = (run.parity * 10_000 - scale.min) / (10_000 - scale.min);
      return SPARKS[Math.min(SPARKS.length - 1, Math.max(0, Math.floor(share * SPARKS.length)))];
    })
    .join('');
}

function migrationMarkdown(view: MigrationView): string[] {
  const lines: string[] = [`## ${md(view.name)}`, ''];
  const description = view.description ?? view.inventory.description;
  if (description !== undefined) lines.push(md(description), '');
  lines.push(
    `Replaces **${md(view.legacyJob)}** (${md(view.schedule.cron)} ${md(view.schedule.timezone)}), ${md(view.phase)}.`,
    '',
    `**${view.gate.open ? 'Gate open' : 'Gate closed'}**: ${gateFigures(view.gate)}.`,
    '',
  );
  for (const reason of view.gate.reasons) lines.push(`- ${md(reason)}`);
  if (view.gate.reasons.length > 0) lines.push('');

  lines.push('### Runs', '');
  if (view.runs.length === 0) {
    lines.push('No shadow runs yet.', '');
  } else {
    const scale = parityScale(view.runs, view.gate.threshold);
    lines.push(
      `Parity per run, oldest first (${(scale.min / 100).toFixed(2)}% to 100%; · missed): ` +
        `\`${sparkline(view.runs, scale)}\``,
      '',
      ...mdTable(
        [
          'Slot',
          'Cut-off',
          'Status',
          'Parity',
          'Keys',
          'Missing',
          'Extra',
          'Differing',
          'Unexplained',
          'After cut-off',
          'Clean',
        ],
        view.runs.map((run) => {
          const missed = run.status === 'missed';
          const n = (value: number) => (missed ? '—' : String(value));
          return [
            md(run.slot),
            md(run.cutoff),
            missed ? `missed${run.reason ? `: ${md(run.reason)}` : ''}` : 'complete',
            missed ? '—' : percent(run.parity),
            n(run.keys),
            n(run.missing),
            n(run.extra),
            n(run.differing),
            n(run.unexplained),
            n(run.afterCutoff),
            run.clean ? 'yes' : '**no**',
          ];
        }),
        new Set([3, 4, 5, 6, 7, 8, 9]),
      ),
      '',
    );
  }

  lines.push('### Top differing fields', '');
  if (view.topFields.length === 0) lines.push('No field differs.', '');
  for (const f of view.topFields) {
    lines.push(
      `#### ${md(f.field)} ← ${md(f.column)} (${f.differing} ${f.differing === 1 ? 'difference' : 'differences'})`,
      '',
    );
    if (f.samples.length === 0) {
      lines.push('No samples.', '');
      continue;
    }
    lines.push(
      ...mdTable(
        ['Slot', 'Key', 'Reference', 'Stream', 'Explained'],
        f.samples.map((s) => [
          md(s.slot),
          md(s.key),
          mdValue(s.reference),
          mdValue(s.stream),
          s.explained ? 'yes' : 'no',
        ]),
      ),
      '',
    );
  }

  lines.push('### Operator notes', '');
  if (view.notes.length === 0) lines.push('No operator notes.', '');
  else {
    lines.push(
      ...mdTable(
        ['Who', 'When', 'Applies to', 'Reason'],
        view.notes.map((n) => [md(n.author), md(n.at), md(appliesTo(n)), md(n.reason)]),
      ),
      '',
    );
  }

  const entry = view.inventory;
  const freshness = freshnessFacts(entry.freshness);
  lines.push(
    '### Inventory',
    '',
    `- Legacy job: ${md(entry.legacyJob)}`,
    `- Schedule: ${md(entry.schedule)}`,
    `- Phase: ${md(entry.phase)}`,
    `- Status: ${md(entry.status)}`,
    `- Pipelines: ${md(listOrNone(entry.pipelines))}`,
    `- Topics: ${md(listOrNone(entry.topics))}`,
    `- Contracts: ${md(listOrNone(entry.contracts))}`,
    `- Freshness: ${freshness.length === 0 ? 'no run yet' : md(freshness.map(([k, v]) => `${k} ${v}`).join(', '))}`,
  );
  if (entry.consumersError !== undefined)
    lines.push(`- Consumers: unknown (${md(entry.consumersError)})`, '');
  else if (entry.consumers.length === 0) lines.push('- Consumers: none', '');
  else {
    lines.push(
      '',
      ...mdTable(
        ['Group', 'State', 'Members', 'Lag per topic'],
        entry.consumers.map((c) => [md(c.group), md(c.state), String(c.members), md(consumerLags(c))]),
        new Set([2]),
      ),
      '',
    );
  }
  return lines;
}

/** The report as GitHub-flavoured Markdown: the page's content, with a text sparkline for the chart. */
export function renderReportMarkdown(report: ShadowReport): string {
  const lines = ['# Shadow report', '', `Generated ${md(report.generatedAt)}.`, ''];
  if (report.migrations.length > 1) {
    lines.push(
      '## Inventory',
      '',
      ...mdTable(
        ['Migration', 'Legacy job', 'Schedule', 'Status', 'Gate', 'Clean runs', 'Pipelines', 'Last run'],
        report.migrations.map((v) => [
          md(v.name),
          md(v.inventory.legacyJob),
          md(v.inventory.schedule),
          md(v.inventory.status),
          v.gate.open ? '**Gate open**' : '**Gate closed**',
          `${v.gate.cleanRuns} (${v.gate.required} needed)`,
          md(listOrNone(v.inventory.pipelines)),
          md(v.inventory.freshness.lastRun ?? '—'),
        ]),
      ),
      '',
    );
  }
  if (report.migrations.length === 0) lines.push('No migrations.', '');
  for (const view of report.migrations) lines.push(...migrationMarkdown(view));
  return `${lines.join('\n').trimEnd()}\n`;
}
