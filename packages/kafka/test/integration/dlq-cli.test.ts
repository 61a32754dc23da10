// Dead letters through the built CLI: `ferry run` sends rejected rows to the Kafka dead-letter topic with
// their context headers; `ferry dlq list` shows them; `ferry dlq replay` publishes those a fixed mapping now
// accepts, leaves the rest, and never replays a letter twice. The same commands work on the file store.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs helper without types
import { seedLegacyDatabase } from '../../../../examples/quickstart/seed.mjs';
import { runCli } from '../../../../examples/quickstart/test/cli.js';
import { DLQ_HEADERS } from '../../src/index.js';
import { brokers, consumeAll, quickstartPipeline, unique } from '../helpers.js';

const FIXED_MAPPING = `
// The "fixed" mapping: takes the legacy date as it is, but still refuses rows whose id is a multiple of 500.
export function mapping(record) {
  const row = record.after;
  if (row.OFFENDER_ID % 500 === 0) throw new Error('offender ' + row.OFFENDER_ID + ' is still not fixable');
  return { subject: row.OFFENDER_ID_DISPLAY.trim(), data: { offenderId: row.OFFENDER_ID_DISPLAY.trim(), dateOfBirth: row.BIRTH_DATE } };
}
`;

for (const store of ['kafka', 'file'] as const) {
  describe(`ferry dlq with the ${store} dead-letter store`, () => {
    it('lists dead letters, replays those the fixed mapping accepts, once, and leaves the rest', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ferry-kafka-dlq-'));
      seedLegacyDatabase(join(dir, 'legacy.db'), { rows: 1000, badEvery: 250 });
      const name = unique('dlqit');
      const topic = unique('ferry-it-dlq-events');
      const dlqTopic = `${name}.dlq`;
      const base = {
        name,
        sink: { type: 'kafka', brokers, topic, topics: { partitions: 2 } },
        deadLetters:
          store === 'kafka'
            ? { type: 'kafka', brokers, threshold: false }
            : { type: 'file', threshold: false },
        checkpoints: { type: 'kafka', brokers, topic: unique('ferry-it-dlq-ckpt') },
      };
      const file = join(dir, 'pipeline.yaml');
      await writeFile(file, quickstartPipeline(base));

      const run = await runCli(['run', file, '--once']);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain('read 1000 records, wrote 996 events, 4 dead letters');

      if (store === 'kafka') {
        const letters = await consumeAll(dlqTopic, 4);
        expect(letters).toHaveLength(4);
        const headers = letters[0]!.headers;
        expect(headers[DLQ_HEADERS.code]).toBe('MAPPING_INVALID_VALUE');
        expect(headers[DLQ_HEADERS.pipeline]).toBe(name);
        expect(headers[DLQ_HEADERS.stream]).toBe('OFFENDERS');
        expect(headers[DLQ_HEADERS.stage]).toBe('mapping');
        expect(headers[DLQ_HEADERS.attempts]).toBe('1');
        expect(headers[DLQ_HEADERS.message]).toMatch(/dateOfBirth|BIRTH_DATE/);
        expect(JSON.parse(headers[DLQ_HEADERS.origin]!)).toMatchObject({ table: 'OFFENDERS' });
        const value = JSON.parse(letters[0]!.value!) as { record: { after: { OFFENDER_ID: number } } };
        expect(value.record.after.OFFENDER_ID % 250).toBe(0);
      }

      const list = await runCli(['dlq', 'list', file]);
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout).toContain('4 dead letters pending');
      expect(list.stdout.match(/MAPPING_INVALID_VALUE/g)).toHaveLength(4);

      // The fix: a mapping module that accepts the legacy date; rows 500 and 1000 still fail.
      await writeFile(join(dir, 'mapping.mjs'), FIXED_MAPPING);
      await writeFile(file, quickstartPipeline({ ...base, mapping: { module: './mapping.mjs' } }));
      const replay = await runCli(['dlq', 'replay', file]);
      expect(replay.code, replay.stderr).toBe(0);
      expect(replay.stdout).toContain('replayed 2 dead letters (2 events to kafka); 2 left');
      expect(replay.stdout.match(/still failing/g)).toHaveLength(2);

      const events = await consumeAll(topic, 998);
      expect(events).toHaveLength(998);
      const subjects = events.map((m) => m.key);
      expect(new Set(subjects).size).toBe(998);
      // Replayed events land after everything the run wrote, but keep the sequence their change had in the
      // legacy table (derived from its position, not from the replay): a consumer comparing sequences sees
      // rows 250 and 750 between their neighbours, where they belong.
      const sequenceOf = new Map(
        events.map((m) => [
          (JSON.parse(m.headers.ce_ferryorigin!) as { id: number }).id,
          m.headers.ce_sequence!,
        ]),
      );
      for (const id of [250, 750]) {
        expect(sequenceOf.get(id)).toBeDefined();
        expect(sequenceOf.get(id)! > sequenceOf.get(id - 1)!).toBe(true);
        expect(sequenceOf.get(id)! < sequenceOf.get(id + 1)!).toBe(true);
      }

      const after = await runCli(['dlq', 'list', file]);
      expect(after.stdout).toContain('2 dead letters pending');
      const again = await runCli(['dlq', 'replay', file]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain('replayed 0 dead letters (0 events to kafka); 2 left');
      // Nothing was published twice.
      const final = await consumeAll(topic, 999, { timeoutMs: 3000 });
      expect(final).toHaveLength(998);
      if (store === 'file') {
        const marks = await readFile(
          join(dir, '.ferry', 'dead-letters', `${name}.dlq.replayed.jsonl`),
          'utf8',
        );
        expect(marks.trim().split('\n')).toHaveLength(2);
      }
    });
  });
}
