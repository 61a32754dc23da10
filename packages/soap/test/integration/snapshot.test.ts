// Snapshot mode against real SOAP servers: each read is one pass listing every page; core's diff engine turns
// it into creates, updates and deletes against the last committed pass, which the pass's last batch hands to
// the runtime as the next baseline. A pass cut short at any batch resumes without losing a change.
import { silentLogger } from '@ferry/core/sdk';
import { FakeClock } from '@ferry/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { startPrivateSpyne } from '../../../../test/services/private.js';
import { createSoapSource, type SoapPosition } from '../../src/index.js';
import { caseSnapshotConfig, opsOf, readBatches, spyneControl } from '../helpers.js';
import { type CaseServer, makeCases, startCaseServer } from '../servers/node-soap-server.js';

let server: CaseServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('snapshot mode', () => {
  it('emits reads, then creates, updates and deletes between committed passes (node-soap)', async () => {
    server = await startCaseServer({ pageSize: 3 });
    server.cases.push(...makeCases(7));
    const source = createSoapSource(await caseSnapshotConfig(server.endpoint11), {
      logger: silentLogger(),
      pipeline: 'snap-test',
    });
    try {
      const first = await readBatches(source, undefined);
      expect(opsOf(first)).toEqual(server.cases.map((c) => `read:${c.CaseId}`));
      // Only the batch that ends the pass carries the baseline; its position says the pass is done.
      expect(first.filter((b) => b.baseline !== undefined)).toEqual([first.at(-1)]);
      expect(first.at(-1)?.position).toMatchObject({ state: 'done' });
      expect(first.slice(0, -1).every((b) => b.position.state === 'listing')).toBe(true);

      server.cases.splice(1, 1); // C00002 deleted
      server.cases[0]!.Status = 'REOPENED'; // C00001 updated
      server.cases.push(...makeCases(1, Date.parse('2025-01-01T00:00:00Z'), 'N')); // N00001 created
      const second = await readBatches(source, first.at(-1)?.position);
      expect(opsOf(second).sort()).toEqual(['create:N00001', 'delete:C00002', 'update:C00001']);
      const records = second.flatMap((b) => b.records);
      const update = records.find((r) => r.op === 'update');
      expect(update?.before?.Status).toBe('OPEN');
      expect(update?.after?.Status).toBe('REOPENED');
      // Sequences: the pass (it sorts after the first), deletes after the pass's creates and updates.
      const sequence = (op: string) => records.find((r) => r.op === op)!.sequence!;
      expect(sequence('delete') > sequence('update')).toBe(true);
      expect(sequence('delete') > sequence('create')).toBe(true);
      expect(first.flatMap((b) => b.records).every((r) => r.sequence! < sequence('update'))).toBe(true);
      expect(second.at(-1)?.baseline).toBeDefined();

      const third = await readBatches(source, second.at(-1)?.position);
      expect(opsOf(third)).toEqual([]);
    } finally {
      await source.close();
    }
  });

  it('diffs against the last committed pass: a pass never committed is no baseline', async () => {
    server = await startCaseServer({ pageSize: 3 });
    server.cases.push(...makeCases(4));
    const source = createSoapSource(await caseSnapshotConfig(server.endpoint11), { logger: silentLogger() });
    try {
      const first = await readBatches(source, undefined);
      server.cases.splice(0, 1);
      // Read to the end, but the batch that ends the pass is never committed (a crash before the commit).
      const lost = await readBatches(source, first.at(-1)?.position, Number.POSITIVE_INFINITY, {
        commit: false,
      });
      expect(opsOf(lost)).toEqual(['delete:C00001']);
      server.cases.push(...makeCases(1, Date.parse('2025-01-01T00:00:00Z'), 'N'));
      // The next pass from the last checkpoint compares with the first pass: the delete is not lost.
      const again = await readBatches(source, first.at(-1)?.position);
      expect(opsOf(again).sort()).toEqual(['create:N00001', 'delete:C00001']);
    } finally {
      await source.close();
    }
  });

  it('times every batch of a pass by the start of the pass, also when it is read again later', async () => {
    server = await startCaseServer({ pageSize: 3 });
    server.cases.push(...makeCases(5));
    const clock = new FakeClock(Date.parse('2026-03-01T10:00:00Z'));
    const source = createSoapSource(await caseSnapshotConfig(server.endpoint11), { clock });
    try {
      const first = await readBatches(source, undefined);
      const times = (batches: { sourceTime?: Date }[]) => batches.map((b) => b.sourceTime?.toISOString());
      expect(times(first)).toEqual(first.map(() => '2026-03-01T10:00:00.000Z'));
      // A second pass with a deletion, cut after its first batch; resumed an hour later, as after a crash.
      await clock.advance(60_000);
      server.cases.splice(1, 1);
      const part = await readBatches(source, first.at(-1)?.position, 1, { commit: false });
      await clock.advance(3_600_000);
      const rest = await readBatches(source, JSON.parse(JSON.stringify(part[0]!.position)));
      expect(opsOf(rest)).toContain('delete:C00002');
      expect(times([...part, ...rest])).toEqual([...part, ...rest].map(() => '2026-03-01T10:01:00.000Z'));
    } finally {
      await source.close();
    }
  });

  it('names passes by the injected clock, in order, and keeps the name of a resumed pass', async () => {
    server = await startCaseServer({ pageSize: 3 });
    server.cases.push(...makeCases(5));
    const clock = new FakeClock(Date.parse('2026-03-01T10:00:00Z'));
    const source = createSoapSource(await caseSnapshotConfig(server.endpoint11), { clock });
    try {
      const first = await readBatches(source, undefined);
      const generation = (p: SoapPosition | undefined) => (p as { generation: string }).generation;
      expect(generation(first[0]?.position)).toBe('pass@2026-03-01T10:00:00.000Z');
      await clock.advance(60_000);
      const part = await readBatches(source, first.at(-1)?.position, 1, { commit: false });
      expect(generation(part[0]?.position)).toBe('pass@2026-03-01T10:01:00.000Z');
      const rest = await readBatches(source, part[0]?.position);
      expect(rest.map((b) => generation(b.position))).toEqual(
        rest.map(() => 'pass@2026-03-01T10:01:00.000Z'),
      );
      // The clock did not move since: the next pass still gets a name that sorts after the last.
      const same = await readBatches(source, rest.at(-1)?.position);
      expect(generation(same[0]?.position) > 'pass@2026-03-01T10:01:00.000Z').toBe(true);
    } finally {
      await source.close();
    }
  });

  it('resumes a pass cut short at any batch without losing a change (spyne)', async () => {
    // The test swaps the service's cases (global to its process): a private spyne, not the shared one.
    const spyne = await startPrivateSpyne();
    const control = (body: Record<string, unknown>) => spyneControl(spyne.endpoint, body);
    const cases = makeCases(8, Date.parse('2024-06-01T00:00:00Z'), `P${Date.now()}-`);
    await control({ cases, fault: null, flaky_every: 0, page_size: 3 });
    const config = await caseSnapshotConfig(undefined, {
      wsdl: `${spyne.endpoint.soap11}?wsdl`,
      port: undefined,
    });
    const baseline = createSoapSource(config, { logger: silentLogger(), pipeline: 'snap-spyne' });
    try {
      const first = await readBatches(baseline, undefined);
      expect(opsOf(first)).toHaveLength(8);
      const changed = cases
        .filter((_, i) => i !== 4)
        .map((c, i) => (i === 0 ? { ...c, Title: 'changed' } : c));
      const added = makeCases(2, Date.parse('2024-07-01T00:00:00Z'), `Q${Date.now()}-`);
      await control({ cases: [...changed, ...added] });
      const full = await readBatches(baseline, first.at(-1)?.position);
      expect(opsOf(full)).toHaveLength(4);
      // Replay the same second pass from a fresh baseline each time, cut after k batches, then resumed.
      for (let cut = 1; cut < full.length; cut += 1) {
        await control({ cases });
        const source = createSoapSource(
          { ...config, stateDir: (await caseSnapshotConfig(undefined)).stateDir },
          { logger: silentLogger(), pipeline: 'snap-cut' },
        );
        try {
          const base = await readBatches(source, undefined);
          await control({ cases: [...changed, ...added] });
          const part = await readBatches(source, base.at(-1)?.position, cut);
          const rest = await readBatches(source, part.at(-1)?.position);
          expect([...opsOf(part), ...opsOf(rest)].sort()).toEqual([...opsOf(full)].sort());
        } finally {
          await source.close();
        }
      }
    } finally {
      await baseline.close();
      await spyne.close();
    }
  });
});
