// The pipeline's cron schedule drives the watermark source: a pass at start (catch-up), then one pass per
// tick, never overlapping, against a real node-soap server.
import { type Batch, silentLogger } from '@ferry/core/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { createSoapSource, type SoapSourceConfigInput } from '../../src/index.js';
import { type CaseServer, makeCases, startCaseServer, wsdlPath } from '../servers/node-soap-server.js';

let server: CaseServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const config = (endpoint: string): SoapSourceConfigInput =>
  ({
    mode: 'watermark',
    wsdl: wsdlPath,
    port: 'CasePort11',
    endpoint,
    operation: 'GetChangedCases',
    arguments: { since: '{{since}}', pageToken: '{{page}}' },
    records: 'GetChangedCasesResult.Case[]',
    key: ['CaseId'],
    watermark: { field: 'ModifiedAt', type: 'timestamp' },
    pagination: { type: 'token', nextPath: 'GetChangedCasesResult.NextPageToken' },
    pollIntervalMs: 600_000,
  }) as SoapSourceConfigInput;

describe('soap source on a cron schedule', () => {
  it('runs a pass at start, then one per tick of the pipeline schedule', async () => {
    server = await startCaseServer({ pageSize: 50 });
    server.cases.push(...makeCases(3));
    // Every second: with a 10-minute poll interval, only the schedule can explain more than one pass.
    const source = createSoapSource(config(server.endpoint11), {
      logger: silentLogger(),
      schedule: { cron: '* * * * * *', timezone: 'Europe/London' },
    });
    const controller = new AbortController();
    const batches: Batch[] = [];
    const started = Date.now();
    const reading = (async () => {
      for await (const batch of source.read({
        from: undefined,
        signal: controller.signal,
        once: false,
        log: silentLogger(),
      })) {
        batches.push(batch);
        if (Date.now() - started > 3_500) controller.abort();
      }
    })();
    const timer = setTimeout(() => controller.abort(), 6_000);
    await reading;
    clearTimeout(timer);
    await source.close();
    expect(batches.flatMap((b) => b.records).map((r) => r.key.CaseId)).toEqual(
      server.cases.map((c) => c.CaseId),
    );
    // One call at start, then about one per second.
    expect(server.served).toBeGreaterThanOrEqual(3);
    expect(server.served).toBeLessThanOrEqual(8);
  }, 20_000);

  it('refuses an invalid cron expression at start', () => {
    expect(() =>
      createSoapSource(config('http://127.0.0.1:1/'), { schedule: { cron: 'not a cron', timezone: 'UTC' } }),
    ).toThrow(/not a cron|cron/);
  });
});
