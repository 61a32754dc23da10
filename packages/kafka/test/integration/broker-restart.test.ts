// The broker stops and starts again in the middle of a run: the run waits (the runtime retries the sink with
// its default policy), continues, loses nothing, and its summary counts the retries. The broker is a private
// one (own ports and log dir, test/services/private.ts): stopping the shared broker would pull it from under
// every other test file, and another clone's test run, using it at the same moment.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KafkaEndpoint } from '@ferry/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs helper without types
import { seedLegacyDatabase } from '../../../../examples/quickstart/seed.mjs';
import { startCli, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { type PrivateServer, startPrivateKafka } from '../../../../test/services/private.js';
import { consumeUntil, quickstartPipeline, topicEnd, unique } from '../helpers.js';

const ROWS = 40_000;

describe('broker restart mid-run', () => {
  let kafka: PrivateServer<KafkaEndpoint>;
  let dir: string | undefined;

  // A KRaft broker starts in about 10 s on an idle machine and took 25 s on two loaded cores.
  beforeAll(async () => {
    kafka = await startPrivateKafka();
  }, 180_000);

  afterAll(async () => {
    await kafka?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  // The run itself takes about 20 s; a broker restart under load up to 30 s more.
  it('waits for the broker, continues, and loses nothing', { timeout: 180_000 }, async () => {
    const brokers = [...kafka.endpoint.brokers];
    dir = await mkdtemp(join(tmpdir(), 'ferry-kafka-restart-'));
    seedLegacyDatabase(join(dir, 'legacy.db'), { rows: ROWS, badEvery: 1_000_000 });
    const topic = unique('ferry-it-restart');
    const file = join(dir, 'pipeline.yaml');
    await writeFile(
      file,
      quickstartPipeline({
        name: unique('restart'),
        batchSize: 200,
        mapping: {
          subject: 'offenderId',
          fields: {
            offenderId: { from: 'OFFENDER_ID_DISPLAY', required: true },
            legacyId: { from: 'OFFENDER_ID', type: 'number' },
          },
        },
        // The default runtime retry policy (8 retries, up to 30 s apart, 5 min in all) rides out the restart.
        sink: { type: 'kafka', brokers, topic, topics: { partitions: 2 }, requestTimeoutMs: 5000 },
        deadLetters: { type: 'file' },
        checkpoints: { type: 'file' },
      }),
    );
    const run = startCli(['run', file, '--once']);
    try {
      await waitFor(async () => (await topicEnd(topic, brokers)) >= 4000, 60_000, 'the first 4000 events');
      const stopped = Date.now();
      await kafka.stop();
      expect(run.child.exitCode, 'the run is still going while the broker is down').toBeNull();
      await kafka.start();
      const downFor = Date.now() - stopped;
      const result = await run.done;
      expect(result.code, result.stderr).toBe(0);
      const retries = Number(/(\d+) retries/.exec(result.stdout)?.[1]);
      expect(retries, result.stdout).toBeGreaterThan(0);
      expect(result.stdout).toContain(`read ${ROWS} records`);
      const messages = await consumeUntil(topic, (read) => read.length >= ROWS, {
        idleMs: 1000,
        on: brokers,
      });
      const ids = new Set(messages.map((m) => (JSON.parse(m.value!) as { legacyId: number }).legacyId));
      expect(ids.size).toBe(ROWS);
      console.log(`broker down for ${downFor} ms; ${result.stdout.trim()}`);
    } finally {
      // A failed test must not leave the run writing to a broker that is about to go.
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
    }
  });
});
