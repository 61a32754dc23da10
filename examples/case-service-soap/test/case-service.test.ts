// The case-service SOAP example end to end through its one command (`node run.mjs`): a real node-soap
// server from the example's WSDL, polled twice with a watermark (the second poll fetches only the cases
// changed since), and reconcile at 100% parity between the CMS database and the Case events.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runScript } from '../../quickstart/test/cli.js';

const example = join(import.meta.dirname, '..');
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const runExample = (args: string[]) => runScript(join(example, 'run.mjs'), args);

describe('examples/case-service-soap', () => {
  it('polls the legacy SOAP service by watermark into Case events at 100% parity', async () => {
    const workDir = await mkdtemp(join(tmpdir(), 'ferry-case-service-'));
    dirs.push(workDir);
    const result = await runExample(['--cases', '200', '--work-dir', workDir]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    // The second poll reads only what changed since the saved watermark: 29 updated + 4 opened.
    expect(result.stdout).toContain('read 200 records, wrote 200 events');
    expect(result.stdout).toContain('29 cases adjourned or closed, 4 opened');
    expect(result.stdout).toContain('read 33 records, wrote 33 events');
    expect(result.stdout).toContain('parity 100.00% (204 of 204 keys match');

    const events = (await readFile(join(workDir, '.ferry', 'events', 'justice.case.v1.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(events).toHaveLength(233);
    const last = new Map(events.map((e) => [e.subject, e]));
    expect(last.get('CASE-000003')).toMatchObject({
      type: 'justice.case.updated',
      dataschema: 'urn:ferry:contract:justice.case:1.0.0',
      data: { caseId: 'CASE-000003', status: 'adjourned', lastModified: '2024-07-01T10:00:03.000Z' },
    });
    expect(last.get('CASE-000010')!.data.status).toBe('closed');
    expect(last.get('CASE-000001')!.data).toEqual({
      caseId: 'CASE-000001',
      caseNumber: 'T20247001',
      status: 'open',
      defendant: { name: { family: 'JONES', given: 'SARAH' } },
      openedOn: '2024-02-02',
      lastModified: '2024-06-01T09:00:01.000Z',
    });
    // A defendant without a forename in the CMS has none in the event either.
    expect(last.get('CASE-000007')!.data.defendant.name).toEqual({ family: 'DAVIES' });

    const report = JSON.parse(await readFile(join(workDir, 'parity-report.json'), 'utf8'));
    expect(report.counts).toEqual({ keys: 204, matching: 204, missing: 0, extra: 0, differing: 0 });
  });
});
