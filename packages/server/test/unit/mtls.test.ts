// mTLS: certificates made with openssl in the test (a CA, a server certificate for 127.0.0.1, a client
// certificate from the CA and one from nobody). A client without a certificate from the CA never reaches a
// route; one with it is served, and bearer auth still applies on top.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAdminServer, loadServerConfig } from '../../src/index.js';
import { captureLogger, fakeHost, type Issuer, startIssuer } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-mtls-'));
const file = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

function makeCertificates(): void {
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

interface Answer {
  status: number;
  body: string;
}

function get(port: number, path: string, client?: 'client' | 'rogue', token?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        ca: readFileSync(file('ca.crt')),
        ...(client
          ? { cert: readFileSync(file(`${client}.crt`)), key: readFileSync(file(`${client}.key`)) }
          : {}),
        // Node drops a connection whose client certificate does not verify. Over TLS 1.2 that happens before
        // the client's handshake completes, so the refusal is told apart from a reset of an open connection.
        ...(client === 'rogue' ? { maxVersion: 'TLSv1.2' as const } : {}),
        headers: token ? { authorization: `Bearer ${token}` } : {},
        timeout: 5000,
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        response.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

let issuer: Issuer;
let app: FastifyInstance;
let port: number;

beforeAll(async () => {
  makeCertificates();
  issuer = await startIssuer();
  writeFileSync(
    file('admin.yaml'),
    [
      'auth:',
      '  mode: oauth2',
      `  issuer: ${issuer.issuer}`,
      `  jwksUri: ${issuer.jwksUri}`,
      `  audience: ${issuer.audience}`,
      'tls:',
      '  cert: server.crt',
      '  key: server.key',
      '  ca: ca.crt',
      '  clientCertificate: require',
    ].join('\n'),
  );
  const config = await loadServerConfig(file('admin.yaml'));
  app = await buildAdminServer({ host: fakeHost(), config, logger: captureLogger().logger });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});

afterAll(async () => {
  await app?.close();
  await issuer?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('mutual TLS', () => {
  it('refuses a client without a certificate', async () => {
    await expect(get(port, '/healthz')).rejects.toThrow(/alert certificate required/);
  });

  it('refuses a client whose certificate the CA did not sign', async () => {
    await expect(get(port, '/healthz', 'rogue')).rejects.toThrow(
      /disconnected before secure TLS connection was established/,
    );
  });

  it('serves a client with a certificate from the CA, and still wants a bearer token', async () => {
    expect(await get(port, '/healthz', 'client')).toEqual({ status: 200, body: '{"status":"ok"}' });
    expect((await get(port, '/pipelines', 'client')).status).toBe(401);
    const token = await issuer.sign({ scope: 'ferry:read' });
    const answer = await get(port, '/pipelines', 'client', token);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).pipelines).toHaveLength(3);
  });

  it('documents the client certificate in the OpenAPI security of every route', async () => {
    const spec = JSON.parse((await get(port, '/openapi.json', 'client')).body);
    expect(spec.components.securitySchemes.mtls).toMatchObject({ type: 'mutualTLS' });
    expect(spec.paths['/healthz'].get.security).toEqual([{ mtls: [] }]);
    expect(spec.paths['/pipelines'].get.security).toEqual([{ mtls: [], bearer: ['ferry:read'] }]);
  });
});
