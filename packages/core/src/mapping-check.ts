// A declarative field map checked against what the source says its records carry: a `from:` naming a
// column no stream has validates as fine and then maps every record to a missing value at run time.
// `ferry validate` runs this on the streams the source's `discover()` lists.
import { closest } from './config-issues.js';
import type { FieldMapConfig } from './mapping.js';
import type { StreamInfo } from './types.js';

export interface MappedColumn {
  /** The canonical field (the key under `mapping.fields`). */
  field: string;
  /** The source column or field it reads: the first part of a dotted `from`. */
  column: string;
  /** Where the column is named in the pipeline file: `mapping.fields.<field>` or its `.from`. */
  path: string[];
}

export interface MissingColumn extends MappedColumn {
  stream: string;
  message: string;
}

/** What a field map reads, one entry per canonical field with a `from` (constants read nothing). */
export function fieldMapColumns(spec: FieldMapConfig): MappedColumn[] {
  const out: MappedColumn[] = [];
  for (const [field, value] of Object.entries(spec.fields)) {
    const from = typeof value === 'string' ? value : value.from;
    if (from === undefined) continue;
    const path = ['mapping', 'fields', field, ...(typeof value === 'string' ? [] : ['from'])];
    out.push({ field, column: from.split('.')[0]!, path });
  }
  return out;
}

/**
 * Each column the field map reads that a stream whose records' fields are known (`recordFields`) does not
 * have, with the nearest column it does have. Streams without such fields are not judged.
 */
export function missingMappedColumns(spec: FieldMapConfig, streams: readonly StreamInfo[]): MissingColumn[] {
  const out: MissingColumn[] = [];
  const columns = fieldMapColumns(spec);
  for (const stream of streams) {
    if (stream.recordFields !== true || stream.fields === undefined) continue;
    const names = stream.fields.map((f) => f.name);
    const known = new Set(names);
    for (const { field, column, path } of columns) {
      if (known.has(column)) continue;
      const near = closest(column, names);
      out.push({
        field,
        column,
        path,
        stream: stream.name,
        message:
          `reads column '${column}', which ${stream.name} does not have` +
          (near === undefined ? ` (it has: ${listed(names)})` : `; did you mean '${near}'?`),
      });
    }
  }
  return out;
}

/** A column list short enough for one line: a table may have hundreds. */
function listed(names: readonly string[]): string {
  const shown = names.slice(0, 20).join(', ');
  return names.length > 20 ? `${shown} and ${names.length - 20} more` : shown;
}
