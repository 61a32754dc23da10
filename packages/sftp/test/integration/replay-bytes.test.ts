// A replay after a crash is byte-identical: `ferry run --once` (the built CLI) on the real sshd is SIGKILLed
// mid-file, then run again to the end; every event the rerun writes again (the rows after the last saved
// checkpoint) must be the very line written before, `time` included. Rows carry no change time of their
// own, so their `time` is the file's mtime (the batch's sourceTime), which a re-read reproduces; a
// processing time would differ between the two runs.
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startCli, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { drop, pipelineYaml, remoteDir, workDir } from '../helpers.js';

const ROWS = 100_000;

// Big files and event logs: removed after each test so repeated runs do not fill the disk.
const created: string[] = [];
afterEach(() => {
  for (const path of created.splice(0)) rmSync(path, { recursive: true, force: true });
});

function size(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** The last row line in the event log (from its last complete line's origin); 0 before the first. */
function lastWrittenLine(events: string): number {
  const length = size(events);
  if (length === 0) return 0;
  const tail = Buffer.alloc(Math.min(length, 8192));
  const fd = openSync(events, 'r');
  try {
    readSync(fd, tail, 0, tail.length, length - tail.length);
  } finally {
    closeSync(fd);
  }
  const complete = tail.toString('utf8').split('\n').slice(0, -1);
  for (const line of complete.reverse()) {
    const origin = JSON.parse((JSON.parse(line) as { ferryorigin: string }).ferryorigin) as { line?: number };
    if (origin.line !== undefined) return origin.line;
  }
  return 0;
}

/** The line the saved checkpoint covers; 0 before the first. */
function committedLine(checkpoint: string): number {
  if (!existsSync(checkpoint)) return 0;
  return (JSON.parse(readFileSync(checkpoint, 'utf8')) as { position: { line: number } }).position.line;
}

describe('sftp replay after SIGKILL (the built CLI)', () => {
  it('writes every duplicate byte for byte as its first copy, time included', async () => {
    const { remote, local } = remoteDir('replay');
    created.push(local);
    const lines = ['id,name,amount,notes'];
    for (let i = 1; i <= ROWS; i++)
      lines.push(`${i},name ${i},${(i * 1.25).toFixed(2)},"${'x'.repeat(60)} ${i}"`);
    const csv = drop(local, 'big.csv', `${lines.join('\n')}\n`);
    // The server lists whole seconds.
    const mtime = new Date(Math.floor(statSync(csv).mtimeMs / 1000) * 1000).toISOString();

    const dir = await workDir();
    created.push(dir);
    const pipeline = join(dir, 'pipeline.yaml');
    writeFileSync(pipeline, pipelineYaml(remote, { source: '  batchSize: 500\n  afterProcessing: leave\n' }));
    const events = join(dir, 'events', 'rows.jsonl');

    const checkpoint = join(dir, 'checkpoints', 'sftp-crash.checkpoint.json');

    // Killed while events past the saved checkpoint are in the log, so the rerun writes them again. Seen
    // after the process is dead; a kill that landed just after a checkpoint was saved is tried again deeper
    // into the file.
    let uncommitted = 0;
    for (let attempt = 1; attempt <= 6 && uncommitted === 0; attempt += 1) {
      const { child, done } = startCli(['run', pipeline, '--once']);
      await waitFor(
        () => size(events) >= attempt * 1_000_000 && lastWrittenLine(events) > committedLine(checkpoint),
        60_000,
        'events written past the checkpoint',
      );
      child.kill('SIGKILL');
      const result = await done;
      expect(result.signal, 'killed mid-file').toBe('SIGKILL');
      uncommitted = lastWrittenLine(events) - committedLine(checkpoint);
    }
    expect(uncommitted, 'a kill left events past the last checkpoint').toBeGreaterThan(0);
    const last = await startCli(['run', pipeline, '--once']).done;
    expect(last.code, last.stderr).toBe(0);

    const first = new Map<string, string>();
    let duplicates = 0;
    const differing: string[] = [];
    for (const line of readFileSync(events, 'utf8').split('\n')) {
      if (line === '') continue;
      const event = JSON.parse(line) as { id: string; type: string; time: string };
      expect(event.time, `time of ${event.type} ${event.id}`).toBe(mtime);
      const seen = first.get(event.id);
      if (seen === undefined) first.set(event.id, line);
      else {
        duplicates += 1;
        if (seen !== line) differing.push(`${seen}\n${line}`);
      }
    }
    expect(differing, 'a replayed event differs from its first copy').toEqual([]);
    // Every row once, and the file's started and completed notices.
    expect(first.size).toBe(ROWS + 2);
    expect(duplicates, 'the kills left events after the last checkpoint to write again').toBeGreaterThan(0);
  });
});
