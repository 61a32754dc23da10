// A pid file per pipeline while `ferry run` is running, so offsets are never changed under a live run.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError } from '@ferry/core';

export function lockPath(baseDir: string, pipeline: string): string {
  return join(baseDir, '.ferry', 'run', `${pipeline}.pid`);
}

export async function runningPid(baseDir: string, pipeline: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(lockPath(baseDir, pipeline), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text, 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

export async function acquireRunLock(baseDir: string, pipeline: string): Promise<() => Promise<void>> {
  const pid = await runningPid(baseDir, pipeline);
  if (pid !== undefined && pid !== process.pid) {
    throw new FerryError(
      'PIPELINE_RUNNING',
      `pipeline ${pipeline} is already running (pid ${pid}); stop it first`,
      {
        details: { pid },
      },
    );
  }
  const path = lockPath(baseDir, pipeline);
  await mkdir(join(baseDir, '.ferry', 'run'), { recursive: true });
  await writeFile(path, `${process.pid}\n`);
  return () => rm(path, { force: true });
}
