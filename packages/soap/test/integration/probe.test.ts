import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { silentLogger } from '@ferry/core/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import { createSoapSource, type SoapSourceConfigInput } from '../../src/index.js';
import { caseWatermarkConfig, makeTestCertificates, readBatches } from '../helpers.js';
import { type CaseServer, makeCases, startCaseServer, startRawServer } from '../servers/node-soap-server.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function source(overrides: Partial<SoapSourceConfigInput>, baseDir?: string) {
  const created = createSoapSource(caseWatermarkConfig(undefined, overrides), {
    logger: silentLogger(),
    ...(baseDir === undefined ? {} : { baseDir }),
  });
  cleanups.push(() => created.close());
  return created;
}

/** Accepts TCP and never answers HTTP. */
async function silentServer(): Promise<string> {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.resume();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((ok) => server.close(() => ok()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/soap11`;
}

describe('soap probe', () => {
  it('reaches spyne by its remote WSDL, and by its endpoint even though a GET there is a 405', async () => {
    const { soap11 } = services.spyne;
    const byWsdl = source({ wsdl: `${soap11}?wsdl`, port: undefined });
    await expect(byWsdl.probe!(AbortSignal.timeout(10_000))).resolves.toBeUndefined();
    const byEndpoint = source({ wsdl: `${soap11}?wsdl`, port: undefined, endpoint: soap11 });
    await expect(byEndpoint.probe!(AbortSignal.timeout(10_000))).resolves.toBeUndefined();
  });

  it('counts any HTTP answer (500 included) as reachable and sends no SOAP call', async () => {
    const methods: string[] = [];
    const raw = await startRawServer((req, res) => {
      methods.push(req.method ?? '');
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('broken');
    });
    cleanups.push(() => raw.close());
    await expect(source({ endpoint: raw.url }).probe!(AbortSignal.timeout(10_000))).resolves.toBeUndefined();
    expect(methods).toEqual(['GET']);
  });

  it('rejects a closed port quickly as a retryable SOAP_CONNECTION_FAILED (the local WSDL address here)', async () => {
    // The fixture WSDL's soap:address is http://127.0.0.1:1, where nothing listens.
    const probe = source({});
    const started = Date.now();
    await expect(probe.probe!(AbortSignal.timeout(10_000))).rejects.toMatchObject({
      code: 'SOAP_CONNECTION_FAILED',
      retryable: true,
    });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('gives up on a server that never answers after timeoutMs, and at once when its signal stops it', async () => {
    const url = await silentServer();
    let started = Date.now();
    await expect(
      source({ endpoint: url, timeoutMs: 500 }).probe!(new AbortController().signal),
    ).rejects.toMatchObject({ code: 'SOAP_TIMEOUT', retryable: true });
    expect(Date.now() - started).toBeLessThan(3000);
    started = Date.now();
    await expect(source({ endpoint: url }).probe!(AbortSignal.timeout(200))).rejects.toMatchObject({
      code: 'SOAP_TIMEOUT',
      retryable: true,
    });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('uses the configured TLS material: mutual TLS passes, a missing client certificate or CA fails', async () => {
    const dir = await makeTestCertificates('ferry-soap-probe-tls-');
    const read = (file: string) => readFileSync(join(dir, file));
    const server = createHttpsServer(
      {
        key: read('server.key'),
        cert: read('server.pem'),
        ca: read('ca.pem'),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        req.resume();
        res.writeHead(405);
        res.end();
      },
    );
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    });
    const endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}/soap11`;
    const full = { caFile: 'ca.pem', certFile: 'client.pem', keyFile: 'client.key' };
    await expect(
      source({ endpoint, tls: full }, dir).probe!(AbortSignal.timeout(10_000)),
    ).resolves.toBeUndefined();
    await expect(
      source({ endpoint, tls: { caFile: 'ca.pem' } }, dir).probe!(AbortSignal.timeout(10_000)),
    ).rejects.toMatchObject({ code: 'SOAP_TLS_FAILED', retryable: false });
    await expect(
      source({ endpoint, tls: { certFile: 'client.pem', keyFile: 'client.key' } }, dir).probe!(
        AbortSignal.timeout(10_000),
      ),
    ).rejects.toMatchObject({ code: 'SOAP_TLS_FAILED', retryable: false });
  });

  it('does not disturb a running read: probes on their own connections, every record arrives', async () => {
    const server: CaseServer = await startCaseServer({ pageSize: 3, delayMs: 100 });
    cleanups.push(() => server.close());
    server.cases.push(...makeCases(12));
    // The case server's node-soap (behind its inner server) leaves a bare GET unanswered; a front answers GETs
    // itself, 405 as many SOAP servers do, and passes the SOAP POSTs through.
    const front = createHttpServer((req, res) => {
      if (req.method !== 'POST') {
        req.resume();
        res.writeHead(405);
        res.end();
        return;
      }
      const upstream = httpRequest(server.endpoint11, { method: 'POST', headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((ok) => front.listen(0, '127.0.0.1', ok));
    cleanups.push(async () => {
      front.closeAllConnections();
      await new Promise<void>((ok) => front.close(() => ok()));
    });
    const read = source({ endpoint: `http://127.0.0.1:${(front.address() as AddressInfo).port}/soap11` });
    let reading = true;
    const probing = (async () => {
      let probes = 0;
      while (reading && probes < 100) {
        await read.probe!(AbortSignal.timeout(10_000));
        probes += 1;
      }
      return probes;
    })();
    const batches = await readBatches(read, undefined);
    reading = false;
    expect(await probing).toBeGreaterThan(2);
    expect(batches.flatMap((b) => b.records.map((r) => r.key.CaseId))).toEqual(
      server.cases.map((c) => c.CaseId),
    );
    // Probes are GETs: the server saw only the read's SOAP calls (4 pages of 3).
    expect(server.calls).toBe(4);
  });
});
