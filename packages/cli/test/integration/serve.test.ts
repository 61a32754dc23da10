// `ferry serve` as an operator meets it: the built CLI runs a polling pipeline on the real PostgreSQL while
// the test scrapes /metrics and drives the admin API (pause, offsets, resume, dead letters, trigger).
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import {
  type AddressInfo,
  createConnection,
  createServer as createTcpServer,
  type Server,
  type Socket,
} from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PipelineStatus } from '@ferry/server';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../../examples/quickstart/test/cli.js';
import { services } from '../../../../test/services/endpoints.js';
import { startServe } from './serve-helpers.js';

const { host, port, user, password, database } = services.postgres;

/** The value of one sample in a Prometheus text exposition (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = line.slice(name.length, line.lastIndexOf(' '));
    if (wanted.every((w) => labelText.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

describe('ferry serve (PostgreSQL polling pipeline)', () => {
  const table = `ferry_serve_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ host, port, user, password, database });
  let dir: string;
  let pipelineFile: string;

  async function insert(from: number, to: number): Promise<void> {
    await client.query(
      `INSERT INTO ${table} (id, name, modified)
       SELECT g, CASE WHEN g % 100 = 0 THEN NULL ELSE 'name-' || g END, clock_timestamp() FROM generate_series($1::int, $2::int) g`,
      [from, to],
    );
  }

  beforeAll(async () => {
    await client.connect();
    await client.query(
      `CREATE TABLE ${table} (id INT PRIMARY KEY, name TEXT, modified TIMESTAMP(6) NOT NULL)`,
    );
    await insert(1, 500);
    dir = await mkdtemp(join(tmpdir(), 'ferry-serve-'));
    pipelineFile = join(dir, 'pipeline.yaml');
    await writeFile(
      pipelineFile,
      `pipeline: serve-test
source:
  type: database
  mode: polling
  connection: { type: postgres, host: ${host}, port: ${port}, username: ${user}, password: "\${env:FERRY_TEST_PG_PASSWORD}", database: ${database} }
  tables:
    - { name: ${table}, key: [id], timestampColumn: modified, incrementingColumn: id }
  batchSize: 100
  pollIntervalMs: 200
mapping:
  subject: id
  fields:
    id: { from: id, required: true }
    name: { from: name, required: true }
contract: { type: test.thing, version: 1.0.0 }
sink: { type: file, dir: ./events }
deadLetters: { type: file, dir: ./dead-letters }
checkpoints: { type: file, dir: ./checkpoints }
`,
    );
  });

  afterAll(async () => {
    await client.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await client.end();
  });

  it('counters move as records flow; pause, offsets, resume, dead letters and trigger answer as documented', async () => {
    const serve = await startServe(
      [pipelineFile, '--allow-unauthenticated', '--port', '0', '--log-level', 'warn'],
      {
        FERRY_TEST_PG_PASSWORD: password,
      },
    );
    const base = serve.base;
    try {
      const get = async (path: string) => fetch(`${base}${path}`);
      const metrics = async () => (await get('/metrics')).text();
      const labels = { pipeline: 'serve-test', stream: table };

      // The first 500 rows flow through: records read, events written, dead letters for the 5 NULL names.
      await waitFor(
        async () => sample(await metrics(), 'ferry_events_written_total', labels) >= 495,
        60_000,
        'the first 500 rows to be written',
      );
      let text = await metrics();
      expect(sample(text, 'ferry_records_read_total', labels)).toBe(500);
      expect(sample(text, 'ferry_events_written_total', labels)).toBe(495);
      expect(sample(text, 'ferry_dead_letters_total', { ...labels, code: 'MAPPING_REQUIRED_FIELD' })).toBe(5);
      expect(sample(text, 'ferry_batch_latency_seconds_count', { pipeline: 'serve-test' })).toBeGreaterThan(
        0,
      );
      expect(sample(text, 'ferry_pipeline_state', { pipeline: 'serve-test', state: 'running' })).toBe(1);
      expect(text).toMatch(/ferry_checkpoint_age_seconds\{pipeline="serve-test"\} \d/);
      // Once a poll finds nothing new the source is caught up: no lag.
      await waitFor(
        async () => /ferry_source_lag_seconds\{pipeline="serve-test"\} 0\n/.test(await metrics()),
        10_000,
        'the source lag to drop to 0 once caught up',
      );

      // While the pipeline runs, more rows arrive: the counters keep moving.
      await insert(501, 800);
      await waitFor(
        async () => sample(await metrics(), 'ferry_events_written_total', labels) >= 792,
        60_000,
        'the next 300 rows to be written',
      );
      text = await metrics();
      expect(sample(text, 'ferry_records_read_total', labels)).toBe(800);
      expect(sample(text, 'ferry_dead_letters_total', { ...labels, code: 'MAPPING_REQUIRED_FIELD' })).toBe(8);

      expect((await get('/healthz')).status).toBe(200);
      const ready = await get('/readyz');
      expect(ready.status).toBe(200);

      const status = (await (await get('/pipelines/serve-test')).json()) as PipelineStatus;
      expect(status).toMatchObject({
        name: 'serve-test',
        state: 'running',
        source: 'database',
        sink: 'file',
      });
      expect(status.counts).toMatchObject({ recordsRead: 800, eventsWritten: 792, deadLetters: 8 });
      expect(status.lastCheckpoint?.position).toBeTruthy();
      expect(typeof status.lagSeconds).toBe('number');

      // Offsets cannot be reset under a running pipeline.
      const refused = await fetch(`${base}/pipelines/serve-test/offsets`, { method: 'DELETE' });
      expect(refused.status).toBe(409);
      expect(((await refused.json()) as { code: string }).code).toBe('PIPELINE_RUNNING');

      const letters = (await (await get('/pipelines/serve-test/dead-letters?limit=3')).json()) as {
        total: number;
        items: { id: string; code: string; origin: Record<string, unknown> }[];
      };
      expect(letters.total).toBe(8);
      expect(letters.items).toHaveLength(3);
      expect(letters.items[0]).toMatchObject({ code: 'MAPPING_REQUIRED_FIELD' });
      const one = await get(`/pipelines/serve-test/dead-letters/${letters.items[0]!.id}`);
      expect(one.status).toBe(200);
      expect(((await one.json()) as { origin: unknown }).origin).toEqual(letters.items[0]!.origin);

      const replayWhileRunning = await fetch(`${base}/pipelines/serve-test/dead-letters/replay`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({}),
      });
      expect(replayWhileRunning.status).toBe(409);

      const paused = await fetch(`${base}/pipelines/serve-test/pause`, { method: 'POST' });
      expect(paused.status).toBe(200);
      expect(((await paused.json()) as { state: string }).state).toBe('paused');
      text = await metrics();
      expect(sample(text, 'ferry_pipeline_state', { pipeline: 'serve-test', state: 'paused' })).toBe(1);

      const offsets = (await (await get('/pipelines/serve-test/offsets')).json()) as { position: unknown };
      expect(JSON.stringify(offsets)).toContain('800');
      const reset = await fetch(`${base}/pipelines/serve-test/offsets`, { method: 'DELETE' });
      expect(reset.status).toBe(204);

      // Replaying re-runs the mapping on each letter: the names are still NULL, so all 8 still fail.
      const replay = await fetch(`${base}/pipelines/serve-test/dead-letters/replay`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({}),
      });
      expect(replay.status).toBe(200);
      const replayed = (await replay.json()) as { replayed: number; stillFailing: { code: string }[] };
      expect(replayed.replayed).toBe(0);
      expect(replayed.stillFailing.map((f) => f.code)).toEqual(Array(8).fill('MAPPING_REQUIRED_FIELD'));
      const asyncapi = (await (await get('/asyncapi.json')).json()) as { asyncapi: string };
      expect(asyncapi.asyncapi).toBe('3.0.0');

      // Rows inserted while paused are not read until resumed; after the reset everything is read again.
      await insert(801, 850);
      await new Promise((r) => setTimeout(r, 600));
      expect(sample(await metrics(), 'ferry_records_read_total', labels)).toBe(800);
      const resumed = await fetch(`${base}/pipelines/serve-test/resume`, { method: 'POST' });
      expect(resumed.status).toBe(200);
      await waitFor(
        async () => sample(await metrics(), 'ferry_records_read_total', labels) >= 1650,
        60_000,
        'the re-read after the offsets reset',
      );

      // A polling pipeline between passes waits for its poll interval: a trigger starts the next pass at once
      // (during a pass it answers started: false, so ask until it lands between two passes).
      let answer: { started: boolean; detail: string } = { started: false, detail: '' };
      await waitFor(
        async () => {
          const trigger = await fetch(`${base}/pipelines/serve-test/trigger`, { method: 'POST' });
          expect(trigger.status).toBe(202);
          answer = (await trigger.json()) as typeof answer;
          return answer.started;
        },
        20_000,
        'a trigger between two passes',
      );
      expect(answer.detail).toMatch(/pass starts now/);

      expect((await get('/pipelines/nope')).status).toBe(404);
    } finally {
      const result = await serve.stop();
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain('UNAUTHENTICATED');
      // --port 0: the warning names the port the API got, not the 0 it was asked for.
      expect(result.stderr).toContain(`anyone who can reach ${new URL(base).host} can pause`);
    }
  });
  it('with --config, answers only bearer tokens from the configured issuer, with the right scope', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const jwks = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    const jwksUri = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    const adminConfig = join(dir, 'admin.yaml');
    await writeFile(
      adminConfig,
      `listen: { host: 127.0.0.1, port: 0 }
auth:
  mode: oauth2
  issuer: https://idp.example.test/
  jwksUri: ${jwksUri}
  audience: ferry-admin
`,
    );
    const token = (scope: string) =>
      new SignJWT({ scope })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer('https://idp.example.test/')
        .setAudience('ferry-admin')
        .setSubject('operator@example.test')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
    const serve = await startServe([pipelineFile, '--config', adminConfig, '--log-level', 'warn'], {
      FERRY_TEST_PG_PASSWORD: password,
    });
    const base = serve.base;
    try {
      const call = (path: string, bearer?: string, method = 'GET') =>
        fetch(`${base}${path}`, { method, headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
      expect((await call('/healthz')).status).toBe(200);
      expect((await call('/pipelines')).status).toBe(401);
      expect((await call('/metrics')).status).toBe(401);
      const reader = await token('ferry:read');
      const listed = await call('/pipelines', reader);
      expect(listed.status).toBe(200);
      expect(
        ((await listed.json()) as { pipelines: { name: string }[] }).pipelines.map((p) => p.name),
      ).toEqual(['serve-test']);
      expect((await call('/pipelines/serve-test/pause', reader, 'POST')).status).toBe(403);
      const operator = await token('ferry:read ferry:operate');
      expect((await call('/pipelines/serve-test/pause', operator, 'POST')).status).toBe(200);
      const spec = (await (await call('/openapi.json')).json()) as { openapi: string; paths: object };
      expect(spec.openapi).toBe('3.1.0');
      expect(Object.keys(spec.paths)).toContain('/pipelines/{name}/dead-letters/replay');
    } finally {
      const result = await serve.stop();
      jwks.close();
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).not.toContain('UNAUTHENTICATED');
    }
  });
  it('/readyz names a replication slot that holds back more WAL than the pipeline allows', async () => {
    const slot = `ferry_serve_${randomBytes(4).toString('hex')}`;
    const file = join(dir, 'logical.yaml');
    await writeFile(
      file,
      `pipeline: serve-logical
source:
  type: database
  mode: logical
  connection: { type: postgres, host: ${host}, port: ${port}, username: ${user}, password: "\${env:FERRY_TEST_PG_PASSWORD}", database: ${database} }
  tables:
    - { name: ${table}, key: [id] }
  slot: ${slot}
  publication: ${slot}
  createSlot: true
  snapshot: never
  maxRetainedWalBytes: 1
mapping:
  subject: id
  fields:
    id: { from: id, required: true }
    name: { from: name, required: true }
contract: { type: test.thing, version: 1.0.0 }
sink: { type: file, dir: ./events-logical }
deadLetters: { type: file, dir: ./dead-letters-logical }
checkpoints: { type: file, dir: ./checkpoints-logical }
`,
    );
    type Ready = { ready: boolean; pipelines: { name: string; ready: boolean; reason?: string }[] };
    const serve = await startServe([file, '--allow-unauthenticated', '--port', '0', '--log-level', 'warn'], {
      FERRY_TEST_PG_PASSWORD: password,
    });
    try {
      // A slot always holds some WAL back: over a limit of 1 byte, the pipeline is not ready, and says why.
      let body: Ready | undefined;
      await waitFor(
        async () => {
          const response = await fetch(`${serve.base}/readyz`);
          body = (await response.json()) as Ready;
          return response.status === 503 && body.pipelines[0]?.reason !== undefined;
        },
        30_000,
        'not ready because of the slot',
      );
      expect(body?.pipelines[0]?.reason).toMatch(
        new RegExp(
          `^source \\(database\\) harms the legacy system: DB_SLOT_WAL_RETAINED: replication slot ${slot} `,
        ),
      );
      const metrics = await (await fetch(`${serve.base}/metrics`)).text();
      expect(
        sample(metrics, 'ferry_source_problems', { pipeline: 'serve-logical', code: 'DB_SLOT_WAL_RETAINED' }),
      ).toBe(1);
      expect(
        sample(metrics, 'ferry_source_gauge', { pipeline: 'serve-logical', name: 'slot_retained_wal_bytes' }),
      ).toBeGreaterThan(1);
    } finally {
      const result = await serve.stop();
      await client.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => undefined);
      await client.query(`DROP PUBLICATION IF EXISTS ${slot}`).catch(() => undefined);
      expect(result.code, result.stderr).toBe(0);
    }
  });

  it('/readyz fails while the legacy database is unreachable and recovers when it is back', async () => {
    // A loopback TCP proxy in front of PostgreSQL that the test can cut and restore. It keeps listening
    // while cut (it drops what it accepts), so its port stays ours: closed, another process could take it.
    const sockets = new Set<Socket>();
    let open = true;
    const proxy: Server = createTcpServer((client) => {
      if (!open) {
        client.destroy();
        return;
      }
      const upstream = createConnection({ host, port: services.postgres.port });
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxyPort = (proxy.address() as AddressInfo).port;
    const cut = () => {
      open = false;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    };
    const file = join(dir, 'proxied.yaml');
    await writeFile(
      file,
      (await readFile(pipelineFile, 'utf8'))
        .replace('pipeline: serve-test', 'pipeline: serve-proxied')
        .replace(`port: ${port},`, `port: ${proxyPort},`)
        .replace('./checkpoints', './checkpoints-proxied')
        .replace('./events', './events-proxied')
        .replace(
          'contract:',
          'runtime:\n  retry: { retries: 100, minTimeoutMs: 200, maxTimeoutMs: 1000, maxRetryTimeMs: 600000 }\ncontract:',
        ),
    );
    type Ready = { ready: boolean; pipelines: { name: string; ready: boolean; reason?: string }[] };
    const serve = await startServe([file, '--allow-unauthenticated', '--port', '0', '--log-level', 'warn'], {
      FERRY_TEST_PG_PASSWORD: password,
    });
    const base = serve.base;
    try {
      const readyz = async () => {
        const response = await fetch(`${base}/readyz`);
        return { status: response.status, body: (await response.json()) as Ready };
      };
      await waitFor(async () => (await readyz()).status === 200, 30_000, 'ready while PostgreSQL answers');

      cut();
      await waitFor(
        async () => (await readyz()).status === 503,
        30_000,
        'not ready once PostgreSQL is cut off',
      );
      const down = await readyz();
      expect(down.body.ready).toBe(false);
      expect(down.body.pipelines[0]!.reason).toMatch(/unreachable|retrying/);
      const status = (await (await fetch(`${base}/pipelines/serve-proxied`)).json()) as PipelineStatus;
      expect(status.state).toBe('running');

      open = true;
      await insert(2001, 2010);
      await waitFor(
        async () => (await readyz()).status === 200,
        60_000,
        'ready again once PostgreSQL is back',
      );
    } finally {
      const result = await serve.stop();
      cut();
      await new Promise<void>((r) => proxy.close(() => r()));
      expect(result.code, result.stderr).toBe(0);
    }
  });
});
