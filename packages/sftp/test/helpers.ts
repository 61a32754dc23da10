// Test helpers for the SFTP source: a private directory on the real sshd per test, one-shot pipeline runs
// into the embedded file sink, in this process or (to be killed) in a child process.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createFileCheckpointStore,
  createFileDeadLetterSink,
  createFileSink,
  type RunSummary,
  readEventLog,
  runPipeline,
} from '@ferry/core';
import {
  type CanonicalEvent,
  type Clock,
  type DeadLetter,
  type SourceContext,
  stableStringify,
} from '@ferry/core/sdk';
import { type CliResult, startNode } from '../../../examples/quickstart/test/cli.js';
import { services } from '../../../test/services/endpoints.js';
import { createSftpSource, type SftpSourceConfigInput, sftpPositionSchema } from '../src/index.js';

export const sftp = services.sftp;
const uid = Number(execFileSync('id', ['-u', sftp.username]).toString().trim());
const gid = Number(execFileSync('id', ['-g', sftp.username]).toString().trim());

/** A fresh directory under /upload owned by the SFTP user; returns its remote and local paths. */
export function remoteDir(name: string): { remote: string; local: string } {
  const unique = `${name}-${process.pid}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
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

export interface RunExtra {
  signal?: AbortSignal;
  /** Default true (`--once`); false runs passes until `signal` aborts. */
  once?: boolean;
  /** The pipeline's top-level schedule; without it passes run every pollIntervalMs. */
  schedule?: { cron: string; timezone: string };
  /** Time for the runtime's schedule and the source's stability waits. */
  clock?: Clock;
  context?: SourceContext;
}

/** Runs of a pipeline over the source (one `--once` pass by default), everything stored under `dir`. */
export async function runOnce(
  dir: string,
  options: Omit<SftpSourceConfigInput, 'connection'> & { connection?: SftpSourceConfigInput['connection'] },
  extra: RunExtra = {},
): Promise<OnceResult> {
  const source = createSftpSource(
    { connection: connection(), stateDir: join(dir, 'state'), ...options },
    {
      pipeline: 'sftp-test',
      baseDir: dir,
      ...(extra.clock ? { clock: extra.clock } : {}),
      ...extra.context,
    },
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
    // As a host does: a checkpoint the source could not have written stops the run (CHECKPOINT_INVALID).
    positionSchema: sftpPositionSchema,
    once: extra.once ?? true,
    ...(extra.signal ? { signal: extra.signal } : {}),
    ...(extra.schedule ? { schedule: extra.schedule } : {}),
    ...(extra.clock ? { clock: extra.clock } : {}),
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
  // Every line as written (the sink's own list() would fold a letter written twice into one).
  const path = join(dir, 'dlq', 'sftp-test.dlq.jsonl');
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const letters = text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as DeadLetter);
  return { events, letters, notices };
}

/**
 * A pipeline file over a remote directory, everything local under `./` of the file: extra source options
 * and another checkpoints section as YAML lines.
 */
export function pipelineYaml(
  remote: string,
  options: { source?: string; checkpoints?: string; name?: string } = {},
): string {
  return `pipeline: ${options.name ?? 'sftp-crash'}
source:
  type: sftp
  connection:
    host: ${sftp.host}
    port: ${sftp.port}
    username: ${sftp.username}
    privateKeyPath: ${sftp.privateKeyPath}
    knownHosts: ${sftp.knownHostsPath}
    connectTimeoutMs: 5000
    operationTimeoutMs: 30000
  paths: [${remote}/*.csv]
  format: { type: csv }
  key: [id]
  stateDir: ./state
${options.source ?? ''}
mapping:
  subject: id
  fields:
    id: { from: id, required: true }
    name: name
    amount: { from: amount, type: number }
contract:
  type: test.row
  version: 1.0.0
sink:
  type: file
  dir: ./events
  topic: rows
deadLetters:
  type: file
  dir: ./dlq
checkpoints:
${options.checkpoints ?? '  type: file\n  dir: ./checkpoints'}
runtime:
  retry: { retries: 8, minTimeoutMs: 100, maxTimeoutMs: 1000 }
`;
}

const runner = join(import.meta.dirname, 'child', 'run-pipeline.mjs');

/**
 * `ferry run <file> --once` in a child process (test/child/run-pipeline.mjs: core and the built sftp
 * package, without the CLI), so a test can kill it.
 */
export function startPipeline(
  file: string,
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<CliResult> } {
  return startNode(runner, [file, '--once'], env);
}

export function runPipelineFile(file: string, env: Record<string, string> = {}): Promise<CliResult> {
  return startPipeline(file, env).done;
}
