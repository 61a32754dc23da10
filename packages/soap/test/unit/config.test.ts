// The SOAP source's options: defaults, refusals of a wrong pipeline file, and the notes `ferry validate` prints.
import { ConfigError, Redactor, silentLogger } from '@ferry/core/sdk';
import { describe, expect, it } from 'vitest';
import {
  createSoapSource,
  soapSourceConfigSchema,
  soapSourceFactory,
  soapSourceNotes,
} from '../../src/index.js';

const base = {
  mode: 'watermark',
  wsdl: './cases.wsdl',
  operation: 'GetChangedCases',
  records: 'GetChangedCasesResult.Case[]',
  key: ['CaseId'],
  watermark: { field: 'ModifiedAt' },
} as const;

describe('soap source options', () => {
  it('fills in the defaults', () => {
    const config = soapSourceConfigSchema.parse(base);
    expect(config).toMatchObject({
      soapVersion: '1.1',
      timeoutMs: 30_000,
      maxResponseBytes: 256 * 1024 * 1024,
      rateLimit: { callsPerSecond: 0, concurrency: 1 },
      circuitBreaker: { failureThreshold: 5, cooldownMs: 30_000 },
      pagination: { type: 'none' },
      batchSize: 1000,
      watermark: { field: 'ModifiedAt', type: 'timestamp', initial: '' },
    });
  });

  it('refuses a bad record path, an unknown option and a missing key, naming the path', () => {
    expect(() => createSoapSource({ ...base, records: 'Result..Case[]' })).toThrow(ConfigError);
    expect(() => createSoapSource({ ...base, recordz: 'x' } as never)).toThrow(/source/);
    expect(() => createSoapSource({ ...base, key: [] })).toThrow(/source\.key/);
  });

  it('takes the pipeline cron schedule, and refuses an invalid one at start naming `schedule`', async () => {
    const config = soapSourceConfigSchema.parse(base);
    const ctx = { pipeline: 'p', baseDir: '/tmp', logger: silentLogger(), redactor: new Redactor() };
    const source = await soapSourceFactory.create(config, {
      ...ctx,
      schedule: { cron: '0 * * * *', timezone: 'UTC' },
    });
    await source.close();
    expect(() =>
      soapSourceFactory.create(config, { ...ctx, schedule: { cron: '0 * * * *', timezone: 'Mars/Olympus' } }),
    ).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        issues: [expect.objectContaining({ path: 'schedule' })],
      }),
    );
  });

  it('tells what watermark and snapshot modes cannot do', () => {
    expect(soapSourceNotes(soapSourceConfigSchema.parse(base)).join('\n')).toContain('cannot see deletes');
    const { watermark: _unused, ...rest } = base;
    const snapshot = soapSourceConfigSchema.parse({ ...rest, mode: 'snapshot' });
    expect(soapSourceNotes(snapshot).join('\n')).toContain('emitted as deleted');
  });
});
