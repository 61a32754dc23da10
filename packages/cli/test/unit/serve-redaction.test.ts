// One `ferry serve` process logs for every pipeline it hosts: each pipeline's secrets must be scrubbed from
// that shared logger and from the admin API's error answers, as `ferry run` scrubs its own.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, Redactor } from '@ferry/core';
import { createMetrics } from '@ferry/ops';
import { buildAdminServer, serverConfigSchema } from '@ferry/server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultRegistry } from '../../src/registry.js';
import { PipelineHost } from '../../src/serve/host.js';

const CANARY = 'host-canary-5tq8-DO-NOT-LOG';

describe('ferry serve redaction', () => {
  afterEach(() => vi.unstubAllEnvs());

  // The first host and admin server in the worker load every connector and fastify's OpenAPI plugins:
  // 0.2 s idle, 2.3 s measured on two cores under load; 30 s is slack for a busy machine.
  it('scrubs every hosted pipeline’s secrets from the shared log and from API error answers', {
    timeout: 30_000,
  }, async () => {
    vi.stubEnv('FERRY_HOST_CANARY', CANARY);
    const dir = await mkdtemp(join(tmpdir(), 'ferry-serve-redaction-'));
    const file = join(dir, 'pipeline.yaml');
    await writeFile(
      file,
      `pipeline: redaction
description: "token \${env:FERRY_HOST_CANARY}"
source:
  type: database
  mode: polling
  connection: { type: better-sqlite3, database: ./legacy.db }
  tables: [{ name: T, key: [id], incrementingColumn: id }]
mapping: { subject: id, fields: { id: id } }
contract: { type: test.thing, version: 1.0.0 }
`,
    );
    let logged = '';
    const destination = new Writable({
      write(chunk, _encoding, callback) {
        logged += String(chunk);
        callback();
      },
    });
    const redactor = new Redactor();
    const logger = createLogger({ level: 'info', redactor, destination: destination as never });
    const host = await PipelineHost.open([file], {
      registry: defaultRegistry(),
      logger,
      metrics: createMetrics(),
      redactor,
    });
    logger.info({ detail: { value: CANARY } }, `a message quoting ${CANARY}`);
    expect(logged).toContain('[REDACTED]');
    expect(logged).not.toContain(CANARY);

    const app = await buildAdminServer({
      host,
      config: serverConfigSchema.parse({ auth: { mode: 'none', acknowledgeUnauthenticated: true } }),
      logger,
      redactor,
    });
    try {
      const answer = await app.inject({ method: 'GET', url: `/pipelines/${CANARY}` });
      expect(answer.statusCode).toBe(404);
      expect(answer.json()).toMatchObject({ code: 'PIPELINE_NOT_FOUND' });
      expect(answer.body).not.toContain(CANARY);
      expect(logged).not.toContain(CANARY);
    } finally {
      await app.close();
    }
  });
});
