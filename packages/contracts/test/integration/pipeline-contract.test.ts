// The contract check in a real pipeline run: the built CLI, the quickstart's SQLite legacy table, the
// example justice model. Events that do not match justice.offender 1.0.0 never reach the event log.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { quickstartCopy, runCli } from '../../../../examples/quickstart/test/cli.js';
import { seedLegacyDatabase } from '../../../../examples/quickstart/seed.mjs';

async function lines<T>(path: string): Promise<T[]> {
  if (!existsSync(path)) return [];
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

describe('pipeline contract validation', () => {
  it('sends events that break the contract to the dead-letter sink with the validation errors; the rest flow', async () => {
    const q = await quickstartCopy();
    seedLegacyDatabase(q.db, { rows: 200, badEvery: 1000 });
    const db = new Database(q.db);
    // A legacy screen let malformed prison numbers through: the mapping passes them, the contract must not.
    db.prepare("UPDATE OFFENDERS SET OFFENDER_ID_DISPLAY = 'BAD-' || OFFENDER_ID WHERE OFFENDER_ID IN (10, 20, 30)").run();
    db.close();

    const result = await runCli(['run', q.pipeline, '--once']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('read 200 records, wrote 197 events, 3 dead letters');

    const events = await lines<{ subject: string; dataschema: string }>(join(q.dir, '.ferry/events/justice.offender.v1.jsonl'));
    expect(events).toHaveLength(197);
    expect(events.some((e) => e.subject.startsWith('BAD-'))).toBe(false);

    const letters = await lines<{
      stage: string;
      code: string;
      message: string;
      origin: { id: number };
      retryable: boolean;
    }>(join(q.dir, '.ferry/dead-letters/quickstart.dlq.jsonl'));
    expect(letters.map((l) => l.origin.id)).toEqual([10, 20, 30]);
    expect(letters[0]).toMatchObject({ stage: 'contract', code: 'CONTRACT_VIOLATION', retryable: false });
    expect(letters[0]!.message).toContain('urn:ferry:contract:justice.offender:1.0.0');
    expect(letters[0]!.message).toContain('/offenderId: must match pattern');
  });

  it('fails at start, naming the file and path, when the contract is not in the repository', async () => {
    const q = await quickstartCopy();
    seedLegacyDatabase(q.db, { rows: 5 });
    const { writeFile } = await import('node:fs/promises');
    await writeFile(q.pipeline, (await readFile(q.pipeline, 'utf8')).replace('version: 1.0.0', 'version: 9.0.0'));
    const result = await runCli(['run', q.pipeline, '--once']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('CONTRACT_NOT_FOUND');
    expect(result.stderr).toContain('justice.offender 9.0.0');
  });
});
