// The SOAP source's options and positions: defaults, refusals of a wrong pipeline file (a moved option
// included), the shape of saved positions, and the notes `ferry validate` prints.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parsePipelineConfig, Redactor } from '@ferry/core';
import { ConfigError, silentLogger } from '@ferry/core/sdk';
import { describe, expect, it } from 'vitest';
import { soapSnapshotSchema, soapWatermarkSchema } from '../../src/config.js';
import {
  createSoapSource,
  soapConnectionSchema,
  soapPositionSchema,
  soapSourceConfigSchema,
  soapSourceFactory,
  soapSourceNotes,
} from '../../src/index.js';
import { pipelineYaml, soapRegistry } from '../helpers.js';

const base = {
  mode: 'watermark',
  wsdl: './cases.wsdl',
  operation: 'GetChangedCases',
  records: 'GetChangedCasesResult.Case[]',
  key: ['CaseId'],
  watermark: { field: 'ModifiedAt' },
} as const;
const { watermark: _unused, ...snapshotBase } = { ...base, mode: 'snapshot' as const };

describe('soap source options', () => {
  it('fills in the defaults', () => {
    const config = soapSourceConfigSchema.parse(base);
    expect(config).toMatchObject({
      soapVersion: '1.1',
      timeoutMs: 30_000,
      deadlineMs: 300_000,
      maxResponseBytes: 256 * 1024 * 1024,
      rateLimit: { callsPerSecond: 10, concurrency: 1 },
      pagination: { type: 'none' },
      batchSize: 1000,
      pollIntervalMs: 60_000,
      watermark: { field: 'ModifiedAt', type: 'timestamp', initial: '' },
    });
    expect(config).not.toHaveProperty('circuitBreaker');
  });

  it('refuses a bad record path, an unknown option and a missing key, naming the path', () => {
    expect(() => createSoapSource({ ...base, records: 'Result..Case[]' })).toThrow(ConfigError);
    expect(() => createSoapSource({ ...base, recordz: 'x' } as never)).toThrow(/source/);
    expect(() => createSoapSource({ ...base, key: [] })).toThrow(/source\.key/);
  });

  it('refuses circuitBreaker, pointing to runtime.breaker', async () => {
    const moved = { ...base, circuitBreaker: { failureThreshold: 5, cooldownMs: 30_000 } } as never;
    const result = soapSourceConfigSchema.safeParse(moved);
    expect(result.success).toBe(false);
    expect(result.error?.issues).toEqual([
      expect.objectContaining({
        path: ['circuitBreaker'],
        message: expect.stringContaining('runtime.breaker'),
      }),
    ]);
    // In a pipeline file: one problem, at source.circuitBreaker with its line, saying where the option went.
    const yaml = pipelineYaml(
      `  type: soap
  mode: watermark
  wsdl: ./cases.wsdl
  operation: GetChangedCases
  records: GetChangedCasesResult.Case[]
  key: [CaseId]
  watermark: { field: ModifiedAt }
  circuitBreaker: { failureThreshold: 3, cooldownMs: 1000 }`,
    );
    const refused = await parsePipelineConfig(yaml, '/tmp/pipeline.yaml', soapRegistry()).catch((e) => e);
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as ConfigError).issues).toEqual([
      expect.objectContaining({
        path: 'source.circuitBreaker',
        line: 10,
        message: expect.stringMatching(/runtime\.breaker/),
      }),
    ]);
  });

  it('runs in passes every pollIntervalMs unless the pipeline has a schedule (the runtime drives them)', async () => {
    const ctx = { pipeline: 'p', baseDir: '/tmp', logger: silentLogger(), redactor: new Redactor() };
    for (const config of [
      soapSourceConfigSchema.parse({ ...base, pollIntervalMs: 1234 }),
      soapSourceConfigSchema.parse({ ...snapshotBase, pollIntervalMs: 1234 }),
    ]) {
      const source = await soapSourceFactory.create(config, ctx);
      expect(source.cadence).toEqual({ kind: 'passes', intervalMs: 1234 });
      await source.close();
    }
  });

  it('describes each mode in its own words: no watermark in the snapshot table', () => {
    const options = (mode: 'watermark' | 'snapshot') => {
      const schema = mode === 'watermark' ? soapWatermarkSchema : soapSnapshotSchema;
      return Object.fromEntries(
        Object.entries(schema.shape).map(([name, option]) => [name, String(option.description ?? '')]),
      );
    };
    const snapshot = options('snapshot');
    for (const [name, text] of Object.entries(snapshot)) {
      if (name === 'arguments') expect(text).toContain('{{since}} is always empty in this mode');
      else expect(text, name).not.toMatch(/watermark|GetChangedCases/i);
    }
    expect(options('watermark').arguments).toContain('{{since}} (the last watermark)');
    for (const mode of ['watermark', 'snapshot'] as const) {
      expect(options(mode).records).toContain('as `ferry discover` prints it');
    }
    expect(soapSourceFactory.description).toMatch(/`watermark`.*`snapshot`/);
  });

  // Each option's meaning is said once, in the schema; docs/soap.md's table must say the same, not its own.
  it('docs/soap.md states timeoutMs, deadlineMs and maxResponseBytes as the schema does', async () => {
    const page = await readFile(join(import.meta.dirname, '..', '..', '..', '..', 'docs', 'soap.md'), 'utf8');
    for (const name of ['timeoutMs', 'deadlineMs', 'maxResponseBytes'] as const) {
      const option = soapConnectionSchema.shape[name];
      const row = page.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
      expect(row, name).toBeDefined();
      const [, fallback, meaning] = (row ?? '').split(' | ').map((cell) => cell.trim());
      expect(meaning?.replace(/ \|$/, ''), name).toBe(option.description);
      expect(fallback, name).toContain(String(option.parse(undefined)));
    }
  });

  it('tells what watermark and snapshot modes cannot do', () => {
    expect(soapSourceNotes(soapSourceConfigSchema.parse(base)).join('\n')).toContain('cannot see deletes');
    const snapshot = soapSourceConfigSchema.parse(snapshotBase);
    expect(soapSourceNotes(snapshot).join('\n')).toContain('emitted as deleted');
  });
});

describe('soap positions', () => {
  it('are what either mode saves', () => {
    expect(soapSourceFactory.positionSchema).toBe(soapPositionSchema);
    for (const position of [
      { watermark: '' },
      { watermark: '2024-01-01T00:00:00Z', cursor: { since: '', page: '3', skip: 2, high: '2024-01-02' } },
      { generation: 'pass@2024-01-01T00:00:00.000Z', state: 'listing', page: 2, skip: 1 },
      { generation: 'pass@2024-01-01T00:00:00.000Z', state: 'deleting', afterKey: '{"CaseId":"C1"}' },
      { generation: 'pass@2024-01-01T00:00:00.000Z', state: 'done' },
      // Written by the versions that scheduled passes themselves.
      { generation: 'pass@2024-01-01T00:00:00.000Z', state: 'done', endedAt: '2024-01-01T00:01:00.000Z' },
    ]) {
      expect(soapPositionSchema.safeParse(position).error).toBeUndefined();
    }
  });

  it('refuse what neither mode saves', () => {
    for (const position of [
      { lsn: '0/1' },
      { watermark: 5 },
      { watermark: '', cursor: { since: '', page: 1, skip: -1, high: '' } },
      { generation: 'g', state: 'resting' },
      'pass@2024',
    ]) {
      expect(soapPositionSchema.safeParse(position).success).toBe(false);
    }
  });
});
