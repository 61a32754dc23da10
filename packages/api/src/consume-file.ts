// The file event log (`<dir>/<topic>.jsonl`, written by the file sink) into the entity store. The position is
// the byte offset of the next unread line, saved with the state in one transaction, so a restart after a
// crash resumes exactly where the store's last commit left off. Only whole lines are read: a line still
// being written (or torn by a crash of the writer) waits until its newline arrives.
import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { CanonicalEvent, DeadLetter } from '@ferry/core';
import { sleep } from '@ferry/core/sdk';
import {
  addFigures,
  batchSizeOf,
  ConsumeError,
  type ConsumeOptions,
  type ConsumeReport,
  cloudEventProblem,
  invalidRecordLetter,
  noFigures,
  report,
} from './consume.js';
import type { EntityStore } from './store.js';

export interface FileLogConsumeOptions extends ConsumeOptions {
  /** The event log file; also the name of the stream its position is saved under, as written here. */
  path: string;
  /** Keep reading as the file grows, until `signal` aborts (default false: stop at the end). */
  follow?: boolean;
  /** With `follow`, how long to wait before looking for new lines again (default 500 ms). */
  pollMs?: number;
  /** Stops the consumer after the batch in hand; what was not committed is read again next time. */
  signal?: AbortSignal;
}

/** Bytes read at a time. */
const CHUNK = 1 << 20;
const NEWLINE = 0x0a;
const CR = 0x0d;

/**
 * Apply the log's events from the consumer's saved position, `batchSize` at a time, each batch with its
 * position in one store transaction; until the end of the file, or with `follow` until `signal` aborts.
 * Resolves with the figures of this run and the position reached.
 */
export async function consumeFileLog(
  store: EntityStore,
  options: FileLogConsumeOptions,
): Promise<ConsumeReport> {
  const batchSize = batchSizeOf(options);
  const pollMs = options.pollMs ?? 500;
  if (!(pollMs > 0)) throw new RangeError(`pollMs must be positive, not ${pollMs}`);
  const { consumer, path, signal, deadLetters } = options;
  const follow = options.follow ?? false;
  const stream = path;

  /** The position the store holds. */
  let committed = parsePosition((await store.positions(consumer))[stream], path);
  /** The offset after the last whole line taken into `events` or `letters` (or skipped as blank). */
  let consumed = committed;
  /** The line number of the line that starts at `consumed`, once known (counted only when a message needs it). */
  let lineNo: number | undefined = committed === 0 ? 1 : undefined;
  let events: CanonicalEvent[] = [];
  let letters: DeadLetter[] = [];
  const total = noFigures();

  const flush = async () => {
    if (consumed === committed) return;
    if (letters.length > 0) {
      // Before the position passes them: a crash in between writes them again, with the same identity.
      await deadLetters!.write(letters);
    }
    const position = String(consumed);
    const result = await store.apply(consumer, events, { [stream]: position });
    committed = consumed;
    const batch = { events: events.length, ...result, deadLettered: letters.length, batches: 1 };
    addFigures(total, batch);
    events = [];
    letters = [];
    report(options, { ...batch, positions: { [stream]: position } });
  };

  const lineAt = async (offset: number) => {
    lineNo ??= (await newlinesBefore(path, offset)) + 1;
    return lineNo;
  };

  let handle: FileHandle | undefined;
  // Each read starts at `consumed`: the bytes of a line not yet whole are read again with the rest of it, so
  // a torn tail that the writer cuts off when it restarts (core's JsonlAppender) is never half kept.
  let buffer = Buffer.allocUnsafe(CHUNK);
  try {
    while (!signal?.aborted) {
      if (handle === undefined) {
        handle = await openLog(path, committed);
        if (handle === undefined) {
          if (!follow) break;
          await sleep(pollMs, signal);
          continue;
        }
      }
      const { size } = await handle.stat();
      if (size < consumed) throw positionLost(path, committed, size);
      const length = Math.min(buffer.length, size - consumed);
      const { bytesRead } = length === 0 ? { bytesRead: 0 } : await handle.read(buffer, 0, length, consumed);
      const data = buffer.subarray(0, bytesRead);
      let start = 0;
      for (let end = data.indexOf(NEWLINE); end !== -1; end = data.indexOf(NEWLINE, start)) {
        const lineStart = consumed;
        const text = data.toString('utf8', start, end > start && data[end - 1] === CR ? end - 1 : end);
        consumed += end + 1 - start;
        start = end + 1;
        const parsed = parseLine(text);
        if (parsed !== undefined && 'reason' in parsed) {
          const line = await lineAt(lineStart);
          const where = `${path}:${line}`;
          if (deadLetters === undefined) {
            // Everything before the line is applied; the line itself is where the next run starts again.
            consumed = lineStart;
            await flush();
            throw new ConsumeError(
              'API_STREAM_INVALID',
              `${where} is not a CloudEvent (${parsed.reason}); the events before it are applied and the ` +
                `consumer stopped at it (byte ${lineStart}). Fix or remove the line, or give the consumer a ` +
                'dead-letter sink',
              { details: { path, line, offset: lineStart } },
            );
          }
          letters.push(
            invalidRecordLetter(consumer, stream, `${where} is not a CloudEvent (${parsed.reason})`, text, {
              path,
              line,
              offset: lineStart,
            }),
          );
        } else if (parsed !== undefined) {
          events.push(parsed.event);
        }
        if (lineNo !== undefined) lineNo += 1;
        if (events.length + letters.length >= batchSize) {
          await flush();
          if (signal?.aborted) break;
        }
      }
      if (start > 0) continue;
      if (bytesRead < size - consumed) {
        // One line longer than the buffer: read it whole next time.
        buffer = Buffer.allocUnsafe(buffer.length * 2);
        continue;
      }
      // The end, for now: commit what was read; a line without its newline waits for the rest of it.
      await flush();
      if (!follow) break;
      await sleep(pollMs, signal);
    }
  } finally {
    await handle?.close();
  }
  return { ...total, positions: { [stream]: String(committed) } };
}

/** A line's event, why it is not one, or undefined for a blank line. */
function parseLine(text: string): { event: CanonicalEvent } | { reason: string } | undefined {
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { reason: `not valid JSON: ${(error as Error).message}` };
  }
  const reason = cloudEventProblem(value);
  return reason === undefined ? { event: value as CanonicalEvent } : { reason };
}

function parsePosition(saved: string | undefined, path: string): number {
  if (saved === undefined) return 0;
  const offset = /^\d{1,15}$/.test(saved) ? Number(saved) : Number.NaN;
  if (Number.isNaN(offset)) {
    throw new ConsumeError(
      'API_STREAM_POSITION_INVALID',
      `the store's position for ${path} is "${saved}", not a byte offset; reset the consumer's positions`,
      { details: { path, position: saved } },
    );
  }
  return offset;
}

function positionLost(path: string, position: number, size: number | undefined): ConsumeError {
  return new ConsumeError(
    'API_STREAM_POSITION_INVALID',
    `the store has read ${path} up to byte ${position}, but the file ${size === undefined ? 'is missing' : `has ${size} bytes`}` +
      ' (or no line ends there): it was truncated or replaced. Rebuild the store from the stream, or reset the ' +
      "consumer's positions",
    { details: { path, position, ...(size === undefined ? {} : { size }) } },
  );
}

/**
 * The file opened for reading, checked against the saved position: a line must end just before it. Undefined
 * when the file does not exist yet and nothing was read from it.
 */
async function openLog(path: string, position: number): Promise<FileHandle | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') {
      throw new ConsumeError('API_STREAM_UNREADABLE', `cannot read ${path}: ${(error as Error).message}`, {
        cause: error,
        // Too many open files or an I/O error may clear; a permission or path error will not.
        retryable: code === 'EMFILE' || code === 'ENFILE' || code === 'EIO' || code === 'EAGAIN',
        details: { path, code },
      });
    }
    if (position > 0) throw positionLost(path, position, undefined);
    return undefined;
  }
  if (position > 0) {
    const byte = Buffer.alloc(1);
    const { bytesRead } = await handle.read(byte, 0, 1, position - 1);
    if (bytesRead !== 1 || byte[0] !== NEWLINE) {
      const { size } = await handle.stat();
      await handle.close();
      throw positionLost(path, position, size);
    }
  }
  return handle;
}

/** Newlines in the file before `offset`: the line number of the line starting there, less one. */
async function newlinesBefore(path: string, offset: number): Promise<number> {
  if (offset === 0) return 0;
  let count = 0;
  for await (const part of createReadStream(path, { start: 0, end: offset - 1 })) {
    const bytes = part as Buffer;
    for (let at = bytes.indexOf(NEWLINE); at !== -1; at = bytes.indexOf(NEWLINE, at + 1)) count += 1;
  }
  return count;
}
