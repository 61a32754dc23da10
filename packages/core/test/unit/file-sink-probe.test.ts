// The embedded file sink's probe (readiness): a writable directory passes, and nothing is written or created.
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileSink } from '@ferry/core';
import { describe, expect, it } from 'vitest';

const signal = () => AbortSignal.timeout(5000);

describe('file sink probe', () => {
  it('resolves for a writable directory and writes nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-sink-probe-'));
    await expect(createFileSink({ dir }).probe!(signal())).resolves.toBeUndefined();
    expect(await readdir(dir)).toEqual([]);
  });

  it('resolves for a directory the first write will create, without creating it', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'ferry-sink-probe-'));
    await expect(createFileSink({ dir: join(parent, 'a', 'b') }).probe!(signal())).resolves.toBeUndefined();
    expect(await readdir(parent)).toEqual([]);
  });

  it('rejects a path that is a file, or lies below one, as EVENT_LOG_WRITE_FAILED (not retryable)', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'ferry-sink-probe-'));
    const file = join(parent, 'events');
    await writeFile(file, 'not a directory');
    for (const dir of [file, join(file, 'below')]) {
      await expect(createFileSink({ dir }).probe!(signal())).rejects.toMatchObject({
        code: 'EVENT_LOG_WRITE_FAILED',
        retryable: false,
      });
    }
  });

  it('rejects a directory this process may not write in', async () => {
    // /proc/self refuses writes even to root (EPERM), and to anyone else (EACCES).
    await expect(createFileSink({ dir: '/proc/self' }).probe!(signal())).rejects.toMatchObject({
      code: 'EVENT_LOG_WRITE_FAILED',
      retryable: false,
    });
  });

  it('rejects at once when its signal has already stopped it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-sink-probe-'));
    const stopped = new AbortController();
    stopped.abort();
    await expect(createFileSink({ dir }).probe!(stopped.signal)).rejects.toThrow();
  });
});
