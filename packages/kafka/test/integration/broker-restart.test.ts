// The broker stops and starts again in the middle of a run (the real one, through test/services): the run
// waits (the runtime retries the sink with its default policy), continues, loses nothing, and its summary
// counts the retries.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs helper without types
import { seedLegacyDatabase } from '../../../../examples/quickstart/seed.mjs';
import { repoRoot, startCli, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { brokers, consumeUntil, quickstartPipeline, topicEnd, unique } from '../helpers.js';

const exec = promisify(execFile);
const ROWS = 40_000;

function services(script: 'up' | 'down'): Promise<unknown> {
  return exec('bash', [join(repoRoot, 'test', 'services', `${script}.sh`), 'kafka'], {
    cwd: repoRoot,
    timeout: 150_000,
  });
}

describe('broker restart mid-run', () => {
  afterAll(async () => {
    // Whatever happened, leave the broker running for the next test.
    await services('up');
  }, 180_000);

  it('waits for the broker, continues, and loses nothing', { timeout: 115_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-kafka-restart-'));
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
    await waitFor(async () => (await topicEnd(topic)) >= 4000, 60_000, 'the first 4000 events');
    const stopped = Date.now();
    await services('down');
    expect(run.child.exitCode, 'the run is still going while the broker is down').toBeNull();
    await services('up');
    const downFor = Date.now() - stopped;
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    const retries = Number(/(\d+) retries/.exec(result.stdout)?.[1]);
    expect(retries, result.stdout).toBeGreaterThan(0);
    expect(result.stdout).toContain(`read ${ROWS} records`);
    const messages = await consumeUntil(topic, (read) => read.length >= ROWS, { idleMs: 1000 });
    const ids = new Set(messages.map((m) => (JSON.parse(m.value!) as { legacyId: number }).legacyId));
    expect(ids.size).toBe(ROWS);
    console.log(`broker down for ${downFor} ms; ${result.stdout.trim()}`);
  });
});
