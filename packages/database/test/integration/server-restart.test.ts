// The database server stops and starts again while the built `ferry` CLI streams from it and a writer keeps
// changing rows: PostgreSQL in logical mode, MariaDB in trigger mode. The run rides the restart out with the
// runtime's default retry policy, delivers every committed change (the state rebuilt from the event log
// equals the table; no event id carries two payloads), counts the retries in its summary, and stops cleanly
// on SIGTERM. Each server is a private one (own port and data dir, test/services/private.ts): stopping a
// shared one would pull it from under every other test file, and another clone's test run, using it.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEventLog } from '@ferry/core';
import type { CanonicalEvent } from '@ferry/core/sdk';
import type { SqlEndpoint } from '@ferry/testkit';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, waitFor } from '../../../../examples/quickstart/test/cli.js';
import {
  type PrivateServer,
  startPrivateMariadb,
  startPrivatePostgres,
} from '../../../../test/services/private.js';

const ROWS = 2000;
/** Failed connection attempts the run makes while the server is down, before the test starts it again. */
const FAILED_ATTEMPTS = 2;

interface Change {
  id: number;
  v: number | 'deleted';
}

const backends = [
  { service: 'postgres' as const, mode: 'logical' as const, start: startPrivatePostgres },
  { service: 'mariadb' as const, mode: 'trigger' as const, start: startPrivateMariadb },
];

describe.each(backends)('database server restart mid-stream: $service $mode', (backend) => {
  const suffix = randomBytes(4).toString('hex');
  const table = `ferry_restart_${suffix}`;
  const slot = `ferry_restart_${suffix}`;
  const journal = `ferry_journal_${suffix}`;
  const pg = backend.service === 'postgres';
  const p = (i: number) => (pg ? `$${i}` : '?');
  let server: PrivateServer<SqlEndpoint>;
  let admin: DataSource;
  let dir: string;

  // initdb or mariadb-install-db and a first start: 3-10 s idle, more on a loaded machine.
  beforeAll(async () => {
    server = await backend.start();
    const { host, port, user, password, database } = server.endpoint;
    admin = new DataSource({
      type: backend.service,
      host,
      port,
      username: user,
      password,
      database,
      logging: false,
      poolSize: 4,
    });
    await admin.initialize();
    dir = await mkdtemp(join(tmpdir(), `ferry-restart-${backend.service}-`));
  }, 120_000);

  // The server and everything in it (table, slot, publication, journal, triggers) go with its directory.
  afterAll(async () => {
    if (admin?.isInitialized) await admin.destroy().catch(() => undefined);
    await server?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('rides out the restart with the default retry policy and delivers every committed change', async () => {
    const { host, port, user, password, database } = server.endpoint;
    await admin.query(
      `CREATE TABLE ${table} (id BIGINT PRIMARY KEY, v INTEGER NOT NULL, name VARCHAR(100) NOT NULL)`,
    );
    if (pg) {
      await admin.query(`ALTER TABLE ${table} REPLICA IDENTITY FULL`);
      await admin.query(
        `INSERT INTO ${table} SELECT g, 0, 'row ' || g FROM generate_series(1, ${ROWS}) AS g`,
      );
    } else {
      const values = Array.from({ length: ROWS }, (_, i) => `(${i + 1}, 0, 'row ${i + 1}')`);
      await admin.query(`INSERT INTO ${table} VALUES ${values.join(', ')}`);
    }
    const modeOptions = pg
      ? [
          '  mode: logical',
          `  slot: ${slot}`,
          `  publication: ${slot}`,
          '  createSlot: true',
          '  heartbeatIntervalMs: 1000',
        ]
      : [
          '  mode: trigger',
          `  journal: { table: ${journal} }`,
          '  installTriggers: true',
          '  pollIntervalMs: 200',
        ];
    const pipeline = join(dir, 'pipeline.yaml');
    await writeFile(
      pipeline,
      [
        `pipeline: restart-${backend.service}-${suffix}`,
        'source:',
        '  type: database',
        ...modeOptions,
        `  connection: { type: ${backend.service}, host: ${host}, port: ${port}, username: ${user}, password: "\${env:FERRY_RESTART_DB_PASSWORD}", database: ${database} }`,
        `  tables: [{ name: ${table}, key: [id] }]`,
        '  snapshotChunkSize: 500',
        '  batchSize: 200',
        // No retry policy here: the runtime's default (8 retries, 200 ms doubling up to 30 s) rides it out.
        'mapping:',
        '  subject: id',
        '  fields: { id: id, v: v, name: name }',
        'contract: { type: test.restart, version: 1.0.0 }',
        'sink: { type: file, dir: ./events }',
        'deadLetters: { type: file, dir: ./dead-letters }',
        'checkpoints: { type: file, dir: ./checkpoints }',
        '',
      ].join('\n'),
    );
    const log = join(dir, 'events', 'test.restart.v1.jsonl');
    const lines = async () => {
      const text = await readFile(log, 'utf8').catch(() => '');
      let n = 0;
      for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n += 1;
      return n;
    };
    const readEvents = async () => {
      const events: CanonicalEvent[] = [];
      for await (const event of readEventLog(log)) events.push(event);
      return events;
    };
    const tableRows = async () =>
      (await admin.query(
        `SELECT CAST(id AS ${pg ? 'TEXT' : 'CHAR'}) AS id, v, name FROM ${table} ORDER BY id`,
      )) as { id: string; v: number; name: string }[];
    const rebuilt = (events: CanonicalEvent[]) => {
      const state = new Map<string, string>();
      for (const event of events) {
        if (event.ferryop === 'delete') state.delete(String(event.subject));
        else state.set(String(event.subject), JSON.stringify(event.data));
      }
      return state;
    };

    // The writer: small transactions updating random rows, inserting one and sometimes deleting one it
    // inserted. Only transactions whose COMMIT returned count as committed; one cut off by the restart may or
    // may not have committed, and the final comparison with the table covers it either way.
    const committed: Change[] = [];
    const inserted: number[] = [];
    let nextId = ROWS + 1;
    let writing = true;
    let failed = 0;
    const writeOne = async () => {
      const ids = new Set<number>();
      while (ids.size < 3) ids.add(1 + Math.floor(Math.random() * ROWS));
      const changes: Change[] = [];
      await admin.transaction(async (m) => {
        for (const id of ids) {
          await m.query(`UPDATE ${table} SET v = v + 1 WHERE id = ${p(1)}`, [id]);
          const [row] = (await m.query(`SELECT v FROM ${table} WHERE id = ${p(1)}`, [id])) as { v: number }[];
          changes.push({ id, v: Number(row?.v) });
        }
        const id = nextId++;
        await m.query(`INSERT INTO ${table} VALUES (${p(1)}, 0, ${p(2)})`, [id, `new ${id}`]);
        changes.push({ id, v: 0 });
        if (inserted.length > 5 && Math.random() < 0.3) {
          const gone = inserted.splice(Math.floor(Math.random() * inserted.length), 1)[0] as number;
          await m.query(`DELETE FROM ${table} WHERE id = ${p(1)}`, [gone]);
          changes.push({ id: gone, v: 'deleted' });
        }
      });
      for (const c of changes) {
        committed.push(c);
        if (c.v === 0) inserted.push(c.id);
      }
    };
    let writer: Promise<void> = Promise.resolve();

    const env = { FERRY_RESTART_DB_PASSWORD: password };
    const run = startCli(['run', pipeline], env);
    let stderr = '';
    run.child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    // The warnings core logs when an operation on the source (a read, or an acknowledgement, such as the
    // trigger journal's purge) fails on a retryable connection error and is tried again. Which one meets
    // the stopped server first is a race (a 200 ms poll, a purge, a replication stream); core retries any.
    const connectionFailures = (text: string) =>
      text
        .split('\n')
        .filter(
          (line) =>
            line.includes('"level":"warn"') &&
            line.includes('"code":"DB_CONNECTION_FAILED"') &&
            (line.includes('"msg":"source fail') || line.includes('failed, retrying"')),
        );
    const started = Date.now();
    let downFor = 0;
    let caughtUp = false;
    try {
      try {
        await waitFor(async () => (await lines()) >= ROWS, 60_000, 'the snapshot');
        writer = (async () => {
          while (writing) {
            try {
              await writeOne();
            } catch {
              failed += 1;
              await new Promise((r) => setTimeout(r, 100));
            }
            await new Promise((r) => setTimeout(r, 5));
          }
        })();
        await waitFor(
          async () => (await lines()) >= ROWS + 200,
          60_000,
          'streamed changes before the restart',
        );

        const stopping = Date.now();
        const failedBefore = connectionFailures(stderr).length;
        await server.stop();
        // Down until the run has failed to reach it a few times (and so retried), however long that takes.
        await waitFor(
          () => connectionFailures(stderr).length >= failedBefore + FAILED_ATTEMPTS,
          60_000,
          `${FAILED_ATTEMPTS} failed connection attempts while the server is down`,
        ).catch((error: Error) => {
          const exited = run.child.exitCode ?? run.child.signalCode;
          throw new Error(
            `${error.message} (the run ${exited === null ? 'is still going' : `exited: ${exited}`}); ` +
              `its last log lines:\n${stderr.split('\n').slice(-15).join('\n')}`,
          );
        });
        expect(run.child.exitCode, 'the run is still going while the server is down').toBeNull();
        await server.start();
        downFor = Date.now() - stopping;

        // The writer resumes on the restarted server; the pipeline must pick those changes up too.
        const afterRestart = committed.length;
        await waitFor(() => committed.length >= afterRestart + 300, 60_000, 'writes after the restart');
      } finally {
        writing = false;
        await writer;
      }

      // Everything committed reaches the log: wait (bounded) until the rebuilt state equals the table.
      const expected = new Map((await tableRows()).map((r) => [r.id, JSON.stringify(r)]));
      await waitFor(
        async () => {
          const state = rebuilt(await readEvents());
          if (state.size !== expected.size) return false;
          for (const [id, row] of expected) if (state.get(id) !== row) return false;
          return true;
        },
        60_000,
        'the event log to catch up with the table',
      );
      expect(run.child.exitCode, 'the run is still going after the restart').toBeNull();
      caughtUp = true;
    } finally {
      // A failed test must not leave a run streaming (and holding the slot); a passing one stops the usual way.
      if (run.child.exitCode === null && run.child.signalCode === null)
        run.child.kill(caughtUp ? 'SIGTERM' : 'SIGKILL');
    }
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      run.done,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          run.child.kill('SIGKILL');
          reject(new Error('the run did not stop within 30 s of SIGTERM'));
        }, 30_000);
      }),
    ]).finally(() => clearTimeout(timer));
    expect(result.code, result.stderr).toBe(0);
    const retries = Number(/(\d+) retries/.exec(result.stdout)?.[1]);
    expect(retries, result.stdout).toBeGreaterThan(0);
    // The proof that the run met the outage and rode it out is in the warnings: retryable connection failures,
    // after which core reads again from the last checkpoint or acknowledges again (the source never retries).
    const connectionRetries = connectionFailures(result.stderr);
    expect(connectionRetries.length, result.stderr).toBeGreaterThan(0);

    const events = await readEvents();
    // No id stands for two payloads.
    const payloads = new Map<string, string>();
    for (const event of events) {
      const payload = JSON.stringify([event.ferryop, event.data]);
      const seen = payloads.get(event.id);
      if (seen !== undefined) expect(payload, `event ${event.id}`).toBe(seen);
      payloads.set(event.id, payload);
    }
    // The state rebuilt from the log equals the table.
    const rows = await tableRows();
    const state = rebuilt(events);
    expect(state.size).toBe(rows.length);
    for (const row of rows) expect(state.get(row.id), `row ${row.id}`).toBe(JSON.stringify(row));
    // Every committed change is in the log, with its value (the writer starts after the snapshot).
    const seen = new Set<string>();
    for (const event of events) {
      const data = event.data as { v: number } | undefined;
      if (event.ferryop === 'delete') seen.add(`${event.subject}:deleted`);
      else if (event.ferryop !== 'read') seen.add(`${event.subject}:${data?.v}`);
    }
    expect(committed.length).toBeGreaterThanOrEqual(500);
    expect(committed.filter((c) => !seen.has(`${c.id}:${c.v}`))).toEqual([]);
    console.log(
      `${backend.service} ${backend.mode}: down for ${downFor} ms, run ${Date.now() - started} ms, ` +
        `${committed.length} committed changes, ${failed} writer transactions failed, ` +
        `${connectionRetries.length} DB_CONNECTION_FAILED retries; ${result.stdout.trim()}`,
    );
  }, 240_000);
});
