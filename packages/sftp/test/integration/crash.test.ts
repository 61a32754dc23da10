// Crash and connection-loss recovery of the SFTP source, run as `ferry run` runs it (a pipeline file, in a
// child process: test/child/run-pipeline.mjs) against the real sshd: SIGKILL mid-file and a dropped SSH
// session mid-transfer and mid-file, each followed by a rerun that must yield every row with exactly the
// event ids of an uninterrupted run.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readEventLog } from '@ferry/core';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../../examples/quickstart/test/cli.js';
import { drop, pipelineYaml, remoteDir, runPipelineFile, sftp, startPipeline, workDir } from '../helpers.js';

const ROWS = 60_000;

function bigCsv(rows: number, padding: number): string {
  const pad = 'x'.repeat(padding);
  const lines = ['id,name,amount,notes'];
  for (let i = 1; i <= rows; i++) lines.push(`${i},name ${i},${(i * 1.25).toFixed(2)},"${pad} ${i}"`);
  return `${lines.join('\n')}\n`;
}

// Big files and event logs: removed after each test so repeated runs do not fill the disk.
const created: string[] = [];
afterEach(() => {
  for (const path of created.splice(0)) rmSync(path, { recursive: true, force: true });
});

async function pipelineIn(
  remote: string,
  extra = '',
): Promise<{ dir: string; file: string; events: string }> {
  const dir = await workDir();
  created.push(dir);
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(
    file,
    pipelineYaml(remote, { source: `  batchSize: 500\n  afterProcessing: leave\n${extra}` }),
  );
  return { dir, file, events: join(dir, 'events', 'rows.jsonl') };
}

/**
 * Row event ids, in log order; file-level events (ferry.file.*) are collected apart, and the data of each
 * `ferry.file.completed`.
 */
async function ids(path: string, notices: string[] = [], completed: unknown[] = []): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readEventLog(path)) {
    const { id, type, data } = e as { id: string; type: string; data: unknown };
    (type.startsWith('ferry.file.') ? notices : out).push(id);
    if (type === 'ferry.file.completed') completed.push(data);
  }
  return out;
}

function size(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/**
 * Drop the SFTP sessions of one client process by killing the sshd processes that serve its connections
 * (found by matching its sockets to the server's with `ss`). Only that client's: the sshd is shared with
 * every other SFTP test, and with another clone's test run, at the same moment.
 */
function killSftpSessionsOf(clientPid: number): number {
  const sockets = execFileSync('ss', ['-Htnp', 'state', 'established'])
    .toString()
    .split('\n')
    .map((line) => /\s127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:(\d+)\s+users:\((.*)\)/.exec(line))
    .filter((m) => m !== null)
    .map(([, local, peer, users]) => ({
      local: Number(local),
      peer: Number(peer),
      pids: [...users!.matchAll(/pid=(\d+)/g)].map((p) => Number(p[1])),
    }));
  const clientPorts = new Set(
    sockets.filter((s) => s.peer === sftp.port && s.pids.includes(clientPid)).map((s) => s.local),
  );
  const servers = new Set(
    sockets.filter((s) => s.local === sftp.port && clientPorts.has(s.peer)).flatMap((s) => s.pids),
  );
  for (const pid of servers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  return servers.size;
}

/** An uninterrupted run over the same remote file: the ids every other run must reproduce. */
async function cleanIds(remote: string): Promise<{ ids: Set<string>; notices: string[]; bytes: number }> {
  const clean = await pipelineIn(remote);
  const result = await runPipelineFile(clean.file);
  expect(result.code, result.stderr).toBe(0);
  const notices: string[] = [];
  const all = await ids(clean.events, notices);
  expect(notices).toHaveLength(2);
  expect(all.length).toBe(ROWS);
  const unique = new Set(all);
  expect(unique.size).toBe(ROWS);
  return { ids: unique, notices, bytes: size(clean.events) };
}

function expectSameRows(actual: string[], clean: Set<string>): void {
  const unique = new Set(actual);
  const unknown = [...unique].filter((id) => !clean.has(id));
  expect(unknown, 'events emitted with ids an uninterrupted run does not produce').toEqual([]);
  expect(unique.size, 'every row present').toBe(clean.size);
}

describe('sftp crash and connection recovery (a pipeline run in a child process)', () => {
  it('resumes after SIGKILL at three points mid-file: every row, no new ids', async () => {
    const { remote, local } = remoteDir('crash');
    created.push(local);
    drop(local, 'big.csv', bigCsv(ROWS, 80));
    const clean = await cleanIds(remote);

    const run = await pipelineIn(remote);
    let kills = 0;
    for (const fraction of [0.2, 0.45, 0.7]) {
      const { child, done } = startPipeline(run.file);
      await waitFor(() => size(run.events) >= fraction * clean.bytes, 60_000, `events past ${fraction}`);
      child.kill('SIGKILL');
      const result = await done;
      if (result.signal === 'SIGKILL') kills += 1;
    }
    expect(kills, 'the run was killed mid-file at least twice').toBeGreaterThanOrEqual(2);
    const last = await runPipelineFile(run.file);
    expect(last.code, last.stderr).toBe(0);
    const notices: string[] = [];
    const completed: unknown[] = [];
    const all = await ids(run.events, notices, completed);
    expectSameRows(all, clean.ids);
    // File started/completed: the same two ids as the clean run (a replayed notice keeps its id).
    expect([...new Set(notices)]).toEqual(clean.notices);
    // The completion notice counts the whole file, although three processes read it: the counts of the
    // part read before each kill were saved with its checkpoint.
    expect(completed).toHaveLength(1);
    expect(completed[0]).toMatchObject({
      rowsRead: ROWS,
      rowsRejected: 0,
      events: ROWS,
      deadLetters: 0,
      skipped: 0,
    });
    // Resuming at the next row, not at the start of the file: replays are at most a few batches per crash.
    expect(all.length).toBeLessThan(ROWS + 3 * 4 * 500 + 1);
  });

  it('a dropped SSH session mid-transfer and mid-file is retried and resumed without loss', async () => {
    const { remote, local } = remoteDir('drop');
    created.push(local);
    // Wide rows and one transfer request at a time make the download last long enough to cut it.
    drop(local, 'big.csv', bigCsv(ROWS, 600));
    const { ids: clean, notices: cleanNotices } = await cleanIds(remote);

    const run = await pipelineIn(remote, '  transferConcurrency: 1');
    const spool = join(run.dir, 'state', 'spool');
    const { child, done } = startPipeline(run.file, { FERRY_LOG_LEVEL: 'warn' });
    let exited: string | undefined;
    void done.then((r) => {
      exited = `exited ${r.code}: ${r.stderr.slice(-2000)}`;
    });
    try {
      await waitFor(
        () => {
          if (exited !== undefined) throw new Error(`the run ended before the download was seen: ${exited}`);
          return existsSync(spool) && readdirSync(spool).some((n) => n.endsWith('.part'));
        },
        30_000,
        'the download to start',
      );
      const duringTransfer = size(run.events) === 0;
      expect(killSftpSessionsOf(child.pid!)).toBeGreaterThan(0);
      // After the retry the file is read: cut the connection again between batches.
      await waitFor(() => size(run.events) > 200_000, 60_000, 'rows after the first drop');
      expect(killSftpSessionsOf(child.pid!)).toBeGreaterThan(0);
      const result = await done;
      expect(result.code, result.stderr).toBe(0);
      expect(duringTransfer).toBe(true);
      expect(result.stderr).toMatch(/SFTP_CONNECTION_FAILED|SFTP_TIMEOUT|retrying|resuming/);
    } finally {
      child.kill('SIGKILL');
    }
    const notices: string[] = [];
    const all = await ids(run.events, notices);
    expectSameRows(all, clean);
    expect([...new Set(notices)]).toEqual(cleanNotices);
  });
});
