// The client and the watermark source against spyne (Python), a SOAP implementation nobody here wrote: its
// own WSDL fetched by URL, SOAP 1.1 and 1.2, faults of both kinds, page-number paging. The tests set the
// service's cases and faults, which are global to its process: they run against a private spyne (the
// virtualenv up.sh builds, its own port), not the shared one other test runs read at the same time.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigYaml } from '@ferry/core';
import { silentLogger } from '@ferry/core/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type SoapEndpoint, services } from '../../../../test/services/endpoints.js';
import { type PrivateServer, startPrivateSpyne } from '../../../../test/services/private.js';
import {
  createSoapSource,
  SoapClient,
  SoapError,
  type SoapSourceConfigInput,
  soapConnectionSchema,
  soapSourceConfigSchema,
} from '../../src/index.js';
import { readBatches, spyneControl } from '../helpers.js';
import { makeCases } from '../servers/node-soap-server.js';

let spyne: PrivateServer<SoapEndpoint>;
const endpointFor = (version: '1.1' | '1.2') =>
  version === '1.1' ? spyne.endpoint.soap11 : spyne.endpoint.soap12;

// Fails (rather than skips) when the virtualenv is missing or the service does not start.
beforeAll(async () => {
  spyne = await startPrivateSpyne();
}, 60_000);

afterAll(async () => {
  await spyne?.close();
});

beforeEach(async () => {
  await spyneControl(spyne.endpoint, {
    cases: [],
    fault: null,
    flaky_every: 0,
    page_size: 3,
    reset_calls: true,
  });
});

async function open(endpoint: string, soapVersion: '1.1' | '1.2') {
  return SoapClient.open(soapConnectionSchema.parse({ wsdl: `${endpoint}?wsdl`, soapVersion }), {
    logger: silentLogger(),
  });
}

function watermarkConfig(overrides: Partial<SoapSourceConfigInput> = {}): SoapSourceConfigInput {
  return {
    mode: 'watermark',
    wsdl: `${spyne.endpoint.soap11}?wsdl`,
    operation: 'GetChangedCases',
    arguments: { since: '{{since}}', page: '{{page}}' },
    records: 'GetChangedCasesResult.Case[]',
    key: ['CaseId'],
    watermark: { field: 'ModifiedAt', type: 'timestamp', initial: '1970-01-01T00:00:00Z' },
    pagination: { type: 'page-number', first: 1, pageSize: 3 },
    batchSize: 2,
    ...overrides,
  } as SoapSourceConfigInput;
}

describe('against spyne', () => {
  it.each(['1.1', '1.2'] as const)('reads its WSDL by URL and calls it over SOAP %s', async (version) => {
    const endpoint = endpointFor(version);
    await spyneControl(spyne.endpoint, {
      cases: makeCases(2, Date.parse('2024-01-01T00:00:00Z'), `S${version}-`),
    });
    const client = await open(endpoint, version);
    try {
      expect(client.endpoint).toBe(endpoint);
      const answer = await client.call(
        'GetChangedCases',
        { since: '1970-01-01T00:00:00Z', page: 1 },
        { recordPath: 'GetChangedCasesResult.Case[]' },
      );
      expect(answer.items.map((c) => c.CaseId)).toEqual([`S${version}-00001`, `S${version}-00002`]);
      expect(Date.parse(String(answer.items[0]?.ModifiedAt))).toBe(Date.parse('2024-01-01T00:00:00Z'));
    } finally {
      client.close();
    }
  });

  it.each(['1.1', '1.2'] as const)(
    'classifies its Server and Client faults over SOAP %s',
    async (version) => {
      const client = await open(endpointFor(version), version);
      try {
        await spyneControl(spyne.endpoint, { fault: 'server' });
        const server = await client
          .call('GetChangedCases', { since: '1970-01-01T00:00:00Z', page: 1 })
          .catch((e) => e);
        expect(server).toBeInstanceOf(SoapError);
        expect(server).toMatchObject({ code: 'SOAP_FAULT_SERVER', retryable: true });
        expect(server.message).toContain('case database unavailable');
        await spyneControl(spyne.endpoint, { fault: 'client' });
        const bad = await client
          .call('GetChangedCases', { since: '1970-01-01T00:00:00Z', page: 1 })
          .catch((e) => e);
        expect(bad).toMatchObject({ code: 'SOAP_FAULT_CLIENT', retryable: false });
        expect(bad.message).toContain('since is not a date');
      } finally {
        client.close();
      }
    },
  );

  it('polls by watermark through every page and resumes mid-sequence without a gap', async () => {
    const cases = makeCases(8, Date.parse('2024-03-01T00:00:00Z'), 'W');
    await spyneControl(spyne.endpoint, { cases });
    const source = createSoapSource(watermarkConfig(), { logger: silentLogger() });
    try {
      const all = await readBatches(source, undefined);
      expect(all.flatMap((b) => b.records.map((r) => r.key.CaseId))).toEqual(cases.map((c) => c.CaseId));
      expect(all.flatMap((b) => b.records.map((r) => r.origin.page))).toEqual([1, 1, 1, 2, 2, 2, 3, 3]);
      const final = all.at(-1)?.position;
      expect(Date.parse(String(final?.watermark))).toBe(Date.parse(cases[7]!.ModifiedAt));
      expect(final?.cursor).toBeUndefined();
      for (let crashAfter = 1; crashAfter < all.length; crashAfter += 1) {
        const first = await readBatches(source, undefined, crashAfter);
        const rest = await readBatches(source, first.at(-1)?.position);
        expect([...first, ...rest].flatMap((b) => b.records.map((r) => r.key.CaseId))).toEqual(
          cases.map((c) => c.CaseId),
        );
      }
      const more = makeCases(2, Date.parse('2024-04-01T00:00:00Z'), 'X');
      await spyneControl(spyne.endpoint, { add: more });
      const next = await readBatches(source, final);
      expect(next.flatMap((b) => b.records.map((r) => r.key.CaseId))).toEqual(['X00001', 'X00002']);
    } finally {
      await source.close();
    }
  });

  // docs/soap.md's two examples are this service's, as written: each is a valid source, its `records` is the
  // path `ferry discover` prints (fields `<records>.<field>`, never the XSD type name CaseArray), and a pass
  // with it reads every case. Only `wsdl` is changed, from the shared service to this test's own.
  it.each(['watermark', 'snapshot'] as const)(
    'runs the %s example of docs/soap.md as written',
    async (mode) => {
      const page = await readFile(
        join(import.meta.dirname, '..', '..', '..', '..', 'docs', 'soap.md'),
        'utf8',
      );
      const blocks = [...page.matchAll(/```yaml\n(source:\n {2}type: soap\n[\s\S]*?)```/g)].map(
        (match) =>
          parseConfigYaml(match[1] ?? '', 'docs/soap.md').data as { source: Record<string, unknown> },
      );
      const example = blocks.find((block) => block.source.mode === mode)?.source ?? {};
      expect(example.mode, `a ${mode} example in docs/soap.md`).toBe(mode);
      expect(example.wsdl).toBe(`${services.spyne.soap11}?wsdl`);
      const { type: _type, ...options } = example;
      const config = soapSourceConfigSchema.parse({ ...options, wsdl: `${spyne.endpoint.soap11}?wsdl` });

      const client = await open(spyne.endpoint.soap11, '1.1');
      try {
        const stream = client
          .describe()
          .find((s) => s.name === `CaseService.CaseService.${config.operation}`);
        const fields = (stream?.fields ?? []).map((field) => field.name);
        expect(fields).toContain(`${config.records}.${config.key[0]}`);
        if (config.mode === 'watermark')
          expect(fields).toContain(`${config.records}.${config.watermark.field}`);
      } finally {
        client.close();
      }

      const cases = makeCases(7, Date.parse('2024-05-01T00:00:00Z'), 'D');
      const pageSize = config.pagination.type === 'page-number' ? config.pagination.pageSize : undefined;
      await spyneControl(spyne.endpoint, { cases, page_size: pageSize });
      // The example's stateDir is relative to a pipeline file; here a fresh folder stands in for it.
      const source = createSoapSource(
        config.mode === 'snapshot'
          ? { ...config, stateDir: await mkdtemp(join(tmpdir(), 'ferry-soap-doc-')) }
          : config,
        { logger: silentLogger() },
      );
      try {
        const batches = await readBatches(source, undefined);
        expect(batches.flatMap((b) => b.records.map((r) => r.key.CaseId))).toEqual(
          cases.map((c) => c.CaseId),
        );
      } finally {
        await source.close();
      }
    },
  );
});
