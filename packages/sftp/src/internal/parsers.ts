// Parsers for the file formats the SFTP source reads: CSV (csv-parse), fixed-width records and JSON Lines.
// Each reads a local (downloaded and verified) file as a stream and yields items in file order, a chunk at a
// time, so memory stays bounded and no per-row promise is paid.
import { createReadStream } from 'node:fs';
import { type Readable, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { type Options, parse } from 'csv-parse';
import iconv from 'iconv-lite';
import type { CsvFormat, FixedWidthFormat, SftpSourceConfig } from '../config.js';
import { SftpErrorCodes } from '../errors.js';

export type Item =
  | { kind: 'row'; line: number; byteOffset: number; values: Record<string, unknown>; recordType?: string }
  | { kind: 'header' | 'trailer'; line: number; byteOffset: number; values: Record<string, unknown> }
  | { kind: 'reject'; line: number; byteOffset: number; code: string; message: string; raw: string };

export type Format = SftpSourceConfig['format'];

function openInput(path: string, gz: boolean, chunkBytes: number): Readable {
  const file = createReadStream(path, { highWaterMark: chunkBytes });
  if (!gz) return file;
  const gunzip = createGunzip();
  file.on('error', (error) => gunzip.destroy(error));
  return file.pipe(gunzip);
}

function isUtf8(encoding: string): boolean {
  return /^utf-?8$/i.test(encoding);
}

/** Items of a local file, a chunk of `chunkBytes` (the read-ahead) at a time. */
export function readItems(
  path: string,
  format: Format,
  gz: boolean,
  chunkBytes: number,
): AsyncGenerator<Item[]> {
  switch (format.type) {
    case 'csv':
      return readCsv(openInput(path, gz, chunkBytes), format);
    case 'fixed-width':
      return readLines(openInput(path, gz, chunkBytes), format.encoding, fixedWidthLine(format));
    case 'jsonl':
      return readLines(openInput(path, gz, chunkBytes), 'utf-8', jsonLine);
  }
}

async function* readCsv(input: Readable, format: CsvFormat): AsyncGenerator<Item[]> {
  let columns = format.header ? undefined : format.columns;
  let out: Item[] = [];
  let lastBytes = 0;
  const policy = format.columnCount;
  const parser = parse({
    delimiter: format.delimiter,
    quote: format.quote === '' ? false : format.quote,
    escape: format.escape,
    bom: format.bom,
    ...(format.comment === undefined ? {} : { comment: format.comment }),
    trim: format.trim,
    relax_column_count: true,
    skip_records_with_error: true,
    max_record_size: format.maxRecordSize,
    record_delimiter: ['\r\n', '\n', '\r'],
  } as Options);
  // The bytes written to the parser since the start of the record in progress: the raw text of a rejected
  // record is cut from here, so csv-parse's `raw` option (two string copies of every record) is not needed.
  const window = new RawWindow();
  const info = parser.info;
  const onRecord = (record: string[]): void => {
    const byteOffset = lastBytes;
    lastBytes = info.bytes;
    const line = info.lines;
    if (columns === undefined) {
      // A header row given explicitly replaces the file's own names.
      columns = format.columns ?? record;
      return;
    }
    const count = columns.length;
    if (record.length !== count && policy === 'reject') {
      out.push({
        kind: 'reject',
        line,
        byteOffset,
        code: SftpErrorCodes.CSV_COLUMN_COUNT,
        message: `line ${line}: ${record.length} columns, expected ${count}`,
        raw: window.text(byteOffset, lastBytes),
      });
      return;
    }
    const values: Record<string, unknown> = {};
    for (let i = 0; i < count; i += 1) values[columns[i]!] = record[i] ?? (policy === 'pad' ? '' : undefined);
    if (policy === 'allow') for (let i = count; i < record.length; i += 1) values[`_${i + 1}`] = record[i];
    out.push({ kind: 'row', line, byteOffset, values });
  };
  // Records are taken as csv-parse produces them, synchronously and in file order, with the parser's live
  // `info` giving line and byte position: nothing goes through the object-mode stream, and no per-record
  // info snapshot is built (on_record builds one, about a quarter of the parse cost).
  parser.push = (record: unknown): boolean => {
    if (record === null) return Transform.prototype.push.call(parser, null);
    onRecord(record as string[]);
    return true;
  };
  parser.on('skip', (error: Error & { code?: string; lines?: number; bytes?: number }) => {
    const line = error.lines ?? info.lines;
    // csv-parse does not say where a broken record ends: keep what follows its start, up to maxRecordSize.
    out.push({
      kind: 'reject',
      line,
      byteOffset: lastBytes,
      code: SftpErrorCodes.CSV_PARSE_ERROR,
      message: `line ${line}: ${error.code ?? 'CSV'}: ${error.message}`,
      raw: window.text(lastBytes, Number.POSITIVE_INFINITY).slice(0, format.maxRecordSize),
    });
    lastBytes = Math.max(lastBytes, info.bytes);
  });
  const ended = new Promise<void>((resolve, reject) => {
    parser.on('end', resolve);
    parser.on('error', reject);
  });
  parser.resume();
  const decoder = isUtf8(format.encoding) ? undefined : iconv.getDecoder(format.encoding);
  const write = (chunk: Buffer) => {
    window.add(chunk);
    return new Promise<void>((resolve, reject) =>
      parser.write(chunk, (error) => (error ? reject(error) : resolve())),
    );
  };
  for await (const chunk of input as AsyncIterable<Buffer>) {
    await write(decoder ? Buffer.from(decoder.write(chunk), 'utf8') : chunk);
    window.dropBefore(lastBytes);
    if (out.length > 0) {
      yield out;
      out = [];
    }
  }
  const tail = decoder?.end();
  if (tail) await write(Buffer.from(tail, 'utf8'));
  parser.end();
  await ended;
  if (out.length > 0) yield out;
}

/** Recent input chunks with their byte offsets, trimmed at record boundaries. */
class RawWindow {
  private chunks: { start: number; data: Buffer }[] = [];
  private end = 0;

  add(data: Buffer): void {
    this.chunks.push({ start: this.end, data });
    this.end += data.length;
  }

  dropBefore(offset: number): void {
    let keep = 0;
    while (
      keep < this.chunks.length - 1 &&
      this.chunks[keep]!.start + this.chunks[keep]!.data.length <= offset
    )
      keep += 1;
    if (keep > 0) this.chunks = this.chunks.slice(keep);
  }

  /** The text between two byte offsets, without its line ending; what is no longer held is left out. */
  text(from: number, to: number): string {
    const parts: Buffer[] = [];
    for (const { start, data } of this.chunks) {
      const s = Math.max(from, start) - start;
      const e = Math.min(to, start + data.length) - start;
      if (e > s) parts.push(data.subarray(s, e));
    }
    return Buffer.concat(parts)
      .toString('utf8')
      .replace(/\r?\n$|\r$/, '');
  }
}

type LineHandler = (text: string, line: number, byteOffset: number) => Item | undefined;

/** Splits on CRLF, LF or CR; the byte offset counts UTF-8 bytes of the decoded text. */
async function* readLines(input: Readable, encoding: string, handle: LineHandler): AsyncGenerator<Item[]> {
  const decoder = iconv.getDecoder(isUtf8(encoding) ? 'utf-8' : encoding, { stripBOM: true });
  let rest = '';
  let line = 0;
  let offset = 0;
  let pendingCr = false;
  const take = (text: string, out: Item[], final: boolean): void => {
    let start = 0;
    if (pendingCr && text.startsWith('\n')) {
      start = 1;
      offset += 1;
    }
    pendingCr = false;
    const data = text.slice(start);
    let i = 0;
    let from = 0;
    for (; i < data.length; i += 1) {
      const ch = data.charCodeAt(i);
      if (ch !== 10 && ch !== 13) continue;
      const content = data.slice(from, i);
      let width = 1;
      if (ch === 13) {
        if (i + 1 < data.length && data.charCodeAt(i + 1) === 10) width = 2;
        else if (i + 1 === data.length && !final) pendingCr = true;
      }
      line += 1;
      if (content !== '') {
        const item = handle(content, line, offset);
        if (item) out.push(item);
      }
      offset += Buffer.byteLength(content) + width;
      i += width - 1;
      from = i + 1;
    }
    rest = data.slice(from);
  };
  for await (const chunk of input as AsyncIterable<Buffer>) {
    const out: Item[] = [];
    take(rest + decoder.write(chunk), out, false);
    if (out.length > 0) yield out;
  }
  const out: Item[] = [];
  take(rest + (decoder.end() ?? ''), out, true);
  if (rest !== '') {
    line += 1;
    const item = handle(rest, line, offset);
    if (item) out.push(item);
  }
  if (out.length > 0) yield out;
}

function jsonLine(text: string, line: number, byteOffset: number): Item | undefined {
  if (text.trim() === '') return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (value !== null && typeof value === 'object' && !Array.isArray(value))
      return { kind: 'row', line, byteOffset, values: value as Record<string, unknown> };
    return reject(SftpErrorCodes.JSONL_INVALID, `line ${line}: not a JSON object`, text, line, byteOffset);
  } catch (error) {
    return reject(
      SftpErrorCodes.JSONL_INVALID,
      `line ${line}: ${(error as Error).message}`,
      text,
      line,
      byteOffset,
    );
  }
}

function reject(code: string, message: string, raw: string, line: number, byteOffset: number): Item {
  return { kind: 'reject', line, byteOffset, code, message, raw };
}

function fixedWidthLine(format: FixedWidthFormat): LineHandler {
  return (text, line, byteOffset) => {
    const spec = format.records.find((r) => text.startsWith(r.prefix));
    if (spec === undefined)
      return reject(
        SftpErrorCodes.FIXED_WIDTH_INVALID,
        `line ${line}: no record type matches`,
        text,
        line,
        byteOffset,
      );
    const values: Record<string, unknown> = {};
    for (const field of spec.fields) {
      const end = field.start - 1 + field.length;
      if (text.length < end && field.type !== 'string')
        return reject(
          SftpErrorCodes.FIXED_WIDTH_INVALID,
          `line ${line}: record is ${text.length} characters, field ${field.name} ends at ${end}`,
          text,
          line,
          byteOffset,
        );
      const slice = text.slice(field.start - 1, end).trim();
      if (field.type === 'string') {
        values[field.name] = slice;
        continue;
      }
      if (!/^[+-]?\d+$/.test(slice))
        return reject(
          SftpErrorCodes.FIXED_WIDTH_INVALID,
          `line ${line}: field ${field.name} is "${slice}", not a number`,
          text,
          line,
          byteOffset,
        );
      if (field.type === 'integer' || field.decimals === 0) {
        values[field.name] = Number.parseInt(slice, 10);
      } else {
        // Kept as a decimal string so implied decimals never pick up binary floating-point error.
        const negative = slice.startsWith('-');
        const digits = slice.replace(/^[+-]/, '').padStart(field.decimals + 1, '0');
        const whole = digits.slice(0, digits.length - field.decimals).replace(/^0+(?=\d)/, '');
        values[field.name] = `${negative ? '-' : ''}${whole}.${digits.slice(digits.length - field.decimals)}`;
      }
    }
    if (spec.role === 'detail') return { kind: 'row', line, byteOffset, values, recordType: spec.prefix };
    return { kind: spec.role, line, byteOffset, values };
  };
}
