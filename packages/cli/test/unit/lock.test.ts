// The run lock in one process: a held lock refuses a second holder, a lock left by a dead process (or by an
// earlier process with this one's pid) is taken over, and release removes only the holder's own file.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { isFerryError } from '@ferry/core';
import { describe, expect, it } from 'vitest';
import { acquireRunLock, lockPath, runningPid } from '../../src/lock.js';

/** A pid that belonged to a process which has exited and been reaped. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  return child.pid!;
}

async function staleLock(text: string): Promise<{ dir: string; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-lock-'));
  const path = lockPath(dir, 'orders');
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
  return { dir, path };
}

async function refusal(promise: Promise<unknown>) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isFerryError(error)) throw new Error(`expected a FerryError, got ${String(error)}`);
  return error;
}

describe('run lock', () => {
  it('refuses a second holder with PIPELINE_RUNNING naming the pid, and is free again after release', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-lock-'));
    const release = await acquireRunLock(dir, 'orders');
    expect(await runningPid(dir, 'orders')).toBe(process.pid);

    const error = await refusal(acquireRunLock(dir, 'orders'));
    expect(error.code).toBe('PIPELINE_RUNNING');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(`pid ${process.pid}`);
    expect(error.details).toMatchObject({ pid: process.pid });
    // Another pipeline's lock is another file.
    await (await acquireRunLock(dir, 'invoices'))();

    await release();
    expect(existsSync(lockPath(dir, 'orders'))).toBe(false);
    expect(await runningPid(dir, 'orders')).toBeUndefined();
    await (await acquireRunLock(dir, 'orders'))();
  });

  it('takes over a lock whose process is dead', async () => {
    const dead = deadPid();
    const { dir, path } = await staleLock(`${dead}\n`);
    expect(await runningPid(dir, 'orders')).toBeUndefined();
    const release = await acquireRunLock(dir, 'orders');
    expect(Number.parseInt(await readFile(path, 'utf8'), 10)).toBe(process.pid);
    expect(existsSync(`${path}.break`)).toBe(false);
    await release();
    expect(existsSync(path)).toBe(false);
  });

  it('takes over a lock naming this pid that this process does not hold (a restarted container)', async () => {
    const { dir, path } = await staleLock(`${process.pid}\n`);
    const release = await acquireRunLock(dir, 'orders');
    expect(await readFile(path, 'utf8')).toMatch(new RegExp(`^${process.pid}\\n[0-9a-f]+\\n$`));
    await release();
    expect(existsSync(path)).toBe(false);
  });

  it('takes over a file that is not a lock Ferry wrote, and an empty one left long ago', async () => {
    const garbage = await staleLock('not a pid');
    await (await acquireRunLock(garbage.dir, 'orders'))();

    const empty = await staleLock('');
    const old = new Date(Date.now() - 60_000);
    await utimes(empty.path, old, old);
    await (await acquireRunLock(empty.dir, 'orders'))();
    expect(existsSync(empty.path)).toBe(false);
  });

  it('release leaves alone a lock that another process holds now', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-lock-'));
    const path = lockPath(dir, 'orders');
    const release = await acquireRunLock(dir, 'orders');
    // As if an operator removed the file and another run took the lock (pid 1 is always alive).
    await writeFile(path, '1\nfeedface\n');
    await release();
    expect(await readFile(path, 'utf8')).toBe('1\nfeedface\n');
    const error = await refusal(acquireRunLock(dir, 'orders'));
    expect(error.code).toBe('PIPELINE_RUNNING');
    expect(error.message).toContain('pid 1 ');
  });
});
