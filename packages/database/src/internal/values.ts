// Row values and positions as JSON: what drivers return (Dates, Buffers, bigints) becomes plain data that
// survives a checkpoint file, a Kafka message and a replay unchanged.
import type { WatermarkValue } from '../positions.js';

/** One value of a row as JSON: Date → ISO 8601 UTC, Buffer → base64, bigint → decimal string. */
export function normaliseValue(value: unknown): unknown {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value;
}

export function normaliseRow(
  row: Record<string, unknown>,
  skip: ReadonlySet<string>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row)) {
    if (!skip.has(name)) out[name] = normaliseValue(value);
  }
  return out;
}

/** A watermark from a driver value; Dates only reach here for columns the dialect could not render as text. */
export function toWatermark(value: unknown): WatermarkValue | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number' || typeof value === 'string') return value;
  const normal = normaliseValue(value);
  return typeof normal === 'string' || typeof normal === 'number' ? normal : String(normal);
}

// Text without an offset is what SQLite's CURRENT_TIMESTAMP writes: UTC by SQLite's own convention.
const NAIVE_DATE_TIME = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)$/;
const ZONED_DATE_TIME =
  /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$/i;

/** When the row changed, if the timestamp column holds something that is clearly a date and time. */
export function parseOccurredAt(value: unknown): Date | undefined {
  let date: Date | undefined;
  if (value instanceof Date) {
    date = value;
  } else if (typeof value === 'string') {
    const text = value.trim();
    const naive = NAIVE_DATE_TIME.exec(text);
    if (naive) date = new Date(`${naive[1]}T${naive[2]}Z`);
    else if (ZONED_DATE_TIME.test(text))
      date = new Date(text.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00'));
  }
  // Numbers are left alone: epoch seconds and milliseconds cannot be told apart reliably.
  return date !== undefined && !Number.isNaN(date.getTime()) ? new Date(date.getTime()) : undefined;
}

const TIMESTAMP_TEXT = /^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?/;

/**
 * A tracking value as a part of a record's sequence (`sequenceOf` pads whole numbers): timestamp text is kept
 * as the database renders it, its fraction of a second padded to nine digits, because PostgreSQL drops
 * trailing zeros and `10:00:00` followed by the id would not sort as `10:00:00.000000` does.
 */
export function sequencePart(value: WatermarkValue): number | bigint | string {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : String(value);
  if (/^\d{1,19}$/.test(value)) return BigInt(value);
  return value.replace(
    TIMESTAMP_TEXT,
    (_, time: string, fraction = '') => `${time}.${fraction.padEnd(9, '0')}`,
  );
}
