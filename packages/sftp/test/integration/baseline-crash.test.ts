// A full-extract pipeline, run as `ferry run` runs it (a child process: test/child/run-pipeline.mjs), killed
// at the two moments where the diff baseline and the checkpoint could part: after the sink has the
// extract's last events but before its checkpoint is saved, and after that checkpoint is saved but before
// the baseline is promoted. After a rerun, the baseline must be exactly the last committed extract: the
// crashed extract yields exactly its differences (no lost delete), and the next one is compared with it
// (no phantom create).
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFileCheckpointStore, readEventLog } from '@ferry/core';
import { type CanonicalEvent, stableStringify } from '@ferry/core/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import type { SftpPosition } from '../../src/index.js';
import { drop, list, pipelineYaml, remoteDir, runPipelineFile, startPipeline, workDir } from '../helpers.js';

type Extract = Map<string, string>;

/** Rows `from..to` (inclusive), each named `name`, over a base extract. */
function rows(base: Extract, from: number, to: number, name: string): Extract {
  const next = new Map(base);
  for (let id = from; id <= to; id += 1) next.set(String(id), name);
  return next;
}

function without(base: Extract, from: number, to: number): Extract {
  const next = new Map(base);
  for (let id = from; id <= to; id += 1) next.delete(String(id));
  return next;
}

function csv(extract: Extract): string {
  return `id,name\n${[...extract].map(([id, name]) => `${id},${name}`).join('\n')}\n`;
}

/** What a diff of two extracts must yield, as sorted `op id` lines. */
function changes(before: Extract, after: Extract): string[] {
  const out: string[] = [];
  for (const [id, name] of after) {
    const was = before.get(id);
    if (was === undefined) out.push(`create ${id}`);
    else if (was !== name) out.push(`update ${id}`);
  }
  for (const id of before.keys()) if (!after.has(id)) out.push(`delete ${id}`);
  return out.sort();
}

async function logOf(path: string): Promise<CanonicalEvent[]> {
  const out: CanonicalEvent[] = [];
  for await (const event of readEventLog(path)) out.push(event as CanonicalEvent);
  return out;
}

const originOf = (event: CanonicalEvent) =>
  JSON.parse(event.ferryorigin) as { file: string; line?: number; deleted?: boolean };
const of = (file: string) => (event: CanonicalEvent) => originOf(event).file.endsWith(`/${file}`);
const idOf = (event: CanonicalEvent) => (event.data as { id: string }).id;

/** The row changes of one extract file as sorted `op id` lines, each event id once (replays repeat ids). */
function changesIn(log: CanonicalEvent[], file: string): string[] {
  const byId = new Map<string, string>();
  for (const event of log.filter(of(file))) {
    if (event.type.startsWith('ferry.file.')) continue;
    const change = `${event.ferryop} ${idOf(event)}`;
    // An id always stands for the same change.
    expect(byId.get(event.id) ?? change).toBe(change);
    byId.set(event.id, change);
  }
  return [...byId.values()].sort();
}

/** Events of `file` a killed run wrote beyond its last saved checkpoint: a rerun must write them again. */
function beyond(log: CanonicalEvent[], file: string, saved: SftpPosition | undefined): CanonicalEvent[] {
  return log.filter(of(file)).filter((event) => {
    if (saved === undefined || !saved.file.endsWith(`/${file}`)) return true;
    // The started notice went with the file's first batch, the completed one goes with its last.
    if (event.type.startsWith('ferry.file.'))
      return event.type === 'ferry.file.completed' && saved.state !== 'done';
    if (originOf(event).deleted)
      return (
        saved.state === 'reading' ||
        (saved.state === 'deleting' && stableStringify({ id: idOf(event) }) > saved.afterKey!)
      );
    return saved.state === 'reading' && originOf(event).line! > saved.line;
  });
}

const created: string[] = [];
afterEach(() => {
  for (const path of created.splice(0)) rmSync(path, { recursive: true, force: true });
});

async function extractPipeline(remote: string, checkpoints: string) {
  const dir = await workDir();
  created.push(dir);
  const source = '  mode: full-extract\n  batchSize: 40\n  order: mtime';
  const write = (name: string, yaml: string) => {
    const file = join(dir, name);
    writeFileSync(file, yaml);
    return file;
  };
  return {
    dir,
    events: join(dir, 'events', 'rows.jsonl'),
    // Same name, state and checkpoints directory: only the second one can crash.
    plain: write('pipeline.yaml', pipelineYaml(remote, { source })),
    crashing: write('crashing.yaml', pipelineYaml(remote, { source, checkpoints })),
  };
}

// Day 1: 300 rows. Day 2 deletes 1–50, updates 51–100, creates 301–350. Day 3 deletes 51–75 (updated on
// day 2), updates 76–90 again, re-creates 1–10 (deleted on day 2), creates 351–400.
const day1 = rows(new Map(), 1, 300, 'v1');
const day2 = rows(rows(without(day1, 1, 50), 51, 100, 'v2'), 301, 350, 'v1');
const day3 = rows(rows(rows(without(day2, 51, 75), 76, 90, 'v3'), 1, 10, 'v1'), 351, 400, 'v1');

describe('full extract killed between the sink, the checkpoint and the baseline (child process)', () => {
  it.each([
    ['after the sink write of its first deletes, before their checkpoint', 'before-save', 'deleting'],
    ['after the sink write of its last batch, before the checkpoint save', 'before-save', 'done'],
    ['after the checkpoint save, before the baseline promotion', 'after-save', 'done'],
  ])(
    'killed %s: the rerun completes it, and the baseline is the last committed extract',
    async (_when, crash, state) => {
      const { remote, local } = remoteDir(`baseline-${crash}-${state}`);
      created.push(local);
      const run = await extractPipeline(
        remote,
        `  type: crashing-file\n  dir: ./checkpoints\n  crash: ${crash}\n  file: day2.csv\n  state: ${state}`,
      );
      drop(local, 'day1.csv', csv(day1), 180_000);
      const first = await runPipelineFile(run.plain);
      expect(first.code, first.stderr).toBe(0);
      expect(changesIn(await logOf(run.events), 'day1.csv')).toEqual(
        [...day1.keys()].map((id) => `read ${id}`).sort(),
      );

      drop(local, 'day2.csv', csv(day2), 120_000);
      const killed = await startPipeline(run.crashing).done;
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      const written = await logOf(run.events);
      const saved = (await createFileCheckpointStore({ dir: join(run.dir, 'checkpoints') }).load(
        'sftp-crash',
      )) as SftpPosition | undefined;
      const uncommitted = beyond(written, 'day2.csv', saved);
      // Killed before the save: at least the batch it was saving (its deletes, or the completed notice).
      const killedBatch = (e: CanonicalEvent) =>
        state === 'done' ? e.type === 'ferry.file.completed' : e.ferryop === 'delete';
      if (crash === 'before-save') expect(uncommitted.some(killedBatch)).toBe(true);
      else expect(uncommitted).toEqual([]);
      expect(list(local)).toContain('day2.csv');

      const rerun = await runPipelineFile(run.plain);
      expect(rerun.code, rerun.stderr).toBe(0);
      const log = await logOf(run.events);
      // What the crash left uncommitted is written again, with the same ids (an exactly-once sink would have
      // dropped it); what was committed is not read again.
      const again = new Set(log.slice(written.length).map((e) => e.id));
      expect(uncommitted.filter((e) => !again.has(e.id))).toEqual([]);
      if (crash === 'after-save') expect(log.slice(written.length).filter(of('day2.csv'))).toEqual([]);
      expect(changesIn(log, 'day2.csv')).toEqual(changes(day1, day2));
      expect(list(join(local, 'archive'))).toEqual(['day1.csv', 'day2.csv']);

      drop(local, 'day3.csv', csv(day3), 60_000);
      const third = await runPipelineFile(run.plain);
      expect(third.code, third.stderr).toBe(0);
      expect(changesIn(await logOf(run.events), 'day3.csv')).toEqual(changes(day2, day3));
    },
  );
});
