// A SOAP snapshot run SIGKILLed while it commits the batch that ends a pass, once before the checkpoint is
// saved and once between the checkpoint and the promotion of the pass as the diff baseline: after a rerun,
// the baseline is exactly the last committed pass, so the next pass yields exactly the right creates, updates
// and deletes (no lost delete, no phantom create). The pipeline runs in a child process
// (test/child/snapshot-run.mjs, on the built package), against a real node-soap server in this process.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CanonicalEvent, createFileCheckpointStore, readEventLog } from '@ferry/core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { caseSnapshotConfig } from '../helpers.js';
import { type CaseServer, makeCases, startCaseServer } from '../servers/node-soap-server.js';

const script = join(import.meta.dirname, '..', 'child', 'snapshot-run.mjs');
const packageDir = join(import.meta.dirname, '..', '..');

beforeAll(() => {
  // The child runs the built package: a stale build would test old code.
  const newest = (dir: string): number =>
    Math.max(
      ...readdirSync(dir).map((name) => {
        const path = join(dir, name);
        return statSync(path).isDirectory() ? newest(path) : statSync(path).mtimeMs;
      }),
    );
  if (statSync(join(packageDir, 'tsconfig.tsbuildinfo')).mtimeMs < newest(join(packageDir, 'src'))) {
    throw new Error('packages/soap/dist is older than its sources: run `npx tsc -b packages/soap` first');
  }
});

let server: CaseServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

type Kill = 'none' | 'before-checkpoint' | 'after-checkpoint';

async function run(
  dir: string,
  kill: Kill,
): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  const source = await caseSnapshotConfig(server!.endpoint11, { stateDir: join(dir, 'state') });
  const options = JSON.stringify({ dir, source, kill });
  const child = spawn(process.execPath, [script, options], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout.resume();
  return await new Promise((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
}

async function events(dir: string): Promise<CanonicalEvent[]> {
  const all: CanonicalEvent[] = [];
  for await (const event of readEventLog(join(dir, 'events', 'justice.case.v1.jsonl'))) all.push(event);
  return all;
}

/** The changes among events, one per event id (a replay after a crash repeats ids, never changes). */
function changes(list: CanonicalEvent[]): string[] {
  return [...new Map(list.map((e) => [e.id, `${e.ferryop}:${e.subject}`])).values()].sort();
}

async function checkpoint(dir: string): Promise<{ state?: string } | undefined> {
  return (await createFileCheckpointStore({ dir: join(dir, 'checkpoints') }).load('crash')) as
    | { state?: string }
    | undefined;
}

describe('a snapshot run killed while it commits the end of a pass', () => {
  it.each([
    ['before the checkpoint is saved (events written)', 'before-checkpoint'],
    ['after the checkpoint, before the baseline is promoted', 'after-checkpoint'],
  ] as const)(
    '%s: the next pass diffs against the last committed pass',
    async (_, kill) => {
      server = await startCaseServer({ pageSize: 3 });
      server.cases.push(...makeCases(7));
      const dir = await mkdtemp(join(tmpdir(), 'ferry-soap-crash-'));

      const first = await run(dir, 'none');
      expect(first.code, first.stderr).toBe(0);
      expect(changes(await events(dir))).toEqual(server.cases.map((c) => `read:${c.CaseId}`).sort());

      // The second pass: C00002 deleted, C00001 updated, N00001 created. Killed at the end of its commit.
      server.cases.splice(1, 1);
      server.cases[0]!.Status = 'REOPENED';
      server.cases.push(...makeCases(1, Date.parse('2025-01-01T00:00:00Z'), 'N'));
      const seen = (await events(dir)).length;
      const killed = await run(dir, kill);
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      const saved = await checkpoint(dir);
      if (kill === 'before-checkpoint') {
        // The last commit of the pass was lost: the rerun resumes the pass and ends it, same event ids.
        expect(saved?.state).not.toBe('done');
        const resumed = await run(dir, 'none');
        expect(resumed.code, resumed.stderr).toBe(0);
      } else {
        expect(saved?.state).toBe('done');
      }
      const second = (await events(dir)).slice(seen);
      expect(changes(second)).toEqual(['create:N00001', 'delete:C00002', 'update:C00001']);

      // The third pass is compared with the second, however the second ended.
      server.cases.splice(1, 1); // C00003 deleted
      server.cases.at(-1)!.Title = 'renamed'; // N00001 updated
      server.cases.push(...makeCases(1, Date.parse('2025-02-01T00:00:00Z'), 'M')); // M00001 created
      const before = (await events(dir)).length;
      const third = await run(dir, 'none');
      expect(third.code, third.stderr).toBe(0);
      const next = (await events(dir)).slice(before);
      expect(next.map((e) => `${e.ferryop}:${e.subject}`).sort()).toEqual([
        'create:M00001',
        'delete:C00003',
        'update:N00001',
      ]);
      expect((await checkpoint(dir))?.state).toBe('done');
    },
    60_000,
  );
});
