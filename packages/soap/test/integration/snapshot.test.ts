// Snapshot mode against real SOAP servers: each pass lists every page, core's diff engine turns it into
// creates, updates and deletes against the previous committed pass; a crash mid-pass loses nothing.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Batch, type Source, silentLogger } from '@ferry/core/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import { createSoapSource, type SoapPosition, type SoapSourceConfigInput } from '../../src/index.js';
import { readBatches, spyneControl } from '../helpers.js';
import { type CaseServer, makeCases, startCaseServer, wsdlPath } from '../servers/node-soap-server.js';

let server: CaseServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Read a pass and acknowledge its last position, as the runtime does after committing it. */
async function pass(source: Source<SoapPosition>, from: SoapPosition | undefined, limit?: number) {
  const batches: Batch<SoapPosition>[] = await readBatches(source, from, limit);
  const last = batches.at(-1)?.position;
  if (last !== undefined) await source.acknowledge?.(last);
  return { batches, last, ops: batches.flatMap((b) => b.records.map((r) => `${r.op}:${r.key.CaseId}`)) };
}

async function snapshotConfig(overrides: Partial<SoapSourceConfigInput>): Promise<SoapSourceConfigInput> {
  return {
    mode: 'snapshot',
    wsdl: wsdlPath,
    port: 'CasePort11',
    operation: 'ListCases',
    arguments: { page: '{{page}}' },
    records: 'ListCasesResult.Case[]',
    key: ['CaseId'],
    pagination: { type: 'page-number', first: 1, pageSize: 3 },
    batchSize: 2,
    stateDir: await mkdtemp(join(tmpdir(), 'ferry-soap-snap-')),
    ...overrides,
  } as SoapSourceConfigInput;
}

describe('snapshot mode', () => {
  it('emits reads, then creates, updates and deletes between passes (node-soap)', async () => {
    server = await startCaseServer({ pageSize: 3 });
    server.cases.push(...makeCases(7));
    const source = createSoapSource(await snapshotConfig({ endpoint: server.endpoint11 }), {
      logger: silentLogger(),
      pipeline: 'snap-test',
    });
    try {
      const first = await pass(source, undefined);
      expect(first.ops).toEqual(server.cases.map((c) => `read:${c.CaseId}`));
      expect(first.last).toMatchObject({ state: 'done' });

      server.cases.splice(1, 1); // C00002 deleted
      server.cases[0]!.Status = 'REOPENED'; // C00001 updated
      server.cases.push(...makeCases(1, Date.parse('2025-01-01T00:00:00Z'), 'N')); // N00001 created
      const second = await pass(source, first.last);
      expect(second.ops.sort()).toEqual(['create:N00001', 'delete:C00002', 'update:C00001']);
      const update = second.batches.flatMap((b) => b.records).find((r) => r.op === 'update');
      expect(update?.before?.Status).toBe('OPEN');
      expect(update?.after?.Status).toBe('REOPENED');

      const third = await pass(source, second.last);
      expect(third.ops).toEqual([]);
    } finally {
      await source.close();
    }
  });

  it('resumes a pass cut short at any batch without losing a change (spyne)', async () => {
    const cases = makeCases(8, Date.parse('2024-06-01T00:00:00Z'), `P${Date.now()}-`);
    await spyneControl({ cases, fault: null, flaky_every: 0, page_size: 3 });
    const config = await snapshotConfig({
      wsdl: `${services.spyne.soap11}?wsdl`,
      port: undefined,
      endpoint: undefined,
    });
    const baseline = createSoapSource(config, { logger: silentLogger(), pipeline: 'snap-spyne' });
    try {
      const first = await pass(baseline, undefined);
      expect(first.ops).toHaveLength(8);
      const changed = cases
        .filter((_, i) => i !== 4)
        .map((c, i) => (i === 0 ? { ...c, Title: 'changed' } : c));
      const added = makeCases(2, Date.parse('2024-07-01T00:00:00Z'), `Q${Date.now()}-`);
      await spyneControl({ cases: [...changed, ...added] });
      const full = await pass(baseline, first.last, undefined);
      expect(full.ops).toHaveLength(4);
      // Replay the same second pass from a fresh baseline each time, cut after k batches, then resumed.
      for (let cut = 1; cut < full.batches.length; cut += 1) {
        const dir = await mkdtemp(join(tmpdir(), 'ferry-soap-snapcut-'));
        await spyneControl({ cases });
        const source = createSoapSource(
          { ...config, stateDir: dir },
          { logger: silentLogger(), pipeline: 'snap-cut' },
        );
        try {
          const base = await pass(source, undefined);
          await spyneControl({ cases: [...changed, ...added] });
          const part = await readBatches(source, base.last, cut);
          const rest = await pass(source, part.at(-1)?.position);
          const ops = [...part.flatMap((b) => b.records.map((r) => `${r.op}:${r.key.CaseId}`)), ...rest.ops];
          expect(ops.sort()).toEqual([...full.ops].sort());
        } finally {
          await source.close();
        }
      }
    } finally {
      await baseline.close();
    }
  });
});
