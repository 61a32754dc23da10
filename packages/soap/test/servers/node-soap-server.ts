// A real SOAP server built with node-soap's own `listen`, on loopback, for the integration tests: a case
// service with watermark paging, switchable faults, calls answered 503 on demand (with or without
// Retry-After), a slow mode, HTTP basic and WS-Security UsernameToken checks. It counts and times every call.
import { createServer, type IncomingMessage, Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as soap from 'soap';

export const wsdlPath = join(import.meta.dirname, '..', 'fixtures', 'wsdl', 'case-service.wsdl');

export interface TestCase {
  CaseId: string;
  Title: string;
  Status: string;
  Court?: string;
  ModifiedAt: string;
}

export interface CaseServerOptions {
  pageSize?: number;
  /** SOAP calls (numbered from 1) answered 503, with this Retry-After header (none when undefined). */
  unavailable?: { when: (call: number) => boolean; retryAfter?: string };
  basic?: { username: string; password: string };
  wsse?: { username: string; password: string };
  /** Answer each SOAP call only after this long (to catch a run mid-sequence). */
  delayMs?: number;
}

export interface CaseServer {
  url: string;
  endpoint11: string;
  endpoint12: string;
  cases: TestCase[];
  /** SOAP calls received (including the refused ones). */
  calls: number;
  /** When each SOAP call arrived (performance.now(), this process's clock). */
  callTimes: number[];
  /** Calls answered 503 by `unavailable`. */
  refused: number;
  served: number;
  /** Answer each SOAP call only after this long; changeable while the server runs. */
  delayMs: number;
  /** The next calls fail with this fault until cleared. */
  fault: 'server' | 'client' | undefined;
  /** What the last request carried in its security header (to tell text from digest). */
  lastPasswordType: string | undefined;
  close(): Promise<void>;
}

const DIGEST =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest';

export async function startCaseServer(options: CaseServerOptions = {}): Promise<CaseServer> {
  const pageSize = options.pageSize ?? 3;
  const state: CaseServer = {
    url: '',
    endpoint11: '',
    endpoint12: '',
    cases: [],
    calls: 0,
    callTimes: [],
    refused: 0,
    served: 0,
    delayMs: options.delayMs ?? 0,
    fault: undefined,
    lastPasswordType: undefined,
    close: async () => {},
  };
  const wsdl = await import('node:fs/promises').then((fs) => fs.readFile(wsdlPath, 'utf8'));

  const faultFor = (soap12: boolean) => {
    if (state.fault === 'server') {
      return soap12
        ? {
            Fault: {
              Code: { Value: 'soap:Receiver' },
              Reason: { Text: 'case database unavailable' },
              statusCode: 500,
            },
          }
        : { Fault: { faultcode: 'soap:Server', faultstring: 'case database unavailable', statusCode: 500 } };
    }
    return soap12
      ? {
          Fault: { Code: { Value: 'soap:Sender' }, Reason: { Text: 'since is not a date' }, statusCode: 500 },
        }
      : { Fault: { faultcode: 'soap:Client', faultstring: 'since is not a date', statusCode: 500 } };
  };

  const services = (soap12: boolean) => ({
    CaseService: {
      [soap12 ? 'CasePort12' : 'CasePort11']: {
        GetChangedCases(args: { since?: string; pageToken?: string }) {
          if (state.fault !== undefined) throw faultFor(soap12);
          const since = args.since ?? '';
          const changed = state.cases
            .filter((c) => since === '' || Date.parse(c.ModifiedAt) > Date.parse(since))
            .sort(
              (a, b) =>
                Date.parse(a.ModifiedAt) - Date.parse(b.ModifiedAt) || a.CaseId.localeCompare(b.CaseId),
            );
          const offset = Number(args.pageToken || 0);
          const page = changed.slice(offset, offset + pageSize);
          state.served += 1;
          const next = offset + pageSize < changed.length ? String(offset + pageSize) : undefined;
          return {
            GetChangedCasesResult: { Case: page, ...(next === undefined ? {} : { NextPageToken: next }) },
          };
        },
        ListCases(args: { page?: number | string }) {
          if (state.fault !== undefined) throw faultFor(soap12);
          const page = Number(args.page ?? 1);
          const sorted = [...state.cases].sort((a, b) => a.CaseId.localeCompare(b.CaseId));
          state.served += 1;
          return { ListCasesResult: { Case: sorted.slice((page - 1) * pageSize, page * pageSize) } };
        },
      },
    },
  });

  // node-soap takes over the listeners of the server it is given; it gets an inner one, fed by the outer
  // server after the 503 and basic-auth checks.
  const inner = new Server();
  const authenticate = options.wsse
    ? (security: Record<string, unknown> | undefined) => {
        const token = (security?.UsernameToken ?? {}) as Record<string, unknown>;
        const password = token.Password as
          | { $value?: string; attributes?: { Type?: string } }
          | string
          | undefined;
        const value = typeof password === 'string' ? password : password?.$value;
        const type = typeof password === 'object' ? password?.attributes?.Type : undefined;
        state.lastPasswordType = type === DIGEST ? 'digest' : 'text';
        if (token.Username !== options.wsse?.username) return false;
        if (type === DIGEST) {
          const nonce = String((token.Nonce as { $value?: string } | undefined)?.$value ?? token.Nonce ?? '');
          return value === soap.passwordDigest(nonce, String(token.Created), options.wsse?.password ?? '');
        }
        return value === options.wsse?.password;
      }
    : undefined;
  for (const soap12 of [false, true]) {
    const server = soap.listen(inner, {
      path: soap12 ? '/soap12' : '/soap11',
      services: services(soap12),
      xml: wsdl,
      uri: wsdlPath,
      forceSoap12Headers: soap12,
    });
    if (authenticate) server.authenticate = authenticate as never;
  }
  const outer = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'POST') {
      state.calls += 1;
      state.callTimes.push(performance.now());
      const busy = options.unavailable;
      if (busy?.when(state.calls)) {
        state.refused += 1;
        req.resume();
        const retryAfter = busy.retryAfter === undefined ? {} : { 'Retry-After': busy.retryAfter };
        res.writeHead(503, { 'Content-Type': 'text/html', ...retryAfter });
        res.end('<html><body>Service Unavailable</body></html>');
        return;
      }
      if (options.basic) {
        const expected = `Basic ${Buffer.from(`${options.basic.username}:${options.basic.password}`).toString('base64')}`;
        if (req.headers.authorization !== expected) {
          req.resume();
          res.writeHead(401, { 'Content-Type': 'text/plain', 'WWW-Authenticate': 'Basic realm="cases"' });
          res.end('unauthorised');
          return;
        }
      }
    }
    if (state.delayMs > 0 && req.method === 'POST') {
      setTimeout(() => inner.emit('request', req, res), state.delayMs);
      return;
    }
    inner.emit('request', req, res);
  });
  await new Promise<void>((resolve) => outer.listen(0, '127.0.0.1', resolve));
  const { port } = outer.address() as AddressInfo;
  state.url = `http://127.0.0.1:${port}`;
  state.endpoint11 = `${state.url}/soap11`;
  state.endpoint12 = `${state.url}/soap12`;
  state.close = () =>
    new Promise<void>((resolve) => {
      outer.closeAllConnections();
      outer.close(() => resolve());
    });
  return state;
}

/** Cases with increasing ModifiedAt, one second apart from `start`. */
export function makeCases(
  count: number,
  start = Date.parse('2024-01-01T00:00:00Z'),
  prefix = 'C',
): TestCase[] {
  return Array.from({ length: count }, (_, i) => ({
    CaseId: `${prefix}${String(i + 1).padStart(5, '0')}`,
    Title: `Case ${i + 1} & "co" <test>`,
    Status: i % 2 === 0 ? 'OPEN' : 'CLOSED',
    Court: 'Crown Court',
    ModifiedAt: new Date(start + i * 1000).toISOString(),
  }));
}

/** A plain HTTP server answering every request with a fixed status, headers and body (hostile XML tests). */
export async function startRawServer(
  respond: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    respond(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/soap11`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
