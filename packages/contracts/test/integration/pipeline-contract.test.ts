// The contract check in a real pipeline run: the built CLI, the quickstart's SQLite legacy table, the
// example justice model. Events that do not match justice.offender 1.0.0 never reach the event log.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { seedLegacyDatabase } from '../../../../examples/quickstart/seed.mjs';
import { quickstartCopy, runCli } from '../../../../examples/quickstart/test/cli.js';

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
    db.prepare(
      "UPDATE OFFENDERS SET OFFENDER_ID_DISPLAY = 'BAD-' || OFFENDER_ID WHERE OFFENDER_ID IN (10, 20, 30)",
    ).run();
    db.close();

    const result = await runCli(['run', q.pipeline, '--once']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('read 200 records, wrote 197 events, 3 dead letters');

    const events = await lines<{ subject: string; dataschema: string }>(
      join(q.dir, '.ferry/events/justice.offender.v1.jsonl'),
    );
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
    await writeFile(
      q.pipeline,
      (await readFile(q.pipeline, 'utf8')).replace('version: 1.0.0', 'version: 9.0.0'),
    );
    const result = await runCli(['run', q.pipeline, '--once']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('CONTRACT_NOT_FOUND');
    expect(result.stderr).toContain('justice.offender 9.0.0');
  });

  it("ferry contracts asyncapi describes a pipeline's topic; the parser accepts it", async () => {
    const q = await quickstartCopy();
    const result = await runCli(['contracts', 'asyncapi', q.pipeline, '--title', 'Prison roll']);
    expect(result.code).toBe(0);
    const doc = JSON.parse(result.stdout) as {
      channels: Record<string, { address: string; description: string }>;
    };
    expect(doc.channels['justice.offender.v1']).toMatchObject({ address: 'justice.offender.v1' });
    expect(doc.channels['justice.offender.v1']!.description).toContain('quickstart');
    const { Parser } = await import('@asyncapi/parser');
    const diagnostics = await new Parser().validate(doc as never);
    expect(diagnostics.filter((d) => d.severity === 0)).toEqual([]);
  });

  it('ferry contracts check exits 1 on a breaking change that is not a new major version', async () => {
    const { cp, mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const root = join(import.meta.dirname, '..', '..', '..', '..', 'examples', 'justice-model');
    const dir = await mkdtemp(join(tmpdir(), 'ferry-check-'));
    await cp(join(root, 'contracts'), dir, { recursive: true });
    await cp(
      join(root, 'fixtures', 'rejected', 'justice.offender-1.2.0.json'),
      join(dir, 'justice', 'offender', '1.2.0.json'),
    );
    const result = await runCli(['contracts', 'check', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      'justice.offender 1.1.0 -> 1.2.0 [BACKWARD]: BREAKING; needs a major bump, is a minor bump',
    );
    expect(result.stdout).toContain(
      "breaking   $.riskLevel required-property-added: new required property 'riskLevel'",
    );
  });
});
