// Test helpers: drive a Source the way the runtime does, the SOAP options and pipeline files the tests share,
// and the spyne service's control endpoint.
import { execFileSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistry, type Registry } from '@ferry/core';
import { type Batch, type Source, silentLogger, stableStringify } from '@ferry/core/sdk';
import { expect } from 'vitest';
import type { SoapEndpoint } from '../../../test/services/endpoints.js';
import {
  SoapClient,
  type SoapConnectionConfigInput,
  SoapError,
  type SoapSourceConfigInput,
  soapConnectionSchema,
  soapSourceFactory,
} from '../src/index.js';
import { wsdlPath } from './servers/node-soap-server.js';

/**
 * Read one pass from `from` until the source ends or `limit` batches were read (a simulated crash). Each
 * batch counts as committed when the next is pulled, as in the runtime: a baseline a batch hands over is
 * staged and promoted before reading on (`commit: false` leaves that out, like a crash before the commit).
 */
export async function readBatches<P>(
  source: Source<P>,
  from: P | undefined,
  limit = Number.POSITIVE_INFINITY,
  { commit = true } = {},
): Promise<Batch<P>[]> {
  const stop = new AbortController();
  const batches: Batch<P>[] = [];
  const context = { from, signal: stop.signal, once: true, log: silentLogger(), caughtUp: () => {} };
  for await (const batch of source.read(context)) {
    batches.push(batch);
    if (commit && batch.baseline !== undefined) {
      await batch.baseline.stage(stableStringify(batch.position));
      await batch.baseline.promote();
    }
    if (batches.length >= limit) break;
  }
  stop.abort();
  return batches;
}

/** `op:CaseId` of every record of the batches, in order. */
export function opsOf(batches: Batch[]): string[] {
  return batches.flatMap((b) => b.records.map((r) => `${r.op}:${String(r.key.CaseId)}`));
}

/** Watermark mode against the node-soap case server's GetChangedCases (token paging). */
export function caseWatermarkConfig(
  endpoint: string | undefined,
  overrides: Partial<SoapSourceConfigInput> = {},
): SoapSourceConfigInput {
  return {
    mode: 'watermark',
    wsdl: wsdlPath,
    port: 'CasePort11',
    endpoint,
    operation: 'GetChangedCases',
    arguments: { since: '{{since}}', pageToken: '{{page}}' },
    records: 'GetChangedCasesResult.Case[]',
    key: ['CaseId'],
    watermark: { field: 'ModifiedAt', type: 'timestamp' },
    pagination: { type: 'token', nextPath: 'GetChangedCasesResult.NextPageToken' },
    batchSize: 2,
    ...overrides,
  } as SoapSourceConfigInput;
}

/** Snapshot mode against the node-soap case server's ListCases (page numbers), state in a fresh directory. */
export async function caseSnapshotConfig(
  endpoint: string | undefined,
  overrides: Partial<SoapSourceConfigInput> = {},
): Promise<SoapSourceConfigInput> {
  return {
    mode: 'snapshot',
    wsdl: wsdlPath,
    port: 'CasePort11',
    endpoint,
    operation: 'ListCases',
    arguments: { page: '{{page}}' },
    records: 'ListCasesResult.Case[]',
    key: ['CaseId'],
    pagination: { type: 'page-number', first: 1, pageSize: 3 },
    batchSize: 2,
    stateDir: await mkdtemp(join(tmpdir(), 'ferry-soap-snap-')),
    ...overrides,
  } as SoapSourceConfigInput;
}

/** A pipeline file around a SOAP source (YAML lines, indented two spaces), events to `.ferry/events`. */
export function pipelineYaml(source: string, extra = ''): string {
  return `pipeline: soap-cases
source:
${source}
mapping:
  subject: caseId
  fields:
    caseId: { from: CaseId, required: true }
    title: Title
    status: Status
    modifiedAt: { from: ModifiedAt, type: datetime }
contract:
  type: justice.case
  version: 1.0.0
sink:
  type: file
  dir: .ferry/events
deadLetters:
  type: file
  dir: .ferry/dead-letters
checkpoints:
  type: file
  dir: .ferry/checkpoints
${extra}`;
}

/** A watermark source on the node-soap case server, as pipeline-file lines (`extra` appends options). */
export function caseWatermarkYaml(endpoint: string, extra = ''): string {
  return `  type: soap
  mode: watermark
  wsdl: ${wsdlPath}
  port: CasePort11
  endpoint: ${endpoint}
  operation: GetChangedCases
  arguments: { since: '{{since}}', pageToken: '{{page}}' }
  records: GetChangedCasesResult.Case[]
  key: [CaseId]
  watermark: { field: ModifiedAt, type: timestamp }
  pagination: { type: token, nextPath: GetChangedCasesResult.NextPageToken }${extra}`;
}

/** Core's registry with the SOAP source, as the CLI builds it. */
export function soapRegistry(): Registry {
  const registry = createRegistry();
  registry.sources.set(soapSourceFactory.type, soapSourceFactory);
  return registry;
}

/**
 * Set a spyne service's cases, fault, flaky mode or page size: global to its process, so only ever on a
 * private spyne (startPrivateSpyne in test/services/private.ts), never on the shared one that other test
 * files and other clones' test runs read at the same time.
 */
export async function spyneControl(
  spyne: SoapEndpoint,
  body: Record<string, unknown>,
): Promise<{ calls: number; cases: number }> {
  const response = await fetch(spyne.control, {
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

/** The node-soap test service's GetChangedCases answer around its records, for servers that write it raw. */
export const CHANGED_CASES_HEAD =
  '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>' +
  '<GetChangedCasesResponse xmlns="urn:ferry:test:cases:types"><GetChangedCasesResult>';
export const CHANGED_CASES_TAIL =
  '</GetChangedCasesResult></GetChangedCasesResponse></soap:Body></soap:Envelope>';

/** A client of the test WSDL's SOAP 1.1 port at `url`; `closers` gets its close. */
export async function caseClientAt(
  url: string,
  closers: (() => Promise<void> | void)[],
  overrides: Partial<SoapConnectionConfigInput> = {},
): Promise<SoapClient> {
  const client = await SoapClient.open(
    soapConnectionSchema.parse({ wsdl: wsdlPath, port: 'CasePort11', endpoint: url, ...overrides }),
    { logger: silentLogger() },
  );
  closers.push(() => client.close());
  return client;
}

/** The SoapError `promise` rejects with (the test fails if it resolves or rejects with something else). */
export async function soapFailure(promise: Promise<unknown>): Promise<SoapError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SoapError);
  return error as SoapError;
}
