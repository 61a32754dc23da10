// Rebuild a table's rows from change records, keyed by the (single-column) key: what a consumer would hold.
import type { ChangeRecord } from '@ferry/core/sdk';

export function rebuild(records: ChangeRecord[]): Map<string, Record<string, unknown>> {
  const state = new Map<string, Record<string, unknown>>();
  for (const record of records) {
    if (record.origin.truncate === true) {
      for (const key of [...state.keys()]) state.delete(key);
      continue;
    }
    const key = Object.values(record.key).map(String).join(',');
    if (record.op === 'delete') state.delete(key);
    else if (record.after !== undefined) state.set(key, record.after);
  }
  return state;
}
