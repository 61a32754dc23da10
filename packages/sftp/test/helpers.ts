// Test helpers for the SFTP source: a private directory on the real sshd per test, and one-shot pipeline runs
// into the embedded file sink.
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createFileCheckpointStore,
  createFileDeadLetterSink,
  createFileSink,
  type RunSummary,
  readEventLog,
  readJsonl,
  runPipeline,
} from '@ferry/core';
import { type CanonicalEvent, type DeadLetter, stableStringify } from '@ferry/core/sdk';
import { services } from '../../../test/services/endpoints.js';
import { createSftpSource, type SftpSourceConfigInput, type SftpSourceContext } from '../src/index.js';

export const sftp = services.sftp;
const uid = Number(execFileSync('id', ['-u', sftp.username]).toString().trim());
const gid = Number(execFileSync('id', ['-g', sftp.username]).toString().trim());

/** A fresh directory under /upload owned by the SFTP user; returns its remote and local paths. */
export function remoteDir(name: string): { remote: string; local: string } {
  const unique = `${name}-${process.pid}-${Date.now().toString(36)}`;
  const local = join(sftp.rootDir, 'upload', unique);
  mkdirSync(local, { recursive: true });
  chownSync(local, uid, gid);
  return { remote: `${sftp.uploadDir}/${unique}`, local };
}

export function drop(localDir: string, name: string, content: string | Buffer, ageMs = 60_000): string {
  const path = join(localDir, name);
  writeFileSync(path, content);
  chownSync(path, uid, gid);
  // Files dropped "earlier" are stable at once under the quiet rule.
  const when = new Date(Date.now() - ageMs);
  execFileSync('touch', ['-d', when.toISOString(), path]);
  return path;
}

export function list(localDir: string): string[] {
  return readdirSync(localDir).sort();
}

export function connection(): SftpSourceConfigInput['connection'] {
  return {
    host: sftp.host,
    port: sftp.port,
    username: sftp.username,
    privateKeyPath: sftp.privateKeyPath,
    knownHosts: sftp.knownHostsPath,
    connectTimeoutMs: 5000,
    operationTimeoutMs: 20_000,
  };
}

export async function workDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'ferry-sftp-'));
}

export interface OnceResult {
  summary: RunSummary;
  /** Row events (the mapping's). */
  events: CanonicalEvent[];
  letters: DeadLetter[];
  /** File-level events (ferry.file.*), in the same log as the rows. */
  notices: CanonicalEvent[];
}

/** One `--once` pass of a pipeline over the source, everything stored under `dir`. */
export async function runOnce(
  dir: string,
  options: Omit<SftpSourceConfigInput, 'connection'> & { connection?: SftpSourceConfigInput['connection'] },
  extra: { signal?: AbortSignal; once?: boolean; context?: SftpSourceContext } = {},
): Promise<OnceResult> {
  const source = createSftpSource(
    { connection: connection(), stateDir: join(dir, 'state'), ...options },
    { pipeline: 'sftp-test', baseDir: dir, ...extra.context },
  );
  const summary = await runPipeline({
    name: 'sftp-test',
    source,
    mapping: {
      canonicalType: 'test.row',
      map: (record) => ({ subject: stableStringify(record.key), data: record.after ?? record.before ?? {} }),
    },
    sink: createFileSink({ dir: join(dir, 'events'), topic: 'rows' }),
    deadLetters: createFileDeadLetterSink({ dir: join(dir, 'dlq'), pipeline: 'sftp-test' }),
    checkpoints: createFileCheckpointStore({ dir: join(dir, 'checkpoints') }),
    retry: { retries: 3, minTimeoutMs: 10, maxTimeoutMs: 50, jitter: false },
    deadLetterThreshold: false,
    once: extra.once ?? true,
    ...(extra.signal ? { signal: extra.signal } : {}),
  });
  return { summary, ...(await stored(dir)) };
}

export async function stored(
  dir: string,
): Promise<{ events: CanonicalEvent[]; letters: DeadLetter[]; notices: CanonicalEvent[] }> {
  const events: CanonicalEvent[] = [];
  const notices: CanonicalEvent[] = [];
  try {
    for await (const e of readEventLog(join(dir, 'events', 'rows.jsonl'))) {
      const event = e as CanonicalEvent;
      (event.type.startsWith('ferry.file.') ? notices : events).push(event);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const letters: DeadLetter[] = [];
  try {
    for await (const l of readJsonl<DeadLetter>(join(dir, 'dlq', 'sftp-test.dlq.jsonl')))
      letters.push(l.value);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return { events, letters, notices };
}
