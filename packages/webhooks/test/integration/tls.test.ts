// HTTPS endpoints signed by a private CA, one of them asking for a client certificate (mTLS), with
// certificates made by openssl in the test; and the circuit breaker of an endpoint that keeps failing.
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CanonicalEvent, DeadLetter } from '@ferry/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCertificates } from '../../../server/test/unit/fixtures.js';
import { Dispatcher, generateSecret, type SubscriptionInput, subscriptionSchema } from '../../src/index.js';
import { startReceiver } from '../receiver.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-webhooks-tls-'));
const pem = (name: string) => readFileSync(join(dir, name), 'utf8');

function event(i: number): CanonicalEvent {
  return {
    specversion: '1.0',
    id: `tls-${i}`,
    source: '/ferry/test/offenders',
    type: 'justice.offender.updated',
    subject: 'A1',
    time: '2026-01-01T00:00:00.000Z',
    datacontenttype: 'application/json',
    data: { i },
  };
}

/** An HTTPS receiver on 127.0.0.1 with the CA's server certificate; with `clients`, mTLS is required. */
async function httpsReceiver(clients: boolean) {
  const seen: { authorized: boolean; subject: string | undefined }[] = [];
  const server = createServer(
    {
      cert: pem('server.crt'),
      key: pem('server.key'),
      ...(clients ? { ca: pem('ca.crt'), requestCert: true, rejectUnauthorized: true } : {}),
    },
    (request, response) => {
      const socket = request.socket as import('node:tls').TLSSocket;
      seen.push({ authorized: socket.authorized, subject: socket.getPeerCertificate()?.subject?.CN });
      request.resume();
      request.on('end', () => response.writeHead(204).end());
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    seen,
    close: () => new Promise((done) => server.close(done)),
  };
}

async function deliver(overrides: Partial<SubscriptionInput>, url: string) {
  const letters: DeadLetter[] = [];
  const dispatcher = new Dispatcher({
    subscription: subscriptionSchema.parse({
      name: 'tls',
      url,
      events: ['*'],
      secrets: [generateSecret()],
      retry: { attempts: 3, minDelayMs: 10, maxDelayMs: 10 },
      ...overrides,
    }),
    policy: { allow: ['127.0.0.1/32'] },
    deadLetters: async (l) => {
      letters.push(...l);
    },
  });
  try {
    const outcome = await (await dispatcher.enqueue(event(1))).done;
    return { outcome, letters };
  } finally {
    await dispatcher.close();
  }
}

beforeAll(() => makeTestCertificates(dir));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('HTTPS endpoints', () => {
  it('trusts a private CA only when given it', async () => {
    const receiver = await httpsReceiver(false);
    try {
      const untrusted = await deliver({}, receiver.url);
      expect(untrusted.outcome).toMatchObject({ kind: 'dead-lettered', code: 'WEBHOOK_TLS_FAILED' });
      expect(untrusted.letters[0]).toMatchObject({
        retryable: false,
        message: expect.stringMatching(/tls\.ca/),
      });
      const trusted = await deliver({ tls: { ca: pem('ca.crt') } }, receiver.url);
      expect(trusted.outcome).toMatchObject({ kind: 'delivered', status: 204 });
    } finally {
      await receiver.close();
    }
  });

  it('presents the client certificate an mTLS endpoint asks for', async () => {
    const receiver = await httpsReceiver(true);
    try {
      const without = await deliver({ tls: { ca: pem('ca.crt') } }, receiver.url);
      expect(without.outcome).toMatchObject({ kind: 'dead-lettered' });
      expect(receiver.seen).toHaveLength(0);
      const rogue = await deliver(
        { tls: { ca: pem('ca.crt'), cert: pem('rogue.crt'), key: pem('rogue.key') } },
        receiver.url,
      );
      expect(rogue.outcome).toMatchObject({ kind: 'dead-lettered' });
      const client = await deliver(
        { tls: { ca: pem('ca.crt'), cert: pem('client.crt'), key: pem('client.key') } },
        receiver.url,
      );
      expect(client.outcome).toMatchObject({ kind: 'delivered', status: 204 });
      expect(receiver.seen).toEqual([{ authorized: true, subject: 'ops-console' }]);
    } finally {
      await receiver.close();
    }
  });
});

describe('the circuit breaker', () => {
  it('stops sending to an endpoint failing in a row for the cool-down, then tries it again', async () => {
    const secret = generateSecret();
    const receiver = await startReceiver([secret], () => ({ status: 500 }));
    const dispatcher = new Dispatcher({
      subscription: subscriptionSchema.parse({
        name: 'breaker',
        url: receiver.url,
        events: ['*'],
        secrets: [secret],
        retry: { attempts: 5, minDelayMs: 1, maxDelayMs: 2 },
        breaker: { failures: 3, cooldownMs: 800 },
      }),
      policy: { allow: ['127.0.0.1/32'] },
      deadLetters: async () => undefined,
    });
    try {
      const outcome = await (await dispatcher.enqueue(event(2))).done;
      expect(outcome).toMatchObject({ kind: 'dead-lettered', code: 'WEBHOOK_UNAVAILABLE', attempts: 5 });
      const at = receiver.received.map((r) => r.at);
      expect(at).toHaveLength(5);
      // Three failures open the circuit: the fourth try waits out the cool-down, then fails and reopens it.
      expect((at[3] as number) - (at[2] as number)).toBeGreaterThanOrEqual(750);
      expect((at[4] as number) - (at[3] as number)).toBeGreaterThanOrEqual(750);
      expect((at[2] as number) - (at[0] as number)).toBeLessThan(750);
    } finally {
      await dispatcher.close();
      await receiver.close();
    }
  });
});
