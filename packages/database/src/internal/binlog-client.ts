// The binary-log reader behind the binlog mode, wrapping @vlasky/zongji (a maintained MariaDB/MySQL
// replication client) so the source sees a queue of plain events and could swap the library. Two things are
// set right here, synchronously as each table map arrives and before the row events after it are decoded:
// text, binary and geometry columns are delivered as their raw bytes (zongji 0.9 assigns charsets wrongly
// on MariaDB when a GEOMETRY column comes before text columns, and turns geometries into point lists that
// lose their type), and Ferry decodes those bytes itself with the column's charset from the catalogue.
import ZongJi, {
  type AnyBinlogEvent,
  MariadbGtidPosition,
  GtidSet as MysqlGtidSet,
  type TableMapEntry,
  type TableMapEvent,
} from '@vlasky/zongji';
import { type ColumnKind, naiveTimestampToIso, parseJsonExact, plainJson } from './images.js';

/** MySQL protocol column type codes (the binlog's), as zongji reports them. */
export const T = {
  TINY: 1,
  SHORT: 2,
  LONG: 3,
  FLOAT: 4,
  DOUBLE: 5,
  TIMESTAMP: 7,
  LONGLONG: 8,
  INT24: 9,
  DATE: 10,
  TIME: 11,
  DATETIME: 12,
  YEAR: 13,
  VARCHAR: 15,
  BIT: 16,
  TIMESTAMP2: 17,
  DATETIME2: 18,
  TIME2: 19,
  JSON: 245,
  NEWDECIMAL: 246,
  ENUM: 247,
  SET: 248,
  TINY_BLOB: 249,
  MEDIUM_BLOB: 250,
  LONG_BLOB: 251,
  BLOB: 252,
  VAR_STRING: 253,
  STRING: 254,
  GEOMETRY: 255,
} as const;

const BLOBS = new Set<number>([T.TINY_BLOB, T.MEDIUM_BLOB, T.LONG_BLOB, T.BLOB]);
const STRINGS = new Set<number>([T.VARCHAR, T.VAR_STRING, T.STRING]);
/** MariaDB's own types carried as binary strings, which zongji already formats as the server writes them. */
const FORMATTED = new Set(['uuid', 'inet4', 'inet6']);

export interface BinlogStart {
  serverId: number;
  /** MariaDB GTID position or MySQL GTID set to resume after; preferred over file/pos when given. */
  gtid?: string | undefined;
  file?: string | undefined;
  pos?: number | undefined;
  /** Tables to deliver rows of, by database. */
  include: Record<string, string[]>;
}

export interface ClientOptions {
  host: string;
  port: number;
  user: string;
  password?: string | undefined;
  connectTimeout: number;
}

/** A decoder per column of one table map, and the table map's column names in order. */
export interface TableDecoders {
  names: string[];
  decoders: ((value: unknown) => unknown)[];
}

/**
 * Events from the binary log in order, buffered up to a high-water mark of rows (a rows event counts its rows,
 * any other event one; then the socket is paused until the reader drains it below half the mark), and the
 * first failure.
 */
export class BinlogClient {
  private readonly zongji: ZongJi;
  private readonly queue: AnyBinlogEvent[] = [];
  private head = 0;
  private waiter: (() => void) | undefined;
  private paused = false;
  /** Rows (and other events) buffered and not yet taken. */
  private buffered = 0;
  failure: Error | undefined;
  stopped = false;
  /** Decoders of each table map (zongji builds a new column list per table map event). */
  readonly decoders = new WeakMap<object, TableDecoders>();

  constructor(
    options: ClientOptions,
    /** The catalogue's kind of a column of a captured table, by database, table and column name. */
    private readonly kindOf: (schema: string, table: string, column: string) => ColumnKind | undefined,
    /** Rows read ahead of the reader at most (the reader's batch size, twice). */
    private readonly highWater = 4000,
  ) {
    this.zongji = new ZongJi({
      host: options.host,
      port: options.port,
      user: options.user,
      ...(options.password === undefined ? {} : { password: options.password }),
      connectTimeout: options.connectTimeout,
      // Dates as the server writes them (zero dates kept, microseconds kept), TIMESTAMPs in UTC.
      dateStrings: true,
      timezone: 'Z',
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
    this.zongji.on('binlog', (event: AnyBinlogEvent) => {
      if (event.getEventName() === 'tablemap') this.prepare(event as TableMapEvent);
      this.queue.push(event);
      this.buffered += weight(event);
      if (!this.paused && this.buffered >= this.highWater) {
        this.paused = true;
        this.zongji.connection?.pause();
      }
      this.wake();
    });
    this.zongji.on('error', (error: Error) => {
      this.failure ??= error;
      this.wake();
    });
  }

  get isMariaDb(): boolean {
    return this.zongji.isMariaDb;
  }

  /** Connects and asks for the binary log from the given place; resolves when the server streams. */
  start(start: BinlogStart): Promise<void> {
    const options: Record<string, unknown> = {
      serverId: start.serverId,
      includeSchema: start.include,
    };
    if (start.gtid !== undefined && start.gtid !== '') options.gtidSet = start.gtid;
    else {
      options.filename = start.file;
      options.position = start.pos;
    }
    return new Promise((resolve, reject) => {
      const onReady = () => {
        this.zongji.off('error', onError);
        resolve();
      };
      const onError = (error: Error) => {
        this.zongji.off('ready', onReady);
        reject(error);
      };
      this.zongji.once('ready', onReady);
      this.zongji.once('error', onError);
      this.zongji.start(options);
    });
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  shift(): AnyBinlogEvent | undefined {
    if (this.head >= this.queue.length) return undefined;
    const event = this.queue[this.head];
    this.queue[this.head] = undefined as never;
    this.head += 1;
    if (event !== undefined) this.buffered -= weight(event);
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.paused && this.buffered <= this.highWater / 2) {
      this.paused = false;
      this.zongji.connection?.resume();
    }
    return event;
  }

  /** Resolves when an event or a failure arrives, or after `ms`. */
  wait(ms: number): Promise<void> {
    if (this.queued > 0 || this.failure !== undefined || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve();
      }, ms);
      this.waiter = () => {
        clearTimeout(timer);
        this.waiter = undefined;
        resolve();
      };
    });
  }

  interrupt(): void {
    this.stopped = true;
    this.wake();
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.wake();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      this.zongji.once('stopped', () => {
        clearTimeout(timer);
        resolve();
      });
      try {
        this.zongji.stop();
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  private wake(): void {
    this.waiter?.();
  }

  /**
   * Runs as the table map is emitted, before zongji decodes the rows that follow it: columns whose bytes
   * Ferry decodes are switched to raw delivery, and the table's decoders are built once.
   */
  private prepare(event: TableMapEvent): void {
    const entry = event.tableMap[event.tableId] as TableMapEntry | undefined;
    const columns = entry?.columns;
    if (entry === undefined || columns === undefined) return;
    const decoders: ((value: unknown) => unknown)[] = [];
    const names: string[] = [];
    for (const [index, column] of columns.entries()) {
      const schema = entry.columnSchemas[index];
      const declared = String(schema?.COLUMN_TYPE ?? '').toLowerCase();
      const kind = this.kindOf(entry.parentSchema, entry.tableName, column.name);
      names.push(column.name);
      decoders.push(decoderFor(column.type, column.metadata, kind, kind?.format ?? declared));
      if (kind?.format !== undefined && schema !== undefined) {
        // zongji formats these as the server writes them when it knows the type (MariaDB's UUID is stored in
        // an index-friendly byte order); the table map does not say it, the catalogue does.
        schema.COLUMN_TYPE = kind.format;
      } else if (STRINGS.has(column.type) && !FORMATTED.has(declared) && !declared.startsWith('vector')) {
        // zongji returns VARBINARY's bytes as they are; the column's text is decoded below.
        if (schema !== undefined) schema.COLUMN_TYPE = 'varbinary';
        column.charset = null;
      } else if (BLOBS.has(column.type)) {
        column.charset = null;
      } else if (column.type === T.GEOMETRY) {
        // Read as the BLOB it is stored as (same length prefix): the WKB bytes, turned into WKT below.
        column.type = T.BLOB;
      }
    }
    this.decoders.set(columns, { names, decoders });
  }
}

/** What an event weighs in the read-ahead: its rows, or 1. */
function weight(event: AnyBinlogEvent): number {
  const rows = (event as { rows?: unknown[] }).rows;
  return rows === undefined ? 1 : Math.max(1, rows.length);
}

/** GTID bookkeeping for one server flavour: where the read stands, as the server's own text. */
export class GtidTracker {
  private readonly mariadb: MariadbGtidPosition | undefined;
  private readonly mysql: MysqlGtidSet | undefined;

  constructor(isMariaDb: boolean, start: string | undefined) {
    if (isMariaDb) this.mariadb = MariadbGtidPosition.parse(start ?? '');
    else this.mysql = MysqlGtidSet.parse(start ?? '');
  }

  /** Records a committed transaction (its event's gtid text). */
  add(gtid: string): void {
    if (this.mariadb !== undefined) {
      const [domain, server, seq] = gtid.split('-');
      this.mariadb.add({ domainId: Number(domain), serverId: Number(server), seqNo: seq ?? '0' });
    } else this.mysql?.add(gtid);
  }

  /** Whether every transaction of `other` (the same flavour's text) is already read. */
  covers(other: string): boolean {
    if (this.mariadb !== undefined) {
      const wanted = MariadbGtidPosition.parse(other).toString();
      if (wanted === '') return true;
      return wanted.split(',').every((gtid) => this.mariadb?.covers(gtid) === true);
    }
    const have = this.mysql as MysqlGtidSet;
    const wanted = MysqlGtidSet.parse(other).toString();
    if (wanted === '') return true;
    // A MySQL set's text lists intervals per source: every transaction in them must be in ours.
    return wanted.split(',').every((part) => {
      const [uuid, ...ranges] = part.split(':');
      return ranges.every((range) => {
        const [from, to] = range.split('-');
        if (from === undefined || !/^\d+$/.test(from)) return true; // a tag
        return have.contains(`${uuid}:${from}`) && have.contains(`${uuid}:${to ?? from}`);
      });
    });
  }

  toString(): string {
    return (this.mariadb ?? this.mysql)?.toString() ?? '';
  }
}

const utf8 = new TextDecoder('utf-8');
const ZERO_TIMESTAMP = /^1970-01-01 00:00:00(\.0+)?$/;

/** How one column's value, as zongji delivers it, becomes the event's value (docs/database.md#values). */
function decoderFor(
  type: number,
  metadata: Record<string, unknown> | null | undefined,
  kind: ColumnKind | undefined,
  declared: string,
): (value: unknown) => unknown {
  switch (type) {
    case T.TINY:
    case T.SHORT:
    case T.INT24:
    case T.LONG:
      if (kind?.kind === 'bool') return (v) => (v == null ? null : Number(v) !== 0);
      return (v) => (v == null ? null : typeof v === 'string' ? Number(v) : v);
    case T.LONGLONG:
      return (v) => (v == null ? null : String(v));
    case T.YEAR:
      // The zero year is stored as 0, which zongji reads as 1900 (no YEAR holds 1900).
      return (v) => (v == null ? null : v === 1900 ? 0 : v);
    case T.FLOAT:
      // A FLOAT holds 24 bits of mantissa: the shortest decimal that reads back as the same float.
      return (v) => (v == null ? null : typeof v === 'number' ? shortestFloat(v) : v);
    case T.DOUBLE:
      return (v) => (v == null ? null : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v);
    case T.DATETIME:
    case T.DATETIME2:
      return (v) => (typeof v === 'string' ? naiveTimestampToIso(v) : (v ?? null));
    case T.TIMESTAMP:
    case T.TIMESTAMP2:
      return (v) => (typeof v === 'string' ? timestampValue(v) : (v ?? null));
    case T.BIT: {
      const bits = Number(metadata?.bits ?? 1);
      return (v) => {
        if (v == null) return null;
        const buffer = v as Buffer;
        let digits = '';
        for (const byte of buffer) digits += byte.toString(2).padStart(8, '0');
        return digits.slice(-bits).padStart(bits, '0');
      };
    }
    case T.GEOMETRY:
      return (v) => (v == null ? null : Buffer.isBuffer(v) ? wkbToWkt(v.subarray(4)) : v);
    case T.JSON:
      // MySQL's binary JSON, parsed by zongji (64-bit integers exact).
      return (v) => (v == null ? null : v);
    default:
      break;
  }
  if (STRINGS.has(type) || BLOBS.has(type)) {
    if (FORMATTED.has(declared)) return (v) => v ?? null;
    return (v) => (v == null ? null : Buffer.isBuffer(v) ? bytesValue(v, kind, declared) : v);
  }
  // DECIMAL (exact text), DATE, TIME (as written), ENUM, SET: zongji's text is the event's.
  return (v) => (v === undefined ? null : v);
}

/**
 * A TIMESTAMP as zongji writes it in UTC (`2024-01-01 10:00:00` and up to six fraction digits) as ISO 8601
 * with milliseconds, or microseconds when they are not whole milliseconds. On the hot path of every row
 * with a timestamp: index arithmetic instead of a regex and two splits per value (four times faster).
 */
function timestampValue(v: string): string {
  const space = v.indexOf(' ');
  const dot = v.indexOf('.', space + 1);
  if (space === -1 || v.indexOf(' ', space + 1) !== -1 || (dot !== -1 && v.indexOf('.', dot + 1) !== -1))
    return oddTimestampValue(v);
  // The zero TIMESTAMP (stored as 0 seconds) is written as the server writes it, as the other modes do:
  // zongji gives it as zeros, or as the epoch.
  if (v.startsWith('0000-00-00')) return '0000-00-00 00:00:00';
  if (v.startsWith('1970-01-01 00:00:00') && ZERO_TIMESTAMP.test(v)) return '0000-00-00 00:00:00';
  if (dot === -1) return `${v.slice(0, space)}T${v.slice(space + 1)}.000Z`;
  const digits = v.length - dot - 1;
  let micro = digits >= 6 ? v.slice(dot + 1, dot + 7) : v.slice(dot + 1) + '000000'.slice(digits);
  if (micro.endsWith('000')) micro = micro.slice(0, 3);
  return `${v.slice(0, space)}T${v.slice(space + 1, dot)}.${micro}Z`;
}

/** timestampValue for text of another shape (more than one space, or dot after it): the general reading. */
function oddTimestampValue(v: string): string {
  if (ZERO_TIMESTAMP.test(v) || v.startsWith('0000-00-00')) return '0000-00-00 00:00:00';
  const [date, time] = v.split(' ');
  const [whole, frac] = (time ?? '').split('.');
  const micro = (frac ?? '').padEnd(6, '0').slice(0, 6);
  return `${date}T${whole}.${micro.endsWith('000') ? micro.slice(0, 3) : micro}Z`;
}

/** A text, binary or JSON column's bytes, decoded with the catalogue's charset. */
function bytesValue(bytes: Buffer, kind: ColumnKind | undefined, declared: string): unknown {
  if (kind === undefined) {
    // A column the catalogue no longer has (dropped since): text when it is UTF-8, else its bytes.
    return /blob|binary/.test(declared) ? bytes.toString('base64') : utf8.decode(bytes);
  }
  if (kind.kind === 'binary') return bytes.toString('base64');
  if (kind.kind === 'json') {
    const text = utf8.decode(bytes);
    try {
      return plainJson(parseJsonExact(text));
    } catch {
      return text;
    }
  }
  const encoding = kind.textEncoding ?? kind.bytes ?? 'utf-8';
  if (encoding === 'utf-8') return utf8.decode(bytes);
  if (encoding === 'windows-1252') return latin1(bytes);
  return new TextDecoder(encoding).decode(bytes);
}

/**
 * MariaDB's latin1 is Windows-1252 (0x80 is €), with the five bytes Windows leaves undefined mapped to the
 * C1 controls of the same number. Node's TextDecoder decodes 'windows-1252' as ISO-8859-1, so not here.
 */
const CP1252_HIGH =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

function latin1(bytes: Buffer): string {
  let text = '';
  for (const byte of bytes)
    text += byte >= 0x80 && byte < 0xa0 ? CP1252_HIGH[byte - 0x80] : String.fromCharCode(byte);
  return text;
}

function shortestFloat(value: number): number {
  if (!Number.isFinite(value)) return value;
  for (let digits = 6; digits <= 9; digits += 1) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === Math.fround(value)) return candidate;
  }
  return value;
}

/**
 * A coordinate as ST_AsText writes it: the shortest digits that read back as the same double, in fixed
 * notation for decimal exponents from -15 to 14 and as `1.5e-16`, `1e15` beyond.
 */
export function coordinate(value: number): string {
  if (!Number.isFinite(value) || value === 0) return String(value);
  const [mantissa = '0', exponentText = '0'] = value.toExponential().split('e');
  const exponent = Number(exponentText);
  if (exponent >= 15 || exponent < -15) return `${mantissa}e${exponent}`;
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  let fixed: string;
  if (exponent < 0) fixed = `0.${'0'.repeat(-exponent - 1)}${digits}`;
  else if (digits.length > exponent + 1)
    fixed = `${digits.slice(0, exponent + 1)}.${digits.slice(exponent + 1)}`;
  else fixed = digits.padEnd(exponent + 1, '0');
  return negative ? `-${fixed}` : fixed;
}

/** Well-known binary (the bytes after MariaDB/MySQL's 4-byte SRID) as WKT, as ST_AsText writes it. */
export function wkbToWkt(wkb: Buffer): string {
  let at = 0;
  const geometry = (): string => {
    const little = wkb.readUInt8(at) === 1;
    at += 1;
    const u32 = () => {
      const n = little ? wkb.readUInt32LE(at) : wkb.readUInt32BE(at);
      at += 4;
      return n;
    };
    const f64 = () => {
      const n = little ? wkb.readDoubleLE(at) : wkb.readDoubleBE(at);
      at += 8;
      return n;
    };
    const point = () => `${coordinate(f64())} ${coordinate(f64())}`;
    const points = () => Array.from({ length: u32() }, point).join(',');
    const rings = () => Array.from({ length: u32() }, () => `(${points()})`).join(',');
    const type = u32();
    switch (type) {
      case 1:
        return `POINT(${point()})`;
      case 2:
        return `LINESTRING(${points()})`;
      case 3:
        return `POLYGON(${rings()})`;
      case 4:
        // ST_AsText writes a multipoint's points without their own parentheses.
        return `MULTIPOINT(${Array.from({ length: u32() }, () => geometry().slice('POINT('.length, -1)).join(',')})`;
      case 5:
        return `MULTILINESTRING(${Array.from({ length: u32() }, () => geometry().slice('LINESTRING'.length)).join(',')})`;
      case 6:
        return `MULTIPOLYGON(${Array.from({ length: u32() }, () => geometry().slice('POLYGON'.length)).join(',')})`;
      case 7:
        return `GEOMETRYCOLLECTION(${Array.from({ length: u32() }, geometry).join(',')})`;
      default:
        throw new RangeError(`unknown WKB geometry type ${type}`);
    }
  };
  return geometry();
}
