// Hostile answers from a real HTTP server on loopback: XML external entities, entity expansion, oversized
// and over-deep payloads are refused with a clear, non-retryable error, without reading a file or blowing
// up memory. Also a WSDL carrying a DOCTYPE, which node-soap rejects with a plain object.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@ferry/core/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { SoapClient, type SoapConnectionConfigInput, soapConnectionSchema } from '../../src/index.js';
import {
  caseClientAt,
  CHANGED_CASES_HEAD as ENVELOPE_HEAD,
  CHANGED_CASES_TAIL as ENVELOPE_TAIL,
  soapFailure as failure,
} from '../helpers.js';
import { startRawServer } from '../servers/node-soap-server.js';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const clientFor = (url: string, overrides: Partial<SoapConnectionConfigInput> = {}) =>
  caseClientAt(url, closers, overrides);

async function serve(status: number, body: string | ((res: import('node:http').ServerResponse) => void)) {
  const server = await startRawServer((_req, res) => {
    if (typeof body === 'function') return body(res);
    res.writeHead(status, { 'Content-Type': 'text/xml; charset=utf-8' });
    res.end(body);
  });
  closers.push(() => server.close());
  return server;
}

const call = (client: SoapClient) =>
  client.call('GetChangedCases', { since: '' }, { recordPath: 'GetChangedCasesResult.Case[]' });

describe('hostile XML is refused', () => {
  it.each([200, 500])(
    'refuses an external entity (XXE) without reading the file (HTTP %i)',
    async (status) => {
      const dir = await mkdtemp(join(tmpdir(), 'ferry-soap-xxe-'));
      const secret = join(dir, 'secret.txt');
      await writeFile(secret, 'TOP-SECRET-CONTENT');
      const server = await serve(
        status,
        `<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file://${secret}">]>` +
          `${ENVELOPE_HEAD}<Case><CaseId>&xxe;</CaseId></Case>${ENVELOPE_TAIL}`,
      );
      const error = await failure(call(await clientFor(server.url)));
      expect(error).toMatchObject({ code: 'SOAP_XML_FORBIDDEN', retryable: false });
      expect(error.message).toContain('DOCTYPE');
      expect(JSON.stringify({ m: error.message, d: error.details })).not.toContain('TOP-SECRET');
    },
  );

  it('refuses entity expansion (billion laughs) before expanding anything', async () => {
    const levels = Array.from(
      { length: 9 },
      (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`,
    ).join('');
    const server = await serve(
      200,
      `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">${levels}]>` +
        `${ENVELOPE_HEAD}<Case><CaseId>&lol9;</CaseId></Case>${ENVELOPE_TAIL}`,
    );
    const heapBefore = process.memoryUsage().heapUsed;
    const started = Date.now();
    const error = await failure(call(await clientFor(server.url)));
    expect(error).toMatchObject({ code: 'SOAP_XML_FORBIDDEN', retryable: false });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(50 * 1024 * 1024);
  });

  it('refuses an entity reference without a declaration', async () => {
    const server = await serve(200, `${ENVELOPE_HEAD}<Case><CaseId>&xxe;</CaseId></Case>${ENVELOPE_TAIL}`);
    const error = await failure(call(await clientFor(server.url)));
    expect(error).toMatchObject({ code: 'SOAP_RESPONSE_INVALID', retryable: false });
  });

  it('stops reading an endless answer at maxResponseBytes and drops the connection', async () => {
    let written = 0;
    let closed = false;
    const server = await serve(200, (res) => {
      res.writeHead(200, { 'Content-Type': 'text/xml' });
      res.write(ENVELOPE_HEAD);
      const chunk =
        `<Case><CaseId>${'x'.repeat(1000)}</CaseId><Title>t</Title><ModifiedAt>2024-01-01T00:00:00Z</ModifiedAt></Case>`.repeat(
          64,
        );
      res.on('close', () => {
        closed = true;
      });
      const pump = () => {
        // Stop after 2 GiB at most: a client that kept reading would be caught by the assertions below.
        while (!closed && written < 2 * 1024 ** 3) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const client = await clientFor(server.url, { maxResponseBytes: 1024 * 1024 });
    const rssBefore = process.memoryUsage().rss;
    const error = await failure(call(client));
    expect(error).toMatchObject({ code: 'SOAP_RESPONSE_TOO_LARGE', retryable: false });
    expect(error.message).toContain('maxResponseBytes');
    const deadline = Date.now() + 5000;
    while (!closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(closed).toBe(true);
    expect(written).toBeLessThan(64 * 1024 * 1024);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(100 * 1024 * 1024);
  });

  it('refuses XML nested deeper than maxDepth', async () => {
    const server = await serve(
      200,
      `${ENVELOPE_HEAD}${'<a>'.repeat(5000)}${'</a>'.repeat(5000)}${ENVELOPE_TAIL}`,
    );
    const error = await failure(call(await clientFor(server.url)));
    expect(error).toMatchObject({ code: 'SOAP_RESPONSE_TOO_LARGE', retryable: false });
  });

  it('reports a connection cut mid-answer as retryable SOAP_CONNECTION_FAILED', async () => {
    const server = await serve(200, (res) => {
      res.writeHead(200, { 'Content-Type': 'text/xml', 'Content-Length': 100_000 });
      res.write(`${ENVELOPE_HEAD}<Case><CaseId>1</CaseId></Case>`);
      setTimeout(() => res.socket?.destroy(), 50);
    });
    const error = await failure(call(await clientFor(server.url)));
    expect(error).toMatchObject({ code: 'SOAP_CONNECTION_FAILED', retryable: true });
  });

  it('reports a non-envelope answer as SOAP_RESPONSE_INVALID', async () => {
    const server = await serve(200, '<html><body>hello</body></html>');
    const error = await failure(call(await clientFor(server.url)));
    expect(error).toMatchObject({ code: 'SOAP_RESPONSE_INVALID', retryable: false });
  });

  it('turns a WSDL with a DOCTYPE into a SoapError, not a plain object', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-soap-wsdl-'));
    const hostile = join(dir, 'hostile.wsdl');
    await writeFile(
      hostile,
      `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` +
        '<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" name="x">&xxe;</definitions>',
    );
    const error = await failure(
      SoapClient.open(soapConnectionSchema.parse({ wsdl: hostile }), { logger: silentLogger() }),
    );
    expect(['SOAP_XML_FORBIDDEN', 'SOAP_WSDL_FAILED']).toContain(error.code);
    expect(error.retryable).toBe(false);
    expect(error.message).not.toContain('root:x:0:0');
  });
});
