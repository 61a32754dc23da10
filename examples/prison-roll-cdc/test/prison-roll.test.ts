// The prison-roll CDC example end to end against the real PostgreSQL and Kafka, through its one command
// (`node run.mjs`): snapshot, then inserts, updates and deletes in the legacy schema arrive on Kafka as
// canonical Offender events (read here with a kafkajs consumer of the test's own), and reconcile reports
// 100% parity between the table and the topic.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { services } from '../../../test/services/endpoints.js';
import { runScript } from '../../quickstart/test/cli.js';
import { nomsNumber } from '../legacy-schema.mjs';

const example = join(import.meta.dirname, '..');
const kafka = new Kafka({
  brokers: [...services.kafka.brokers],
  clientId: 'prison-roll-test',
  logLevel: logLevel.NOTHING,
});

interface Received {
  key: string;
  type: string;
  data: { offenderId: string; name: { family: string }; location?: { prisonId: string }; active?: boolean };
}

async function consume(topic: string, expected: number, timeoutMs = 60_000): Promise<Received[]> {
  const consumer = kafka.consumer({
    groupId: `prison-roll-test-${randomBytes(4).toString('hex')}`,
    maxWaitTimeInMs: 200,
  });
  const out: Received[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let done!: () => void;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        out.push({
          key: message.key!.toString(),
          type: String(message.headers!.ce_type),
          data: JSON.parse(message.value!.toString()),
        });
        if (out.length >= expected) done();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([finished, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    return out;
  } finally {
    await consumer.disconnect();
  }
}

const runExample = (args: string[]) => runScript(join(example, 'run.mjs'), args);

describe('examples/prison-roll-cdc', () => {
  it('captures snapshot, inserts, updates and deletes to Kafka and reconciles at 100%', async () => {
    const suffix = `t${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
    const workDir = await mkdtemp(join(tmpdir(), 'ferry-prison-roll-'));
    const topic = `prison-roll.offenders.${suffix}`;
    const admin = kafka.admin();
    await admin.connect();
    try {
      const result = await runExample(['--offenders', '300', '--suffix', suffix, '--work-dir', workDir]);
      // The test services' database password is `ferry`, an ordinary word: Ferry rightly warns, at each start,
      // that it can hide such a secret only where it stands as a value. Nothing else may be on stderr.
      const lines = result.stderr.split('\n').filter((line) => line !== '');
      const weakSecret = (line: string) =>
        line.includes('"path":"source.connection.password"') &&
        line.includes('the secret is too short to hide everywhere');
      // The preflight at the start of the run says, as warnings, what is true of the shared test server: the
      // capture user is a superuser and max_slot_wal_keep_size is unset (docs/database.md#ferry-check).
      const serverWarning = (line: string) =>
        line.includes('"level":"warn"') &&
        (line.includes('"code":"DB_PRIVILEGES_EXCESSIVE"') ||
          line.includes('"code":"DB_SLOT_WAL_UNBOUNDED"'));
      expect(lines.filter((line) => !weakSecret(line) && !serverWarning(line))).toEqual([]);
      expect(lines.length).toBeGreaterThan(0);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('parity 100.00% (301 of 301 keys match');

      const events = await consume(topic, 310);
      expect(events).toHaveLength(310);
      const count = (type: string) => events.filter((e) => e.type === `justice.offender.${type}`).length;
      expect([count('snapshotted'), count('created'), count('updated'), count('deleted')]).toEqual([
        300, 3, 5, 2,
      ]);
      const last = new Map(events.map((e) => [e.key, e]));
      expect(last.get(nomsNumber(2))!.data.location).toEqual({ prisonId: 'LEI' });
      expect(last.get(nomsNumber(4))!.data.name.family).toBe('SMYTHE');
      expect(last.get(nomsNumber(6))!.data.active).toBe(false);
      // A delete carries the whole before image (REPLICA IDENTITY FULL): who was removed, not just a key.
      expect(last.get(nomsNumber(8))).toMatchObject({
        type: 'justice.offender.deleted',
        data: { offenderId: nomsNumber(8) },
      });
      expect(last.get(nomsNumber(302))!.type).toBe('justice.offender.created');

      const report = JSON.parse(await readFile(join(workDir, 'parity-report.json'), 'utf8'));
      expect(report.counts).toEqual({ keys: 301, matching: 301, missing: 0, extra: 0, differing: 0 });
      expect(report.stream).toMatchObject({ events: 310, deletes: 2, keys: 301 });

      // The run cleaned up after itself: no slot left holding WAL, no schema.
      const client = new pg.Client({ connectionString: services.postgres.url });
      await client.connect();
      try {
        const slots = await client.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [
          `ferry_prison_roll_${suffix}`,
        ]);
        expect(slots.rowCount).toBe(0);
        const schemas = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [
          `nomis_${suffix}`,
        ]);
        expect(schemas.rowCount).toBe(0);
      } finally {
        await client.end();
      }
    } finally {
      const topics = (await admin.listTopics()).filter((t) => t.includes(suffix));
      if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => {});
      await admin.disconnect();
      await rm(workDir, { recursive: true, force: true });
    }
  });
});
