// The watermark source against a real node-soap server: one pass per read, pages followed to the end, the
// checkpoint moved only after the last page, a crash at any batch resumed without a skipped record, records
// without a key rejected, sequences in change order.
import { silentLogger } from '@ferry/core/sdk';
import { FakeClock } from '@ferry/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createSoapSource, type SoapWatermarkPosition, sortableWatermark } from '../../src/index.js';
import { caseWatermarkConfig as config, readBatches } from '../helpers.js';
import { type CaseServer, makeCases, startCaseServer } from '../servers/node-soap-server.js';

let server: CaseServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('watermark source against node-soap', () => {
  it('follows every page, then moves the watermark to the highest value emitted', async () => {
    server = await startCaseServer({ pageSize: 3 });
    server.cases.push(...makeCases(8));
    const source = createSoapSource(config(server.endpoint11), { logger: silentLogger() });
    try {
      const batches = await readBatches(source, undefined);
      const records = batches.flatMap((b) => b.records);
      expect(records.map((r) => r.key.CaseId)).toEqual(server.cases.map((c) => c.CaseId));
      expect(records[0]).toMatchObject({
        stream: 'CaseService.GetChangedCases',
        op: 'update',
        origin: { operation: 'GetChangedCases', since: '', page: '', index: 0 },
      });
      expect(records[3]?.origin).toEqual({ operation: 'GetChangedCases', since: '', page: '3', index: 0 });
      expect(records[0]?.occurredAt?.toISOString()).toBe(server.cases[0]?.ModifiedAt);
      // The sequence is the record's watermark, then its page and index: plain string order is change order.
      expect(records[3]?.sequence).toBe(
        `${sortableWatermark(server.cases[3]!.ModifiedAt, 'timestamp')}.3.${'0'.repeat(20)}`,
      );
      const sequences = records.map((r) => r.sequence!);
      expect([...sequences].sort()).toEqual(sequences);
      // Only the last batch leaves the sequence; every earlier one keeps the old watermark and a cursor.
      const positions = batches.map((b) => b.position);
      expect(positions.slice(0, -1).every((p) => p.watermark === '' && p.cursor !== undefined)).toBe(true);
      expect(positions.at(-1)).toEqual({ watermark: server.cases[7]?.ModifiedAt });
      expect(server.served).toBe(3);

      // Nothing new: one call, one empty batch with the same watermark.
      const again = await readBatches(source, positions.at(-1));
      expect(again.flatMap((b) => b.records)).toEqual([]);
      server.cases.push(...makeCases(2, Date.parse('2024-02-01T00:00:00Z'), 'N'));
      const later = await readBatches(source, positions.at(-1));
      expect(later.flatMap((b) => b.records.map((r) => r.key.CaseId))).toEqual(['N00001', 'N00002']);
    } finally {
      await source.close();
    }
  });

  it('times a batch by its newest watermark instant; no start time is kept when every record has one', async () => {
    server = await startCaseServer({ pageSize: 3 });
    server.cases.push(...makeCases(5));
    const source = createSoapSource(config(server.endpoint11), { logger: silentLogger() });
    try {
      const batches = await readBatches(source, undefined);
      for (const batch of batches.filter((b) => b.records.length > 0)) {
        const newest = batch.records
          .map((r) => r.occurredAt!.toISOString())
          .sort()
          .at(-1);
        expect(batch.sourceTime?.toISOString()).toBe(newest);
      }
      expect(batches.some((b) => b.boundary || b.position.startedAt !== undefined)).toBe(false);
    } finally {
      await source.close();
    }
  });

  it('times records without an instant by the start of their sequence, the same when read again', async () => {
    server = await startCaseServer({ pageSize: 3 });
    server.cases.push(...makeCases(7));
    const clock = new FakeClock(Date.parse('2026-03-01T10:00:00Z'));
    const started = '2026-03-01T10:00:00.000Z';
    const source = createSoapSource(
      config(server.endpoint11, { watermark: { field: 'ModifiedAt', type: 'string' } }),
      { logger: silentLogger(), clock },
    );
    try {
      const all = await readBatches(source, undefined);
      // The start is committed alone (a boundary ends the commit group) before the first record needing it.
      expect(all[0]).toMatchObject({
        records: [],
        boundary: true,
        position: { watermark: '', startedAt: started },
      });
      const timed = all.slice(1);
      expect(timed.map((b) => b.sourceTime?.toISOString())).toEqual(timed.map(() => started));
      expect(timed.flatMap((b) => b.records).length).toBe(7);
      // The sequence is over: the next one starts afresh.
      expect(all.at(-1)?.position).toEqual({ watermark: server.cases[6]?.ModifiedAt });
      // Read again from any checkpoint of the sequence, an hour later: the same time, no new start.
      await clock.advance(3_600_000);
      for (const batch of all.slice(0, -1)) {
        const again = await readBatches(source, JSON.parse(JSON.stringify(batch.position)));
        expect(again.some((b) => b.boundary)).toBe(false);
        expect(again.map((b) => b.sourceTime?.toISOString())).toEqual(again.map(() => started));
      }
      server.cases.push(...makeCases(2, Date.parse('2024-02-01T00:00:00Z'), 'N'));
      const next = await readBatches(source, all.at(-1)?.position);
      expect(next[0]?.position.startedAt).toBe('2026-03-01T11:00:00.000Z');
    } finally {
      await source.close();
    }
  });

  it('resumes from a checkpoint taken after any batch without skipping a record', async () => {
    server = await startCaseServer({ pageSize: 3 });
    server.cases.push(...makeCases(10));
    const expected = server.cases.map((c) => c.CaseId);
    const source = createSoapSource(config(server.endpoint11), { logger: silentLogger() });
    try {
      const all = await readBatches(source, undefined);
      for (let crashAfter = 1; crashAfter < all.length; crashAfter += 1) {
        const first = await readBatches(source, undefined, crashAfter);
        const position = first.at(-1)?.position as SoapWatermarkPosition;
        const rest = await readBatches(source, position);
        const seen = [...first, ...rest].flatMap((b) => b.records.map((r) => String(r.key.CaseId)));
        expect(seen).toEqual(expected);
        // Replayed records would carry the same origin, hence the same event id; here none is replayed.
        expect(new Set(seen).size).toBe(seen.length);
      }
    } finally {
      await source.close();
    }
  });

  it('streams one large page in batches of batchSize, each with a resumable position', async () => {
    server = await startCaseServer({ pageSize: 1000 });
    server.cases.push(...makeCases(25));
    const source = createSoapSource(config(server.endpoint11, { batchSize: 10 }), { logger: silentLogger() });
    try {
      const first = await readBatches(source, undefined, 1);
      expect(first[0]?.records.length).toBe(10);
      const cursor = first[0]?.position.cursor;
      expect(cursor).toMatchObject({ since: '', page: '', skip: first[0]?.records.length });
      const rest = await readBatches(source, first[0]?.position);
      expect([...first, ...rest].flatMap((b) => b.records).length).toBe(25);
    } finally {
      await source.close();
    }
  });

  it('sends records without a key or watermark to the dead-letter path, not the event stream', async () => {
    server = await startCaseServer({ pageSize: 10 });
    server.cases.push(...makeCases(3));
    (server.cases[1] as { CaseId: string }).CaseId = '';
    const source = createSoapSource(config(server.endpoint11), { logger: silentLogger() });
    try {
      const batches = await readBatches(source, undefined);
      expect(batches.flatMap((b) => b.records).map((r) => r.key.CaseId)).toEqual(['C00001', 'C00003']);
      const rejected = batches.flatMap((b) => b.rejected ?? []);
      expect(rejected).toHaveLength(1);
      expect(rejected[0]).toMatchObject({ code: 'SOAP_RECORD_INVALID', origin: { index: 1 } });
    } finally {
      await source.close();
    }
  });

  it('reads one pass and ends, also when not asked to run once (the runtime schedules the next)', async () => {
    server = await startCaseServer({ pageSize: 3 });
    server.cases.push(...makeCases(5));
    const source = createSoapSource(config(server.endpoint11), { logger: silentLogger() });
    try {
      const batches: unknown[] = [];
      const context = {
        from: undefined,
        signal: new AbortController().signal,
        once: false,
        log: silentLogger(),
      };
      for await (const batch of source.read({ ...context, caughtUp: () => {} })) batches.push(batch);
      expect(batches.length).toBeGreaterThan(0);
      expect(server.served).toBe(2);
    } finally {
      await source.close();
    }
  });

  it('refuses a snapshot-mode checkpoint (the mode was changed) before calling the service', async () => {
    server = await startCaseServer();
    const source = createSoapSource(config(server.endpoint11), { logger: silentLogger() });
    try {
      const snapshot = { generation: 'pass@2024-01-01T00:00:00.000Z', state: 'done' } as never;
      await expect(readBatches(source, snapshot)).rejects.toMatchObject({ code: 'CHECKPOINT_INVALID' });
      expect(server.calls).toBe(0);
    } finally {
      await source.close();
    }
  });
});
