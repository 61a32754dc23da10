// Row images as JSON values with one representation whatever the path: a row image written by a trigger as
// JSON text, a snapshot row rendered by the database as JSON, or a pgoutput column sent as PostgreSQL text.
// Numbers are parsed from their source text so exact decimals and 64-bit integers never pass through a
// float.

/** How a column's value is represented in events; decided once per column from the database's type. */
export type ValueKind =
  | 'int'
  | 'bigint'
  | 'decimal'
  | 'float'
  | 'bool'
  | 'text'
  | 'char'
  | 'binary'
  | 'timestamp'
  | 'timestamptz'
  | 'epoch'
  | 'json'
  | 'array'
  | 'auto';

export interface ColumnKind {
  name: string;
  kind: ValueKind;
  /** Kind of the elements of an array column. */
  element?: ValueKind;
  /** Binary columns of SQLite and MariaDB arrive already encoded (marker array or base64). */
  binaryEncoding?: 'pg-hex' | 'base64' | 'sqlite-marker';
}

/** A number as written in the JSON text, kept until its column says what it is. */
export class JsonNumber {
  constructor(readonly text: string) {}
}

/** JSON.parse, except numbers become JsonNumber so no digit is lost. */
export function parseJsonExact(text: string): unknown {
  let at = 0;
  const fail = (): never => {
    throw new SyntaxError(`invalid JSON at offset ${at}`);
  };
  const space = () => {
    while (at < text.length && ' \t\n\r'.includes(text[at] as string)) at += 1;
  };
  const value = (): unknown => {
    space();
    const c = text[at];
    if (c === '{') {
      at += 1;
      const out: Record<string, unknown> = {};
      space();
      if (text[at] === '}') {
        at += 1;
        return out;
      }
      for (;;) {
        space();
        if (text[at] !== '"') fail();
        const key = string();
        space();
        if (text[at] !== ':') fail();
        at += 1;
        out[key] = value();
        space();
        if (text[at] === ',') {
          at += 1;
          continue;
        }
        if (text[at] === '}') {
          at += 1;
          return out;
        }
        fail();
      }
    }
    if (c === '[') {
      at += 1;
      const out: unknown[] = [];
      space();
      if (text[at] === ']') {
        at += 1;
        return out;
      }
      for (;;) {
        out.push(value());
        space();
        if (text[at] === ',') {
          at += 1;
          continue;
        }
        if (text[at] === ']') {
          at += 1;
          return out;
        }
        fail();
      }
    }
    if (c === '"') return string();
    if (text.startsWith('true', at)) {
      at += 4;
      return true;
    }
    if (text.startsWith('false', at)) {
      at += 5;
      return false;
    }
    if (text.startsWith('null', at)) {
      at += 4;
      return null;
    }
    const match = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(at, at + 400));
    if (match === null) return fail();
    at += match[0].length;
    return new JsonNumber(match[0]);
  };
  const string = (): string => {
    const start = at;
    at += 1;
    let escaped = false;
    while (at < text.length) {
      const ch = text[at];
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') break;
      at += 1;
    }
    if (at >= text.length) fail();
    at += 1;
    return JSON.parse(text.slice(start, at)) as string;
  };
  const result = value();
  space();
  if (at !== text.length) fail();
  return result;
}

/** Turn JsonNumbers back into plain JSON numbers (inside JSON columns, where JSON semantics apply). */
function plainJson(value: unknown): unknown {
  if (value instanceof JsonNumber) return numberOrText(value.text);
  if (Array.isArray(value)) return value.map(plainJson);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = plainJson(v);
    return out;
  }
  return value;
}

function numberOrText(text: string): number | string {
  const n = Number(text);
  // A number that does not survive the round trip (beyond 2^53, more digits than a double) stays text.
  if (Number.isSafeInteger(n) || (!Number.isInteger(n) && Number.isFinite(n))) return n;
  return Number.isFinite(n) && String(n) === text ? n : text;
}

const NAIVE = /^(-?\d{4,})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/;
const ZONED =
  /^(-?\d{4,})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(Z|[+-]\d{2}(?::?\d{2})?(?::?\d{2})?)$/i;

/** Fraction digits as ISO 8601 wants them: milliseconds, or microseconds when they are not zero. */
function fraction(digits: string | undefined): string {
  const six = (digits ?? '').padEnd(6, '0').slice(0, 6);
  return six.endsWith('000') ? six.slice(0, 3) : six;
}

function withFraction(date: Date, digits: string | undefined): string | undefined {
  if (Number.isNaN(date.getTime())) return undefined;
  return date.toISOString().replace(/\.\d{3}Z$/, `.${fraction(digits)}Z`);
}

/**
 * A timestamp without time zone, read in the Ferry process's time zone (TZ), as ISO 8601 UTC. The same
 * rule as the polling mode, whose driver reads such columns in local time; microseconds are kept.
 */
export function naiveTimestampToIso(text: string): string {
  const m = NAIVE.exec(text);
  if (m === null) return text; // infinity, BC dates: passed through as the database wrote them
  const date = new Date(
    Number(m[1]),
    Number(m[2]) - 1,
    Number(m[3]),
    Number(m[4]),
    Number(m[5]),
    Number(m[6]),
  );
  if (Number(m[1]) < 100) date.setFullYear(Number(m[1]));
  return withFraction(date, m[7]) ?? text;
}

/** A timestamp with an offset as ISO 8601 UTC, microseconds kept. */
export function zonedTimestampToIso(text: string): string {
  // The replication connection runs with TimeZone UTC: `2024-01-01 09:00:00.123456+00` only needs rearranging.
  if (text.length >= 22 && text.length <= 29 && text.endsWith('+00') && text[10] === ' ' && text[4] === '-') {
    const frac = text.length > 22 ? text.slice(20, -3) : undefined;
    if (text.length === 22 || (text[19] === '.' && /^\d+$/.test(frac as string)))
      return `${text.slice(0, 10)}T${text.slice(11, 19)}.${fraction(frac)}Z`;
  }
  const m = ZONED.exec(text);
  if (m === null) return text;
  const zone = m[8] as string;
  let offsetMinutes = 0;
  if (zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replaceAll(':', '');
    offsetMinutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0');
    if (zone.startsWith('-')) offsetMinutes = -offsetMinutes;
  }
  const utc = new Date(0);
  utc.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  utc.setUTCHours(Number(m[4]), Number(m[5]) - offsetMinutes, Number(m[6]), 0);
  return withFraction(utc, m[7]) ?? text;
}

/** Seconds since the epoch with a fraction (MariaDB UNIX_TIMESTAMP of a TIMESTAMP column) as ISO UTC. */
export function epochToIso(text: string): string {
  const [whole, frac] = text.split('.');
  const date = new Date(Number(whole) * 1000);
  return withFraction(date, frac) ?? text;
}

function pgHexToBase64(text: string): string {
  return text.startsWith('\\x') ? Buffer.from(text.slice(2), 'hex').toString('base64') : text;
}

/** Decode one value of a JSON image (numbers as JsonNumber) for its column. */
export function decodeImageValue(value: unknown, column: ColumnKind): unknown {
  if (value === null || value === undefined) return null;
  const { kind } = column;
  if (value instanceof JsonNumber) {
    switch (kind) {
      case 'bigint':
      case 'decimal':
        return value.text;
      case 'bool':
        return Number(value.text) !== 0;
      case 'epoch':
        return epochToIso(value.text);
      case 'text':
      case 'char':
        return value.text;
      default:
        return numberOrText(value.text);
    }
  }
  if (Array.isArray(value)) {
    if (column.binaryEncoding === 'sqlite-marker' || (kind !== 'array' && kind !== 'json')) {
      // SQLite images wrap a BLOB as [hex] because JSON cannot hold bytes.
      if (value.length === 1 && typeof value[0] === 'string')
        return Buffer.from(value[0], 'hex').toString('base64');
    }
    if (kind === 'array') {
      const element: ColumnKind = { name: column.name, kind: column.element ?? 'auto' };
      return value.map((item) =>
        Array.isArray(item) ? decodeImageValue(item, column) : decodeImageValue(item, element),
      );
    }
    return plainJson(value);
  }
  if (typeof value === 'object') return plainJson(value);
  if (typeof value === 'boolean') return value;
  const text = value as string;
  switch (kind) {
    case 'binary':
      return column.binaryEncoding === 'pg-hex' ? pgHexToBase64(text) : text;
    case 'timestamp':
      return naiveTimestampToIso(text);
    case 'timestamptz':
      return zonedTimestampToIso(text);
    case 'epoch':
      return epochToIso(text);
    case 'bool':
      return text === 't' || text === 'true' || text === '1';
    default:
      return text;
  }
}

/** Decode a whole JSON image text with the table's column kinds (unknown columns: `auto`). */
export function decodeImage(
  text: string | null | undefined,
  columns: ReadonlyMap<string, ColumnKind>,
): Record<string, unknown> | undefined {
  if (text === null || text === undefined) return undefined;
  const parsed = typeof text === 'string' ? parseJsonExact(text) : text;
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    out[name] = decodeImageValue(value, columns.get(name) ?? { name, kind: 'auto' });
  }
  return out;
}

/** Decode a PostgreSQL text-format value (pgoutput) to the same representation as a JSON image. */
export function decodePgText(text: string | null, column: ColumnKind): unknown {
  if (text === null) return null;
  switch (column.kind) {
    case 'int':
    case 'float':
      return numberOrText(text);
    case 'bigint':
    case 'decimal':
    case 'text':
    case 'char':
      return text;
    case 'bool':
      return text === 't';
    case 'binary':
      return pgHexToBase64(text);
    case 'timestamp':
      return naiveTimestampToIso(text);
    case 'timestamptz':
      return zonedTimestampToIso(text);
    case 'json':
      return plainJson(parseJsonExact(text));
    case 'array': {
      const element: ColumnKind = { name: column.name, kind: column.element ?? 'text' };
      return parsePgArray(text, (item) => decodePgText(item, element));
    }
    default:
      return text;
  }
}

/** Parse a PostgreSQL array literal (`{1,2,"a b",NULL}`, nested for more dimensions). */
export function parsePgArray(text: string, element: (item: string | null) => unknown): unknown {
  let at = text.startsWith('[') ? text.indexOf('=') + 1 : 0; // skip explicit bounds like [0:1]=
  const parse = (): unknown[] => {
    if (text[at] !== '{') throw new SyntaxError(`invalid array literal at ${at}`);
    at += 1;
    const out: unknown[] = [];
    if (text[at] === '}') {
      at += 1;
      return out;
    }
    for (;;) {
      if (text[at] === '{') out.push(parse());
      else if (text[at] === '"') {
        let value = '';
        at += 1;
        while (text[at] !== '"') {
          if (text[at] === '\\') at += 1;
          value += text[at];
          at += 1;
        }
        at += 1;
        out.push(element(value));
      } else {
        let end = at;
        while (text[end] !== ',' && text[end] !== '}') end += 1;
        const raw = text.slice(at, end).trim();
        at = end;
        out.push(element(raw === 'NULL' ? null : raw));
      }
      if (text[at] === ',') {
        at += 1;
        continue;
      }
      if (text[at] === '}') {
        at += 1;
        return out;
      }
      throw new SyntaxError(`invalid array literal at ${at}`);
    }
  };
  return parse();
}

/** The kind of a PostgreSQL column from pg_type (`typname`, `typcategory`, element typname). */
export function pgKind(name: string, typname: string, category: string, elementTypname?: string): ColumnKind {
  if (category === 'A' && elementTypname !== undefined) {
    return { name, kind: 'array', element: pgKind(name, elementTypname, '', undefined).kind };
  }
  if (category === 'E') return { name, kind: 'text' };
  switch (typname) {
    case 'int2':
    case 'int4':
    case 'oid':
      return { name, kind: 'int' };
    case 'int8':
      return { name, kind: 'bigint' };
    case 'numeric':
    case 'money':
      return { name, kind: 'decimal' };
    case 'float4':
    case 'float8':
      return { name, kind: 'float' };
    case 'bool':
      return { name, kind: 'bool' };
    case 'bytea':
      return { name, kind: 'binary', binaryEncoding: 'pg-hex' };
    case 'timestamp':
      return { name, kind: 'timestamp' };
    case 'timestamptz':
      return { name, kind: 'timestamptz' };
    case 'json':
    case 'jsonb':
      return { name, kind: 'json' };
    case 'bpchar':
      return { name, kind: 'char' };
    default:
      return { name, kind: 'text' };
  }
}

/** The kind of a MySQL/MariaDB column from information_schema (DATA_TYPE, COLUMN_TYPE). */
export function mysqlKind(name: string, dataType: string, columnType: string): ColumnKind {
  const type = dataType.toLowerCase();
  if (type === 'tinyint' && /^tinyint\(1\)/i.test(columnType)) return { name, kind: 'bool' };
  if (type === 'bigint') return { name, kind: 'bigint' };
  if (['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'year', 'bit'].includes(type)) {
    return { name, kind: 'int' };
  }
  if (type === 'decimal' || type === 'numeric') return { name, kind: 'decimal' };
  if (type === 'float' || type === 'double' || type === 'real') return { name, kind: 'float' };
  if (type === 'datetime') return { name, kind: 'timestamp' };
  if (type === 'timestamp') return { name, kind: 'epoch' };
  if (/binary|blob/.test(type)) return { name, kind: 'binary', binaryEncoding: 'base64' };
  if (type === 'char') return { name, kind: 'char' };
  return { name, kind: 'text' };
}

/** The kind of a SQLite column from its declared type (SQLite stores what it is given; decode by value). */
export function sqliteKind(name: string, declared: string): ColumnKind {
  const type = declared.toUpperCase();
  if (type.includes('INT')) return { name, kind: 'auto' };
  if (type.includes('BLOB') || type === '') return { name, kind: 'auto', binaryEncoding: 'sqlite-marker' };
  if (/CHAR|CLOB|TEXT/.test(type)) return { name, kind: 'text', binaryEncoding: 'sqlite-marker' };
  if (/DEC|NUMERIC/.test(type)) return { name, kind: 'auto', binaryEncoding: 'sqlite-marker' };
  return { name, kind: 'auto', binaryEncoding: 'sqlite-marker' };
}
