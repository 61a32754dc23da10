// mTLS: certificates made with openssl in the test (a CA, a server certificate for 127.0.0.1, a client
// certificate from the CA and one from nobody). A client without a certificate from the CA never reaches a
// route; one with it is served, and bearer auth still applies on top.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAdminServer, loadServerConfig } from '../../src/index.js';
import { captureLogger, fakeHost, type Issuer, makeTestCertificates, startIssuer } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-mtls-'));
const file = (name: string) => join(dir, name);
const makeCertificates = () => makeTestCertificates(dir);

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
