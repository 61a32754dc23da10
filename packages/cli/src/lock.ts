// A pid file per pipeline while `ferry run` (or `ferry serve`, `ferry dlq replay`, `ferry offsets set`)
// works on it, so two of them never share a pipeline on one host and offsets never change under a live run.
// Taking it is one exclusive create, so of any number of processes starting at once exactly one wins.
import { randomBytes } from 'node:crypto';
import { type FileHandle, link, mkdir, open, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError } from '@ferry/core';

export function lockPath(baseDir: string, pipeline: string): string {
  return join(baseDir, '.ferry', 'run', `${pipeline}.pid`);
}

/**
 * Tokens of the locks this process holds or is creating. A file naming this process's pid with a token
 * not in here was left by an earlier process that had the same pid (a container restarted as pid 1).
 */
const ownTokens = new Set<string>();

/** A lock file still empty this long after its creation was left by a process that died before writing. */
const UNWRITTEN_GRACE_MS = 5_000;
/** A break marker this old was left by a process that died while taking over a stale lock. */
const BREAK_MARKER_STALE_MS = 10_000;
/** Bounds the wait for a lock being written or taken over by another process (about 10 s in all). */
const MAX_ATTEMPTS = 400;
const BACKOFF_MS = 25;

type Holder =
  | { kind: 'gone' }
  | { kind: 'live'; pid: number; token: string | undefined }
  /** Created but not written yet: its creator is between open and write. */
  | { kind: 'writing' }
  /** Its process is dead (or it is not a lock file Ferry wrote): `ino` and `text` identify what was judged. */
  | { kind: 'stale'; ino: number; text: string };

export async function runningPid(baseDir: string, pipeline: string): Promise<number | undefined> {
  const holder = await inspect(lockPath(baseDir, pipeline)).catch(() => undefined);
  if (holder?.kind === 'live') return holder.pid;
  // Status reports any live pid a file names, this process's own included.
  if (holder?.kind === 'stale' && parsePid(holder.text) === process.pid) return process.pid;
  return undefined;
}

/**
 * Take the pipeline's run lock, or throw PIPELINE_RUNNING naming the pid that holds it. A lock left by a
 * dead process is taken over. The returned function releases it (removing the file only if it is still ours).
 */
export async function acquireRunLock(baseDir: string, pipeline: string): Promise<() => Promise<void>> {
  const path = lockPath(baseDir, pipeline);
  await mkdir(dirname(path), { recursive: true }).catch((error: unknown) => {
    throw lockFailed(path, 'cannot create its directory', error);
  });
  const token = randomBytes(8).toString('hex');
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
    if (await create(path, token)) return () => release(path, token);
    const holder = await inspect(path).catch((error: unknown) => {
      throw lockFailed(path, 'cannot read it', error);
    });
    switch (holder.kind) {
      case 'gone':
        continue;
      case 'live':
        throw new FerryError(
          'PIPELINE_RUNNING',
          `pipeline ${pipeline} is already running (pid ${holder.pid} holds ${path}); stop it first`,
          { details: { pid: holder.pid, path } },
        );
      case 'writing':
        await sleep(BACKOFF_MS);
        continue;
      case 'stale':
        if (!(await takeOver(path, holder))) await sleep(BACKOFF_MS);
    }
  }
  throw new FerryError(
    'PIPELINE_LOCK_FAILED',
    `could not take the run lock ${path} of pipeline ${pipeline} after ${MAX_ATTEMPTS} attempts: other ` +
      'processes kept creating or taking it over; try again',
    { retryable: true, details: { path } },
  );
}

/** Create the lock file exclusively; false when it exists. */
async function create(path: string, token: string): Promise<boolean> {
  // Registered before the file exists: another caller in this process may read it as soon as it is created.
  ownTokens.add(token);
  let handle: FileHandle;
  try {
    handle = await open(path, 'wx');
  } catch (error) {
    ownTokens.delete(token);
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw lockFailed(path, 'cannot create it', error);
  }
  let written = false;
  let failure: unknown;
  try {
    // One write, so a reader sees the whole content or an empty file (which it waits on).
    await handle.writeFile(`${process.pid}\n${token}\n`);
    written = true;
  } catch (error) {
    failure = error;
  } finally {
    await handle.close().catch(() => undefined);
  }
  if (written) return true;
  await unlink(path).catch(() => undefined);
  ownTokens.delete(token);
  throw lockFailed(path, 'cannot write it', failure);
}

async function release(path: string, token: string): Promise<void> {
  try {
    const holder = await inspect(path);
    // Nobody else can remove or replace a live lock, so what was read is still there when it is unlinked.
    if (holder.kind === 'live' && holder.token === token) await unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  } finally {
    ownTokens.delete(token);
  }
}

/** Who holds the lock, read through one handle so the inode and the content belong together. */
async function inspect(path: string): Promise<Holder> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'gone' };
    throw error;
  }
  try {
    const info = await handle.stat();
    const text = await handle.readFile('utf8');
    if (text === '') {
      return Date.now() - info.mtimeMs < UNWRITTEN_GRACE_MS
        ? { kind: 'writing' }
        : { kind: 'stale', ino: info.ino, text };
    }
    const match = /^(\d+)\n(?:([0-9a-f]+)\n)?$/.exec(text);
    if (match === null) return { kind: 'stale', ino: info.ino, text };
    const pid = Number(match[1]);
    const token = match[2];
    const live = pid === process.pid ? token !== undefined && ownTokens.has(token) : isAlive(pid);
    return live ? { kind: 'live', pid, token } : { kind: 'stale', ino: info.ino, text };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * Remove a stale lock, but only the very file judged stale. Whoever takes it over first links it to a
 * break marker (an exclusive create, so one process at a time); while the marker exists nobody else can
 * remove or replace the lock file, so checking the marker's inode and content and then unlinking the lock
 * cannot remove a lock someone created meanwhile. False when another process is taking it over.
 */
async function takeOver(path: string, judged: Extract<Holder, { kind: 'stale' }>): Promise<boolean> {
  const marker = `${path}.break`;
  try {
    await link(path, marker);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (code !== 'EEXIST') throw lockFailed(path, 'cannot take over the stale lock', error);
    await clearAbandonedMarker(marker);
    return false;
  }
  try {
    const now = await inspect(marker);
    if (now.kind === 'stale' && now.ino === judged.ino && now.text === judged.text) {
      await unlink(path).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      });
    }
    return true;
  } finally {
    await unlink(marker).catch(() => undefined);
  }
}

async function clearAbandonedMarker(marker: string): Promise<void> {
  try {
    const info = await stat(marker);
    // ctime is when the marker was linked, whatever the age of the lock it points to.
    if (Date.now() - info.ctimeMs > BREAK_MARKER_STALE_MS) await unlink(marker);
  } catch {
    // Gone already: the process taking over finished.
  }
}

function parsePid(text: string): number | undefined {
  const pid = Number.parseInt(text, 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockFailed(path: string, what: string, error: unknown): FerryError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return new FerryError(
    'PIPELINE_LOCK_FAILED',
    `run lock ${path}: ${what} (${code ?? (error instanceof Error ? error.message : String(error))}); ` +
      'check the permissions of the .ferry/run folder next to the pipeline file',
    { cause: error, details: { path, ...(code === undefined ? {} : { errno: code }) } },
  );
}
