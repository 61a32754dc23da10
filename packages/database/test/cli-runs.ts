// Shared by the tests that run the built `ferry` CLI on a database table into the file sink (crash, restart):
// the pipeline file, reading its event log, the state rebuilt from it, the checks every such run must pass,
// and ending a run.
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readEventLog } from '@ferry/core';
import type { CanonicalEvent } from '@ferry/core/sdk';
import type { SqlEndpoint } from '@ferry/testkit';
import { DataSource } from 'typeorm';
import { expect } from 'vitest';
import type { CliResult, startCli } from '../../../examples/quickstart/test/cli.js';

export type CliRun = ReturnType<typeof startCli>;

/** A change the test's writer committed: a row's new `v`, or its deletion. */
export interface Change {
  id: number | string;
  v: number | 'deleted';
}

/** A table's row as the event log's data carries it (the id as text). */
export interface TableRow {
  id: string;
  v: number;
  name: string;
}

/** A connection of the test's own to the database, for the table and the writer. */
export async function connectAdmin(
  type: 'postgres' | 'mariadb',
  endpoint: SqlEndpoint,
  options: { poolSize?: number } = {},
): Promise<DataSource> {
  const { host, port, user, password, database } = endpoint;
  const admin = new DataSource({
    type,
    host,
    port,
    username: user,
    password,
    database,
    logging: false,
    ...options,
  });
  await admin.initialize();
  return admin;
}

export interface PipelineSpec {
  dir: string;
  name: string;
  connection: { type: 'postgres' | 'mariadb'; endpoint: SqlEndpoint };
  /** The environment variable the run reads the password from: it is never written to the file. */
  passwordEnv: string;
  /** A table `(id, v, name)` keyed by id. */
  table: string;
  /** The source's own options (mode, slot, server id, sizes), one YAML `key: value` line each. */
  source: string[];
  /** The contract's type: the events go to `events/<contract>.v1.jsonl`. */
  contract: string;
}

export interface Pipeline {
  pipeline: string;
  /** The event log. */
  log: string;
  checkpointFile: string;
  /** What the run needs in its environment. */
  env: Record<string, string>;
}

/** A pipeline file in `dir`: the table to the file sink, each row's id, v and name as the event's data. */
export async function writePipeline(spec: PipelineSpec): Promise<Pipeline> {
  const { host, port, user, password, database } = spec.connection.endpoint;
  const pipeline = join(spec.dir, 'pipeline.yaml');
  await writeFile(
    pipeline,
    [
      `pipeline: ${spec.name}`,
      'source:',
      '  type: database',
      `  connection: { type: ${spec.connection.type}, host: ${host}, port: ${port}, username: ${user}, password: "\${env:${spec.passwordEnv}}", database: ${database} }`,
      `  tables: [{ name: ${spec.table}, key: [id] }]`,
      ...spec.source.map((line) => `  ${line}`),
      'mapping:',
      '  subject: id',
      '  fields: { id: id, v: v, name: name }',
      `contract: { type: ${spec.contract}, version: 1.0.0 }`,
      'sink: { type: file, dir: ./events }',
      'deadLetters: { type: file, dir: ./dead-letters }',
      'checkpoints: { type: file, dir: ./checkpoints }',
      '',
    ].join('\n'),
  );
  return {
    pipeline,
    log: join(spec.dir, 'events', `${spec.contract}.v1.jsonl`),
    checkpointFile: join(spec.dir, 'checkpoints', `${spec.name}.checkpoint.json`),
    env: { [spec.passwordEnv]: password },
  };
}

/** The position in a run's checkpoint file, or undefined before the first checkpoint. */
export async function readCheckpoint<P>(file: string): Promise<P | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as { position: P }).position;
}

/**
 * Counts the whole lines in an event log, reading on from the last line end a call saw: the log grows to
 * tens of MB, and a torn tail that a restarted run cuts off lies after that line end.
 */
export function lineCounter(log: string): () => Promise<number> {
  let counted = 0;
  let offset = 0;
  const buffer = Buffer.alloc(1 << 20);
  return async () => {
    const handle = await open(log, 'r').catch(() => undefined);
    if (handle === undefined) return 0;
    try {
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
        const whole = buffer.subarray(0, buffer.subarray(0, bytesRead).lastIndexOf(10) + 1);
        // Nothing new, or only a line still being written (an event's line is far shorter than the buffer).
        if (whole.length === 0) return counted;
        for (let i = whole.indexOf(10); i !== -1; i = whole.indexOf(10, i + 1)) counted += 1;
        offset += whole.length;
      }
    } finally {
      await handle.close();
    }
  };
}

export async function readEvents(log: string): Promise<CanonicalEvent[]> {
  const events: CanonicalEvent[] = [];
  for await (const event of readEventLog(log)) events.push(event);
  return events;
}

/** The table's rows, ids as text, to compare with the state rebuilt from the events. */
export async function tableRows(admin: DataSource, table: string): Promise<TableRow[]> {
  const text = admin.options.type === 'postgres' ? 'TEXT' : 'CHAR';
  return (await admin.query(
    `SELECT CAST(id AS ${text}) AS id, v, name FROM ${table} ORDER BY id`,
  )) as TableRow[];
}

/** What a consumer of the log holds: each subject's latest data (as JSON), deleted subjects gone. */
export function rebuiltState(events: CanonicalEvent[]): Map<string, string> {
  const state = new Map<string, string>();
  for (const event of events) {
    if (event.ferryop === 'delete') state.delete(String(event.subject));
    else state.set(String(event.subject), JSON.stringify(event.data));
  }
  return state;
}

/** Whether the state rebuilt from `events` is the table's rows: to wait for a run to catch up. */
export function rebuildsTable(events: CanonicalEvent[], rows: TableRow[]): boolean {
  const state = rebuiltState(events);
  return state.size === rows.length && rows.every((row) => state.get(row.id) === JSON.stringify(row));
}

/** The state rebuilt from `events` equals the table's rows. */
export function expectRebuiltTable(events: CanonicalEvent[], rows: TableRow[]): void {
  const state = rebuiltState(events);
  expect(state.size).toBe(rows.length);
  for (const row of rows) expect(state.get(row.id), `row ${row.id}`).toBe(JSON.stringify(row));
}

/** Each id stands for one value; returns how many times an id came again. */
function expectOneValuePerId(entries: Iterable<[string, string]>, label: (id: string) => string): number {
  const first = new Map<string, string>();
  let again = 0;
  for (const [id, value] of entries) {
    const seen = first.get(id);
    if (seen !== undefined) {
      again += 1;
      expect(value, label(id)).toBe(seen);
    }
    first.set(id, value);
  }
  return again;
}

/** No event id stands for two payloads (operation and data). */
export function expectOnePayloadPerId(events: CanonicalEvent[]): void {
  expectOneValuePerId(
    events.map((event) => [event.id, JSON.stringify([event.ferryop, event.data])]),
    (id) => `event ${id}`,
  );
}

/**
 * An event written again (a change read again after a kill) is the same line byte for byte, so no id stands
 * for two payloads. Returns how many lines were written again.
 */
export async function expectRewrittenLinesIdentical(log: string): Promise<number> {
  const lines = (await readFile(log, 'utf8')).split('\n').filter((line) => line !== '');
  return expectOneValuePerId(
    lines.map((line) => [(JSON.parse(line) as CanonicalEvent).id, line]),
    (id) => `event ${id} written again`,
  );
}

/**
 * Every committed change is in the log: an insert or update with its value, a delete as a delete. With
 * `snapshotReads`, a change is also delivered by a snapshot read of the same or a later value (a change made
 * before the stream's start).
 */
export function expectEveryChangeDelivered(
  committed: Change[],
  events: CanonicalEvent[],
  { snapshotReads = false }: { snapshotReads?: boolean } = {},
): void {
  const changed = new Set<string>();
  const read = new Map<string, number>();
  for (const event of events) {
    const data = event.data as { v: number } | undefined;
    const subject = String(event.subject);
    if (event.ferryop === 'delete') changed.add(`${subject}:deleted`);
    else if (event.ferryop === 'read') read.set(subject, Math.max(data?.v ?? 0, read.get(subject) ?? 0));
    else changed.add(`${subject}:${data?.v}`);
  }
  const missing = committed.filter(
    (c) =>
      !changed.has(`${c.id}:${c.v}`) &&
      !(snapshotReads && typeof c.v === 'number' && (read.get(String(c.id)) ?? -1) >= c.v),
  );
  expect(missing).toEqual([]);
}

/** Sends `signal` to the run unless it has ended already. */
export function signalIfRunning(run: CliRun, signal: NodeJS.Signals): void {
  if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill(signal);
}

/** Kills the run with SIGKILL, and asserts that it died of it. */
export async function sigkill(run: CliRun): Promise<CliResult> {
  run.child.kill('SIGKILL');
  const result = await run.done;
  expect(result.signal, result.stderr).toBe('SIGKILL');
  return result;
}

/** The run's result; after `timeoutMs` it is killed and the test fails with `failure` instead of hanging. */
export async function endWithin(run: CliRun, timeoutMs: number, failure: string): Promise<CliResult> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    run.done,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        run.child.kill('SIGKILL');
        reject(new Error(failure));
      }, timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
}
