// `ferry reconcile` through the built CLI against real stores: a SQLite reference (through typeorm) and a file event log, a
// PostgreSQL reference and a Kafka topic read with read_committed.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeEvent } from '@ferry/kafka';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../../examples/quickstart/test/cli.js';
import { services } from '../../../../test/services/endpoints.js';

const require = createRequire(import.meta.url);

interface Person {
  id: string;
  family: string;
  born: string;
}

const people: Person[] = Array.from({ length: 500 }, (_, i) => ({
  id: `P${String(i).padStart(5, '0')}`,
  family: `FAMILY${i % 37}`,
  born: `19${String(50 + (i % 40))}-0${1 + (i % 9)}-1${i % 9}`,
}));

function event(p: Person, op: 'create' | 'update' | 'delete', family = p.family) {
  const action = { create: 'created', update: 'updated', delete: 'deleted' }[op];
  return {
    specversion: '1.0',
    id: `${p.id}-${op}-${family}`,
    source: '/ferry/test/PEOPLE',
    type: `justice.person.${action}`,
    subject: p.id,
    time: '2024-01-01T00:00:00.000Z',
    datacontenttype: 'application/json',
    data: op === 'delete' ? null : { name: { family }, dateOfBirth: p.born },
    ferryop: op,
  };
}

/** Events whose final state equals `people`: a stale first version, a deleted extra key, a file notice. */
function eventsFor(list: Person[]) {
  const ghost: Person = { id: 'GHOST', family: 'NOBODY', born: '2000-01-01' };
  return [
    ...list.map((p) => event(p, 'create', 'STALE')),
    event(ghost, 'create'),
    { ...event(ghost, 'create'), type: 'ferry.file.completed', subject: '/upload/x.csv', data: {} },
    ...list.map((p) => event(p, 'update')),
    event(ghost, 'delete'),
  ];
}

/** The built CLI, as a person runs it (the comparison runs in a worker thread of the compiled code). */
async function run(args: string[], env: Record<string, string> = {}) {
  const result = await runCli(['reconcile', ...args], env);
  return { code: result.code, out: result.stdout.trim(), err: result.stderr.trim() };
}

async function sqliteFixture(rows: Person[]) {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-reconcile-'));
  const Database = require('better-sqlite3');
  const db = new Database(join(dir, 'reporting.db'));
  db.exec('CREATE TABLE REPORT_PEOPLE (PERSON_ID TEXT PRIMARY KEY, SURNAME CHAR(20), DOB TEXT)');
  const insert = db.prepare('INSERT INTO REPORT_PEOPLE VALUES (?, ?, ?)');
  for (const p of rows) insert.run(p.id, p.family.padEnd(20), p.born);
  db.close();
  await writeFile(
    join(dir, 'events.jsonl'),
    `${eventsFor(people)
      .map((e) => JSON.stringify(e))
      .join('\n')}\n`,
  );
  return dir;
}

const fieldArgs = ['--field', 'name.family=SURNAME', '--field', 'dateOfBirth=DOB'];

describe('ferry reconcile', () => {
  it('reports 100% parity when the reference and the events agree (SQLite table, file event log)', async () => {
    const dir = await sqliteFixture(people);
    const result = await run([
      '--reference',
      `sqlite:${join(dir, 'reporting.db')}`,
      '--table',
      'REPORT_PEOPLE',
      '--key',
      'PERSON_ID',
      ...fieldArgs,
      '--events',
      join(dir, 'events.jsonl'),
      '--type',
      'justice.person',
      '--out',
      join(dir, 'report.json'),
    ]);
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(result.out).toContain('parity 100.00% (500 of 500 keys match');
    const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
    expect(report).toMatchObject({
      ok: true,
      parity: 1,
      counts: { keys: 500, matching: 500, missing: 0, extra: 0, differing: 0 },
      stream: { events: 1003, applied: 1001, deletes: 1, ignored: 1, keys: 500 },
      reference: { rows: 500, keys: 500 },
    });
  });

  it('names the missing, extra and differing rows and fields, and exits 1 below the threshold', async () => {
    // The reference lacks one person, has a wrong surname for two and a wrong date for one, and an extra row.
    const broken = people.slice(1).map((p) => ({ ...p }));
    broken[10]!.family = 'WRONG';
    broken[20]!.family = 'WRONG';
    broken[30]!.born = '1900-01-01';
    broken.push({ id: 'Z99999', family: 'EXTRA', born: '1999-09-09' });
    const dir = await sqliteFixture(broken);
    const args = [
      '--reference',
      `sqlite:${join(dir, 'reporting.db')}`,
      '--query',
      'SELECT PERSON_ID, SURNAME, DOB FROM REPORT_PEOPLE',
      '--key',
      'PERSON_ID',
      ...fieldArgs,
      '--events',
      join(dir, 'events.jsonl'),
      '--threshold',
      '0.999',
    ];
    const result = await run(args);
    expect(result.code).toBe(1);
    expect(result.out).toContain('BELOW THRESHOLD');
    expect(result.out).toContain(`missing: Z99999`);
    expect(result.out).toContain(`extra: ${people[0]!.id}`);
    expect(result.out).toContain(
      `differs ${broken[10]!.id}: name.family: reference "WRONG" != stream "${people[11]!.family}"`,
    );
    expect(result.out).toContain(`differs ${broken[30]!.id}: dateOfBirth: reference "1900-01-01"`);
    const json = await run([...args, '--json']);
    const report = JSON.parse(json.out);
    expect(report.counts).toEqual({ keys: 501, matching: 496, missing: 1, extra: 1, differing: 3 });
    expect(report.fields).toEqual({
      'name.family': { column: 'SURNAME', differing: 2 },
      dateOfBirth: { column: 'DOB', differing: 1 },
    });
    expect(report.parity).toBeCloseTo(496 / 501, 10);
    // A lower threshold accepts the same data.
    expect((await run([...args, '--threshold', '0.9'])).code).toBe(0);
  });

  it('refuses a field map naming a column the reference does not have (exit 2)', async () => {
    const dir = await sqliteFixture(people);
    const result = await run([
      '--reference',
      `sqlite:${join(dir, 'reporting.db')}`,
      '--table',
      'REPORT_PEOPLE',
      '--key',
      'PERSON_ID',
      '--field',
      'name.family=SURNAM',
      '--events',
      join(dir, 'events.jsonl'),
    ]);
    expect(result.code).toBe(2);
    expect(result.err).toContain("no column 'SURNAM'");
  });

  it('says what the database and the brokers said, with their retryability, and refuses a bad broker address', async () => {
    const dir = await sqliteFixture(people);
    const endpoint = services.postgres;
    const refused = await run(
      [
        '--reference',
        `postgres://${endpoint.user}@${endpoint.host}:${endpoint.port}/${endpoint.database}`,
        '--table',
        'nothing_here',
        '--key',
        'id',
        '--events',
        join(dir, 'events.jsonl'),
      ],
      { FERRY_RECONCILE_PASSWORD: 'not-the-password' },
    );
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/RECONCILE_REFERENCE_FAILED: .*refused the credentials.*\(not retryable/);
    const badBroker = await run([
      '--reference',
      `sqlite:${join(dir, 'reporting.db')}`,
      '--table',
      'REPORT_PEOPLE',
      '--key',
      'PERSON_ID',
      '--kafka-topic',
      'anything',
      '--brokers',
      'no-port-here',
    ]);
    expect(badBroker.code).toBe(2);
    expect(badBroker.err).toContain('--brokers: kafka.brokers[0]');
  });

  it('reads a PostgreSQL reference page by page and a Kafka topic from the beginning (read_committed)', async () => {
    const suffix = `${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
    const table = `reconcile_people_${suffix}`;
    const topic = `reconcile-people-${suffix}`;
    const client = new pg.Client({ connectionString: services.postgres.url });
    await client.connect();
    const kafka = new Kafka({ brokers: [...services.kafka.brokers], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    const producer = kafka.producer({
      transactionalId: `reconcile-${suffix}`,
      maxInFlightRequests: 1,
      idempotent: true,
    });
    try {
      await client.query(`CREATE TABLE ${table} (person_id TEXT PRIMARY KEY, surname TEXT, dob DATE)`);
      for (let i = 0; i < people.length; i += 100) {
        const chunk = people.slice(i, i + 100);
        await client.query(`INSERT INTO ${table} SELECT * FROM unnest($1::text[], $2::text[], $3::date[])`, [
          chunk.map((p) => p.id),
          chunk.map((p) => p.family),
          chunk.map((p) => p.born),
        ]);
      }
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
      await producer.connect();
      const events = eventsFor(people);
      for (let i = 0; i < events.length; i += 250) {
        const tx = await producer.transaction();
        await tx.send({
          topic,
          messages: events.slice(i, i + 250).map((e) => {
            const m = encodeEvent(e as never, 'binary');
            return { key: m.key, value: m.value, headers: m.headers };
          }),
        });
        await tx.commit();
      }
      const endpoint = services.postgres;
      const result = await run(
        [
          '--reference',
          `postgres://${endpoint.user}@${endpoint.host}:${endpoint.port}/${endpoint.database}`,
          // Dates as text: the driver would turn a DATE into a JavaScript Date at local midnight.
          '--query',
          `SELECT person_id, surname, to_char(dob, 'YYYY-MM-DD') AS dob FROM ${table}`,
          '--key',
          'person_id',
          '--field',
          'name.family=surname',
          '--field',
          'dateOfBirth=dob',
          '--kafka-topic',
          topic,
          '--brokers',
          services.kafka.brokers.join(','),
          // No longer used, still accepted: scripts written for the earlier reader keep working.
          '--idle-ms',
          '1500',
          '--page-size',
          '64',
          '--json',
        ],
        { FERRY_RECONCILE_PASSWORD: endpoint.password },
      );
      expect(result.err).toBe('');
      const report = JSON.parse(result.out);
      expect(report.counts).toEqual({ keys: 500, matching: 500, missing: 0, extra: 0, differing: 0 });
      expect(report.stream.events).toBe(1003);
      expect(result.code).toBe(0);
    } finally {
      await producer.disconnect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.disconnect();
      await client.query(`DROP TABLE IF EXISTS ${table}`);
      await client.end();
    }
  });
});
