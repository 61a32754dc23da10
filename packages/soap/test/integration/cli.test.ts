// The SOAP source through the built `ferry` CLI, as a scheduler would run it: a run SIGKILLed mid page
// sequence resumes from its checkpoint without losing a record, two snapshot runs diff against each other
// (the runtime promotes the first pass as the baseline), and a flaky service (every third call a 503) is
// retried by the runtime without loss. Needs `npx tsc -b packages/cli` first.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startCli, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { startPrivateSpyne } from '../../../../test/services/private.js';
import { caseWatermarkYaml, pipelineYaml, spyneControl } from '../helpers.js';
import { type CaseServer, makeCases, startCaseServer, wsdlPath } from '../servers/node-soap-server.js';

let server: CaseServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function workspace(yaml: string): Promise<{ dir: string; pipeline: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-soap-cli-'));
  const pipeline = join(dir, 'pipeline.yaml');
  await writeFile(pipeline, yaml);
  return { dir, pipeline };
}

async function eventKeys(dir: string): Promise<string[]> {
  const text = await readFile(join(dir, '.ferry', 'events', 'justice.case.v1.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => (JSON.parse(line) as { data: { caseId: string } }).data.caseId);
}

async function checkpoint(dir: string): Promise<{ position?: { cursor?: unknown } } | undefined> {
  const text = await readFile(join(dir, '.ferry', 'checkpoints', 'soap-cases.checkpoint.json'), 'utf8').catch(
    () => undefined,
  );
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as { position?: { cursor?: unknown } };
  } catch {
    return undefined;
  }
}

describe('ferry run with a SOAP source', () => {
  it('resumes after SIGKILL mid page sequence without losing a record', async () => {
    server = await startCaseServer({ pageSize: 4, delayMs: 150 });
    server.cases.push(...makeCases(40));
    const { dir, pipeline } = await workspace(
      pipelineYaml(caseWatermarkYaml(server.endpoint11, '\n  batchSize: 2')),
    );
    const first = startCli(['run', pipeline, '--once']);
    await waitFor(
      async () => (await checkpoint(dir))?.position?.cursor !== undefined,
      30_000,
      'a mid-sequence checkpoint',
    );
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    const before = await eventKeys(dir);
    expect(before.length).toBeLessThan(40);

    const second = await runCli(['run', pipeline, '--once']);
    expect(second.code, second.stderr).toBe(0);
    const after = await eventKeys(dir);
    const expected = server.cases.map((c) => c.CaseId);
    expect(new Set(after)).toEqual(new Set(expected));
    // Events written after the last checkpoint of the killed run may be written again (same ids); none is lost.
    const position = (await checkpoint(dir))?.position as { watermark: string; cursor?: unknown };
    expect(position).toEqual({ watermark: server.cases[39]?.ModifiedAt });
  });

  it('emits creates, updates and deletes between two snapshot runs', async () => {
    server = await startCaseServer({ pageSize: 3 });
    server.cases.push(...makeCases(5));
    const { dir, pipeline } = await workspace(
      pipelineYaml(`  type: soap
  mode: snapshot
  wsdl: ${wsdlPath}
  port: CasePort11
  endpoint: ${server.endpoint11}
  operation: ListCases
  arguments: { page: '{{page}}' }
  records: ListCasesResult.Case[]
  key: [CaseId]
  pagination: { type: page-number, pageSize: 3 }`),
    );
    const first = await runCli(['run', pipeline, '--once']);
    expect(first.code, first.stderr).toBe(0);
    server.cases.splice(2, 1);
    server.cases[0]!.Title = 'renamed';
    server.cases.push(...makeCases(1, Date.parse('2025-01-01T00:00:00Z'), 'N'));
    const second = await runCli(['run', pipeline, '--once']);
    expect(second.code, second.stderr).toBe(0);
    const text = await readFile(join(dir, '.ferry', 'events', 'justice.case.v1.jsonl'), 'utf8');
    const events = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; ferryop: string; subject: string });
    expect(events.slice(0, 5).map((e) => e.ferryop)).toEqual(['read', 'read', 'read', 'read', 'read']);
    expect(
      events
        .slice(5)
        .map((e) => `${e.ferryop}:${e.subject}`)
        .sort(),
    ).toEqual(['create:N00001', 'delete:C00003', 'update:C00001']);
  });

  it('loses nothing when every third call to spyne is a 503', async () => {
    // Flaky mode is global to the spyne process: a private spyne, so no other test run meets the 503s.
    const spyne = await startPrivateSpyne();
    try {
      const cases = makeCases(20, Date.parse('2024-05-01T00:00:00Z'), `F${Date.now()}-`);
      await spyneControl(spyne.endpoint, {
        cases,
        fault: null,
        flaky_every: 3,
        page_size: 3,
        reset_calls: true,
      });
      const { dir, pipeline } = await workspace(
        pipelineYaml(`  type: soap
  mode: watermark
  wsdl: ${spyne.endpoint.soap11}?wsdl
  operation: GetChangedCases
  arguments: { since: '{{since}}', page: '{{page}}' }
  records: GetChangedCasesResult.Case[]
  key: [CaseId]
  watermark: { field: ModifiedAt, type: timestamp, initial: '1970-01-01T00:00:00Z' }
  pagination: { type: page-number, first: 1, pageSize: 3 }
  batchSize: 2`),
      );
      const result = await runCli(['run', pipeline, '--once']);
      expect(result.code, result.stderr).toBe(0);
      const keys = await eventKeys(dir);
      expect(new Set(keys)).toEqual(new Set(cases.map((c) => c.CaseId)));
      const { calls } = await spyneControl(spyne.endpoint, {});
      // 7 pages plus the 503s in between: the runtime retried, the connector did not loop on its own.
      expect(calls).toBeGreaterThanOrEqual(10);
    } finally {
      await spyne.close();
    }
  });
});
