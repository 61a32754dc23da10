// Row images as JSON values with one representation whatever the path: a row image written by a trigger as
// JSON text, a snapshot row rendered by the database as JSON, or a pgoutput column sent as PostgreSQL text.
// Numbers are parsed from their source text so exact decimals and 64-bit integers never pass through a
// float.
import { DatabaseError, DatabaseErrorCodes } from '../errors.js';

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

/**
 * How a MariaDB/MySQL image renders a column inside `JSON_OBJECT` (see capture.ts `imageSql`). Every argument
 * must be utf8mb4 text or a number: one binary-charset argument (BIT, a BLOB, a geometry) turns the whole
 * result into bytes that are not JSON and not UTF-8, which fails the trigger and with it the legacy write.
 */
export type MysqlRendering =
  /** The column itself: numbers, utf8mb4 text, JSON, dates, UUID/INET. */
  | 'value'
  /** `CONVERT(… USING utf8mb4)`: text in a charset every byte of which has a Unicode character (latin1…). */
  | 'utf8'
  /** `TO_BASE64(…)`: binary strings, and text in a charset decoded by Ferry (`textEncoding`). */
  | 'base64'
  /** `LPAD(BIN(…), n, '0')`: BIT(n) as a string of n binary digits. */
  | 'bits'
  /** `ST_AsText(…)`: geometries as WKT. */
  | 'wkt'
  /** `UNIX_TIMESTAMP(…)`, or the zero timestamp as written. */
  | 'epoch';

export interface ColumnKind {
  name: string;
  kind: ValueKind;
  /** Kind of the elements of an array column. */
  element?: ValueKind;
  /** Binary columns of SQLite and MariaDB arrive already encoded (marker array or base64). */
  binaryEncoding?: 'pg-hex' | 'base64' | 'sqlite-marker';
  /** MariaDB/MySQL: how the image SQL renders the column; `value` when absent. */
  render?: MysqlRendering;
  /** MariaDB/MySQL BIT(n): n. */
  bits?: number;
  /** MariaDB's UUID, INET4 and INET6: stored as bytes, written as text (the binary log has only the bytes). */
  format?: 'uuid' | 'inet4' | 'inet6';
  /** Text that arrives as base64 of its bytes in this encoding (a WHATWG label for TextDecoder). */
  textEncoding?: string;
  /**
   * MariaDB/MySQL text: the encoding of the stored bytes, in which the value arrives as base64 in an image too
   * large for the plain rendering (see capture.ts `mysqlImageSql`).
   */
  bytes?: string;
}

/** MariaDB/MySQL columns whose rendering can be of any length: text, bytes, JSON, geometries. */
export function isVariableSize(column: ColumnKind): boolean {
  if (column.render === 'bits' || column.render === 'value' || column.render === 'epoch') return false;
  return (
    column.kind === 'text' ||
    column.kind === 'char' ||
    column.kind === 'binary' ||
    column.kind === 'json' ||
    column.render === 'wkt'
  );
}

/** In an image too large for the plain rendering, the variable-size columns that arrive as base64 of their bytes. */
function base64WhenLarge(column: ColumnKind): boolean {
  return isVariableSize(column) && column.render !== 'wkt';
}

/** A row image that is not valid JSON, with the column whose value it broke at. */
export class ImageSyntaxError extends SyntaxError {
  constructor(
    readonly offset: number,
    /** The top-level key being read when the text stopped being JSON (the column), if any. */
    readonly column: string | undefined,
  ) {
    super(
      `invalid JSON at offset ${offset}${column === undefined ? '' : ` in the value of column ${JSON.stringify(column)}`}`,
    );
    this.name = 'ImageSyntaxError';
  }
}

/** A number as written in the JSON text, kept until its column says what it is. */
export class JsonNumber {
  constructor(readonly text: string) {}
}

/** JSON.parse, except numbers become JsonNumber so no digit is lost. */
export function parseJsonExact(text: string): unknown {
  let at = 0;
  // Keys from the top level down to the value being read: the first one is the column.
  const path: string[] = [];
  const fail = (): never => {
    throw new ImageSyntaxError(at, path[0]);
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
        path.push(key);
        out[key] = value();
        path.pop();
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
    try {
      return JSON.parse(text.slice(start, at)) as string;
    } catch {
      at = start;
      return fail();
    }
  };
  const result = value();
  space();
  if (at !== text.length) fail();
  return result;
}

/** Turn JsonNumbers back into plain JSON numbers (inside JSON columns, where JSON semantics apply). */
export function plainJson(value: unknown): unknown {
  if (value instanceof JsonNumber) return numberOrText(value.text);
  if (Array.isArray(value)) return value.map(plainJson);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = plainJson(v);
    return out;
  }
  return value;
}

/** A double as a JSON number; NaN and the infinities (PostgreSQL) stay text. */
function floatOf(text: string): number | string {
  const n = Number(text);
  return Number.isFinite(n) && /^-?[\d.]+(?:e[+-]?\d+)?$/i.test(text) ? n : text;
}

function numberOrText(text: string): number | string {
  const n = Number(text);
  // Written as a float (a point or an exponent: `1.0e+308`): a double, whatever its magnitude.
  if (/[.eE]/.test(text)) return Number.isFinite(n) ? n : text;
  // An integer beyond 2^53 does not survive the round trip through a double: it stays text.
  return Number.isSafeInteger(n) ? n : text;
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
  // MariaDB's zero dates ('0000-00-00 00:00:00') and invalid ones (ALLOW_INVALID_DATES) are no instant.
  if (
    Number(m[2]) < 1 ||
    Number(m[2]) > 12 ||
    Number(m[3]) < 1 ||
    Number(m[3]) > daysIn(Number(m[1]), Number(m[2]))
  )
    return text;
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

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysIn(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
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

/** MariaDB's TO_BASE64 breaks lines every 76 characters; events carry base64 without line breaks. */
function plainBase64(text: string): string {
  return /\s/.test(text) ? text.replace(/\s+/g, '') : text;
}

/** A variable-size value of a large MariaDB image: base64 of the stored bytes. */
function decodeLargeValue(base64: string, column: ColumnKind): unknown {
  if (column.kind === 'binary') return plainBase64(base64);
  const text = decodeText(base64, column.textEncoding ?? column.bytes ?? 'utf-8');
  return column.kind === 'json' ? plainJson(parseJsonExact(text)) : text;
}

/** Text sent as base64 of its bytes in a charset SQL cannot convert losslessly, decoded here. */
function decodeText(base64: string, encoding: string): string {
  return new TextDecoder(encoding).decode(Buffer.from(base64, 'base64'));
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
      case 'float':
        return floatOf(value.text);
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
      const element: ColumnKind = {
        name: column.name,
        kind: column.element ?? 'auto',
        // PostgreSQL arrays are the only arrays: their bytea elements are hex like a bytea column.
        ...(column.element === 'binary' ? { binaryEncoding: 'pg-hex' as const } : {}),
      };
      return value.map((item) =>
        Array.isArray(item) ? decodeImageValue(item, column) : decodeImageValue(item, element),
      );
    }
    return plainJson(value);
  }
  if (typeof value === 'object') return plainJson(value);
  if (typeof value === 'boolean') return value;
  const text = value as string;
  if (column.textEncoding !== undefined) return decodeText(text, column.textEncoding);
  switch (kind) {
    case 'binary':
      return column.binaryEncoding === 'pg-hex' ? pgHexToBase64(text) : plainBase64(text);
    case 'int':
      // to_json writes some integer types (oid) as strings; pgoutput's text of them is a number too.
      return /^-?\d+$/.test(text) ? numberOrText(text) : text;
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

/** Key of a MariaDB image listing the columns left out because the image would not fit in a packet. */
export const OMITTED_KEY = '__ferry_omitted';

/** Where an image came from, for the error that says it cannot be decoded. */
export interface ImageOrigin {
  stream: string;
  /** `journal seq 12`, `snapshot`, `poll`. */
  from: string;
  /** What a person should do; the default names the column's type as the thing to report. */
  advice?: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decode a whole JSON image (text, or the bytes of a binary journal column) with the table's column kinds
 * (unknown columns: `auto`). An image that is not UTF-8 or not JSON is DB_IMAGE_INVALID naming the table and
 * the column: reading it again gives the same bytes, so it is never retryable.
 */
export function decodeImage(
  image: string | Uint8Array | null | undefined,
  columns: ReadonlyMap<string, ColumnKind>,
  origin?: ImageOrigin,
): Record<string, unknown> | undefined {
  return decodeImageParts(image, columns, origin)?.values;
}

/**
 * decodeImage, and the columns the database left out of the image (NULL in `values`) because the row was
 * too large for one packet (MariaDB; see capture.ts `mysqlImageSql`).
 */
export function decodeImageParts(
  image: string | Uint8Array | null | undefined,
  columns: ReadonlyMap<string, ColumnKind>,
  origin?: ImageOrigin,
): { values: Record<string, unknown>; omitted: string[] } | undefined {
  if (image === null || image === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = parseJsonExact(typeof image === 'string' ? image : utf8.decode(image));
  } catch (error) {
    throw invalidImage(error, columns, origin);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const values: Record<string, unknown> = {};
  const entries = Object.entries(parsed as Record<string, unknown>);
  // Only an image too large for the plain rendering has the key (an empty list when nothing was left out).
  const large = !columns.has(OMITTED_KEY) && OMITTED_KEY in (parsed as Record<string, unknown>);
  let omitted: string[] = [];
  for (const [name, value] of entries) {
    if (large && name === OMITTED_KEY) {
      omitted = Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
      continue;
    }
    const column = columns.get(name) ?? { name, kind: 'auto' as const };
    values[name] =
      large && typeof value === 'string' && base64WhenLarge(column)
        ? decodeLargeValue(value, column)
        : decodeImageValue(value, column);
  }
  return { values, omitted };
}

/** Decode a PostgreSQL text-format value (pgoutput) to the same representation as a JSON image. */
export function decodePgText(text: string | null, column: ColumnKind): unknown {
  if (text === null) return null;
  switch (column.kind) {
    case 'int':
      return numberOrText(text);
    case 'float':
      return floatOf(text);
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

/** MariaDB/MySQL charsets whose every stored string converts to utf8mb4 in SQL without loss or error. */
const CONVERTIBLE = new Set(['utf8mb4', 'utf8mb3', 'utf8', 'ascii', 'latin1']);

/**
 * Charsets whose text is sent as bytes and decoded by Ferry (a conversion in SQL could raise "Invalid …
 * character string" inside the legacy transaction), by their WHATWG name. Others are sent as base64.
 */
const MYSQL_ENCODINGS: Record<string, string> = {
  latin2: 'iso-8859-2',
  latin5: 'iso-8859-9',
  latin7: 'iso-8859-13',
  greek: 'iso-8859-7',
  hebrew: 'iso-8859-8',
  cp1250: 'windows-1250',
  cp1251: 'windows-1251',
  cp1256: 'windows-1256',
  cp1257: 'windows-1257',
  cp866: 'ibm866',
  koi8r: 'koi8-r',
  koi8u: 'koi8-u',
  macroman: 'macintosh',
  tis620: 'windows-874',
  sjis: 'shift_jis',
  cp932: 'shift_jis',
  ujis: 'euc-jp',
  eucjpms: 'euc-jp',
  euckr: 'euc-kr',
  gbk: 'gbk',
  gb2312: 'gbk',
  gb18030: 'gb18030',
  big5: 'big5',
  ucs2: 'utf-16be',
  utf16: 'utf-16be',
  utf16le: 'utf-16le',
};

const GEOMETRY = new Set([
  'geometry',
  'point',
  'linestring',
  'polygon',
  'multipoint',
  'multilinestring',
  'multipolygon',
  'geometrycollection',
  'geomcollection',
]);

/** Text in `charset`: as it is, converted in SQL, or as bytes that Ferry decodes. */
function mysqlText(name: string, kind: 'text' | 'char', charset: string | null): ColumnKind {
  const cs = charset?.toLowerCase() ?? 'utf8mb4';
  // JSON columns are utf8mb4 text that JSON_OBJECT embeds as JSON: a conversion would make them strings.
  if (cs === 'utf8mb4') return { name, kind, bytes: 'utf-8' };
  if (CONVERTIBLE.has(cs))
    return { name, kind, render: 'utf8', bytes: cs === 'latin1' ? 'windows-1252' : 'utf-8' };
  const encoding = MYSQL_ENCODINGS[cs];
  if (encoding !== undefined && isSupportedEncoding(encoding))
    return { name, kind, render: 'base64', textEncoding: encoding };
  return { name, kind: 'binary', binaryEncoding: 'base64', render: 'base64' };
}

function isSupportedEncoding(encoding: string): boolean {
  try {
    new TextDecoder(encoding);
    return true;
  } catch {
    return false;
  }
}

/**
 * The kind of a MySQL/MariaDB column from information_schema (DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME),
 * with how its image renders it so that the journal insert cannot fail (see MysqlRendering).
 */
export function mysqlKind(
  name: string,
  dataType: string,
  columnType: string,
  charset: string | null = null,
): ColumnKind {
  const type = dataType.toLowerCase();
  if (type === 'tinyint' && /^tinyint\(1\)/i.test(columnType)) return { name, kind: 'bool' };
  if (type === 'bigint') return { name, kind: 'bigint' };
  if (['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'year'].includes(type)) {
    return { name, kind: 'int' };
  }
  if (type === 'bit') {
    const bits = Number(/^bit\((\d+)\)/i.exec(columnType)?.[1] ?? 1);
    return { name, kind: 'text', render: 'bits', bits };
  }
  if (type === 'decimal' || type === 'numeric') return { name, kind: 'decimal' };
  if (type === 'float' || type === 'double' || type === 'real') return { name, kind: 'float' };
  if (type === 'datetime') return { name, kind: 'timestamp' };
  if (type === 'timestamp') return { name, kind: 'epoch', render: 'epoch' };
  if (type === 'date' || type === 'time') return { name, kind: 'text', render: 'value' };
  if (GEOMETRY.has(type)) return { name, kind: 'text', render: 'wkt' };
  if (/binary|blob/.test(type)) return { name, kind: 'binary', binaryEncoding: 'base64', render: 'base64' };
  if (type === 'json') return { name, kind: 'json', bytes: 'utf-8' };
  // MariaDB's own types with a text form: JSON_OBJECT renders them as utf8mb4 strings.
  if (type === 'uuid' || type === 'inet4' || type === 'inet6')
    return { name, kind: 'text', render: 'value', format: type };
  if (type === 'char') return mysqlText(name, 'char', charset);
  if (/char|text|enum|set/.test(type)) return mysqlText(name, 'text', charset);
  // A type this table does not know: its bytes, which cannot fail.
  return { name, kind: 'binary', binaryEncoding: 'base64', render: 'base64' };
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

function invalidImage(
  error: unknown,
  columns: ReadonlyMap<string, ColumnKind>,
  origin: ImageOrigin | undefined,
): DatabaseError {
  const column = error instanceof ImageSyntaxError ? error.column : undefined;
  const kind = column === undefined ? undefined : columns.get(column);
  const where = `${origin === undefined ? 'a row image' : `the row image of table ${origin.stream} (${origin.from})`}`;
  const what =
    error instanceof ImageSyntaxError
      ? error.message
      : `not UTF-8: ${error instanceof Error ? error.message : String(error)}`;
  const at =
    column === undefined
      ? ''
      : ` at column ${column}${kind === undefined ? '' : ` (${kind.kind}${kind.render === undefined ? '' : `, rendered as ${kind.render}`})`}`;
  return new DatabaseError(
    DatabaseErrorCodes.DB_IMAGE_INVALID,
    `${where} cannot be decoded${at}: ${what}. Reading it again will not help. ` +
      (origin?.advice ?? "Report the column's type: Ferry has no safe encoding for it yet."),
    {
      cause: error,
      details: { ...(origin === undefined ? {} : { stream: origin.stream, from: origin.from }), column },
    },
  );
}
