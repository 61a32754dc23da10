// The court-list migration end to end against the real sshd, through the example's one command
// (`node run.mjs`): 100% parity between the legacy reporting table and the Hearing events for the CSV and
// the fixed-width file, and a broken mapping that reconcile catches row by row (exit 1).
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runScript } from '../../quickstart/test/cli.js';
import { courtList } from '../court-list.mjs';

const example = join(import.meta.dirname, '..');
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function runExample(args: string[]) {
  const workDir = await mkdtemp(join(tmpdir(), 'ferry-court-lists-'));
  dirs.push(workDir);
  const { code, stdout, stderr } = await runScript(join(example, 'run.mjs'), [
    '--work-dir',
    workDir,
    ...args,
  ]);
  const reportPath = join(workDir, 'parity-report.json');
  const report = existsSync(reportPath) ? JSON.parse(await readFile(reportPath, 'utf8')) : undefined;
  const events = (await readFile(join(workDir, '.ferry', 'events', 'justice.hearing.v1.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  return { code, stdout, stderr, report, events };
}

const DATE = '2026-03-04';

describe('examples/court-lists-sftp', () => {
  it.each(['csv', 'fixed-width'])(
    'reaches full parity with the legacy reporting table (%s)',
    async (format) => {
      const result = await runExample(['--format', format, '--date', DATE, '--hearings', '120']);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('legacy batch job loaded 120 rows into RPT_HEARINGS');
      expect(result.stdout).toContain('parity 100.00% (120 of 120 keys match');
      expect(result.report).toMatchObject({
        ok: true,
        parity: 1,
        counts: { keys: 120, matching: 120, missing: 0, extra: 0, differing: 0 },
      });
      // Every hearing of the file became one canonical event, keyed by the hearing reference.
      const expected = courtList(DATE, 120);
      expect(result.events.map((e) => e.subject)).toEqual(expected.map((h) => h.ref));
      expect(result.events[0]).toMatchObject({
        type: 'justice.hearing.snapshotted',
        dataschema: 'urn:ferry:contract:justice.hearing:1.0.0',
        data: {
          hearingId: expected[0]!.ref,
          courtCode: expected[0]!.court,
          sittingDate: DATE,
          listNumber: 1,
          defendant: { name: { family: expected[0]!.surname }, dateOfBirth: expected[0]!.dob },
        },
      });
    },
  );

  it('names every row a broken mapping gets wrong, and exits 1', async () => {
    const result = await runExample(['--date', DATE, '--hearings', '120', '--broken', '--samples', '1000']);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('BELOW THRESHOLD');
    const swapped = courtList(DATE, 120).filter((h) => h.type === 'SE' || h.type === 'ME');
    expect(swapped.length).toBeGreaterThan(0);
    expect(result.report.counts).toEqual({
      keys: 120,
      matching: 120 - swapped.length,
      missing: 0,
      extra: 0,
      differing: swapped.length,
    });
    expect(result.report.fields.hearingType).toEqual({ column: 'HEARING_TYPE', differing: swapped.length });
    expect(result.report.differences.map((d: { key: string }) => d.key).sort()).toEqual(
      swapped.map((h) => h.ref).sort(),
    );
    const first = swapped[0]!;
    expect(result.stdout).toContain(
      `differs ${first.ref}: hearingType: reference "${first.type === 'SE' ? 'sentence' : 'mention'}" != stream "${first.type === 'SE' ? 'mention' : 'sentence'}"`,
    );
  });
});
