import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { silentLogger } from '@ferry/core/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoapClient, SoapError, soapConnectionSchema } from '../../src/index.js';
import { makeTestCertificates } from '../helpers.js';
import { wsdlPath } from '../servers/node-soap-server.js';

let dir = '';
let server: Server;
let url = '';

beforeAll(async () => {
  dir = await makeTestCertificates('ferry-soap-mtls-');
  const read = (f: string) => readFileSync(join(dir, f));
  server = createServer(
    {
      key: read('server.key'),
      cert: read('server.pem'),
      ca: read('ca.pem'),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      req.resume();
      res.writeHead(200, { 'Content-Type': 'text/xml' });
      res.end(
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetChangedCasesResponse>' +
          '<GetChangedCasesResult><Case><CaseId>M1</CaseId></Case></GetChangedCasesResult></GetChangedCasesResponse></soap:Body></soap:Envelope>',
      );
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/soap11`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function callWith(tls: Record<string, string> | undefined) {
  const client = await SoapClient.open(
    soapConnectionSchema.parse({
      wsdl: wsdlPath,
      port: 'CasePort11',
      endpoint: url,
      ...(tls ? { tls } : {}),
    }),
    { logger: silentLogger(), baseDir: dir },
  );
  try {
    return await client.call(
      'GetChangedCases',
      { since: '' },
      { recordPath: 'GetChangedCasesResult.Case[]' },
    );
  } finally {
    client.close();
  }
}

describe('mutual TLS', () => {
  it('presents the client certificate and trusts the configured CA', async () => {
    const answer = await callWith({ caFile: 'ca.pem', certFile: 'client.pem', keyFile: 'client.key' });
    expect(answer.items).toEqual([{ CaseId: 'M1' }]);
  });

  it('fails clearly, without retrying, when the server certificate is not trusted', async () => {
    const error = await callWith({ certFile: 'client.pem', keyFile: 'client.key' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SoapError);
    expect(error).toMatchObject({ code: 'SOAP_TLS_FAILED', retryable: false });
  });

  it('is refused by the server without a client certificate', async () => {
    const error = (await callWith({ caFile: 'ca.pem' }).catch((e: unknown) => e)) as SoapError;
    expect(error).toBeInstanceOf(SoapError);
    expect(error).toMatchObject({ code: 'SOAP_TLS_FAILED', retryable: false });
    expect(error.message).toContain('CERTIFICATE_REQUIRED');
  });
});
