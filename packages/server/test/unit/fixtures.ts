// Test doubles for the HTTP layer: an in-memory AdminHost with a few pipelines in different states, a token
// issuer that serves a real JWKS on loopback, a logger whose lines the test can read, and certificates.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, FerryError, type Logger } from '@ferry/core';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import {
  type AdminHost,
  type DeadLetterView,
  type PipelineState,
  type PipelineStatus,
  type ServerConfig,
  serverConfigSchema,
} from '../../src/index.js';

const at = '2026-05-04T10:00:00.000Z';

function status(name: string, state: PipelineState, extra: Partial<PipelineStatus> = {}): PipelineStatus {
  return {
    name,
    state,
    source: 'database',
    sink: 'kafka',
    lagSeconds: null,
    counts: { recordsRead: 10, eventsWritten: 9, deadLetters: 1, retries: 0 },
    scheduled: false,
    expectations: [],
    ...extra,
  };
}

export interface FakeHost extends AdminHost {
  pipelines: Map<string, PipelineStatus>;
  /** Every method throws a plain Error (a bug in the host): the API must answer 500 INTERNAL. */
  failing: boolean;
  ready: boolean;
  calls: string[];
  /** Started without --cluster: drain requests are refused. */
  single: boolean;
}

export function fakeHost(): FakeHost {
  const pipelines = new Map<string, PipelineStatus>([
    [
      'orders',
      status('orders', 'running', {
        lagSeconds: 1.5,
        lastCheckpoint: { position: { lsn: '0/16B3748' }, at },
        progress: { label: 'snapshot main.ORDERS', done: 10, total: 100, unit: 'rows' },
      }),
    ],
    [
      'ledger',
      status('ledger', 'paused', {
        scheduled: true,
        error: { code: 'DB_CONNECTION_FAILED', message: 'refused', retryable: true, at },
        expectations: [
          {
            name: 'nightly',
            status: 'met',
            deadline: { cron: '30 2 * * *', timezone: 'Europe/London' },
            lastCheck: { at, windowStart: at, records: 12, deliveries: 1 },
            nextDeadline: at,
          },
        ],
      }),
    ],
    ['archive', status('archive', 'stopped', { source: 'sftp', sink: 'file' })],
  ]);
  const letters: DeadLetterView[] = [
    {
      id: 'dl-1',
      pipeline: 'ledger',
      stream: 'main.LEDGER',
      stage: 'mapping',
      code: 'MAPPING_INVALID_VALUE',
      message: 'bad date',
      retryable: false,
      record: { after: { ID: 1, DOB: '31022001' } },
      origin: { table: 'LEDGER' },
      attempts: 1,
      failedAt: at,
    },
  ];
  const host: FakeHost = {
    pipelines,
    failing: false,
    ready: true,
    calls: [],
    single: false,
    list() {
      check('list');
      return [...pipelines.values()];
    },
    get(name) {
      check(`get ${name}`);
      const found = pipelines.get(name);
      if (!found) throw new FerryError('PIPELINE_NOT_FOUND', `no pipeline ${name}`);
      return found;
    },
    async pause(name) {
      const p = host.get(name);
      if (p.state === 'paused') throw new FerryError('PIPELINE_STATE', `${name} is already paused`);
      host.calls.push(`pause ${name}`);
      p.state = 'paused';
      return p;
    },
    async resume(name) {
      const p = host.get(name);
      if (p.state === 'running') throw new FerryError('PIPELINE_STATE', `${name} is already running`);
      host.calls.push(`resume ${name}`);
      p.state = 'running';
      return p;
    },
    async trigger(name) {
      const p = host.get(name);
      if (p.state === 'starting') throw new FerryError('PIPELINE_STATE', `${name} is starting`);
      host.calls.push(`trigger ${name}`);
      return {
        started: p.state !== 'running',
        detail: p.state === 'running' ? 'already reading' : 'pass started',
      };
    },
    async offsets(name) {
      return host.get(name).lastCheckpoint?.position;
    },
    async resetOffsets(name) {
      const p = host.get(name);
      if (p.state === 'running' || p.state === 'starting') {
        throw new FerryError('PIPELINE_RUNNING', `${name} is running; pause it first`);
      }
      host.calls.push(`reset ${name}`);
      delete p.lastCheckpoint;
    },
    async deadLetters(name, page) {
      storeFor(name);
      const mine = letters.filter((l) => l.pipeline === name);
      return { total: mine.length, items: mine.slice(page.offset, page.offset + page.limit) };
    },
    async deadLetter(name, id) {
      storeFor(name);
      const letter = letters.find((l) => l.pipeline === name && l.id === id);
      if (!letter) throw new FerryError('DLQ_LETTER_NOT_FOUND', `no dead letter ${id} in ${name}`);
      return letter;
    },
    async replay(name, options) {
      storeFor(name);
      const p = host.get(name);
      if (!options.dryRun && (p.state === 'running' || p.state === 'starting')) {
        throw new FerryError(
          'PIPELINE_RUNNING',
          `${name} is running; pause it before you replay dead letters`,
        );
      }
      host.calls.push(`replay ${name} ${JSON.stringify(options)}`);
      return { dryRun: options.dryRun, replayed: 1, events: 1, stillFailing: [] };
    },
    async asyncapi() {
      check('asyncapi');
      return { asyncapi: '3.0.0', info: { title: 'Ferry events', version: '1' } };
    },
    async readiness() {
      check('readiness');
      return {
        ready: host.ready,
        pipelines: [
          { name: 'orders', ready: host.ready, ...(host.ready ? {} : { reason: 'sink unreachable' }) },
        ],
      };
    },
    async metrics() {
      check('metrics');
      return {
        contentType: 'text/plain; version=0.0.4; charset=utf-8',
        body: '# TYPE ferry_records_read_total counter\nferry_records_read_total{pipeline="orders"} 10\n',
      };
    },
    async drainWorker(worker, undo) {
      check(`drain ${worker}`);
      if (host.single) throw new FerryError('SERVER_NOT_IN_CLUSTER', 'not started with --cluster');
      if (worker !== 'worker-1' && worker !== 'worker-2')
        throw new FerryError('SERVER_WORKER_NOT_FOUND', `no worker ${worker} in cluster hub`);
      return { worker, draining: !undo, requestedAt: at };
    },
    cluster() {
      check('cluster');
      // The leader of a two-worker cluster, one pipeline waiting for a worker with its label.
      const orders = {
        pipeline: 'orders',
        since: '2026-12-05T03:00:00.000Z',
        state: 'running',
        lagSeconds: 0.4,
        lastCommitAt: '2026-12-05T03:00:05.000Z',
      };
      const ledger = { pipeline: 'ledger', since: null, state: null, lagSeconds: null, lastCommitAt: null };
      return {
        mode: 'cluster' as const,
        group: 'hub',
        worker: 'worker-1',
        memberId: 'ferry-1-abc',
        leader: true,
        generation: 7,
        assigned: [orders],
        plan: { generation: 7, leader: 'worker-1', at: '2026-12-05T03:00:00.000Z' },
        members: [
          {
            memberId: 'ferry-1-abc',
            worker: 'worker-1',
            labels: [],
            draining: false,
            url: 'http://127.0.0.1:8080',
            pipelines: [orders],
          },
          {
            memberId: 'ferry-2-def',
            worker: 'worker-2',
            labels: ['zone-2'],
            draining: false,
            url: null,
            pipelines: [ledger],
          },
        ],
        unassigned: [{ name: 'archive', reason: 'no live worker has the labels it requires (archive-host)' }],
      };
    },
  };
  function check(what: string): void {
    if (host.failing) throw new Error(`disk on fire during ${what}`);
  }
  // `archive` stores dead letters where they cannot be listed.
  function storeFor(name: string): void {
    host.get(name);
    if (name === 'archive')
      throw new FerryError('DLQ_LIST_UNSUPPORTED', 'the kafka dead-letter store cannot list');
  }
  return host;
}

export interface Issuer {
  issuer: string;
  audience: string;
  jwksUri: string;
  rsa: { privateKey: CryptoKey; publicKey: CryptoKey; jwk: JWK };
  /** A signed token; `claims` override the defaults (iss, aud, sub, one hour of validity). */
  sign(
    claims?: Record<string, unknown>,
    options?: { key?: 'rsa' | 'ec' | 'stranger'; kid?: string },
  ): Promise<string>;
  close(): Promise<void>;
}

/** An OAuth2 issuer on 127.0.0.1: RSA (RS256) and EC (ES256) keys in its JWKS, and one key it never publishes. */
export async function startIssuer(): Promise<Issuer> {
  const rsa = await generateKeyPair('RS256', { extractable: true });
  const ec = await generateKeyPair('ES256', { extractable: true });
  const stranger = await generateKeyPair('RS256');
  const rsaJwk = { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' };
  const ecJwk = { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' };
  const server: Server = createServer((request, response) => {
    if (request.url !== '/jwks.json') {
      response.writeHead(404).end();
      return;
    }
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ keys: [rsaJwk, ecJwk] }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const issuer = 'https://login.example.test/realms/ferry';
  const audience = 'ferry-admin';
  const keys = {
    rsa: { key: rsa.privateKey, alg: 'RS256', kid: 'rsa-1' },
    ec: { key: ec.privateKey, alg: 'ES256', kid: 'ec-1' },
    stranger: { key: stranger.privateKey, alg: 'RS256', kid: 'rsa-2' },
  };
  return {
    issuer,
    audience,
    jwksUri: `http://127.0.0.1:${port}/jwks.json`,
    rsa: { ...rsa, jwk: rsaJwk },
    async sign(claims = {}, options = {}) {
      const { key, alg, kid } = keys[options.key ?? 'rsa'];
      const now = Math.floor(Date.now() / 1000);
      const payload: JWTPayload = {
        iss: issuer,
        aud: audience,
        sub: 'ops-bot',
        iat: now,
        exp: now + 3600,
        ...claims,
      };
      return new SignJWT(payload).setProtectedHeader({ alg, kid: options.kid ?? kid, typ: 'JWT' }).sign(key);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A debug-level logger whose lines (as text) the test can search. */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), lines };
}

/** An oauth2 admin config trusting `issuer`, with any overrides of the auth section. */
export function oauth2Config(issuer: Issuer, overrides: Record<string, unknown> = {}): ServerConfig {
  return serverConfigSchema.parse({
    auth: {
      mode: 'oauth2',
      issuer: issuer.issuer,
      jwksUri: issuer.jwksUri,
      audience: issuer.audience,
      ...overrides,
    },
  });
}

/** A loopback port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Certificates made with openssl in `dir`: a CA (`ca.crt`, `ca.key`), a server certificate for 127.0.0.1 and
 * localhost from it (`server.crt`, `server.key`), a client certificate from it (`client.*`), and a
 * self-signed client certificate from nobody (`rogue.*`).
 */
export function makeTestCertificates(dir: string): void {
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=Ferry test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
  );
  writeFileSync(
    file('server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  writeFileSync(file('client.ext'), 'extendedKeyUsage=clientAuth\n');
  const issue = (name: string, subject: string, ext: string, signer: 'ca' | 'self') => {
    openssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      subject,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    );
    const sign =
      signer === 'ca' ? ['-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'] : ['-key', `${name}.key`];
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      ...sign,
      '-days',
      '1',
      '-extfile',
      ext,
      '-out',
      `${name}.crt`,
    );
  };
  issue('server', '/CN=127.0.0.1', 'server.ext', 'ca');
  issue('client', '/CN=ops-console', 'client.ext', 'ca');
  issue('rogue', '/CN=ops-console', 'client.ext', 'self');
}
