// The redaction canary: a known secret is put, through `${env:FERRY_CANARY}`, into every config field that can
// hold one (database, SFTP, SOAP and Kafka credentials), each pointed at a real loopback service so the run
// really authenticates, and fails or runs. Everything Ferry then prints or writes (validate, run and dlq list
// output, the JSON logs at trace level, error text, dead letters, events, checkpoints, state files, metrics)
// must hold neither the secret nor its URL-encoded or base64 forms. A control value in a rejected record
// proves the dead letters were really collected and searched.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { defaultRegistry } from '@ferry/cli';
import { assemblePipeline, createLogger, loadPipelineFile, runPipeline } from '@ferry/core';
import { createMetrics } from '@ferry/ops';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { type CliResult, repoRoot, runCli } from '../../examples/quickstart/test/cli.js';
import { drop, remoteDir } from '../../packages/sftp/test/helpers.js';
import {
  type CaseServer,
  startCaseServer,
  wsdlPath,
} from '../../packages/soap/test/servers/node-soap-server.js';
import { services } from '../services/endpoints.js';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');

const CANARY = 'canary-qzx7wv/DO-NOT+LOG';
const CONTROL = 'control-k9p2mj-SHOULD-APPEAR';
const SECRET = '${env:FERRY_CANARY}';
const suffix = `${process.pid}_${Date.now().toString(36)}`;

/** The canary as it could leak: verbatim, URL-encoded, base64 at any alignment, or its random core alone. */
function leakForms(secret: string): string[] {
  const forms = new Set([secret, encodeURIComponent(secret), encodeURI(secret), 'qzx7wv']);
  for (let k = 0; k < 3; k += 1) {
    // Inside a longer base64 text (user:password in a Basic header) the secret starts at any byte offset:
    // drop the first group (it mixes in the prefix) and the last (it mixes in what follows).
    const padded = Buffer.concat([Buffer.alloc(k, 0x41), Buffer.from(secret)]);
    for (const encoding of ['base64', 'base64url'] as const)
      forms.add(
        padded
          .toString(encoding)
          .replace(/=+$/, '')
          .slice(k > 0 ? 4 : 0, -4),
      );
  }
  return [...forms];
}

/** Every file under `dir`, as text (binary files too: SQLite state, spool). */
function filesUnder(dir: string): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push({ path, text: readFileSync(path).toString('latin1') });
  }
  return out;
}

const mapping = (id: string, family: string) => ({
  subject: 'offenderId',
  fields: { offenderId: { from: id, required: true }, 'name.family': { from: family, required: true } },
});

/** Rows of every source: one good, one failing the mapping (carrying the control), one failing the contract. */
const ROWS = [
  { id: 'A0001BC', family: 'SMITH', note: 'fine' },
  { id: 'A0002BC', family: '', note: CONTROL },
  { id: 'not-a-prison-number', family: 'JONES', note: 'bad id' },
];

interface Scenario {
  name: string;
  /** Writes what the source needs into `dir`; returns the pipeline's parts. */
  parts(dir: string): Promise<Record<string, unknown>>;
  /** `ok`: the run authenticates and dead-letters the control row; otherwise the error code it stops with. */
  expect: 'ok' | string;
}

const { host, port, user, password, database: db } = services.postgres;
const pgAdmin = new pg.Client({ host, port, user, password, database: db });
let mariaAdmin: mysql.Connection;
let soapServers: CaseServer[] = [];
const pgTable = `canary_rows_${suffix}`;
const pgRole = `ferry_canary_${suffix}`;
// Users are global to the shared server: unique per run, so two runs at once (or a leftover) never clash.
const mariaUser = `fc_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  await pgAdmin.connect();
  await pgAdmin.query(
    `CREATE TABLE ${pgTable} (seq INT PRIMARY KEY, offender_id TEXT, family TEXT, note TEXT)`,
  );
  for (const [i, r] of ROWS.entries())
    await pgAdmin.query(`INSERT INTO ${pgTable} VALUES ($1, $2, $3, $4)`, [i + 1, r.id, r.family, r.note]);
  // A role whose password is the canary: the run logs in with it and reads rows with it in scope.
  await pgAdmin.query(`CREATE ROLE ${pgRole} LOGIN PASSWORD '${CANARY}'`);
  await pgAdmin.query(`GRANT SELECT ON ${pgTable} TO ${pgRole}`);

  const m = services.mariadb;
  mariaAdmin = await mysql.createConnection({
    host: m.host,
    port: m.port,
    user: m.user,
    password: m.password,
    database: m.database,
  });
  await mariaAdmin.query(
    `CREATE TABLE ${pgTable} (seq INT PRIMARY KEY, offender_id TEXT, family TEXT, note TEXT)`,
  );
  for (const [i, r] of ROWS.entries())
    await mariaAdmin.query(`INSERT INTO ${pgTable} VALUES (?, ?, ?, ?)`, [i + 1, r.id, r.family, r.note]);
  await mariaAdmin.query(`CREATE USER '${mariaUser}'@'127.0.0.1' IDENTIFIED BY '${CANARY}'`);
  await mariaAdmin.query(`GRANT SELECT ON ferry.${pgTable} TO '${mariaUser}'@'127.0.0.1'`);
  vi.stubEnv('FERRY_CANARY', CANARY);
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await pgAdmin.query(`DROP TABLE IF EXISTS ${pgTable}`).catch(() => undefined);
  await pgAdmin.query(`DROP ROLE IF EXISTS ${pgRole}`).catch(() => undefined);
  await pgAdmin.end();
  await mariaAdmin?.query(`DROP TABLE IF EXISTS ${pgTable}`).catch(() => undefined);
  await mariaAdmin?.query(`DROP USER IF EXISTS '${mariaUser}'@'127.0.0.1'`).catch(() => undefined);
  await mariaAdmin?.end();
  for (const server of soapServers) await server.close();
  soapServers = [];
});

const polled = { key: ['seq'], incrementingColumn: 'seq' };

function database(type: 'postgres' | 'mariadb', username: string): Record<string, unknown> {
  const { host, port, database: name } = services[type];
  return {
    source: {
      type: 'database',
      mode: 'polling',
      connection: { type, host, port, username, password: SECRET, database: name, connectTimeoutMs: 3000 },
      tables: [{ name: pgTable, ...polled }],
    },
    mapping: mapping('offender_id', 'family'),
  };
}

/** A SQLite table (no secret of its own) feeding a sink that holds the secret. */
function sqliteRows(dir: string): Record<string, unknown> {
  const db = new Database(join(dir, 'legacy.db'));
  db.exec('CREATE TABLE ROWS_T (seq INTEGER PRIMARY KEY, offender_id TEXT, family TEXT, note TEXT)');
  const insert = db.prepare('INSERT INTO ROWS_T VALUES (?, ?, ?, ?)');
  for (const [i, r] of ROWS.entries()) insert.run(i + 1, r.id, r.family, r.note);
  db.close();
  return {
    type: 'database',
    mode: 'polling',
    connection: { type: 'better-sqlite3', database: './legacy.db' },
    tables: [{ name: 'ROWS_T', ...polled }],
  };
}

function sftpSource(dir: string, credentials: Record<string, unknown>): Record<string, unknown> {
  const { remote, local } = remoteDir('canary');
  drop(local, 'rows.csv', `id,family,note\n${ROWS.map((r) => `${r.id},${r.family},${r.note}`).join('\n')}\n`);
  return {
    source: {
      type: 'sftp',
      connection: {
        host: services.sftp.host,
        port: services.sftp.port,
        username: services.sftp.username,
        knownHosts: services.sftp.knownHostsPath,
        connectTimeoutMs: 5000,
        ...credentials,
      },
      paths: [`${remote}/*.csv`],
      format: { type: 'csv' },
      key: ['id'],
      stateDir: join(dir, 'sftp-state'),
    },
    mapping: mapping('id', 'family'),
  };
}

/** The client key, encrypted with the canary as its passphrase. */
function encryptedKey(dir: string): string {
  const path = join(dir, 'client_key');
  copyFileSync(services.sftp.privateKeyPath, path);
  execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', CANARY, '-f', path], {
    stdio: 'pipe',
    timeout: 30_000,
  });
  return path;
}

/** A signing key encrypted with `passphrase`, and its certificate. */
function x509(dir: string, passphrase: string): { keyFile: string; certFile: string } {
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '2'].concat([
      '-subj',
      '/CN=ferry-canary',
      '-passout',
      `pass:${passphrase}`,
    ]),
    { cwd: dir, stdio: 'pipe', timeout: 30_000 },
  );
  return { keyFile: './key.pem', certFile: './cert.pem' };
}

async function soapSource(
  security: Record<string, unknown>,
  server: Parameters<typeof startCaseServer>[0] = {},
  extra: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const started = await startCaseServer({ pageSize: 10, ...server });
  soapServers.push(started);
  started.cases.push(
    ...ROWS.map((r, i) => ({
      CaseId: r.id,
      Title: r.note,
      Status: 'OPEN',
      ...(r.family ? { Court: r.family } : {}),
      ModifiedAt: new Date(Date.parse('2024-01-01T00:00:00Z') + i * 1000).toISOString(),
    })),
  );
  return {
    source: {
      type: 'soap',
      mode: 'watermark',
      wsdl: wsdlPath,
      port: 'CasePort11',
      endpoint: started.endpoint11,
      operation: 'GetChangedCases',
      arguments: { since: '{{since}}', pageToken: '{{page}}' },
      records: 'GetChangedCasesResult.Case[]',
      key: ['CaseId'],
      watermark: { field: 'ModifiedAt', type: 'timestamp' },
      pagination: { type: 'token', nextPath: 'GetChangedCasesResult.NextPageToken' },
      timeoutMs: 5000,
      security,
      ...extra,
    },
    mapping: mapping('CaseId', 'Court'),
  };
}

const kafka = (dir: string, connection: Record<string, unknown>) => ({
  source: sqliteRows(dir),
  mapping: mapping('offender_id', 'family'),
  sink: {
    type: 'kafka',
    brokers: services.kafka.brokers,
    topic: `canary-${suffix}`,
    connectionTimeoutMs: 2000,
    requestTimeoutMs: 3000,
    ...connection,
  },
});

const scenarios: Scenario[] = [
  {
    name: 'postgres: password (logs in, reads, dead-letters)',
    expect: 'ok',
    parts: async () => database('postgres', pgRole),
  },
  {
    name: 'postgres: wrong password',
    expect: 'DB_AUTH_FAILED',
    parts: async () => database('postgres', 'ferry'),
  },
  {
    name: 'mariadb: password (logs in, reads, dead-letters)',
    expect: 'ok',
    parts: async () => database('mariadb', mariaUser),
  },
  {
    name: 'mariadb: wrong password',
    expect: 'DB_AUTH_FAILED',
    parts: async () => database('mariadb', 'ferry'),
  },
  {
    name: 'sftp: key passphrase (logs in, reads, dead-letters)',
    expect: 'ok',
    parts: async (dir) =>
      sftpSource(dir, { privateKey: `\${file:${encryptedKey(dir)}}`, passphrase: SECRET }),
  },
  {
    name: 'sftp: password',
    expect: 'SFTP_AUTH_FAILED',
    parts: async (dir) => sftpSource(dir, { password: SECRET }),
  },
  {
    name: 'sftp: private key text',
    // Not a usable key: refused by the SSH library before any login.
    expect: 'SFTP_KEY_INVALID',
    parts: async (dir) => sftpSource(dir, { privateKey: SECRET }),
  },
  {
    name: 'soap: basic password (accepted, reads, dead-letters)',
    expect: 'ok',
    parts: () =>
      soapSource(
        { type: 'basic', username: 'cms', password: SECRET },
        { basic: { username: 'cms', password: CANARY } },
      ),
  },
  {
    name: 'soap: basic password refused',
    expect: 'SOAP_AUTH_FAILED',
    parts: () =>
      soapSource(
        { type: 'basic', username: 'cms', password: SECRET },
        { basic: { username: 'cms', password: 'other' } },
      ),
  },
  {
    name: 'soap: WS-Security PasswordText (accepted, reads, dead-letters)',
    expect: 'ok',
    parts: () =>
      soapSource(
        { type: 'wsse-username', username: 'cms', password: SECRET, passwordType: 'text' },
        { wsse: { username: 'cms', password: CANARY } },
      ),
  },
  {
    name: 'soap: WS-Security PasswordDigest refused',
    expect: 'SOAP_FAULT_CLIENT',
    parts: () =>
      soapSource(
        { type: 'wsse-username', username: 'cms', password: SECRET, passwordType: 'digest' },
        { wsse: { username: 'cms', password: 'other' } },
      ),
  },
  {
    name: 'soap: X.509 key and TLS key passphrases (signs, reads, dead-letters)',
    expect: 'ok',
    parts: async (dir) => {
      const files = x509(dir, CANARY);
      return soapSource(
        { type: 'wsse-x509', ...files, passphrase: SECRET },
        {},
        {
          tls: { certFile: files.certFile, keyFile: files.keyFile, passphrase: SECRET },
        },
      );
    },
  },
  {
    name: 'soap: X.509 passphrase that does not open the key',
    // The key is opened when the source starts: a passphrase that does not decrypt it is refused at once.
    expect: 'SOAP_KEY_INVALID',
    parts: async (dir) =>
      soapSource({ type: 'wsse-x509', ...x509(dir, 'another-passphrase'), passphrase: SECRET }),
  },
  {
    name: 'kafka: SASL password against a broker without SASL',
    expect: 'KAFKA_AUTHENTICATION_FAILED',
    parts: async (dir) => kafka(dir, { sasl: { mechanism: 'plain', username: 'ferry', password: SECRET } }),
  },
  {
    name: 'kafka: TLS client key text',
    // The key cannot be decoded: every connection attempt fails (KAFKA_BROKER_UNAVAILABLE) until retries end.
    expect: 'RETRIES_EXHAUSTED',
    parts: async (dir) => kafka(dir, { ssl: { key: SECRET, rejectUnauthorized: false } }),
  },
];

function pipelineFile(dir: string, name: string, parts: Record<string, unknown>): string {
  const doc = {
    pipeline: name,
    sink: { type: 'file', dir: '.ferry/events' },
    contract: {
      type: 'justice.offender',
      version: '1.0.0',
      repository: join(repoRoot, 'examples', 'justice-model', 'contracts'),
    },
    deadLetters: { type: 'file', dir: '.ferry/dead-letters' },
    checkpoints: { type: 'file', dir: '.ferry/checkpoints' },
    // A failure is reported after a short retry, not after the default minutes of backoff.
    runtime: { retry: { retries: 1, minTimeoutMs: 10, maxTimeoutMs: 50, maxRetryTimeMs: 3000 } },
    ...parts,
  };
  const path = join(dir, 'pipeline.yaml');
  writeFileSync(path, stringify(doc));
  return path;
}

/** The same pipeline run in this process, with a metrics observer and the logs captured at trace level. */
async function runWithMetrics(file: string): Promise<{ metrics: string; logs: string; error: string }> {
  const registry = defaultRegistry();
  const pipeline = await loadPipelineFile(file, registry);
  const metrics = createMetrics();
  let logs = '';
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      logs += String(chunk);
      callback();
    },
  });
  const logger = createLogger({
    redactor: pipeline.redactor,
    level: 'trace',
    destination: destination as never,
  });
  let error = '';
  try {
    const options = await assemblePipeline(pipeline, registry, {
      logger,
      signal: new AbortController().signal,
      once: true,
      observer: metrics.observer(pipeline.name),
    });
    await runPipeline(options);
  } catch (caught) {
    // What a host would do with a failure: its message, stack and details are printed and logged.
    error = pipeline.redactor.scrub(`${(caught as Error).stack}\n${JSON.stringify(caught)}`);
  }
  return { metrics: await metrics.text(), logs, error };
}

describe('redaction canary: a secret in every config field never reaches output, logs, dead letters or metrics', () => {
  const forms = leakForms(CANARY);

  // One at a time: a scenario is three CLI processes and an in-process run, nearly all CPU (each process
  // loads every connector). Run five at once, they only share the same two cores, and on a loaded machine
  // each one's time stretches to the whole file's share of five: 60-120 s each, 273 s for the file, measured
  // while a second clone's `npm test` ran. One at a time the file takes about as long and each scenario
  // about a fifteenth of it, far inside the 120 s test timeout.
  it.for(scenarios)('$name', async (scenario, { expect }) => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-canary-'));
    const name = `canary-${scenarios.indexOf(scenario)}`;
    const file = pipelineFile(dir, name, await scenario.parts(dir));
    const env = { FERRY_CANARY: CANARY, FERRY_LOG_LEVEL: 'trace' };
    const validate = await runCli(['validate', file, '--json'], env);
    expect(validate.code, validate.stderr).toBe(0);
    expect(JSON.stringify(JSON.parse(validate.stdout).config)).toContain('[REDACTED]');
    const run = await runCli(['run', file, '--once', '--log-level', 'trace'], env);
    const list = await runCli(['dlq', 'list', file, '--json'], env);
    const inProcess = await runWithMetrics(file);

    const outputs: [string, CliResult | string][] = [
      ['validate', validate],
      ['run', run],
      ['dlq list', list],
      ['in-process logs', inProcess.logs],
      ['in-process error', inProcess.error],
      ['metrics', inProcess.metrics],
    ];
    const texts = [
      ...outputs.flatMap(([what, out]) =>
        typeof out === 'string'
          ? [{ path: what, text: out }]
          : [
              { path: `${what} stdout`, text: out.stdout },
              { path: `${what} stderr`, text: out.stderr },
            ],
      ),
      ...filesUnder(dir).filter((f) => !f.path.endsWith('.pem') && !f.path.endsWith('client_key')),
    ];
    for (const { path, text } of texts) {
      for (const form of forms)
        expect(text.includes(form), `${form} in ${path}:\n${text.slice(0, 2000)}`).toBe(false);
    }

    if (scenario.expect === 'ok') {
      expect(run.code, run.stderr).toBe(0);
      // One row event (and, from SFTP, the file's started/completed events); two dead letters.
      expect(run.stdout).toMatch(/read 3 records, wrote [13] events, 2 dead letters/);
      // The control proves the dead letters were written and searched.
      expect(list.stdout).toContain(CONTROL);
      expect(texts.some((t) => t.path.includes('dead-letters') && t.text.includes(CONTROL))).toBe(true);
      expect(inProcess.metrics).toContain(`pipeline="${name}"`);
    } else {
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`ferry: ${scenario.expect}`);
      expect(inProcess.error).toContain(scenario.expect);
      expect(inProcess.metrics).toContain('ferry_');
    }
  });
});
