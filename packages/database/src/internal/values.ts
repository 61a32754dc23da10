// Row values and positions as JSON: what drivers return (Dates, Buffers, bigints) becomes plain data that
// survives a checkpoint file, a Kafka message and a replay unchanged.
import { DatabaseError, DatabaseErrorCodes } from '../errors.js';

/** A tracking column's value as saved in a position: the database's own rendering, bound back verbatim. */
export type WatermarkValue = string | number;

/** How far one table has been read: the tracking values of the last row read (null: not tracked / none yet). */
export interface TableWatermark {
  ts: WatermarkValue | null;
  id: WatermarkValue | null;
}

/** The database source's position: one watermark per stream, for every table ever read. */
export interface DatabasePosition {
  tables: Record<string, TableWatermark>;
}

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

/** Read a saved position back, refusing anything this source would not have written. */
export function parsePosition(from: unknown): DatabasePosition {
  if (from === undefined || from === null) return { tables: {} };
  const invalid = (why: string) =>
    new DatabaseError(
      DatabaseErrorCodes.DB_POSITION_INVALID,
      `the saved checkpoint is not a database polling position (${why}). It may come from another source ` +
        'type; clear the pipeline checkpoint to read the tables from the start.',
      { details: { position: from } },
    );
  if (typeof from !== 'object' || Array.isArray(from)) throw invalid('not an object');
  const tables = (from as Record<string, unknown>).tables;
  if (tables === null || typeof tables !== 'object' || Array.isArray(tables))
    throw invalid('no tables object');
  const out: Record<string, TableWatermark> = {};
  for (const [stream, entry] of Object.entries(tables as Record<string, unknown>)) {
    if (entry === null || typeof entry !== 'object') throw invalid(`entry for ${stream} is not an object`);
    const { ts = null, id = null } = entry as Record<string, unknown>;
    if (!isWatermark(ts) || !isWatermark(id))
      throw invalid(`entry for ${stream} holds a value that is not a string or number`);
    out[stream] = { ts, id };
  }
  return { tables: out };
}

function isWatermark(value: unknown): value is WatermarkValue | null {
  return value === null || typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}
