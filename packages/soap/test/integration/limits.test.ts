// The time and size limits of one call, against a real HTTP server on loopback that plays a legacy service
// answering badly: `timeoutMs` cuts off silence (before the headers and mid-body), `deadlineMs` cuts off an
// answer that trickles in without ever going silent, an answer that trickles but finishes within the deadline
// passes, and a Content-Length over `maxResponseBytes` is refused before the body is read. (A chunked body
// growing past the cap: hostile-xml.test.ts.)
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { SoapClient, SoapConnectionConfigInput } from '../../src/index.js';
import {
  caseClientAt,
  soapFailure as failure,
  CHANGED_CASES_HEAD as HEAD,
  CHANGED_CASES_TAIL as TAIL,
} from '../helpers.js';
import { startRawServer } from '../servers/node-soap-server.js';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const clientFor = (url: string, overrides: Partial<SoapConnectionConfigInput> = {}) =>
  caseClientAt(url, closers, overrides);
const CASES = ['C1', 'C2']
  .map((id) => `<Case><CaseId>${id}</CaseId><ModifiedAt>2024-01-01T00:00:00Z</ModifiedAt></Case>`)
  .join('');

/** A server whose every answer `respond` writes; `closed` settles when the client has dropped the connection. */
async function legacy(
  respond: (res: ServerResponse) => void,
): Promise<{ url: string; closed: Promise<void> }> {
  let markClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });
  const server = await startRawServer((_req, res) => {
    res.once('close', markClosed);
    respond(res);
  });
  closers.push(() => server.close());
  return { url: server.url, closed };
}

/** Write `text` one piece every `everyMs` until it is all out, then end; stops when the client goes away. */
function drip(res: ServerResponse, pieces: string[], everyMs: number, end = true): void {
  res.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8' });
  const timer = setInterval(() => {
    const piece = pieces.shift();
    if (piece === undefined) {
      clearInterval(timer);
      if (end) res.end();
      return;
    }
    res.write(piece);
  }, everyMs);
  res.once('close', () => clearInterval(timer));
}

const call = (client: SoapClient) =>
  client.call('GetChangedCases', { since: '' }, { recordPath: 'GetChangedCasesResult.Case[]' });

describe('limits of one call', () => {
  // About 1.2 s of dripping before the cut; 20 s leaves room for a loaded two-core machine.
  it('cuts off an answer that drips forever at deadlineMs, retryable, naming the operation, endpoint and deadline', {
    timeout: 20_000,
  }, async () => {
    // A byte every 20 ms, forever: never silent for timeoutMs, so only the deadline can end it.
    const server = await legacy((res) => {
      res.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8' });
      res.write(`${HEAD}<Case><CaseId>`);
      const timer = setInterval(() => res.write('x'), 20);
      res.once('close', () => clearInterval(timer));
    });
    const client = await clientFor(server.url, { timeoutMs: 1000, deadlineMs: 1200 });
    const started = Date.now();
    const error = await failure(call(client));
    const took = Date.now() - started;
    expect(error).toMatchObject({ code: 'SOAP_DEADLINE_EXCEEDED', retryable: true });
    expect(error.message).toContain('operation CaseService.GetChangedCases');
    expect(error.message).toContain(server.url);
    expect(error.message).toContain('deadlineMs (1200 ms)');
    expect(error.message).toMatch(/within deadlineMs \(1200 ms\) of waiting; [1-9]\d* bytes of it received/);
    expect(took).toBeGreaterThanOrEqual(1200);
    // The client dropped the connection: the server sees it close (the test times out otherwise).
    await server.closed;
  });

  it('passes an answer that trickles in longer than timeoutMs in all but finishes within deadlineMs', {
    timeout: 20_000,
  }, async () => {
    // 24 pieces 100 ms apart: about 2.3 s in all, more than timeoutMs, never a silence near it.
    const text = `${HEAD}${CASES}${TAIL}`;
    const size = Math.ceil(text.length / 24);
    const pieces = Array.from({ length: 24 }, (_, i) => text.slice(i * size, (i + 1) * size)).filter(
      (piece) => piece !== '',
    );
    const server = await legacy((res) => drip(res, pieces, 100));
    const client = await clientFor(server.url, { timeoutMs: 2000, deadlineMs: 10_000 });
    const started = Date.now();
    const answer = await call(client);
    expect(Date.now() - started).toBeGreaterThan(2000);
    expect(answer.items.map((item) => item.CaseId)).toEqual(['C1', 'C2']);
  });

  it('cuts off a service that goes silent mid-body at timeoutMs', { timeout: 20_000 }, async () => {
    const server = await legacy((res) => drip(res, [`${HEAD}<Case><CaseId>C1`], 10, false));
    const client = await clientFor(server.url, { timeoutMs: 300, deadlineMs: 60_000 });
    const error = await failure(call(client));
    expect(error).toMatchObject({ code: 'SOAP_TIMEOUT', retryable: true });
    expect(error.message).toContain('timeoutMs (300 ms)');
    expect(error.message).toContain('the next bytes of the answer');
    expect(error.message).toContain('operation CaseService.GetChangedCases');
    await server.closed;
  });

  it('refuses a declared Content-Length over maxResponseBytes before reading the body', {
    timeout: 20_000,
  }, async () => {
    // Headers only, then nothing: a client that tried to read the body would wait for timeoutMs (60 s).
    const server = await legacy((res) => {
      res.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': 10 * 1024 * 1024 });
      res.flushHeaders();
    });
    const client = await clientFor(server.url, {
      maxResponseBytes: 1024 * 1024,
      timeoutMs: 60_000,
      deadlineMs: 60_000,
    });
    const error = await failure(call(client));
    expect(error).toMatchObject({ code: 'SOAP_RESPONSE_TOO_LARGE', retryable: false });
    expect(error.message).toContain(`announced an answer of ${10 * 1024 * 1024} bytes`);
    expect(error.message).toContain('maxResponseBytes (1048576 bytes)');
    expect(error.message).toContain(server.url);
    await server.closed;
  });

  it('reads an answer whose Content-Length is within maxResponseBytes', { timeout: 20_000 }, async () => {
    // Exactly maxResponseBytes (its smallest allowed value): at the cap is within it.
    const body = `${HEAD}${CASES}${' '.repeat(1024 - Buffer.byteLength(HEAD + CASES + TAIL))}${TAIL}`;
    const server = await legacy((res) => {
      res.writeHead(200, { 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
    const client = await clientFor(server.url, { maxResponseBytes: 1024 });
    expect(Buffer.byteLength(body)).toBe(1024);
    const answer = await call(client);
    expect(answer.items.map((item) => item.CaseId)).toEqual(['C1', 'C2']);
  });
});
