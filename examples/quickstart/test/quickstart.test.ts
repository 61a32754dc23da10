// The quick start end to end: the built CLI on a real SQLite legacy database and the real file event log.
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CloudEvent } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import { prisonNumber, renameOffender, seedLegacyDatabase } from '../seed.mjs';
import { quickstartCopy, runCli, startCli, waitFor } from './cli.js';

interface LoggedEvent {
  id: string;
  type: string;
  subject: string;
  data: Record<string, unknown> & { name: { family: string } };
  ferryorigin: string;
}

async function lines<T>(path: string): Promise<T[]> {
  if (!existsSync(path)) return [];
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
}

const eventsPath = (dir: string) => join(dir, '.ferry', 'events', 'justice.offender.v1.jsonl');
const dlqPath = (dir: string) => join(dir, '.ferry', 'dead-letters', 'quickstart.dlq.jsonl');

describe('quickstart pipeline (SQLite polling -> file event log)', () => {
  it('writes valid CloudEvents, dead-letters bad rows, emits nothing new on a second run and exactly one update after a change', async () => {
    const q = await quickstartCopy();
    seedLegacyDatabase(q.db, { rows: 1000, badEvery: 250 });

    const first = await runCli(['run', q.pipeline, '--once']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('quickstart: read 1000 records, wrote 996 events, 4 dead letters');

    const events = await lines<LoggedEvent>(eventsPath(q.dir));
    expect(events).toHaveLength(996);
    for (const e of events) expect(new CloudEvent(e as never, true).validate()).toBe(true);
    expect(new Set(events.map((e) => e.id)).size).toBe(996);
    expect(events[0]).toMatchObject({
      type: 'justice.offender.created',
      subject: prisonNumber(1),
      source: '/ferry/quickstart/OFFENDERS',
      dataschema: 'urn:ferry:contract:justice.offender:1.0.0',
      data: {
        offenderId: prisonNumber(1),
        name: { family: 'JONES', given: 'PAUL' },
        dateOfBirth: '1951-02-02',
        gender: 'male',
      },
    });

    const letters = await lines<Record<string, unknown>>(dlqPath(q.dir));
    expect(letters.map((l) => (l.origin as { id: number }).id)).toEqual([250, 500, 750, 1000]);
    expect(letters[0]).toMatchObject({
      stage: 'mapping',
      code: 'MAPPING_INVALID_VALUE',
      stream: 'OFFENDERS',
      retryable: false,
    });
    expect(letters[0]!.message).toContain('dateOfBirth');

    const second = await runCli(['run', q.pipeline, '--once']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('read 0 records, wrote 0 events');
    expect(await lines(eventsPath(q.dir))).toHaveLength(996);

    renameOffender(q.db, 42, 'OKONKWO', new Date('2025-06-01T09:30:00Z'));
    const third = await runCli(['run', q.pipeline, '--once']);
    expect(third.stdout).toContain('read 1 records, wrote 1 events');
    const after = await lines<LoggedEvent>(eventsPath(q.dir));
    expect(after).toHaveLength(997);
    expect(after.at(-1)).toMatchObject({
      type: 'justice.offender.updated',
      subject: prisonNumber(42),
      time: '2025-06-01T09:30:00.000Z',
      data: { name: { family: 'OKONKWO' } },
    });
  });

  it('loses no event and invents no id when SIGKILLed mid-run, again and again', async () => {
    const rows = 60_000;
    const reference = await quickstartCopy();
    seedLegacyDatabase(reference.db, { rows, badEvery: 997 });
    const clean = await runCli(['run', reference.pipeline, '--once']);
    expect(clean.code).toBe(0);
    const expected = await lines<LoggedEvent>(eventsPath(reference.dir));
    const expectedIds = new Set(expected.map((e) => e.id));
    const expectedLetters = (await lines<{ origin: unknown }>(dlqPath(reference.dir))).map((l) =>
      JSON.stringify(l.origin),
    );

    const crashed = await quickstartCopy();
    seedLegacyDatabase(crashed.db, { rows, badEvery: 997 });
    const kills = [0.1, 0.35, 0.7].map((share) => Math.floor(expected.length * share));
    let killedAt: number[] = [];
    for (const threshold of kills) {
      const { child, done } = startCli(['run', crashed.pipeline, '--once']);
      await waitFor(
        async () => {
          const size = existsSync(eventsPath(crashed.dir)) ? (await stat(eventsPath(crashed.dir))).size : 0;
          return size > threshold * 400 || child.exitCode !== null;
        },
        60_000,
        `the event log to pass ${threshold} events`,
      );
      child.kill('SIGKILL');
      const result = await done;
      expect(result.signal).toBe('SIGKILL');
      killedAt = [...killedAt, (await stat(eventsPath(crashed.dir))).size];
    }
    expect(killedAt[0]).toBeLessThan(killedAt[2]!);

    const final = await runCli(['run', crashed.pipeline, '--once']);
    expect(final.code).toBe(0);
    const written = await lines<LoggedEvent>(eventsPath(crashed.dir));
    const writtenIds = new Set(written.map((e) => e.id));
    // Nothing lost, nothing new: the same ids as the clean run (replayed batches repeat ids, never invent them).
    expect(writtenIds.size).toBe(expectedIds.size);
    for (const id of writtenIds) expect(expectedIds.has(id)).toBe(true);
    const letters = new Set(
      (await lines<{ origin: unknown }>(dlqPath(crashed.dir))).map((l) => JSON.stringify(l.origin)),
    );
    expect([...letters].sort()).toEqual([...new Set(expectedLetters)].sort());
  });

  it('stops gracefully on SIGTERM: flushes, saves the checkpoint, exits 0 and frees the pipeline', async () => {
    const q = await quickstartCopy();
    seedLegacyDatabase(q.db, { rows: 2000 });
    const { child, done } = startCli(['run', q.pipeline]);
    const checkpoint = join(q.dir, '.ferry', 'checkpoints', 'quickstart.checkpoint.json');
    await waitFor(
      () => existsSync(checkpoint) && existsSync(join(q.dir, '.ferry', 'run', 'quickstart.pid')),
      30_000,
      'a first checkpoint',
    );
    // While it runs, offsets cannot be changed.
    const refused = await runCli(['offsets', 'reset', q.pipeline]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('PIPELINE_RUNNING');
    child.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('stopped by signal, checkpoint saved');
    expect(existsSync(join(q.dir, '.ferry', 'run', 'quickstart.pid'))).toBe(false);
    const saved = JSON.parse(await readFile(checkpoint, 'utf8')) as {
      position: { tables: { OFFENDERS: { id: number } } };
    };
    const events = await lines<LoggedEvent>(eventsPath(q.dir));
    // Every event up to the saved position is in the log.
    const lastId = saved.position.tables.OFFENDERS.id;
    expect(events.length + (await lines(dlqPath(q.dir))).length).toBeGreaterThanOrEqual(lastId);
  });

  it('shows, resets and sets offsets while stopped', async () => {
    const q = await quickstartCopy();
    seedLegacyDatabase(q.db, { rows: 30 });
    expect((await runCli(['offsets', 'show', q.pipeline])).stdout).toContain('"position": null');
    await runCli(['run', q.pipeline, '--once']);
    const shown = JSON.parse((await runCli(['offsets', 'show', q.pipeline])).stdout) as { position: unknown };
    expect(shown.position).toMatchObject({ tables: { OFFENDERS: { id: 30 } } });

    const reset = await runCli(['offsets', 'reset', q.pipeline]);
    expect(reset.code).toBe(0);
    const replay = await runCli(['run', q.pipeline, '--once']);
    expect(replay.stdout).toContain('read 30 records');
    const events = await lines<LoggedEvent>(eventsPath(q.dir));
    // A replay repeats the same ids: consumers de-duplicate by id.
    expect(new Set(events.map((e) => e.id)).size).toBe(30);
    expect(events).toHaveLength(60);

    const position = JSON.stringify(shown.position).replace('"id":30', '"id":28');
    const set = await runCli(['offsets', 'set', q.pipeline, '--position', position]);
    expect(set.code).toBe(0);
    const partial = await runCli(['run', q.pipeline, '--once']);
    expect(partial.stdout).toContain('read 2 records');

    const bad = await runCli(['offsets', 'set', q.pipeline, '--position', '{not json']);
    expect(bad.code).toBe(2);

    // Valid JSON, but not a position the database source writes: refused with the path, nothing changed.
    const wrong = await runCli([
      'offsets',
      'set',
      q.pipeline,
      '--position',
      '{"tables":{"OFFENDERS":{"ts":"2024-01-01","id":{"n":28}}}}',
    ]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('CHECKPOINT_INVALID');
    expect(wrong.stderr).toContain('tables.OFFENDERS.id');
    const kept = JSON.parse((await runCli(['offsets', 'show', q.pipeline])).stdout) as { position: unknown };
    expect(kept.position).toMatchObject({ tables: { OFFENDERS: { id: 30 } } });
  });

  it('validate explains the configuration; a broken file fails at start with file, line and path (exit 2)', async () => {
    const q = await quickstartCopy();
    const ok = await runCli(['validate', q.pipeline]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("valid pipeline 'quickstart'");
    expect(ok.stdout).toMatch(/note: source \(database\): .*delete/);

    const { writeFile } = await import('node:fs/promises');
    const text = (await readFile(q.pipeline, 'utf8'))
      .replace('key: [OFFENDER_ID]', 'key: OFFENDER_ID')
      .replace('batchSize: 500', 'batchSize: lots');
    await writeFile(q.pipeline, text);
    const bad = await runCli(['run', q.pipeline, '--once']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('CONFIG_INVALID');
    expect(bad.stderr).toMatch(
      new RegExp(
        `${q.pipeline.replace(/[/.]/g, '\\$&')}:\\d+:\\d+ source\\.tables\\[0\\]\\.key: expected array`,
      ),
    );
    expect(bad.stderr).toMatch(/source\.batchSize: expected number/);

    const usage = await runCli(['run']);
    expect(usage.code).toBe(2);
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['run', 'validate', 'offsets']) expect(help.stdout).toContain(command);
  });
});
