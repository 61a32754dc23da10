// WS-Security X.509 signing against a real HTTP server on loopback that verifies the signature with
// xml-crypto (node-soap's own signing library, used here on the server side) before answering.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@ferry/core/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignedXml } from 'xml-crypto';
import { SoapClient, soapConnectionSchema } from '../../src/index.js';
import { startRawServer, wsdlPath } from '../servers/node-soap-server.js';

let dir = '';
let server: Awaited<ReturnType<typeof startRawServer>>;
const verdicts: boolean[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-soap-x509-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'key.pem',
      '-out',
      'cert.pem',
      '-days',
      '2',
      '-subj',
      '/CN=ferry-signer',
    ],
    { cwd: dir, stdio: 'pipe', timeout: 30_000 },
  );
  const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  server = await startRawServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => {
      const signature = /<(?:\w+:)?Signature[\s>][\s\S]*<\/(?:\w+:)?Signature>/.exec(body)?.[0];
      let valid = false;
      if (signature !== undefined) {
        const check = new SignedXml({ publicCert: cert });
        check.loadSignature(signature);
        try {
          valid = check.checkSignature(body) && check.getSignedReferences().some((r) => r.includes(':Body'));
        } catch {
          valid = false;
        }
      }
      verdicts.push(valid);
      res.writeHead(valid ? 200 : 500, { 'Content-Type': 'text/xml' });
      res.end(
        valid
          ? '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><R><GetChangedCasesResult><Case><CaseId>X1</CaseId></Case></GetChangedCasesResult></R></s:Body></s:Envelope>'
          : '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>bad signature</faultstring></s:Fault></s:Body></s:Envelope>',
      );
    });
  });
});

afterAll(async () => {
  await server.close();
});

describe('WS-Security X.509 signing', () => {
  it('signs the Body with the configured key; the server verifies it against the certificate', async () => {
    const client = await SoapClient.open(
      soapConnectionSchema.parse({
        wsdl: wsdlPath,
        port: 'CasePort11',
        endpoint: server.url,
        security: { type: 'wsse-x509', keyFile: 'key.pem', certFile: 'cert.pem' },
      }),
      { logger: silentLogger(), baseDir: dir },
    );
    try {
      const built = await client.buildRequest('GetChangedCases', { since: '' });
      expect(built.xml).toContain('BinarySecurityToken');
      const answer = await client.call(
        'GetChangedCases',
        { since: '' },
        { recordPath: 'GetChangedCasesResult.Case[]' },
      );
      expect(answer.items).toEqual([{ CaseId: 'X1' }]);
      expect(verdicts.at(-1)).toBe(true);
    } finally {
      client.close();
    }
  });

  it('is refused by the same server when unsigned', async () => {
    const client = await SoapClient.open(
      soapConnectionSchema.parse({ wsdl: wsdlPath, port: 'CasePort11', endpoint: server.url }),
      { logger: silentLogger() },
    );
    try {
      await expect(client.call('GetChangedCases', { since: '' })).rejects.toMatchObject({
        code: 'SOAP_FAULT_CLIENT',
      });
      expect(verdicts.at(-1)).toBe(false);
    } finally {
      client.close();
    }
  });
});
