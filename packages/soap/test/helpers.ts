// Test helpers: drive a Source the way the runtime does, and talk to the spyne service's control endpoint.
import { execFileSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Batch, type Source, silentLogger } from '@ferry/core/sdk';
import { services } from '../../../test/services/endpoints.js';

/** Read batches from `from` until the source ends or `limit` batches were read (a simulated crash). */
export async function readBatches<P>(
  source: Source<P>,
  from: P | undefined,
  limit = Number.POSITIVE_INFINITY,
): Promise<Batch<P>[]> {
  const stop = new AbortController();
  const batches: Batch<P>[] = [];
  const iterator = source.read({ from, signal: stop.signal, once: true, log: silentLogger() });
  for await (const batch of iterator) {
    batches.push(batch);
    if (batches.length >= limit) break;
  }
  stop.abort();
  return batches;
}

export async function spyneControl(body: Record<string, unknown>): Promise<{ calls: number; cases: number }> {
  const response = await fetch(services.spyne.control, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  if (!response.ok) throw new Error(`spyne control answered ${response.status}`);
  return (await response.json()) as { calls: number; cases: number };
}

/**
 * A test CA and a server and a client certificate signed by it (server valid for 127.0.0.1), made with
 * openssl in a fresh temp directory: `<dir>/{ca,server,client}.{pem,key}`.
 */
export async function makeTestCertificates(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const openssl = (...args: string[]) =>
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe', timeout: 30_000 });
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
  return dir;
}
