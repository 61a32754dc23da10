// Issue 17, first acceptance item: three `ferry serve --cluster` worker processes share six pipelines of six
// kinds (PostgreSQL logical, PostgreSQL polling, SQLite polling, SFTP CSV, SOAP watermark, MariaDB trigger)
// while writers keep changing the legacy systems; one worker that runs pipelines is killed with SIGKILL; each of
// its pipelines resumes on a survivor. Then, so that every kind (not only the two the deterministic assignment
// puts on the first victim) loses its worker to a SIGKILL once, a fresh worker replaces the dead one and the
// next worker is killed, until each kind has moved that way. At the end, per pipeline: L0 every change is in
// its topic, D0 every copy of an event id has the same payload, and no checkpoint ever committed was ahead of
// Kafka. The time from each kill to the new owner's first commit is printed.
//
// Each worker has its own directory with its own copy of the six pipeline files, as on separate hosts: what a
// connector keeps on local disk (the SFTP registry and spool) does not follow a pipeline to another worker.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PipelineStatus } from '@ferry/server';
import Database from 'better-sqlite3';
import { Kafka, logLevel } from 'kafkajs';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SoapEndpoint, services } from '../../../../test/services/endpoints.js';
import { type PrivateServer, startPrivateSpyne } from '../../../../test/services/private.js';
import { remoteDir } from '../../../sftp/test/helpers.js';
import { type Served, startServe, uploadList } from './serve-helpers.js';

const brokers = [...services.kafka.brokers];
const tag = randomBytes(3).toString('hex');
const group = `ferry-six-kinds-${tag}`;
const checkpointTopic = `ferry-six-kinds-checkpoints-${tag}`;
const workerNames = ['a', 'b', 'c'];
const env = {
  FERRY_SIX_PG_PASSWORD: services.postgres.password,
  FERRY_SIX_DB_PASSWORD: services.mariadb.password,
};

// Timeouts, generous for a loaded 2-core machine shared with other test runs.
/** A worker process is killed (SIGKILL) if it is still running after this: longer than the whole test. */
const WORKER_LIFETIME_MS = 600_000;
/** Three workers join one by one and every pipeline starts and commits its first batch. */
const START_MS = 150_000;
/** Kafka notices the dead worker (session timeout 10 s), rebalances, and the survivors claim its pipelines. */
const HANDOVER_MS = 120_000;
/** With the writers stopped, every pipeline reads the rest and commits it. */
const CATCH_UP_MS = 120_000;

// ---------------------------------------------------------------------------------------------------------
// What the test reads back from Kafka

/** A data message decoded from the CloudEvents binary binding. */
interface Ev {
  id: string;
  subject: string;
  op: string;
  origin: Record<string, unknown>;
  sequence: string;
  data: Record<string, unknown>;
  /** The message value: the JSON of the event's data, byte for byte. */
  payload: string;
  /** The message's Kafka timestamp (the producer's clock, on this machine). */
  at: number;
}

/** A committed checkpoint record of one pipeline. */
interface Checkpoint {
  position: unknown;
  at: number;
  offset: string;
}

interface Tap {
  events: Map<string, Ev[]>;
  checkpoints: Map<string, Checkpoint[]>;
  deadLetters: Map<string, number>;
  /** Wait until every data topic is read to the end it has now (its high watermark). */
  drain(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Read every data topic, dead-letter topic and the checkpoint topic from the beginning, for the whole test,
 * read_committed (kafkajs's default isolation), under a consumer group of the test's own.
 */
async function startTap(pipelines: string[]): Promise<Tap> {
  const kafka = new Kafka({ brokers, clientId: 'ferry-test-six-kinds', logLevel: logLevel.NOTHING });
  const groupId = `ferry-test-six-kinds-${randomBytes(4).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 250 });
  const events = new Map<string, Ev[]>(pipelines.map((p) => [p, []]));
  const checkpoints = new Map<string, Checkpoint[]>(pipelines.map((p) => [p, []]));
  const deadLetters = new Map<string, number>(pipelines.map((p) => [p, 0]));
  /** The next offset to read, per data topic partition. */
  const next = new Map<string, number>();
  const header = (headers: Record<string, unknown> | undefined, name: string) => {
    const value = headers?.[name];
    return value === undefined ? '' : String(value);
  };
  await consumer.connect();
  await consumer.subscribe({
    topics: [checkpointTopic, ...pipelines, ...pipelines.map((p) => `${p}.dlq`)],
    fromBeginning: true,
  });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      const at = Number(message.timestamp);
      if (topic === checkpointTopic) {
        const key = message.key?.toString() ?? '';
        const list = checkpoints.get(key);
        // Other keys: a scheduled pipeline's pass state (`#pass`), a file's counts (`#unit`), tombstones.
        if (list === undefined || message.value === null) return;
        const value = JSON.parse(message.value.toString()) as { position: unknown };
        list.push({ position: value.position, at, offset: message.offset });
        return;
      }
      if (topic.endsWith('.dlq')) {
        const pipeline = topic.slice(0, -'.dlq'.length);
        deadLetters.set(pipeline, (deadLetters.get(pipeline) ?? 0) + 1);
        return;
      }
      const payload = message.value?.toString() ?? '';
      next.set(`${topic}:${partition}`, Number(message.offset) + 1);
      events.get(topic)?.push({
        id: header(message.headers, 'ce_id'),
        subject: header(message.headers, 'ce_subject'),
        op: header(message.headers, 'ce_ferryop'),
        origin: JSON.parse(header(message.headers, 'ce_ferryorigin') || '{}') as Record<string, unknown>,
        sequence: header(message.headers, 'ce_sequence'),
        data: JSON.parse(payload || '{}') as Record<string, unknown>,
        payload,
        at,
      });
    },
  });
  return {
    events,
    checkpoints,
    deadLetters,
    async drain(timeoutMs) {
      const admin = kafka.admin();
      await admin.connect();
      const ends: { key: string; end: number }[] = [];
      try {
        for (const topic of pipelines)
          for (const { partition, high } of await admin.fetchTopicOffsets(topic))
            ends.push({ key: `${topic}:${partition}`, end: Number(high) });
      } finally {
        await admin.disconnect();
      }
      // Plain (non-transactional) produce: every offset below the high watermark is a message.
      const deadline = Date.now() + timeoutMs;
      while (ends.some(({ key, end }) => (next.get(key) ?? 0) < end)) {
        if (Date.now() > deadline) throw new Error(`the test's consumer did not reach the end of the topics`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      await consumer.disconnect();
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteGroups([groupId]).catch(() => undefined);
      await admin.disconnect();
    },
  };
}

/** The first copy of each event id (the earliest write), in topic order. */
function firstCopies(events: Ev[]): Ev[] {
  const first = new Map<string, Ev>();
  for (const e of events) {
    const seen = first.get(e.id);
    if (seen === undefined || e.at < seen.at) first.set(e.id, e);
  }
  return [...first.values()];
}

// ---------------------------------------------------------------------------------------------------------
// The six kinds of pipeline

/**
 * One pipeline kind: how the legacy system is set up and written to, what must reach Kafka, and what its
 * checkpoint positions mean, so the test can tell whether a position was ever ahead of the topic.
 */
interface Kind {
  pipeline: string;
  /** The pipeline file's `source:` and `mapping:` sections. */
  yaml: string;
  /** One step of the legacy application: a transaction, a file, a record. */
  write(): Promise<void>;
  /** Steps written so far. */
  steps: number;
  /** One key per change that must be in the topic (per row's last state, for polling). */
  expected(): Set<string>;
  /** The key an event stands for. */
  keyOf(e: Ev): string;
  /**
   * The events a position says are done (they must be in Kafka before the position is committed), given the
   * pipeline's events (polling positions are compared through the event they name).
   */
  covers(position: unknown, events: Ev[]): (e: Ev) => boolean;
  /** The event a position names, when it names one: it must be in the topic. */
  anchor(position: unknown): ((e: Ev) => boolean) | undefined;
}

/** Pick one element at random. */
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

/** PostgreSQL and MariaDB change keys: `<id>:<v>` for an insert or update, `<id>:deleted` for a delete. */
function changeKey(e: Ev): string {
  if (e.op === 'delete') return `${e.subject}:deleted`;
  return `${String(e.data.id)}:${Number(e.data.v)}`;
}

/**
 * The writer of a table whose every change is captured (logical replication, trigger journal): each step is
 * one transaction that inserts a row, updates another and sometimes deletes a row it inserted earlier.
 */
function changeWriter(
  exec: (sql: string, params: unknown[]) => Promise<unknown>,
  transaction: (work: () => Promise<void>) => Promise<void>,
  table: string,
  param: (n: number) => string,
  seeded: number,
) {
  const values = new Map<number, number>();
  for (let id = 1; id <= seeded; id += 1) values.set(id, 0);
  const changes = new Set<string>([...values.keys()].map((id) => `${id}:0`));
  const inserted: number[] = [];
  let next = seeded + 1;
  return {
    changes,
    async step() {
      const done: string[] = [];
      const target = pick([...values.keys()]);
      const id = next;
      let gone: number | undefined;
      await transaction(async () => {
        const v = values.get(target)! + 1;
        await exec(`UPDATE ${table} SET v = ${param(1)} WHERE id = ${param(2)}`, [v, target]);
        done.push(`${target}:${v}`);
        await exec(`INSERT INTO ${table} (id, v, name) VALUES (${param(1)}, 0, ${param(2)})`, [
          id,
          `new ${id}`,
        ]);
        done.push(`${id}:0`);
        if (inserted.length > 5 && Math.random() < 0.2) {
          gone = inserted[Math.floor(Math.random() * inserted.length)]!;
          await exec(`DELETE FROM ${table} WHERE id = ${param(1)}`, [gone]);
          done.push(`${gone}:deleted`);
        }
      });
      // Committed: only now are these changes the legacy system's.
      next += 1;
      values.set(target, values.get(target)! + 1);
      values.set(id, 0);
      inserted.push(id);
      if (gone !== undefined) {
        values.delete(gone);
        inserted.splice(inserted.indexOf(gone), 1);
      }
      for (const key of done) changes.add(key);
    },
  };
}

/** A PostgreSQL LSN (`16/B374D848`) as a number. */
function lsn(text: string): bigint {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

interface LogicalPosition {
  lsn: string;
  xid?: number;
  skip?: number;
  snapshot?: unknown;
}

interface TriggerPosition {
  seq: number;
  gaps?: { seq: number }[];
  snapshot?: unknown;
}

interface PollingPosition {
  tables: Record<string, { ts?: string | null; id?: number | string | null }>;
}

interface SftpPosition {
  file: string;
  line: number;
  state: string;
}

interface SoapPosition {
  watermark: string;
  cursor?: { since: string; page: number | string; skip: number };
}

/**
 * Polling: a position is the tracking values (timestamp, id) of the last row of a batch, so it names an event;
 * it covers every event of the table whose sequence (the same tracking values, sortable) is not after that
 * event's.
 */
function pollingCoverage(position: unknown, events: Ev[]): (e: Ev) => boolean {
  const anchor = pollingAnchor(position);
  const named = events.find(anchor);
  if (named === undefined) return () => false;
  return (e) => e.sequence <= named.sequence;
}

function pollingAnchor(position: unknown): (e: Ev) => boolean {
  const [at] = Object.values((position as PollingPosition).tables);
  return (e) => e.origin.ts === at?.ts && String(e.origin.id) === String(at?.id);
}

// ---------------------------------------------------------------------------------------------------------

describe('ferry serve --cluster: six kinds of pipeline, one worker killed mid-run (issue 17)', () => {
  let root: string;
  let pgLogical: pg.Client;
  let pgPolling: pg.Client;
  let maria: mysql.Connection;
  let sqlite: Database.Database;
  let spyne: PrivateServer<SoapEndpoint> | undefined;
  let uploadDir: string;
  let tap: Tap | undefined;
  const workers = new Map<string, Served>();
  const cleanups: (() => Promise<unknown>)[] = [];
  const kinds: Kind[] = [];
  /** Each pipeline file's text: every worker gets its own copy. */
  const pipelineFiles = new Map<string, string>();

  const names = {
    logical: `six-pg-logical-${tag}`,
    pgPolling: `six-pg-polling-${tag}`,
    sqlite: `six-sqlite-polling-${tag}`,
    sftp: `six-sftp-csv-${tag}`,
    soap: `six-soap-watermark-${tag}`,
    trigger: `six-mariadb-trigger-${tag}`,
  };
  const table = {
    logical: `ferry_six_lg_${tag}`,
    pgPolling: `ferry_six_pl_${tag}`,
    sqlite: `six_sq_${tag}`,
    trigger: `ferry_six_tg_${tag}`,
    journal: `ferry_six_jr_${tag}`,
  };
  const slot = `ferry_six_${tag}`;
  const SEEDED = 20;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ferry-six-kinds-'));
    const { host: pgHost, port: pgPort, user: pgUser, database: pgDb } = services.postgres;
    const pgConnection = `{ type: postgres, host: ${pgHost}, port: ${pgPort}, username: ${pgUser}, password: "\${env:FERRY_SIX_PG_PASSWORD}", database: ${pgDb} }`;
    const client = async () => {
      const c = new pg.Client({ ...services.postgres });
      await c.connect();
      return c;
    };
    pgLogical = await client();
    pgPolling = await client();
    const pgParam = (n: number) => `$${n}`;

    // 1. PostgreSQL logical replication: every committed change, deletes included (REPLICA IDENTITY FULL, so
    // a delete carries the whole row, as in the logical crash test).
    await pgLogical.query(
      `CREATE TABLE ${table.logical} (id BIGINT PRIMARY KEY, v INTEGER NOT NULL, name TEXT NOT NULL)`,
    );
    cleanups.push(() => pgLogical.query(`DROP TABLE IF EXISTS ${table.logical}`));
    await pgLogical.query(`ALTER TABLE ${table.logical} REPLICA IDENTITY FULL`);
    await pgLogical.query(
      `INSERT INTO ${table.logical} SELECT g, 0, 'row ' || g FROM generate_series(1, ${SEEDED}) AS g`,
    );
    const logicalWriter = changeWriter(
      (sql, params) => pgLogical.query(sql, params),
      async (work) => {
        await pgLogical.query('BEGIN');
        try {
          await work();
          await pgLogical.query('COMMIT');
        } catch (error) {
          await pgLogical.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      },
      table.logical,
      pgParam,
      SEEDED,
    );
    kinds.push({
      pipeline: names.logical,
      yaml: `source:
  type: database
  mode: logical
  connection: ${pgConnection}
  tables: [{ name: ${table.logical}, key: [id] }]
  slot: ${slot}
  publication: ${slot}
  createSlot: true
  batchSize: 200
  heartbeatIntervalMs: 1000
mapping:
  subject: id
  fields: { id: id, v: v, name: name }
contract: { type: test.logical, version: 1.0.0 }`,
      steps: 0,
      async write() {
        await logicalWriter.step();
      },
      expected: () => logicalWriter.changes,
      keyOf: changeKey,
      // The position's LSN is the end of the last transaction done (or the WAL end when idle); a change's
      // origin LSN is its transaction's commit LSN, below that end. Inside a split transaction, `skip` says how
      // many of its changes are done. Snapshot rows are covered once the snapshot has ended.
      covers(position) {
        const p = position as LogicalPosition;
        return (e) => {
          if (e.origin.snapshot !== undefined) return p.snapshot === undefined;
          if (lsn(String(e.origin.lsn)) < lsn(p.lsn)) return true;
          return p.xid !== undefined && e.origin.xid === p.xid && Number(e.origin.seq) <= (p.skip ?? 0);
        };
      },
      // An LSN is the end of a transaction or of the WAL, not an event.
      anchor: () => undefined,
    });

    // 2. PostgreSQL polling on a last-modified timestamp and an incrementing id: inserts and updates.
    await pgPolling.query(
      `CREATE TABLE ${table.pgPolling} (id BIGINT PRIMARY KEY, v INTEGER NOT NULL, name TEXT NOT NULL,
         updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())`,
    );
    cleanups.push(() => pgPolling.query(`DROP TABLE IF EXISTS ${table.pgPolling}`));
    // The index `ferry check` asks for (DB_INDEX_MISSING), as the legacy DBA would add it.
    await pgPolling.query(`CREATE INDEX ON ${table.pgPolling} (updated_at, id)`);
    const pgRows = new Map<number, number>();
    for (let id = 1; id <= SEEDED; id += 1) {
      await pgPolling.query(`INSERT INTO ${table.pgPolling} (id, v, name) VALUES ($1, 0, $2)`, [
        id,
        `row ${id}`,
      ]);
      pgRows.set(id, 0);
    }
    kinds.push({
      pipeline: names.pgPolling,
      yaml: `source:
  type: database
  mode: polling
  connection: ${pgConnection}
  tables: [{ name: ${table.pgPolling}, key: [id], timestampColumn: updated_at, incrementingColumn: id }]
  batchSize: 50
  pollIntervalMs: 300
mapping:
  subject: id
  fields: { id: id, v: v, name: name }
contract: { type: test.pgpolling, version: 1.0.0 }`,
      steps: 0,
      // One writer, one transaction at a time: each commits after the last, with later timestamps
      // (clock_timestamp per statement), so no row commits behind the poller's position.
      async write() {
        const target = pick([...pgRows.keys()]);
        const id = pgRows.size + 1;
        await pgPolling.query('BEGIN');
        try {
          await pgPolling.query(`INSERT INTO ${table.pgPolling} (id, v, name) VALUES ($1, 0, $2)`, [
            id,
            `new ${id}`,
          ]);
          await pgPolling.query(
            `UPDATE ${table.pgPolling} SET v = v + 1, updated_at = clock_timestamp() WHERE id = $1`,
            [target],
          );
          await pgPolling.query('COMMIT');
        } catch (error) {
          await pgPolling.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
        pgRows.set(id, 0);
        pgRows.set(target, pgRows.get(target)! + 1);
      },
      // Polling sees a row's state when it polls, not every change: each row's last state must arrive.
      expected: () => new Set([...pgRows].map(([id, v]) => `${id}:${v}`)),
      keyOf: (e) => `${String(e.data.id)}:${Number(e.data.v)}`,
      covers: pollingCoverage,
      anchor: pollingAnchor,
    });

    // 3. SQLite polling, the same shape, the timestamp written by the application as text.
    const sqliteFile = join(root, 'legacy.sqlite');
    sqlite = new Database(sqliteFile);
    // WAL: the workers' read-only connections do not block the writer, nor it them.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.exec(
      `CREATE TABLE ${table.sqlite} (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, name TEXT NOT NULL, updated_at TEXT NOT NULL)`,
    );
    let lastStamp = 0;
    // Strictly increasing across transactions: a later change never sorts before the poller's position.
    const stamp = () => {
      lastStamp = Math.max(Date.now(), lastStamp + 1);
      return new Date(lastStamp).toISOString().replace('T', ' ').replace('Z', '');
    };
    const sqliteRows = new Map<number, number>();
    const sqliteInsert = sqlite.prepare(
      `INSERT INTO ${table.sqlite} (id, v, name, updated_at) VALUES (?, 0, ?, ?)`,
    );
    const sqliteUpdate = sqlite.prepare(`UPDATE ${table.sqlite} SET v = v + 1, updated_at = ? WHERE id = ?`);
    for (let id = 1; id <= SEEDED; id += 1) {
      sqliteInsert.run(id, `row ${id}`, stamp());
      sqliteRows.set(id, 0);
    }
    const sqliteStep = sqlite.transaction((id: number, target: number) => {
      sqliteInsert.run(id, `new ${id}`, stamp());
      sqliteUpdate.run(stamp(), target);
    });
    kinds.push({
      pipeline: names.sqlite,
      yaml: `source:
  type: database
  mode: polling
  connection: { type: better-sqlite3, database: ${sqliteFile} }
  tables: [{ name: ${table.sqlite}, key: [id], timestampColumn: updated_at, incrementingColumn: id }]
  batchSize: 50
  pollIntervalMs: 300
mapping:
  subject: id
  fields: { id: id, v: v, name: name }
contract: { type: test.sqlitepolling, version: 1.0.0 }`,
      steps: 0,
      async write() {
        const target = pick([...sqliteRows.keys()]);
        const id = sqliteRows.size + 1;
        sqliteStep(id, target);
        sqliteRows.set(id, 0);
        sqliteRows.set(target, sqliteRows.get(target)! + 1);
      },
      expected: () => new Set([...sqliteRows].map(([id, v]) => `${id}:${v}`)),
      keyOf: (e) => `${String(e.data.id)}:${Number(e.data.v)}`,
      covers: pollingCoverage,
      anchor: pollingAnchor,
    });

    // 4. SFTP: CSV files uploaded as the listing system does (written as .tmp, renamed), archived once read.
    // Archived, not left: the processed-file registry is on the worker's disk (stateDir), so with
    // `afterProcessing: leave` a new owner reads again every file its predecessor had read (same ids and
    // payloads: repeats, not loss; seen in a run of this test with `leave`: the 3 files read before the kill).
    const sftp = services.sftp;
    // A folder owned by the SFTP user, so the source can make its archive folder in it.
    const { remote, local } = remoteDir(`six-kinds-${tag}`);
    uploadDir = local;
    cleanups.push(() => rm(uploadDir, { recursive: true, force: true }));
    // Each row's REF, and each file's started and completed notices (the completed one with the count of
    // events its rows became, restored across a move by the checkpoint store's unit tally).
    const sftpExpected = new Set<string>();
    let files = 0;
    let rows = 0;
    const upload = async () => {
      files += 1;
      const from = rows + 1;
      // Names sort in upload order, and the source reads files in name order.
      const name = `LIST_${String(files).padStart(5, '0')}.csv`;
      await uploadList(uploadDir, name, 5, from);
      rows += 5;
      for (let i = 0; i < 5; i += 1) sftpExpected.add(`H${from + i}`);
      sftpExpected.add(`started ${name}`);
      sftpExpected.add(`completed ${name}: 5 events`);
    };
    /** A file notice (started, completed) carries the file and no line; a row event its line. */
    const isNotice = (e: Ev) => e.origin.line === undefined;
    const fileName = (e: Ev) => String(e.origin.file).split('/').at(-1);
    await upload();
    kinds.push({
      pipeline: names.sftp,
      yaml: `source:
  type: sftp
  connection:
    host: ${sftp.host}
    port: ${sftp.port}
    username: ${sftp.username}
    privateKeyPath: ${sftp.privateKeyPath}
    knownHosts: ${sftp.knownHostsPath}
  paths: [${remote}/LIST_*.csv]
  stability: { mode: rename }
  format: { type: csv }
  key: [REF]
  afterProcessing: archive
  pollIntervalMs: 500
mapping:
  subject: ref
  fields:
    ref: { from: REF, required: true }
    name: NAME
contract: { type: test.hearing, version: 1.0.0 }`,
      steps: 0,
      write: upload,
      expected: () => sftpExpected,
      keyOf(e) {
        if (!isNotice(e)) return String(e.data.ref);
        if (e.data.rowsRead === undefined) return `started ${fileName(e)}`;
        return `completed ${fileName(e)}: ${String(e.data.events)} events`;
      },
      // Files are read in name order, which is upload order; a position names the last line done in its file.
      // A file's started notice is written with its first rows, its completed notice with the batch that
      // finishes it (state done).
      covers(position) {
        const p = position as SftpPosition;
        return (e) => {
          const file = String(e.origin.file);
          if (file !== p.file) return file < p.file;
          if (!isNotice(e)) return Number(e.origin.line) <= p.line;
          return e.data.rowsRead === undefined || p.state !== 'reading';
        };
      },
      anchor(position) {
        const p = position as SftpPosition;
        return (e) => e.origin.file === p.file && Number(e.origin.line) === p.line;
      },
    });

    // 5. SOAP watermark polling on a private spyne: the shared one's cases are global to its process and
    // other test runs replace them (packages/soap/test/helpers.ts, spyneControl), so records added there could
    // vanish under this test. Records are added through spyne's control endpoint.
    spyne = await startPrivateSpyne();
    const control = async (body: Record<string, unknown>) => {
      const response = await fetch(spyne!.endpoint.control, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok) throw new Error(`spyne control answered ${response.status}`);
    };
    const modifiedAt = new Map<string, number>();
    let lastModified = Date.now() - 60_000;
    const newCases = (count: number) =>
      Array.from({ length: count }, () => {
        // Strictly increasing: the service returns what changed after the watermark, and ties would hide.
        lastModified += 1 + Math.floor(Math.random() * 5);
        const id = `S${String(modifiedAt.size + 1).padStart(6, '0')}`;
        modifiedAt.set(id, lastModified);
        return {
          CaseId: id,
          Title: `Case ${id}`,
          Status: 'OPEN',
          ModifiedAt: new Date(lastModified).toISOString(),
        };
      });
    await control({ cases: newCases(10), fault: null, flaky_every: 0, page_size: 20 });
    const initial = '1970-01-01T00:00:00Z';
    const soapAnchor = (position: unknown) => {
      const p = position as SoapPosition;
      if (p.watermark === initial || p.watermark === '') return undefined;
      const at = Date.parse(p.watermark);
      return (e: Ev) => modifiedAt.get(String(e.data.caseId)) === at;
    };
    kinds.push({
      pipeline: names.soap,
      yaml: `source:
  type: soap
  mode: watermark
  wsdl: ${spyne.endpoint.soap11}?wsdl
  operation: GetChangedCases
  arguments: { since: '{{since}}', page: '{{page}}' }
  records: GetChangedCasesResult.Case[]
  key: [CaseId]
  watermark: { field: ModifiedAt, type: timestamp, initial: '${initial}' }
  pagination: { type: page-number, first: 1, pageSize: 20 }
  batchSize: 10
  pollIntervalMs: 500
mapping:
  subject: caseId
  fields:
    caseId: { from: CaseId, required: true }
    title: Title
    modifiedAt: { from: ModifiedAt, type: datetime }
contract: { type: test.case, version: 1.0.0 }`,
      steps: 0,
      async write() {
        await control({ add: newCases(1) });
      },
      expected: () => new Set(modifiedAt.keys()),
      keyOf: (e) => String(e.data.caseId),
      // A watermark says every record up to it is done; inside a page sequence the cursor says which pages
      // (and records of the current page) of that sequence are done.
      covers(position) {
        const p = position as SoapPosition;
        const mark = p.watermark === '' ? Number.NEGATIVE_INFINITY : Date.parse(p.watermark);
        return (e) => {
          if ((modifiedAt.get(String(e.data.caseId)) ?? Number.POSITIVE_INFINITY) <= mark) return true;
          const c = p.cursor;
          if (c === undefined || e.origin.since !== c.since) return false;
          const page = Number(e.origin.page);
          return page < Number(c.page) || (page === Number(c.page) && Number(e.origin.index) < c.skip);
        };
      },
      anchor: soapAnchor,
    });

    // 6. MariaDB trigger journal, installed by the pipeline at its first start: every change, deletes included.
    maria = await mysql.createConnection({
      host: services.mariadb.host,
      port: services.mariadb.port,
      user: services.mariadb.user,
      password: services.mariadb.password,
      database: services.mariadb.database,
    });
    await maria.query(
      `CREATE TABLE ${table.trigger} (id BIGINT PRIMARY KEY, v INT NOT NULL, name VARCHAR(100) NOT NULL)`,
    );
    // Dropping the table drops its triggers too; the journal is a table of its own.
    cleanups.push(() => maria.query(`DROP TABLE IF EXISTS ${table.trigger}, ${table.journal}`));
    for (let id = 1; id <= SEEDED; id += 1)
      await maria.query(`INSERT INTO ${table.trigger} (id, v, name) VALUES (?, 0, ?)`, [id, `row ${id}`]);
    const triggerWriter = changeWriter(
      (sql, params) => maria.query(sql, params),
      async (work) => {
        await maria.beginTransaction();
        try {
          await work();
          await maria.commit();
        } catch (error) {
          await maria.rollback().catch(() => undefined);
          throw error;
        }
      },
      table.trigger,
      () => '?',
      SEEDED,
    );
    const { host: dbHost, port: dbPort, user: dbUser, database: dbName } = services.mariadb;
    kinds.push({
      pipeline: names.trigger,
      yaml: `source:
  type: database
  mode: trigger
  connection: { type: mariadb, host: ${dbHost}, port: ${dbPort}, username: ${dbUser}, password: "\${env:FERRY_SIX_DB_PASSWORD}", database: ${dbName} }
  tables: [{ name: ${table.trigger}, key: [id] }]
  journal: { table: ${table.journal} }
  installTriggers: true
  batchSize: 200
  snapshotChunkSize: 100
  pollIntervalMs: 300
mapping:
  subject: id
  fields: { id: id, v: v, name: name }
contract: { type: test.trigger, version: 1.0.0 }`,
      steps: 0,
      async write() {
        await triggerWriter.step();
      },
      expected: () => triggerWriter.changes,
      keyOf: changeKey,
      // A position is the last journal seq read, minus the holes it still watches; snapshot rows are covered
      // once the snapshot has ended (journal rows are read only after it).
      covers(position) {
        const p = position as TriggerPosition;
        return (e) => {
          if (p.snapshot !== undefined) return false;
          if (e.origin.snapshot !== undefined) return true;
          const seq = Number(e.origin.seq);
          return seq <= p.seq && !(p.gaps ?? []).some((g) => g.seq === seq);
        };
      },
      // Journal seqs start at 1: a position at seq 0 (nothing journalled before the snapshot) names no row.
      anchor(position) {
        const p = position as TriggerPosition;
        if (p.snapshot !== undefined || p.seq === 0) return undefined;
        return (e) => Number(e.origin.seq) === p.seq;
      },
    });

    // Each worker's own copy of the six files, as on separate hosts.
    const kafkaTail = (
      name: string,
    ) => `sink: { type: kafka, brokers: [${brokers.join(', ')}], topic: ${name} }
deadLetters: { type: kafka, brokers: [${brokers.join(', ')}], topic: ${name}.dlq }
checkpoints: { type: kafka, brokers: [${brokers.join(', ')}], topic: ${checkpointTopic}, fencing: true }
`;
    for (const kind of kinds)
      pipelineFiles.set(
        kind.pipeline,
        `pipeline: ${kind.pipeline}\n${kind.yaml}\n${kafkaTail(kind.pipeline)}`,
      );
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([...workers.values()].map((w) => w.stop()));
    await tap?.stop().catch(() => undefined);
    // The slot: a killed worker's walsender may still hold it for a moment; then it is dropped, never left
    // behind to pin the shared server's WAL.
    if (pgLogical !== undefined) {
      for (let attempt = 0; attempt < 150; attempt += 1) {
        const { rows } = await pgLogical.query<{ active: boolean; pid: number | null }>(
          'SELECT active, active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1',
          [slot],
        );
        if (rows.length === 0) break;
        if (!rows[0]!.active) {
          await pgLogical.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => undefined);
          continue;
        }
        // Every worker has stopped: whoever still streams from the slot is a leftover.
        if (attempt > 20) await pgLogical.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        await new Promise((r) => setTimeout(r, 100));
      }
      await pgLogical.query(`DROP PUBLICATION IF EXISTS ${slot}`).catch(() => undefined);
    }
    for (const step of cleanups.reverse()) await step().catch(() => undefined);
    await pgLogical?.end().catch(() => undefined);
    await pgPolling?.end().catch(() => undefined);
    await maria?.end().catch(() => undefined);
    sqlite?.close();
    await spyne?.close();
    // The test's topics and the cluster's control topic and group.
    const kafka = new Kafka({ brokers, clientId: 'ferry-test-six-kinds', logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const pipelines = kinds.map((k) => k.pipeline);
    await admin
      .deleteTopics({
        topics: [
          checkpointTopic,
          `ferry-cluster.${group}`,
          ...pipelines,
          ...pipelines.map((p) => `${p}.dlq`),
        ],
      })
      .catch(() => undefined);
    await admin.deleteGroups([group]).catch(() => undefined);
    await admin.disconnect();
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  }, 120_000);

  // -------------------------------------------------------------------------------------------------------
  // Watching the workers

  const tail = () =>
    [...workers]
      .map(([name, w]) => `--- worker ${name} (last lines of stderr)\n${w.stderr().slice(-3000)}`)
      .join('\n');

  /** What each live worker says it runs, for a message. */
  async function state(): Promise<string> {
    const lines: string[] = [];
    for (const [name, w] of workers) {
      const pipelines = (await statuses(w)).map(
        (p) =>
          `${p.name} ${p.state}${p.lastCheckpoint ? ' committed' : ''}${p.error ? ` ${p.error.code}` : ''}`,
      );
      lines.push(`worker ${name}: assigned [${(await assigned(w)).join(', ')}]; ${pipelines.join('; ')}`);
    }
    return lines.join('\n');
  }

  /** Poll `condition` every `intervalMs` (HTTP calls to three workers: not every few ms) until it holds. */
  async function until(what: string, timeoutMs: number, condition: () => Promise<boolean> | boolean) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await condition()) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${await state()}\n${tail()}`);
  }

  /** A worker's answer, or undefined while it does not answer (starting, loaded, dead). */
  async function ask<T>(w: Served, path: string): Promise<T | undefined> {
    try {
      const response = await fetch(`${w.base}${path}`, { signal: AbortSignal.timeout(5000) });
      return response.ok ? ((await response.json()) as T) : undefined;
    } catch {
      return undefined;
    }
  }
  const statuses = async (w: Served) =>
    (await ask<{ pipelines: PipelineStatus[] }>(w, '/pipelines'))?.pipelines ?? [];
  const running = async (w: Served) =>
    (await statuses(w)).filter((p) => p.state === 'running').map((p) => p.name);
  /**
   * Whether a worker has committed for every pipeline it was given since it was given it: it has claimed them
   * (fencing the previous owner), so whatever is committed for them after its death is its successor's.
   */
  async function committedHere(w: Served): Promise<boolean> {
    const view = await ask<{ assigned: { pipeline: string; since: string }[] }>(w, '/cluster');
    if (view === undefined || view.assigned.length === 0) return false;
    const status = await statuses(w);
    return view.assigned.every(({ pipeline, since }) => {
      const at = status.find((p) => p.name === pipeline)?.lastCheckpoint?.at;
      return at !== undefined && Date.parse(at) >= Date.parse(since);
    });
  }
  const assigned = async (w: Served) =>
    ((await ask<{ assigned: { pipeline: string }[] }>(w, '/cluster'))?.assigned ?? []).map((a) => a.pipeline);
  /** Which workers run each pipeline now. */
  async function owners(among: string[]): Promise<Map<string, string[]>> {
    const result = new Map<string, string[]>(kinds.map((k) => [k.pipeline, []]));
    for (const name of among)
      for (const pipeline of await running(workers.get(name)!)) result.get(pipeline)?.push(name);
    return result;
  }

  // Writers: every kind's legacy application, each at its own pace, until told to stop.
  let writing = false;
  const writerErrors: string[] = [];
  let writers: Promise<void>[] = [];
  const pace: Record<string, number> = {
    [names.logical]: 100,
    [names.pgPolling]: 150,
    [names.sqlite]: 150,
    [names.sftp]: 1000,
    [names.soap]: 300,
    [names.trigger]: 100,
  };
  function startWriters() {
    writing = true;
    writers = kinds.map(async (kind) => {
      while (writing) {
        try {
          await kind.write();
          kind.steps += 1;
        } catch (error) {
          // A legacy write that fails is a finding (Ferry must not get in the application's way): reported.
          writerErrors.push(`${kind.pipeline}: ${String(error)}`);
          return;
        }
        // Pacing, not synchronisation: the legacy application writes at a steady rate.
        await new Promise((r) => setTimeout(r, pace[kind.pipeline]));
      }
    });
  }
  async function stopWriters() {
    writing = false;
    await Promise.all(writers);
  }
  afterAll(async () => {
    await stopWriters();
  });

  it('every kind of pipeline resumes on a survivor after a SIGKILL; nothing lost, one payload per id, no checkpoint ahead of Kafka', async () => {
    const pipelines = kinds.map((k) => k.pipeline);
    /** A worker in a directory of its own, with its own copy of the six files. */
    const startWorker = async (worker: string) => {
      await mkdir(join(root, worker));
      for (const [pipeline, text] of pipelineFiles)
        await writeFile(join(root, worker, `${pipeline}.yaml`), text);
      const served = await startServe(
        [
          ...pipelines.map((p) => join(root, worker, `${p}.yaml`)),
          '--cluster',
          group,
          '--worker',
          worker,
          '--allow-unauthenticated',
          '--port',
          '0',
        ],
        env,
        WORKER_LIFETIME_MS,
      );
      workers.set(worker, served);
    };
    for (const worker of workerNames) await startWorker(worker);
    const started = performance.now();
    // All six run, each on one worker, and each has committed its seed rows (file, records): on the worker
    // that runs it now or on the one that ran it before the last rebalance (a pipeline that moved while its
    // source had nothing new has nothing to commit yet).
    await until('the six pipelines to run, each on one worker, and to commit', START_MS, async () => {
      const where = await owners(workerNames);
      if (![...where.values()].every((w) => w.length === 1)) return false;
      const committed = new Set<string>();
      for (const w of workers.values())
        for (const p of await statuses(w)) if (p.lastCheckpoint !== undefined) committed.add(p.name);
      return pipelines.every((p) => committed.has(p));
    });
    console.log(
      `six pipelines running and committed ${Math.round(performance.now() - started)} ms after the last worker started`,
    );
    tap = await startTap(pipelines);
    const t = tap;
    const committedSince = (pipeline: string, at: number) =>
      t.checkpoints.get(pipeline)!.some((c) => c.at >= at);

    // Mid-run: writers running, and every pipeline has committed something they wrote.
    startWriters();
    const writersFrom = Date.now();
    await until('every pipeline to commit while the writers run', START_MS, () =>
      kinds.every((k) => k.steps >= 5 && committedSince(k.pipeline, writersFrom)),
    );

    // Kills. The first is the acceptance item's: the worker with the most pipelines (with a tie, the one
    // streaming from the replication slot) is killed mid-run. The assignment is deterministic, so one kill
    // would always move the same kinds; so a fresh worker then joins in the dead one's place (as an
    // orchestrator restarts it) and the worker running the most kinds not yet moved by a kill is killed in
    // turn, until every kind has lost its worker to a SIGKILL once. Three workers run at every kill.
    const live = [...workerNames];
    const spares = ['d', 'e', 'f', 'g', 'h', 'i'];
    const movedByKill = new Set<string>();
    const handovers: { pipeline: string; ms: number; from: string; to: string }[] = [];
    for (let round = 1; movedByKill.size < pipelines.length; round += 1) {
      // Each kill moves at least one kind not yet moved (the victim is chosen so): six rounds at most.
      expect(round, 'kills needed to move every kind once').toBeLessThanOrEqual(pipelines.length);
      const plans = await Promise.all(live.map(async (w) => ({ w, runs: await assigned(workers.get(w)!) })));
      const fresh = (runs: string[]) => runs.filter((p) => !movedByKill.has(p)).length;
      plans.sort(
        (x, y) =>
          fresh(y.runs) - fresh(x.runs) ||
          Number(y.runs.includes(names.logical)) - Number(x.runs.includes(names.logical)),
      );
      const victim = plans[0]!;
      expect(fresh(victim.runs)).toBeGreaterThan(0);
      // Mid-run: the victim has committed (so claimed) each of its pipelines while the writers run.
      await until(`worker ${victim.w} to commit for each of its pipelines`, START_MS, () =>
        committedHere(workers.get(victim.w)!),
      );
      const killed = await workers.get(victim.w)!.kill('SIGKILL');
      expect(killed.signal).toBe('SIGKILL');
      workers.delete(victim.w);
      live.splice(live.indexOf(victim.w), 1);
      // The process is gone: any checkpoint stamped from here on was committed by another worker.
      const killedAt = Date.now();
      console.log(`kill ${round}: worker ${victim.w}, which ran ${victim.runs.join(', ')}`);

      // Every pipeline runs again, each on one survivor, and each moved one has committed there.
      await until(
        `every pipeline to run on a survivor and the moved ones to commit there (kill ${round})`,
        HANDOVER_MS,
        async () => {
          const where = await owners(live);
          if (![...where.values()].every((w) => w.length === 1)) return false;
          return victim.runs.every((p) => committedSince(p, killedAt));
        },
      );
      const where = await owners(live);
      for (const pipeline of victim.runs) {
        const first = t.checkpoints.get(pipeline)!.find((c) => c.at >= killedAt)!;
        const handover = { pipeline, ms: first.at - killedAt, from: victim.w, to: where.get(pipeline)![0]! };
        handovers.push(handover);
        movedByKill.add(pipeline);
        console.log(
          `handover of ${pipeline}: kill of worker ${handover.from} → first commit on worker ${handover.to} in ${handover.ms} ms`,
        );
      }
      if (movedByKill.size === pipelines.length) break;
      const spare = spares.shift()!;
      await startWorker(spare);
      live.push(spare);
      await until(`worker ${spare} to join and take its share`, START_MS, async () => {
        const where = await owners(live);
        if (![...where.values()].every((w) => w.length === 1)) return false;
        return (await running(workers.get(spare)!)).length > 0;
      });
    }

    // The new owners keep up with live writes for a while, then the writers stop.
    const stepsAt = new Map(kinds.map((k) => [k.pipeline, k.steps]));
    await until('the writers to go on after the handover', 60_000, () =>
      kinds.every((k) => k.steps >= stepsAt.get(k.pipeline)! + (k.pipeline === names.sftp ? 3 : 15)),
    );
    await stopWriters();
    expect(writerErrors).toEqual([]);

    // Caught up: every change is in the topic and the last checkpoint covers it.
    const missing = (kind: Kind) => {
      const events = t.events.get(kind.pipeline)!;
      const present = new Set(events.map(kind.keyOf));
      return [...kind.expected()].filter((key) => !present.has(key));
    };
    const uncovered = (kind: Kind) => {
      const events = t.events.get(kind.pipeline)!;
      const last = t.checkpoints.get(kind.pipeline)!.at(-1);
      if (last === undefined) return [...kind.expected()];
      const covered = kind.covers(last.position, events);
      const done = new Set(events.filter(covered).map(kind.keyOf));
      return [...kind.expected()].filter((key) => !done.has(key));
    };
    const caughtUpFrom = performance.now();
    await until('every pipeline to catch up', CATCH_UP_MS, () =>
      kinds.every((k) => missing(k).length === 0 && uncovered(k).length === 0),
    ).catch(() => undefined);
    console.log(`caught up ${Math.round(performance.now() - caughtUpFrom)} ms after the writers stopped`);
    // The checkpoints as read so far, then every data topic read to its end: each event these checkpoints
    // cover was written before them, so it is now in the test's hands, wherever its partition was.
    const checkpointsRead = new Map([...t.checkpoints].map(([p, list]) => [p, [...list]]));
    await t.drain(60_000);

    for (const kind of kinds) {
      const events = t.events.get(kind.pipeline)!;
      const checkpoints = checkpointsRead.get(kind.pipeline)!;
      const first = firstCopies(events);

      // L0: nothing lost.
      expect(missing(kind), `${kind.pipeline}: changes not in its topic`).toEqual([]);
      expect(uncovered(kind), `${kind.pipeline}: changes its last checkpoint does not cover`).toEqual([]);

      // D0: every copy of an event id carries the same payload, byte for byte.
      const payloads = new Map<string, string>();
      const conflicts: string[] = [];
      for (const e of events) {
        const seen = payloads.get(e.id);
        if (seen !== undefined && seen !== e.payload) conflicts.push(`${e.id}: ${seen} vs ${e.payload}`);
        payloads.set(e.id, e.payload);
      }
      expect(conflicts, `${kind.pipeline}: event ids with two payloads`).toEqual([]);

      // Checkpoints never ahead of Kafka: for every checkpoint ever committed, the event it names (if it names
      // one) and every event it covers were written to the topic before the checkpoint was (Kafka timestamps,
      // one machine's clock), and the last one names an event that is in the topic.
      const ahead: string[] = [];
      let checked = 0;
      for (const c of checkpoints) {
        const anchor = kind.anchor(c.position);
        if (anchor !== undefined) {
          const named = first.find(anchor);
          if (named === undefined || named.at > c.at)
            ahead.push(
              `checkpoint at offset ${c.offset} names ${named === undefined ? 'an event not in the topic' : `event ${named.id}, written ${named.at - c.at} ms later`}: ${JSON.stringify(c.position)}`,
            );
        }
        const covered = kind.covers(c.position, first);
        for (const e of first) {
          if (!covered(e)) continue;
          checked += 1;
          if (e.at > c.at)
            ahead.push(
              `checkpoint at offset ${c.offset} covers event ${e.id} (${kind.keyOf(e)}) written ${e.at - c.at} ms later: ${JSON.stringify(c.position)}`,
            );
        }
      }
      expect(ahead.slice(0, 10), `${kind.pipeline}: checkpoints ahead of Kafka`).toEqual([]);
      // Not vacuous: the checkpoints before the last one covered events too.
      expect(checked, `${kind.pipeline}: (checkpoint, covered event) pairs`).toBeGreaterThan(first.length);
      const last = checkpoints.at(-1)!;
      const lastAnchor = kind.anchor(last.position);
      if (lastAnchor !== undefined)
        expect(first.some(lastAnchor), `${kind.pipeline}: the last checkpoint's event is in the topic`).toBe(
          true,
        );

      // No dead letters: every record of every kind maps.
      expect(t.deadLetters.get(kind.pipeline), `${kind.pipeline}: dead letters`).toBe(0);
      console.log(
        `${kind.pipeline}: ${kind.expected().size} changes, ${events.length} messages (${events.length - first.length} repeats), ${checkpoints.length} checkpoints, ${checked} (checkpoint, covered event) pairs checked`,
      );
    }

    // Exactly one live worker runs each pipeline, and none failed.
    const end = await owners(live);
    for (const pipeline of pipelines) expect(end.get(pipeline), pipeline).toHaveLength(1);
    for (const name of live)
      expect(
        (await statuses(workers.get(name)!)).filter((p) => p.state === 'failed').map((p) => p.name),
      ).toEqual([]);
    // The handover: Kafka's session timeout (10 s), a rebalance and a claim, well inside this bound.
    for (const { pipeline, ms } of handovers) expect(ms, pipeline).toBeLessThan(120_000);
    // About two minutes on a quiet machine (three kills); room for a loaded one.
  }, 400_000);
});
