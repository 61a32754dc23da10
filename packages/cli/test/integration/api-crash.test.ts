// The read API's crash test (issue 20's acceptance): the built `ferry api` consumes canonical events with
// creates, updates, deletes and re-creates (100,000 through a 3-partition Kafka topic into PostgreSQL; 30,000
// through the file event log into SQLite), is killed with SIGKILL three times mid-way and restarted; once it
// has caught up, what it serves is compared with the stream by `ferry reconcile`, the command itself.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContractValidators, loadContractRepository } from '@ferry/contracts';
import { buildEvent, type CanonicalEvent, createFileSink, silentLogger } from '@ferry/core';
import { sequenceOf } from '@ferry/core/sdk';
import { createKafkaSink, kafkaSinkConfigSchema } from '@ferry/kafka';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CliResult,
  cliBin,
  repoRoot,
  runCli,
  startNode,
  waitFor,
} from '../../../../examples/quickstart/test/cli.js';
import { services } from '../../../../test/services/endpoints.js';

const require = createRequire(import.meta.url);
const TYPE = 'justice.offender';
const CONTRACTS = join(repoRoot, 'examples', 'justice-model', 'contracts');
const API = 'crash';
const brokers = [...services.kafka.brokers];
const kafka = new Kafka({ brokers, clientId: 'ferry-api-crash-test', logLevel: logLevel.NOTHING });
const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

function unique(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

// ---------------------------------------------------------------------------------------------------------
// The stream: justice.offender 1.0.0 objects as a database source's pipeline would emit them.

const FAMILIES = ['SMITH', 'JONES', "O'NEIL", 'NÚÑEZ', 'ØSTERGÅRD', 'SMITH-JONES', 'WU', 'KOWALSKI'];
const GIVEN = ['JOHN', 'SARAH', 'AMIR', 'ZOË', 'LI', 'MARY ANNE'];
const PRISONS = ['LEI', 'MDI', 'BWI', 'PVI', 'WWI'];
const GENDERS = ['male', 'female', 'not-known'] as const;
const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** A prison number (`A1234BC`) per subject index, distinct for indexes below 260,000. */
function offenderId(i: number): string {
  const letter = (k: number) => String.fromCharCode(65 + (k % 26));
  return `${letter(i)}${pad(Math.floor(i / 26) % 10_000, 4)}${letter(i * 7 + 3)}${letter(i * 11 + 5)}`;
}

interface Stream {
  events: CanonicalEvent[];
  /** Each subject's last event. */
  last: Map<string, CanonicalEvent>;
  deletes: number;
}

/**
 * `count` events over `subjects` subjects in the order a source reads them, each with its place in that order
 * as `sequence` (sequenceOf, as Ferry's sources set it): a subject is created, updated, deleted now and then
 * (the delete carries the before image, as a CDC source gives it) and sometimes created again. Deterministic.
 */
function offenderStream(pipeline: string, count: number, subjects: number, seed: number): Stream {
  let state = seed;
  const random = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  const live = new Map<string, Record<string, unknown>>();
  const last = new Map<string, CanonicalEvent>();
  const events: CanonicalEvent[] = [];
  let deletes = 0;
  const start = Date.UTC(2025, 0, 1);
  for (let n = 1; n <= count; n += 1) {
    const id = offenderId(Math.floor(random() * subjects));
    const before = live.get(id);
    const op = before === undefined ? 'create' : random() < 0.1 ? 'delete' : 'update';
    const occurredAt = new Date(start + n * 1000);
    let data: Record<string, unknown>;
    if (op === 'delete') {
      data = before!;
      live.delete(id);
      deletes += 1;
    } else {
      data = {
        offenderId: id,
        name: { family: pick(FAMILIES), given: pick(GIVEN), ...(random() < 0.2 ? { middle: 'ANN' } : {}) },
        dateOfBirth: `19${50 + Math.floor(random() * 50)}-${pad(1 + (n % 12), 2)}-${pad(1 + (n % 28), 2)}`,
        ...(random() < 0.9 ? { gender: pick(GENDERS) } : {}),
        ...(random() < 0.8
          ? { location: { prisonId: pick(PRISONS), cell: `A-${n % 5}-${pad(n % 997, 3)}` } }
          : {}),
        active: random() < 0.7,
        lastModified: occurredAt.toISOString(),
      };
      live.set(id, data);
    }
    const event = buildEvent({
      pipeline,
      record: {
        stream: 'NOMIS.OFFENDERS',
        op,
        key: { OFFENDER_ID: id },
        origin: { table: 'OFFENDERS', scn: n },
        occurredAt,
        sequence: sequenceOf(n),
      },
      canonicalType: TYPE,
      dataschema: `urn:ferry:contract:${TYPE}:1.0.0`,
      subject: id,
      data,
    });
    events.push(event);
    last.set(id, event);
  }
  return { events, last, deletes };
}

/** Every object the stream carries is a valid justice.offender 1.0.0 (the contract check a pipeline runs). */
async function expectValidObjects(events: readonly CanonicalEvent[]): Promise<string[]> {
  const repo = await loadContractRepository(CONTRACTS);
  const validators = new ContractValidators(repo);
  const invalid = events.filter((e) => validators.validate(TYPE, '1.0.0', e.data).length > 0);
  expect(invalid.map((e) => e.id)).toEqual([]);
  // The top-level fields of every version of the contract's major 1: what a served object may hold.
  const versions = repo.types.get(TYPE)?.versions ?? [];
  return [...new Set(versions.flatMap((v) => Object.keys(v.schema.properties as object)))];
}

// ---------------------------------------------------------------------------------------------------------
// `ferry api`, run, watched and killed.

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Backend {
  /** The store's saved positions of the consumer, by stream (read from the store's own table). */
  positions(): Promise<Record<string, string>>;
  /** The positions that mean "everything read": the topic's end offsets, or the log's size. */
  end: Record<string, string>;
  /** How many stream records lie between two positions of a stream (offsets, or lines between byte offsets). */
  recordsBetween(stream: string, from: string, to: string): number;
}

const sum = (positions: Record<string, string>) =>
  Object.values(positions).reduce((total, at) => total + Number(at), 0);

/** A batch as `ferry api --log-level debug` logs it. */
interface BatchLine {
  events: number;
  applied: number;
  duplicates: number;
  stale: number;
  positions: Record<string, string>;
}

interface Run {
  /** Where the store stood when the run started. */
  from: Record<string, string>;
  child: ReturnType<typeof startNode>['child'];
  done: Promise<CliResult>;
}

function startApi(config: string, from: Record<string, string>, env: Record<string, string>): Run {
  const { child, done } = startNode(cliBin, ['api', config, '--log-level', 'debug'], env, 600_000);
  return { from, child, done };
}

/** The batches a run logged; a line cut off by SIGKILL (after the last newline) is left out. */
function batchesOf(result: CliResult): BatchLine[] {
  return result.stderr
    .split('\n')
    .slice(0, -1)
    .filter((line) => line.includes('"batch applied"'))
    .map((line) => JSON.parse(line) as BatchLine);
}

/**
 * Each batch a run logged took up exactly where the one before it in its stream ended (the first where the
 * store stood when the run started), and held as many events as the stream has records in between: nothing
 * re-read, nothing skipped, nothing applied twice.
 */
function expectContiguousBatches(backend: Backend, run: Run, batches: BatchLine[]): void {
  const at = { ...run.from };
  for (const batch of batches) {
    expect(batch.duplicates + batch.stale, JSON.stringify(batch)).toBe(0);
    expect(batch.applied).toBe(batch.events);
    for (const [stream, to] of Object.entries(batch.positions)) {
      const from = at[stream] ?? '0';
      expect(backend.recordsBetween(stream, from, to), `${stream} ${from}..${to}`).toBe(batch.events);
      at[stream] = to;
    }
  }
}

/**
 * Three runs killed with SIGKILL as the store passes 20%, 45% and 70% of the stream, then a fourth that reads
 * to the end. Returns the last run, still serving.
 */
async function crashThrice(
  backend: Backend,
  config: string,
  env: Record<string, string>,
  runs: Run[],
  beforeRun: (run: number) => Promise<void> = async () => undefined,
): Promise<Run> {
  const total = sum(backend.end);
  let from = await backend.positions();
  for (const share of [0.2, 0.45, 0.7]) {
    await beforeRun(runs.length);
    const run = startApi(config, from, env);
    runs.push(run);
    await waitFor(
      async () => {
        if (run.child.exitCode !== null) throw new Error(`ferry api exited: ${(await run.done).stderr}`);
        return sum(await backend.positions()) >= share * total;
      },
      240_000,
      `the store to pass ${share * 100}% of the stream`,
    );
    run.child.kill('SIGKILL');
    const result = await run.done;
    expect(result.signal, result.stderr).toBe('SIGKILL');
    const at = await backend.positions();
    // Killed during consumption: further than the run before, short of the end.
    expect(sum(at)).toBeGreaterThan(sum(from));
    expect(sum(at)).toBeLessThan(total);
    expectContiguousBatches(backend, run, batchesOf(result));
    from = at;
  }
  await beforeRun(runs.length);
  const last = startApi(config, from, env);
  runs.push(last);
  await waitFor(
    async () => {
      if (last.child.exitCode !== null) throw new Error(`ferry api exited: ${(await last.done).stderr}`);
      const at = await backend.positions();
      return Object.entries(backend.end).every(([stream, end]) => at[stream] === end);
    },
    240_000,
    'the store to reach the end of the stream',
  );
  return last;
}

// ---------------------------------------------------------------------------------------------------------
// What is served, and the reconciliation.

interface Problem {
  status: number;
  code: string;
}

/** Every item of the collection, paging with the cursor; every page says it is current to `end`. */
async function servedItems(base: string, end: Record<string, string>): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1000; pages += 1) {
    const response = await fetch(
      `${base}/v1/offenders?limit=500${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
    );
    expect(response.status).toBe(200);
    expect(freshnessOf(response)).toEqual(end);
    const page = (await response.json()) as { items: Record<string, unknown>[]; next: string | null };
    items.push(...page.items);
    if (page.next === null) return items;
    cursor = page.next;
  }
  throw new Error('more pages than the stream has entities');
}

/** The `Ferry-Position` header, by stream. */
function freshnessOf(response: Response): Record<string, string> {
  const header = response.headers.get('ferry-position') ?? '';
  return Object.fromEntries(
    header
      .split(',')
      .filter((pair) => pair !== '')
      .map((pair) => {
        const at = pair.lastIndexOf('=');
        return [decodeURIComponent(pair.slice(0, at)), pair.slice(at + 1)];
      }),
  );
}

interface ReconcileReport {
  ok: boolean;
  parity: number;
  reference: { rows: number; keys: number; duplicateKeys: number; nullKeys: number };
  stream: {
    events: number;
    applied: number;
    deletes: number;
    ignored: number;
    unkeyed: number;
    keys: number;
  };
  counts: { keys: number; matching: number; missing: number; extra: number; differing: number };
  missing: string[];
  extra: string[];
  differences: unknown[];
}

/**
 * The served objects as the reference of `ferry reconcile`, keyed by offenderId, every field of the contract
 * compared; the stream is the log or the topic, folded by the command (last event per subject, deletes remove).
 */
async function reconcileServed(
  dir: string,
  items: Record<string, unknown>[],
  fields: string[],
  stream: string[],
): Promise<ReconcileReport> {
  const reference = join(dir, 'served.jsonl');
  // A column per field on every row (reconcile reads a table): a field the object lacks is null, as blank.
  const rows = items.map((item) => Object.fromEntries(fields.map((field) => [field, item[field] ?? null])));
  await writeFile(reference, rows.map((row) => `${JSON.stringify(row)}\n`).join(''));
  const result = await runCli([
    'reconcile',
    '--reference',
    reference,
    '--key',
    'offenderId',
    ...fields.flatMap((field) => ['--field', `${field}=${field}`]),
    ...stream,
    '--type',
    TYPE,
    '--threshold',
    '1',
    '--samples',
    '10',
    '--json',
    '--work-dir',
    dir,
  ]);
  // Exit 1 (parity below 1) still prints the report, whose figures and samples the caller's check shows.
  expect(result.code === 0 || result.code === 1, result.stderr).toBe(true);
  return JSON.parse(result.stdout) as ReconcileReport;
}

/** The served state is the stream's: reconciled at parity 1, and GETs by id of live, deleted and unknown ids. */
async function expectServedToBeTheStream(options: {
  base: string;
  dir: string;
  stream: Stream;
  fields: string[];
  end: Record<string, string>;
  reconcileStream: string[];
}): Promise<void> {
  const { base, stream } = options;
  const items = await servedItems(base, options.end);
  const ids = items.map((item) => String(item.offenderId));
  // In id order, each once; each object holds only fields of the contract (so comparing those is comparing all).
  expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
  expect(items.filter((item) => Object.keys(item).some((k) => !options.fields.includes(k)))).toEqual([]);

  const report = await reconcileServed(options.dir, items, options.fields, options.reconcileStream);
  const live = [...stream.last.values()].filter((e) => e.ferryop !== 'delete');
  expect(report).toMatchObject({
    ok: true,
    parity: 1,
    counts: { keys: live.length, matching: live.length, missing: 0, extra: 0, differing: 0 },
    reference: { rows: live.length, keys: live.length, duplicateKeys: 0, nullKeys: 0 },
    stream: {
      events: stream.events.length,
      applied: stream.events.length - stream.deletes,
      deletes: stream.deletes,
      ignored: 0,
      unkeyed: 0,
      keys: live.length,
    },
  });

  // By id: a live entity is its last event's object (that event's id as the ETag); a deleted one is gone.
  const deleted = [...stream.last.values()].filter((e) => e.ferryop === 'delete');
  expect(deleted.length).toBeGreaterThan(100);
  const step = (list: unknown[]) => Math.max(1, Math.floor(list.length / 100));
  for (const event of live.filter((_, i) => i % step(live) === 0)) {
    const response = await fetch(`${base}/v1/offenders/${event.subject}`);
    expect(response.status, event.subject).toBe(200);
    expect(response.headers.get('etag')).toBe(`"${event.id}"`);
    expect(await response.json()).toEqual(event.data);
  }
  for (const event of deleted.filter((_, i) => i % step(deleted) === 0)) {
    const response = await fetch(`${base}/v1/offenders/${event.subject}`);
    expect(response.status, event.subject).toBe(410);
    expect((await response.json()) as Problem).toMatchObject({ status: 410, code: 'API_GONE' });
  }
  const unknown = await fetch(`${base}/v1/offenders/Z9999ZZ`);
  expect(unknown.status).toBe(404);
}

/** SIGTERM: the last run stops after the batch in hand, exits 0 and sums up what it read. */
async function stopLast(run: Run, backend: Backend): Promise<void> {
  run.child.kill('SIGTERM');
  const result = await run.done;
  expect(result.code, result.stderr).toBe(0);
  const read = Object.entries(backend.end).reduce(
    (total, [stream, end]) => total + backend.recordsBetween(stream, run.from[stream] ?? '0', end),
    0,
  );
  expect(result.stdout).toContain(
    `ferry api ${API}: ${read} events read, ${read} applied, 0 duplicates, 0 stale`,
  );
  expectContiguousBatches(backend, run, batchesOf(result));
}

function apiYaml(options: { port: number; store: string[]; stream: string[] }): string {
  return [
    `api: ${API}`,
    `listen: { host: 127.0.0.1, port: ${options.port} }`,
    ...options.store,
    `contracts: { repository: ${JSON.stringify(CONTRACTS)} }`,
    'streams:',
    ...options.stream,
    'entities:',
    `  - type: ${TYPE}`,
    'auth: { mode: none, acknowledgeUnauthenticated: true }',
    'rateLimit: { requests: 1000000, windowSeconds: 60 }',
    '',
  ].join('\n');
}

describe('ferry api killed with SIGKILL three times during consumption', () => {
  it('serves the reconciliation of 100,000 Kafka events from PostgreSQL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-api-crash-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const stream = offenderStream('nomis-offenders', 100_000, 16_000, 20);
    const fields = await expectValidObjects(stream.events);

    // A fresh topic of 3 partitions, written by Ferry's Kafka sink (keyed by subject, binary binding).
    const topic = unique('ferry-api-crash');
    const admin = kafka.admin();
    await admin.connect();
    cleanups.push(() => admin.disconnect());
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    cleanups.push(() => admin.deleteTopics({ topics: [topic] }));
    const sink = await createKafkaSink(
      kafkaSinkConfigSchema.parse({ brokers, topic, mode: 'binary', topics: { create: false } }),
      { pipeline: 'nomis-offenders', logger: silentLogger() },
    );
    try {
      for (let at = 0; at < stream.events.length; at += 5000)
        await sink.write(stream.events.slice(at, at + 5000));
    } finally {
      await sink.close();
    }
    const ends = await admin.fetchTopicOffsets(topic);
    const end = Object.fromEntries(ends.map(({ partition, high }) => [`${topic}/${partition}`, high]));
    expect(sum(end)).toBe(100_000);
    expect(Object.values(end).every((high) => Number(high) > 20_000)).toBe(true);

    // A schema of the test's own on the shared server, dropped afterwards.
    const { host, port, user, password, database } = services.postgres;
    const schema = unique('ferry_api_crash').toLowerCase();
    const db = new pg.Client({ host, port, user, password, database });
    await db.connect();
    cleanups.push(async () => {
      await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.end();
    });
    // Kafka keeps a member killed with SIGKILL in its group until the member's session times out (30 s, the
    // kafkajs default that ferry api keeps), and a restart under that group waits as long for its partitions.
    // The first restart does, as a plain restart would; the later ones come back under a new group, as a
    // redeploy may: the store's positions, not the group's offsets, decide where each resumes either way.
    const groups = [0, 1, 2].map(() => unique('ferry-api-crash'));
    cleanups.push(() => admin.deleteGroups(groups));
    const backend: Backend = {
      end,
      async positions() {
        const exists = await db.query('SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2', [
          schema,
          'ferry_api_offsets',
        ]);
        if (exists.rowCount === 0) return {};
        const { rows } = await db.query<{ stream: string; position: string }>(
          `SELECT stream, position FROM "${schema}".ferry_api_offsets WHERE consumer = $1`,
          [API],
        );
        return Object.fromEntries(rows.map((r) => [r.stream, r.position]));
      },
      recordsBetween: (_stream, from, to) => Number(to) - Number(from),
    };
    const config = join(dir, 'api.yaml');
    const apiPort = await freePort();
    const writeConfig = (groupId: string) =>
      writeFile(
        config,
        apiYaml({
          port: apiPort,
          store: [
            `store: { type: postgres, host: ${host}, port: ${port}, username: ${user}, password: "\${env:API_DB_PASSWORD}", database: ${database}, schema: ${schema} }`,
          ],
          stream: [
            `  - kafka: { brokers: [${brokers.join(', ')}], topics: [${topic}], groupId: ${groupId} }`,
          ],
        }),
      );

    const runs: Run[] = [];
    cleanups.push(async () => {
      for (const run of runs)
        if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
    });
    const last = await crashThrice(backend, config, { API_DB_PASSWORD: password }, runs, (run) =>
      writeConfig(groups[Math.max(0, run - 1)]!),
    );
    await expectServedToBeTheStream({
      base: `http://127.0.0.1:${apiPort}`,
      dir,
      stream,
      fields,
      end,
      reconcileStream: ['--kafka-topic', topic, '--brokers', brokers.join(',')],
    });
    await stopLast(last, backend);
  }, 600_000);

  it('serves the reconciliation of 30,000 file event log events from SQLite', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-api-crash-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const stream = offenderStream('nomis-offenders-file', 30_000, 5_000, 7);
    const fields = await expectValidObjects(stream.events);

    // The file sink's own log: one JSON line per event.
    const sink = createFileSink({ dir: join(dir, 'events') });
    try {
      for (let at = 0; at < stream.events.length; at += 5000)
        await sink.write(stream.events.slice(at, at + 5000));
    } finally {
      await sink.close();
    }
    const log = sink.pathFor(`${TYPE}.v1`);
    const bytes = await readFile(log);
    const end = { [log]: String(bytes.length) };
    const linesBefore = (offset: number) => {
      let lines = 0;
      for (let i = bytes.indexOf(10); i !== -1 && i < offset; i = bytes.indexOf(10, i + 1)) lines += 1;
      return lines;
    };
    expect(linesBefore(bytes.length)).toBe(30_000);

    const path = join(dir, 'api.db');
    // better-sqlite3 (the CLI's dependency) has no types installed: what is used of it.
    const Database = require('better-sqlite3') as new (
      path: string,
      options: { fileMustExist: boolean; timeout: number },
    ) => {
      prepare(sql: string): { get(...params: unknown[]): unknown; all(...params: unknown[]): unknown[] };
      close(): void;
    };
    const backend: Backend = {
      end,
      async positions() {
        if (!existsSync(path)) return {};
        const db = new Database(path, { fileMustExist: true, timeout: 5000 });
        try {
          const table = db
            .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ferry_api_offsets'")
            .get();
          if (table === undefined) return {};
          const rows = db
            .prepare('SELECT stream, position FROM ferry_api_offsets WHERE consumer = ?')
            .all(API) as { stream: string; position: string }[];
          return Object.fromEntries(rows.map((r) => [r.stream, r.position]));
        } finally {
          db.close();
        }
      },
      recordsBetween: (_stream, from, to) => linesBefore(Number(to)) - linesBefore(Number(from)),
    };
    const config = join(dir, 'api.yaml');
    const apiPort = await freePort();
    await writeFile(
      config,
      apiYaml({
        port: apiPort,
        store: ['store: { type: sqlite, path: api.db }'],
        stream: [`  - file: ${log}`],
      }),
    );

    const runs: Run[] = [];
    cleanups.push(async () => {
      for (const run of runs)
        if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
    });
    const last = await crashThrice(backend, config, {}, runs);
    await expectServedToBeTheStream({
      base: `http://127.0.0.1:${apiPort}`,
      dir,
      stream,
      fields,
      end,
      reconcileStream: ['--events', log],
    });
    await stopLast(last, backend);
  }, 600_000);
});
