// `ferry inventory` at a terminal: one block per batch job under migration.
import type { InventoryEntry } from './model.js';

const ago = (ms: number) =>
  ms < 3_600_000
    ? `${Math.round(ms / 60_000)} min`
    : ms < 172_800_000
      ? `${Math.round(ms / 3_600_000)} h`
      : `${Math.round(ms / 86_400_000)} days`;

export function formatInventory(entries: InventoryEntry[], now: Date): string[] {
  const lines: string[] = [
    `${entries.length} batch job${entries.length === 1 ? '' : 's'} under migration (${now.toISOString()})`,
  ];
  for (const e of entries) {
    lines.push('', `${e.migration}: ${e.legacyJob} [${e.schedule}]: ${e.status}`);
    if (e.description !== undefined) lines.push(`  ${e.description}`);
    lines.push(`  pipelines: ${e.pipelines.join(', ') || '(none named)'}`);
    lines.push(`  topics:    ${e.topics.join(', ') || '(none)'}`);
    lines.push(`  contracts: ${e.contracts.join(', ') || '(none)'}`);
    if (e.consumersError !== undefined) lines.push(`  consumers: not known: ${e.consumersError}`);
    else if (e.consumers.length === 0) lines.push('  consumers: none');
    else
      for (const c of e.consumers)
        lines.push(
          `  consumer:  ${c.group} (${c.state}, ${c.members} member${c.members === 1 ? '' : 's'}): ${c.topics.map((t) => `${t.topic} lag ${t.lag ?? 'n/a'}`).join(', ')}`,
        );
    const f = e.freshness;
    lines.push(
      f.lastCutoff === undefined
        ? '  freshness: no run yet'
        : `  freshness: last run compared the cut-off ${f.lastCutoff} (${ago(f.ageMs ?? 0)} ago)${f.lastEventTime === undefined ? '' : `; newest event ${f.lastEventTime}`}`,
    );
  }
  return lines;
}
