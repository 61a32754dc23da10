// SoapClient and the watermark source against a real node-soap server on loopback: WSDL imports and
// includes, SOAP 1.1 and 1.2, faults of both kinds, HTTP errors, paging, security.
import { silentLogger } from '@ferry/core/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createSoapSource,
  SoapClient,
  type SoapConnectionConfigInput,
  soapConnectionSchema,
} from '../../src/index.js';
import { soapFailure as failure } from '../helpers.js';
import { type CaseServer, makeCases, startCaseServer, wsdlPath } from '../servers/node-soap-server.js';

const servers: CaseServer[] = [];
const clients: SoapClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const server of servers.splice(0)) await server.close();
});

async function server(options: Parameters<typeof startCaseServer>[0] = {}): Promise<CaseServer> {
  const started = await startCaseServer(options);
  servers.push(started);
  return started;
}

async function client(config: SoapConnectionConfigInput): Promise<SoapClient> {
  const opened = await SoapClient.open(soapConnectionSchema.parse(config), { logger: silentLogger() });
  clients.push(opened);
  return opened;
}

describe('SoapClient against node-soap', () => {
  it('reads a WSDL with xsd imports and includes and calls a SOAP 1.1 operation', async () => {
    const s = await server();
    s.cases.push(...makeCases(2));
    const c = await client({ wsdl: wsdlPath, port: 'CasePort11', endpoint: s.endpoint11 });
    const answer = await c.call(
      'GetChangedCases',
      { since: '' },
      { recordPath: 'GetChangedCasesResult.Case[]' },
    );
    expect(answer.items).toEqual(s.cases.slice(0, 2).map((x) => ({ ...x })));
    expect(answer.items[0]?.Title).toBe('Case 1 & "co" <test>');
  });

  it('calls a SOAP 1.2 port', async () => {
    const s = await server();
    s.cases.push(...makeCases(1));
    const c = await client({
      wsdl: wsdlPath,
      port: 'CasePort12',
      endpoint: s.endpoint12,
      soapVersion: '1.2',
    });
    const built = await c.buildRequest('GetChangedCases', { since: '' });
    expect(built.xml).toContain('http://www.w3.org/2003/05/soap-envelope');
    const answer = await c.call(
      'GetChangedCases',
      { since: '' },
      { recordPath: 'GetChangedCasesResult.Case[]' },
    );
    expect(answer.items.map((x) => x.CaseId)).toEqual(['C00001']);
  });

  it('captures the next-page token', async () => {
    const s = await server({ pageSize: 2 });
    s.cases.push(...makeCases(5));
    const c = await client({ wsdl: wsdlPath, port: 'CasePort11', endpoint: s.endpoint11 });
    const answer = await c.call(
      'GetChangedCases',
      { since: '', pageToken: '2' },
      { recordPath: 'GetChangedCasesResult.Case[]', scalarPaths: ['GetChangedCasesResult.NextPageToken'] },
    );
    expect(answer.items.map((x) => x.CaseId)).toEqual(['C00003', 'C00004']);
    expect(answer.scalars.get('GetChangedCasesResult.NextPageToken')).toBe('4');
  });

  it('turns Server/Receiver faults into retryable errors and Client/Sender faults into permanent ones', async () => {
    const s = await server();
    const c11 = await client({ wsdl: wsdlPath, port: 'CasePort11', endpoint: s.endpoint11 });
    const c12 = await client({
      wsdl: wsdlPath,
      port: 'CasePort12',
      endpoint: s.endpoint12,
      soapVersion: '1.2',
    });
    s.fault = 'server';
    const server11 = await failure(c11.call('GetChangedCases', { since: '' }));
    expect(server11).toMatchObject({ code: 'SOAP_FAULT_SERVER', retryable: true });
    expect(server11.message).toContain('soap:Server');
    expect(server11.message).toContain('case database unavailable');
    const server12 = await failure(c12.call('GetChangedCases', { since: '' }));
    expect(server12).toMatchObject({ code: 'SOAP_FAULT_SERVER', retryable: true });
    expect(server12.message).toContain('Receiver');
    s.fault = 'client';
    const client11 = await failure(c11.call('GetChangedCases', { since: '' }));
    expect(client11).toMatchObject({ code: 'SOAP_FAULT_CLIENT', retryable: false });
    expect(client11.message).toContain('since is not a date');
    const client12 = await failure(c12.call('GetChangedCases', { since: '' }));
    expect(client12).toMatchObject({ code: 'SOAP_FAULT_CLIENT', retryable: false });
    expect(client12.message).toContain('Sender');
  });

  it('reports a 503 with Retry-After as retryable, and a refused connection as retryable', async () => {
    const s = await server({ unavailable: { when: () => true, retryAfter: '0' } });
    const c = await client({ wsdl: wsdlPath, port: 'CasePort11', endpoint: s.endpoint11 });
    const busy = await failure(c.call('GetChangedCases', { since: '' }));
    expect(busy).toMatchObject({ code: 'SOAP_HTTP_ERROR', retryable: true, retryAfterMs: 0 });
    expect(busy.message).toContain('503');
    await s.close();
    servers.length = 0;
    const gone = await failure(c.call('GetChangedCases', { since: '' }));
    expect(gone).toMatchObject({ code: 'SOAP_CONNECTION_FAILED', retryable: true });
  });

  it('times out a call that gets no answer', async () => {
    const { createServer } = await import('node:http');
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const c = await client({
        wsdl: wsdlPath,
        port: 'CasePort11',
        endpoint: `http://127.0.0.1:${port}/x`,
        timeoutMs: 300,
      });
      const started = Date.now();
      const error = await failure(c.call('GetChangedCases', { since: '' }));
      expect(error).toMatchObject({ code: 'SOAP_TIMEOUT', retryable: true });
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('sends HTTP basic credentials and reports refused ones as SOAP_AUTH_FAILED', async () => {
    const s = await server({ basic: { username: 'clerk', password: 's3cret' } });
    s.cases.push(...makeCases(1));
    const good = await client({
      wsdl: wsdlPath,
      port: 'CasePort11',
      endpoint: s.endpoint11,
      security: { type: 'basic', username: 'clerk', password: 's3cret' },
    });
    const answer = await good.call(
      'GetChangedCases',
      { since: '' },
      { recordPath: 'GetChangedCasesResult.Case[]' },
    );
    expect(answer.items).toHaveLength(1);
    const bad = await client({
      wsdl: wsdlPath,
      port: 'CasePort11',
      endpoint: s.endpoint11,
      security: { type: 'basic', username: 'clerk', password: 'wrong' },
    });
    const error = await failure(bad.call('GetChangedCases', { since: '' }));
    expect(error).toMatchObject({ code: 'SOAP_AUTH_FAILED', retryable: false });
    expect(error.message).not.toContain('wrong');
  });

  it.each(['text', 'digest'] as const)(
    'authenticates with a WS-Security UsernameToken (%s)',
    async (passwordType) => {
      const s = await server({ wsse: { username: 'clerk', password: 's3cret' } });
      s.cases.push(...makeCases(1));
      const good = await client({
        wsdl: wsdlPath,
        port: 'CasePort11',
        endpoint: s.endpoint11,
        security: { type: 'wsse-username', username: 'clerk', password: 's3cret', passwordType },
      });
      const answer = await good.call(
        'GetChangedCases',
        { since: '' },
        { recordPath: 'GetChangedCasesResult.Case[]' },
      );
      expect(answer.items).toHaveLength(1);
      expect(s.lastPasswordType).toBe(passwordType);
      const built = await good.buildRequest('GetChangedCases', { since: '' });
      if (passwordType === 'digest') expect(built.xml).not.toContain('s3cret');
      const bad = await client({
        wsdl: wsdlPath,
        port: 'CasePort11',
        endpoint: s.endpoint11,
        security: { type: 'wsse-username', username: 'clerk', password: 'nope', passwordType },
      });
      const error = await failure(bad.call('GetChangedCases', { since: '' }));
      expect(error.retryable).toBe(false);
    },
  );

  it('refuses an unknown operation with the operations the WSDL has', async () => {
    const s = await server();
    const c = await client({ wsdl: wsdlPath, port: 'CasePort11', endpoint: s.endpoint11 });
    const error = await failure(c.call('GetEverything', {}));
    expect(error.code).toBe('SOAP_OPERATION_NOT_FOUND');
    expect(error.message).toContain('GetChangedCases');
  });

  it('discovers services, ports and operations with their shapes', async () => {
    const source = createSoapSource(
      {
        mode: 'watermark',
        wsdl: wsdlPath,
        port: 'CasePort11',
        operation: 'GetChangedCases',
        arguments: { since: '{{since}}' },
        records: 'GetChangedCasesResult.Case[]',
        key: ['CaseId'],
        watermark: { field: 'ModifiedAt' },
      },
      { logger: silentLogger() },
    );
    try {
      const streams = await source.discover!();
      const names = streams.map((s) => s.name);
      expect(names).toEqual(
        expect.arrayContaining([
          'CaseService.CasePort11.GetChangedCases',
          'CaseService.CasePort11.ListCases',
          'CaseService.CasePort12.GetChangedCases',
        ]),
      );
      const changed = streams.find((s) => s.name === 'CaseService.CasePort11.GetChangedCases');
      expect(changed?.key).toEqual(['CaseId']);
      expect(changed?.fields?.map((f) => f.name)).toEqual(
        expect.arrayContaining([expect.stringContaining('CaseId'), expect.stringContaining('ModifiedAt')]),
      );
      expect(changed?.notes?.join(' ')).toContain('since');
    } finally {
      await source.close();
    }
  });
});
