// MariaDB stops and starts again while the built `ferry` CLI reads a table's binary log and a writer keeps
// changing rows, and the binary log is rotated (FLUSH LOGS) every 1.5 s all along. The run rides the restart
// out with the runtime's default retry policy, delivers every committed change (the state rebuilt from the
// event log equals the table; no event id carries two payloads), counts the retries in its summary, and
// stops cleanly on SIGTERM. The server is a private one (test/services/private.ts): stopping the shared one
// would pull it from under every other test file using it.
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEventLog } from '@ferry/core';
import type { CanonicalEvent } from '@ferry/core/sdk';
import type { SqlEndpoint } from '@ferry/testkit';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { type PrivateServer, startPrivateMariadb } from '../../../../test/services/private.js';
import type { BinlogPosition } from '../../src/index.js';

const ROWS = 2000;
/** Failed connection attempts the run makes while the server is down, before the test starts it again. */
const FAILED_ATTEMPTS = 2;
/** Time between two FLUSH LOGS while the run streams. */
const FLUSH_EVERY_MS = 1500;

interface Change {
  id: string;
  v: number | 'deleted';
}

describe('database source: binlog mariadb, server restart and log rotation mid-stream', () => {
  const suffix = randomBytes(4).toString('hex');
  const table = `ferry_binlog_restart_${suffix}`;
  const pipelineName = `restart-binlog-${suffix}`;
  const serverId = randomInt(200_000, 900_000);
  let server: PrivateServer<SqlEndpoint>;
  let admin: DataSource;
  let dir: string;

  // mariadb-install-db and a first start: 3-10 s idle, more on a loaded machine.
  beforeAll(async () => {
    server = await startPrivateMariadb();
    const { host, port, user, password, database } = server.endpoint;
    admin = new DataSource({
      type: 'mariadb',
      host,
      port,
      username: user,
      password,
      database,
      logging: false,
      poolSize: 4,
    });
    await admin.initialize();
    dir = await mkdtemp(join(tmpdir(), 'ferry-binlog-restart-'));
  }, 120_000);

  // The server and everything in it go with its directory.
  afterAll(async () => {
    if (admin?.isInitialized) await admin.destroy().catch(() => undefined);
    await server?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('rides out the restart and the rotations, and delivers every committed change', async () => {
    // The binary log as the shared server writes it (test/services/lib/mariadb.sh): what binlog mode needs.
    const [settings] = (await admin.query(
      'SELECT @@log_bin AS log_bin, @@binlog_format AS format, @@binlog_row_image AS image, ' +
        '@@binlog_row_metadata AS metadata',
    )) as Record<string, unknown>[];
    expect({ ...settings, log_bin: Number(settings?.log_bin) }, `${server.name}: binlog settings`).toEqual({
      log_bin: 1,
      format: 'ROW',
      image: 'FULL',
      metadata: 'FULL',
    });

    const { host, port, user, password, database } = server.endpoint;
    await admin.query(
      `CREATE TABLE ${table} (id BIGINT PRIMARY KEY, v INTEGER NOT NULL, name VARCHAR(100) NOT NULL)`,
    );
    const values = Array.from({ length: ROWS }, (_, i) => `(${i + 1}, 0, 'row ${i + 1}')`);
    await admin.query(`INSERT INTO ${table} VALUES ${values.join(', ')}`);
    const pipeline = join(dir, 'pipeline.yaml');
    await writeFile(
      pipeline,
      [
        `pipeline: ${pipelineName}`,
        'source:',
        '  type: database',
        '  mode: binlog',
        `  connection: { type: mariadb, host: ${host}, port: ${port}, username: ${user}, password: "\${env:FERRY_RESTART_DB_PASSWORD}", database: ${database} }`,
        `  tables: [{ name: ${table}, key: [id] }]`,
        `  serverId: ${serverId}`,
        '  snapshot: initial',
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
    const checkpointFile = join(dir, 'checkpoints', `${pipelineName}.checkpoint.json`);
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
      (await admin.query(`SELECT CAST(id AS CHAR) AS id, v, name FROM ${table} ORDER BY id`)) as {
        id: string;
        v: number;
        name: string;
      }[];
    const rebuilt = (events: CanonicalEvent[]) => {
      const state = new Map<string, string>();
      for (const event of events) {
        if (event.ferryop === 'delete') state.delete(String(event.subject));
        else state.set(String(event.subject), JSON.stringify(event.data));
      }
      return state;
    };
    const binaryLogs = async () =>
      ((await admin.query('SHOW BINARY LOGS')) as Record<string, unknown>[]).map((r) => String(r.Log_name));

    // The writer: small transactions that update three rows in one statement, insert two in one statement
    // and sometimes delete one it inserted. Only transactions whose COMMIT returned count as committed; one
    // cut off by the restart may or may not have committed, and the final comparison with the table covers
    // it either way.
    const committed: Change[] = [];
    const inserted: number[] = [];
    let nextId = ROWS + 1;
    let writing = true;
    let failed = 0;
    const writeOne = async () => {
      const ids = new Set<number>();
      while (ids.size < 3) ids.add(1 + randomInt(ROWS));
      const fresh = [nextId, nextId + 1];
      nextId += 2;
      const changes: Change[] = [];
      const gone =
        inserted.length > 5 && Math.random() < 0.3
          ? inserted.splice(randomInt(inserted.length), 1)[0]
          : undefined;
      try {
        await admin.transaction(async (m) => {
          await m.query(`UPDATE ${table} SET v = v + 1 WHERE id IN (?)`, [[...ids]]);
          const rows = (await m.query(`SELECT CAST(id AS CHAR) AS id, v FROM ${table} WHERE id IN (?)`, [
            [...ids],
          ])) as { id: string; v: number }[];
          for (const row of rows) changes.push({ id: row.id, v: Number(row.v) });
          await m.query(
            `INSERT INTO ${table} VALUES ${fresh.map(() => '(?, 0, ?)').join(', ')}`,
            fresh.flatMap((id) => [id, `new ${id}`]),
          );
          for (const id of fresh) changes.push({ id: String(id), v: 0 });
          if (gone !== undefined) {
            await m.query(`DELETE FROM ${table} WHERE id = ?`, [gone]);
            changes.push({ id: String(gone), v: 'deleted' });
          }
        });
      } catch (error) {
        // Not committed, or not known to be: the rows it inserted may or may not exist, and are never used.
        if (gone !== undefined) inserted.push(gone);
        throw error;
      }
      committed.push(...changes);
      inserted.push(...fresh);
    };
    let writer: Promise<void> = Promise.resolve();

    // FLUSH LOGS every FLUSH_EVERY_MS while the run streams: a new binary log file each time, which the
    // run follows (and a checkpoint may be taken in any of them). Failures while the server is down count
    // apart.
    let flushing = true;
    let flushes = 0;
    let flushesFailed = 0;
    let flusher: Promise<void> = Promise.resolve();
    const startFlusher = () => {
      flusher = (async () => {
        while (flushing) {
          await new Promise((r) => setTimeout(r, FLUSH_EVERY_MS));
          if (!flushing) break;
          try {
            await admin.query('FLUSH LOGS');
            flushes += 1;
          } catch {
            flushesFailed += 1;
          }
        }
      })();
    };

    const env = { FERRY_RESTART_DB_PASSWORD: password };
    const run = startCli(['run', pipeline], env);
    let stderr = '';
    run.child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    // The warnings core logs when an operation on the source fails on a retryable connection error and is
    // tried again: the binlog stream cut off, then connections refused while the server is down.
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
    let logsAtStream: string[] = [];
    try {
      try {
        await waitFor(async () => (await lines()) >= ROWS, 60_000, 'the snapshot');
        logsAtStream = await binaryLogs();
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
        startFlusher();
        await waitFor(
          async () => flushes >= 2 && (await lines()) >= ROWS + 300,
          60_000,
          'streamed changes and two rotations before the restart',
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

        // The writer and the rotations go on on the restarted server; the run must pick those changes up too.
        const afterRestart = { committed: committed.length, flushes };
        await waitFor(
          () => committed.length >= afterRestart.committed + 300 && flushes >= afterRestart.flushes + 2,
          60_000,
          'writes and two rotations after the restart',
        );
      } finally {
        writing = false;
        flushing = false;
        await Promise.all([writer, flusher]);
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
      // A failed test must not leave a run streaming; a passing one stops the usual way.
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
    // The proof that the run met the outage and rode it out is in the warnings: retryable connection
    // failures, after which core reads again from the last checkpoint (the source never retries).
    const connectionRetries = connectionFailures(result.stderr);
    expect(connectionRetries.length, result.stderr).toBeGreaterThan(0);

    // The log was rotated under the run: at least four new files since it began streaming (two rotations
    // before the restart, two after it, and the restart's own), and the run's last checkpoint is in one of
    // them.
    expect(flushes).toBeGreaterThanOrEqual(4);
    const logsNow = await binaryLogs();
    const newLogs = logsNow.filter((name) => !logsAtStream.includes(name));
    expect(newLogs.length, logsNow.join(', ')).toBeGreaterThanOrEqual(5);
    const { position } = JSON.parse(await readFile(checkpointFile, 'utf8')) as { position: BinlogPosition };
    expect(newLogs).toContain(position.file);

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
      `binlog restart: down for ${downFor} ms, run ${Date.now() - started} ms, ${committed.length} committed ` +
        `changes, ${failed} writer transactions failed, ${flushes} FLUSH LOGS (${flushesFailed} failed), ` +
        `${newLogs.length} new binary logs, ${connectionRetries.length} DB_CONNECTION_FAILED retries; ` +
        `${result.stdout.trim()}`,
    );
  }, 240_000);
});
