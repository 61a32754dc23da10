// Append-only JSON Lines files that survive a crash: whole batches are appended with one write and fsynced,
// and a torn last line left by a crash in the middle of a write is cut off when the file is opened again.
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { FerryError } from '../errors.js';

/** The byte that ends a JSON line. */
export const NEWLINE = 0x0a;

/** Values as JSON Lines in one UTF-8 buffer: each `JSON.stringify(value)`, followed by a newline. */
export function jsonLines(values: readonly unknown[]): Buffer {
  const lines = values.map((value) => JSON.stringify(value));
  let size = lines.length;
  for (const line of lines) size += Buffer.byteLength(line, 'utf8');
  const bytes = Buffer.allocUnsafe(size);
  let at = 0;
  for (const line of lines) {
    at += bytes.write(line, at, 'utf8');
    bytes[at] = NEWLINE;
    at += 1;
  }
  return bytes;
}

export class JsonlAppender {
  private handle: FileHandle | undefined;
  private opening: Promise<FileHandle> | undefined;
  /** Bytes cut from a torn tail when the file was opened (0 when the file was whole). */
  repairedBytes = 0;

  constructor(readonly path: string) {}

  private async open(): Promise<FileHandle> {
    if (this.handle) return this.handle;
    this.opening ??= (async () => {
      await mkdir(dirname(this.path), { recursive: true });
      const handle = await open(this.path, 'a+');
      this.repairedBytes = await cutTornTail(handle);
      this.handle = handle;
      return handle;
    })();
    return this.opening;
  }

  /** Append lines and fsync. Resolves once they are on disk. */
  async append(values: unknown[]): Promise<void> {
    if (values.length === 0) return;
    await this.appendBytes([jsonLines(values)]);
  }

  /**
   * Append UTF-8 bytes that are whole lines (each ending in a newline), in order, then fsync once. Resolves
   * once they are on disk.
   */
  async appendBytes(buffers: readonly Buffer[]): Promise<void> {
    if (buffers.every((buffer) => buffer.length === 0)) return;
    const handle = await this.open();
    try {
      for (const buffer of buffers) {
        let written = 0;
        while (written < buffer.length) {
          const { bytesWritten } = await handle.write(buffer, written, buffer.length - written);
          written += bytesWritten;
        }
      }
      await handle.sync();
    } catch (error) {
      throw new FerryError(
        'EVENT_LOG_WRITE_FAILED',
        `cannot append to ${this.path}: ${(error as Error).message}`,
        {
          cause: error,
          retryable: isTransientFsError(error),
          details: { path: this.path },
        },
      );
    }
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    this.opening = undefined;
    await handle?.close();
  }
}

/** Disk full or too many open files may clear; a permission or path error will not. */
function isTransientFsError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EMFILE' || code === 'ENFILE' || code === 'EAGAIN' || code === 'EIO';
}

async function cutTornTail(handle: FileHandle): Promise<number> {
  const { size } = await handle.stat();
  if (size === 0) return 0;
  const chunk = Buffer.alloc(Math.min(size, 64 * 1024));
  let end = size;
  // Walk back from the end to the last newline; everything after it is a torn line.
  while (end > 0) {
    const start = Math.max(0, end - chunk.length);
    const length = end - start;
    await handle.read(chunk, 0, length, start);
    const index = chunk.subarray(0, length).lastIndexOf(0x0a);
    if (index >= 0) {
      const keep = start + index + 1;
      if (keep < size) {
        await handle.truncate(keep);
        await handle.sync();
      }
      return size - keep;
    }
    end = start;
  }
  await handle.truncate(0);
  await handle.sync();
  return size;
}

/** Read a JSON Lines file line by line; a missing file reads as empty. */
export async function* readJsonl<T = unknown>(path: string): AsyncIterable<{ value: T; line: number }> {
  try {
    await stat(path);
  } catch {
    return;
  }
  const lines = createInterface({
    input: createReadStream(path, 'utf8'),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let line = 0;
  for await (const text of lines) {
    line += 1;
    if (text.trim() === '') continue;
    try {
      yield { value: JSON.parse(text) as T, line };
    } catch (error) {
      throw new FerryError('EVENT_LOG_CORRUPT', `${path}:${line} is not valid JSON`, {
        cause: error,
        details: { path, line },
      });
    }
  }
}
