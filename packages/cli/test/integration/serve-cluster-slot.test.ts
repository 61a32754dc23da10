// A PostgreSQL logical pipeline in a cluster whose replication slot another process still holds (issue 17):
// the usual case is the pipeline's previous owner, alive past its session or not yet timed out by the
// server. The new owner must not give up after its start-up retries: it waits (`starting`, its error
// DB_SLOT_IN_USE) and tries again for as long as the cluster gives it the pipeline, then streams once the
// slot is free. The other holder here is a `ferry run` of a pipeline on the same slot, stopped by the test.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PipelineStatus } from '@ferry/server';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { services } from '../../../../test/services/endpoints.js';
import { dropSlotWhenIdle } from '../../../../test/services/slots.js';
import { topicIds } from './kafka-topics.js';
import { type Served, startServe } from './serve-helpers.js';

const brokers = [...services.kafka.brokers];
const { host, port, user, password, database } = services.postgres;
const suffix = randomBytes(4).toString('hex');
const table = `ferry_held_${suffix}`;
const slot = `ferry_held_${suffix}`;
const topic = `ferry-held-${suffix}`;

describe('ferry serve --cluster: a replication slot still held by another process', () => {
  let admin: DataSource;
  let dir: string;
  let worker: Served | undefined;

  beforeAll(async () => {
    admin = new DataSource({
      type: 'postgres',
      host,
      port,
      username: user,
      password,
      database,
      logging: false,
    });
    await admin.initialize();
    dir = await mkdtemp(join(tmpdir(), 'ferry-held-'));
    await admin.query(`CREATE TABLE ${table} (id BIGINT PRIMARY KEY, name TEXT NOT NULL)`);
  });

  afterAll(async () => {
    await worker?.stop();
    await dropSlotWhenIdle((sql, params) => admin.query(sql, params), slot);
    await admin.query(`DROP PUBLICATION IF EXISTS ${slot}`);
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await admin.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  const source = [
    'source:',
    '  type: database',
    '  mode: logical',
    `  connection: { type: postgres, host: ${host}, port: ${port}, username: ${user}, password: "\${env:FERRY_HELD_PG_PASSWORD}", database: ${database} }`,
    `  tables: [{ name: ${table}, key: [id] }]`,
    `  slot: ${slot}`,
    `  publication: ${slot}`,
    '  createSlot: true',
    '  snapshot: never',
    '  heartbeatIntervalMs: 1000',
    'mapping:',
    '  subject: id',
    '  fields: { id: id, name: name }',
    'contract: { type: test.held, version: 1.0.0 }',
  ];

  it('waits for the slot while assigned, past its start-up retries, then streams', async () => {
    const env = { FERRY_HELD_PG_PASSWORD: password };
    // The other holder: a plain `ferry run` on the same slot, to local files.
    const holderFile = join(dir, 'holder.yaml');
    await writeFile(
      holderFile,
      [
        `pipeline: holder-${suffix}`,
        ...source,
        'sink: { type: file, dir: ./events }',
        'deadLetters: { type: file, dir: ./dead-letters }',
        'checkpoints: { type: file, dir: ./checkpoints }',
        '',
      ].join('\n'),
    );
    const holder = startCli(['run', holderFile], env);
    await waitFor(
      async () =>
        (
          (await admin.query('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot])) as {
            active: boolean;
          }[]
        )[0]?.active === true,
      60_000,
      'the holder to stream from the slot',
    );

    const clusterFile = join(dir, 'cluster.yaml');
    const name = `held-${suffix}`;
    await writeFile(
      clusterFile,
      [
        `pipeline: ${name}`,
        ...source,
        // Start-up retries give up after 2 s: the wait below must come from the cluster, not from them.
        'runtime: { retry: { startupMaxRetryTimeMs: 2000, minTimeoutMs: 200, maxTimeoutMs: 500 } }',
        `sink: { type: kafka, brokers: [${brokers.join(', ')}], topic: ${topic} }`,
        `deadLetters: { type: kafka, brokers: [${brokers.join(', ')}], topic: ${topic}.dlq }`,
        `checkpoints: { type: kafka, brokers: [${brokers.join(', ')}], topic: ${topic}-checkpoints, fencing: true }`,
        '',
      ].join('\n'),
    );
    worker = await startServe(
      [
        clusterFile,
        '--cluster',
        `ferry-held-${suffix}`,
        '--worker',
        'w',
        '--allow-unauthenticated',
        '--port',
        '0',
      ],
      env,
    );
    const status = async () =>
      (await (await fetch(`${worker!.base}/pipelines/${name}`)).json()) as PipelineStatus;
    await waitFor(
      async () => (await status()).error?.code === 'DB_SLOT_IN_USE',
      60_000,
      'the slot refused',
    ).catch(async (error: Error) => {
      throw new Error(
        `${error.message}: ${JSON.stringify(await status())}\n${worker!.stderr().slice(-3000)}`,
      );
    });
    // Well past the start-up retries (2 s) and two tries more: still waiting, not failed.
    const refusedAt = performance.now();
    const states = new Set<string>();
    while (performance.now() - refusedAt < 12_000) {
      states.add((await status()).state);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect([...states]).not.toContain('failed');
    expect(worker.stderr()).toMatch(/another process still holds what this pipeline reads exclusively/);

    // The holder lets go: the cluster's pipeline claims the slot and streams what is written from then on.
    holder.child.kill('SIGTERM');
    expect((await holder.done).code).toBe(0);
    await waitFor(async () => (await status()).state === 'running', 60_000, 'the pipeline to take the slot');
    await admin.query(`INSERT INTO ${table} SELECT g, 'row ' || g FROM generate_series(1, 50) AS g`);
    expect((await topicIds(topic, 50)).ids.size).toBe(50);
    expect((await status()).state).toBe('running');
  }, 240_000);
});
