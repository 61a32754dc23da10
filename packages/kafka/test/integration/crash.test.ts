// Delivery guarantees under SIGKILL, through the built CLI: a 50,000-row legacy table, the pipeline killed
// at several points and restarted, then the topic consumed. At-least-once: every expected id present, and a
// duplicate carries the same event id. Exactly-once: a read_committed consumer sees every id exactly once.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs helper without types
import { seedLegacyDatabase } from '../../../../examples/quickstart/seed.mjs';
import { runCli, startCli, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { brokers, consumeUntil, quickstartPipeline, type RawMessage, topicEnd, unique } from '../helpers.js';

const ROWS = 50_000;
const BAD_EVERY = 250;
const expectedIds = new Set<number>();
for (let i = 1; i <= ROWS; i += 1) if (i % BAD_EVERY !== 0) expectedIds.add(i);

const mapping = {
  subject: 'offenderId',
  fields: {
    offenderId: { from: 'OFFENDER_ID_DISPLAY', required: true },
    legacyId: { from: 'OFFENDER_ID', type: 'number' },
    dateOfBirth: { from: 'BIRTH_DATE', type: 'date', format: 'DDMMYYYY' },
  },
};

function legacyIdOf(message: RawMessage): number {
  return (JSON.parse(message.value!) as { legacyId: number }).legacyId;
}

async function killAt(child: ChildProcess, topic: string, events: number): Promise<void> {
  await waitFor(
    async () => child.exitCode !== null || (await topicEnd(topic)) >= events,
    60_000,
    `${events} events`,
  );
  child.kill('SIGKILL');
  await new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('close', () => resolve());
  });
}

for (const delivery of ['at-least-once', 'exactly-once'] as const) {
  describe(`delivery ${delivery} under SIGKILL`, () => {
    it('loses nothing across three kills and restarts', { timeout: 110_000 }, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ferry-kafka-crash-'));
      seedLegacyDatabase(join(dir, 'legacy.db'), { rows: ROWS, badEvery: BAD_EVERY });
      const name = unique(`crash-${delivery}`);
      const topic = unique(`ferry-it-crash-${delivery}`);
      const exactlyOnce = delivery === 'exactly-once';
      const file = join(dir, 'pipeline.yaml');
      await writeFile(
        file,
        quickstartPipeline({
          name,
          mapping,
          sink: { type: 'kafka', brokers, topic, delivery, topics: { partitions: 3 } },
          deadLetters: exactlyOnce
            ? { type: 'kafka', brokers, threshold: false }
            : { type: 'file', threshold: false },
          checkpoints: exactlyOnce
            ? { type: 'kafka', brokers, topic: unique('ferry-it-crash-ckpt') }
            : { type: 'file' },
        }),
      );
      // Random points within each third of the run.
      const kills = [0, 1, 2].map((third) => Math.floor(((third + Math.random() * 0.8 + 0.1) * ROWS) / 3));
      for (const at of kills) {
        const { child } = startCli(['run', file, '--once']);
        await killAt(child, topic, at);
      }
      const final = await runCli(['run', file, '--once']);
      expect(final.code, final.stderr).toBe(0);

      const messages = await consumeUntil(
        topic,
        (read) => new Set(read.map(legacyIdOf)).size >= expectedIds.size,
        { readCommitted: true },
      );
      const seen = new Map<number, Set<string>>();
      const counts = new Map<number, number>();
      for (const m of messages) {
        const id = legacyIdOf(m);
        seen.set(id, (seen.get(id) ?? new Set()).add(m.headers.ce_id!));
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      const missing = [...expectedIds].filter((id) => !seen.has(id));
      expect(missing, 'ids missing from the topic').toEqual([]);
      expect(seen.size).toBe(expectedIds.size);
      // A replayed record always carries the same event id.
      for (const [id, ids] of seen) expect(ids.size, `event ids of legacy row ${id}`).toBe(1);
      const duplicates = [...counts.values()].filter((n) => n > 1).length;
      if (exactlyOnce) expect(duplicates, 'ids seen more than once').toBe(0);
      expect(messages.length).toBe(expectedIds.size + [...counts.values()].reduce((s, n) => s + n - 1, 0));
      console.log(
        `${delivery}: killed at ${kills.join(', ')}; ${messages.length} messages, ${duplicates} ids duplicated`,
      );
    });
  });
}
