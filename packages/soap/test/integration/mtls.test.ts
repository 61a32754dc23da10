// Mutual TLS against a real https server on loopback that demands a client certificate (certificates made
// with openssl for the test): the right certificate gets records, none gets a clear non-retryable error.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@ferry/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoapClient, SoapError, soapConnectionSchema } from '../../src/index.js';
import { wsdlPath } from '../servers/node-soap-server.js';

let dir = '';
let server: Server;
let url = '';

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe', timeout: 30_000 });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-soap-mtls-'));
  await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=ferry-test-ca',
  );
  for (const name of ['server', 'client']) {
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${name}`,
    );
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      'san.ext',
    );
  }
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
