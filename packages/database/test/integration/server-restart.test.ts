// The database server stops and starts again while the built `ferry` CLI streams from it and a writer keeps
// changing rows: PostgreSQL in logical mode, MariaDB in trigger mode, and MariaDB in binlog mode with its
// binary log rotated (FLUSH LOGS) every 1.5 s all along. The run rides the restart out with the runtime's
// default retry policy, delivers every committed change (the state rebuilt from the event log equals the
// table; no event id carries two payloads), counts the retries in its summary, and stops cleanly on SIGTERM.
// Each server is a private one (own port and data dir, test/services/private.ts): stopping a shared one
// would pull it from under every other test file, and another clone's test run, using it.
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SqlEndpoint } from '@ferry/testkit';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, waitFor } from '../../../../examples/quickstart/test/cli.js';
import {
  type PrivateServer,
  startPrivateMariadb,
  startPrivatePostgres,
} from '../../../../test/services/private.js';
import type { BinlogPosition } from '../../src/index.js';
import {
  type Change,
  connectAdmin,
  endWithin,
  expectEveryChangeDelivered,
  expectOnePayloadPerId,
  expectRebuiltTable,
  lineCounter,
  readCheckpoint,
  readEvents,
  rebuildsTable,
  signalIfRunning,
  tableRows,
  writePipeline,
} from '../cli-runs.js';

const ROWS = 2000;
/** Failed connection attempts the run makes while the server is down, before the test starts it again. */
const FAILED_ATTEMPTS = 2;
/** Time between two rotations of the change log while the run streams. */
const ROTATE_EVERY_MS = 1500;

/** A change log kept in files, rotated under the run: a new file each time, which the run must follow. */
interface Rotation {
  /** Asserts that the server writes the log as the mode needs it. */
  expectSettings(admin: DataSource, server: PrivateServer<SqlEndpoint>): Promise<void>;
  rotate(admin: DataSource): Promise<unknown>;
  /** The log's files on the server. */
  files(admin: DataSource): Promise<string[]>;
  /** The log file that the run's last checkpoint stands in. */
  checkpointIn(checkpointFile: string): Promise<string | undefined>;
}

interface Backend {
  service: 'postgres' | 'mariadb';
  mode: 'logical' | 'trigger' | 'binlog';
  start: () => Promise<PrivateServer<SqlEndpoint>>;
  /** The mode's own source options; `suffix` makes the names in them the test's own. */
  options: (suffix: string) => string[];
  /** The writer updates three rows in one statement and inserts two in one: rows events of several rows. */
  multiRow?: boolean;
  rotation?: Rotation;
}

/** MariaDB's binary log, as the shared server writes it too (test/services/lib/mariadb.sh). */
const binaryLog: Rotation = {
  async expectSettings(admin, server) {
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
  },
  rotate: (admin) => admin.query('FLUSH LOGS'),
  files: async (admin) =>
    ((await admin.query('SHOW BINARY LOGS')) as Record<string, unknown>[]).map((r) => String(r.Log_name)),
  checkpointIn: async (checkpointFile) => (await readCheckpoint<BinlogPosition>(checkpointFile))?.file,
};

const backends: Backend[] = [
  {
    service: 'postgres',
    mode: 'logical',
    start: startPrivatePostgres,
    options: (suffix) => [
      'mode: logical',
      `slot: ferry_restart_${suffix}`,
      `publication: ferry_restart_${suffix}`,
      'createSlot: true',
      'heartbeatIntervalMs: 1000',
    ],
  },
  {
    service: 'mariadb',
    mode: 'trigger',
    start: startPrivateMariadb,
    options: (suffix) => [
      'mode: trigger',
      `journal: { table: ferry_journal_${suffix} }`,
      'installTriggers: true',
      'pollIntervalMs: 200',
    ],
  },
  {
    service: 'mariadb',
    mode: 'binlog',
    start: startPrivateMariadb,
    options: () => ['mode: binlog', `serverId: ${randomInt(200_000, 900_000)}`, 'snapshot: initial'],
    multiRow: true,
    rotation: binaryLog,
  },
];

describe.each(backends)('database server restart mid-stream: $service $mode', (backend) => {
  const suffix = randomBytes(4).toString('hex');
  const table = `ferry_restart_${suffix}`;
  const pg = backend.service === 'postgres';
  const p = (i: number) => (pg ? `$${i}` : '?');
  const { rotation } = backend;
  let server: PrivateServer<SqlEndpoint>;
  let admin: DataSource;
  let dir: string;

  // initdb or mariadb-install-db and a first start: 3-10 s idle, more on a loaded machine.
  beforeAll(async () => {
    server = await backend.start();
    admin = await connectAdmin(backend.service, server.endpoint, { poolSize: 4 });
    dir = await mkdtemp(join(tmpdir(), `ferry-restart-${backend.mode}-`));
  }, 120_000);

  // The server and everything in it (table, slot, publication, journal, triggers) go with its directory.
  afterAll(async () => {
    if (admin?.isInitialized) await admin.destroy().catch(() => undefined);
    await server?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('rides out the restart with the default retry policy and delivers every committed change', async () => {
    await rotation?.expectSettings(admin, server);
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
    const { pipeline, log, checkpointFile, env } = await writePipeline({
      dir,
      name: `restart-${backend.mode}-${suffix}`,
      connection: { type: backend.service, endpoint: server.endpoint },
      passwordEnv: 'FERRY_RESTART_DB_PASSWORD',
      table,
      // No retry policy here: the runtime's default (8 retries, 200 ms doubling up to 30 s) rides it out.
      source: [...backend.options(suffix), 'snapshotChunkSize: 500', 'batchSize: 200'],
      contract: 'test.restart',
    });
    const lines = lineCounter(log);

    // The writer: small transactions updating three random rows, inserting one (or two) and sometimes
    // deleting one it inserted. Only transactions whose COMMIT returned count as committed; one cut off by
    // the restart may or may not have committed, and the final comparison with the table covers it either
    // way.
    const committed: Change[] = [];
    const inserted: number[] = [];
    let nextId = ROWS + 1;
    let writing = true;
    let failed = 0;
    const writeOne = async () => {
      const ids = new Set<number>();
      while (ids.size < 3) ids.add(1 + randomInt(ROWS));
      const updates = backend.multiRow ? [[...ids]] : [...ids].map((id) => [id]);
      const fresh = backend.multiRow ? [nextId, nextId + 1] : [nextId];
      nextId += fresh.length;
      const gone =
        inserted.length > 5 && Math.random() < 0.3
          ? inserted.splice(randomInt(inserted.length), 1)[0]
          : undefined;
      const changes: Change[] = [];
      try {
        await admin.transaction(async (m) => {
          for (const group of updates) {
            const list = group.map((_, i) => p(i + 1)).join(', ');
            await m.query(`UPDATE ${table} SET v = v + 1 WHERE id IN (${list})`, group);
            const rows = (await m.query(`SELECT id, v FROM ${table} WHERE id IN (${list})`, group)) as {
              id: unknown;
              v: unknown;
            }[];
            for (const row of rows) changes.push({ id: String(row.id), v: Number(row.v) });
          }
          const values = fresh.map((_, i) => `(${p(2 * i + 1)}, 0, ${p(2 * i + 2)})`).join(', ');
          await m.query(
            `INSERT INTO ${table} VALUES ${values}`,
            fresh.flatMap((id) => [id, `new ${id}`]),
          );
          for (const id of fresh) changes.push({ id, v: 0 });
          if (gone !== undefined) {
            await m.query(`DELETE FROM ${table} WHERE id = ${p(1)}`, [gone]);
            changes.push({ id: gone, v: 'deleted' });
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

    // With a rotation, the log is rotated every ROTATE_EVERY_MS while the run streams (and a checkpoint may
    // be taken in any of its files). Failures while the server is down count apart.
    let rotating = true;
    let rotations = 0;
    let rotationsFailed = 0;
    let rotator: Promise<void> = Promise.resolve();
    const startRotating = (rotation: Rotation) => {
      rotator = (async () => {
        while (rotating) {
          await new Promise((r) => setTimeout(r, ROTATE_EVERY_MS));
          if (!rotating) break;
          try {
            await rotation.rotate(admin);
            rotations += 1;
          } catch {
            rotationsFailed += 1;
          }
        }
      })();
    };
    /** Whether the log has been rotated `n` times (always, without a rotation). */
    const rotated = (n: number) => rotation === undefined || rotations >= n;
    const andRotations = rotation === undefined ? '' : ' and two rotations';

    const run = startCli(['run', pipeline], env);
    let stderr = '';
    run.child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    // The warnings core logs when an operation on the source (a read, or an acknowledgement, such as the
    // trigger journal's purge) fails on a retryable connection error and is tried again. Which one meets
    // the stopped server first is a race (a 200 ms poll, a purge, a replication or binlog stream cut off);
    // core retries any.
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
        if (rotation !== undefined) logsAtStream = await rotation.files(admin);
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
        if (rotation !== undefined) startRotating(rotation);
        await waitFor(
          async () => rotated(2) && (await lines()) >= ROWS + 300,
          60_000,
          `streamed changes${andRotations} before the restart`,
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

        // The writer (and the rotations) go on on the restarted server; the run must pick those changes up.
        const afterRestart = { committed: committed.length, rotations };
        await waitFor(
          () => committed.length >= afterRestart.committed + 300 && rotated(afterRestart.rotations + 2),
          60_000,
          `writes${andRotations} after the restart`,
        );
      } finally {
        writing = false;
        rotating = false;
        await Promise.all([writer, rotator]);
      }

      // Everything committed reaches the log: wait (bounded) until the rebuilt state equals the table.
      const expected = await tableRows(admin, table);
      await waitFor(
        async () => rebuildsTable(await readEvents(log), expected),
        60_000,
        'the event log to catch up with the table',
      );
      expect(run.child.exitCode, 'the run is still going after the restart').toBeNull();
      caughtUp = true;
    } finally {
      // A failed test must not leave a run streaming (and holding the slot); a passing one stops the usual way.
      signalIfRunning(run, caughtUp ? 'SIGTERM' : 'SIGKILL');
    }
    const result = await endWithin(run, 30_000, 'the run did not stop within 30 s of SIGTERM');
    expect(result.code, result.stderr).toBe(0);
    const retries = Number(/(\d+) retries/.exec(result.stdout)?.[1]);
    expect(retries, result.stdout).toBeGreaterThan(0);
    // The proof that the run met the outage and rode it out is in the warnings: retryable connection failures,
    // after which core reads again from the last checkpoint or acknowledges again (the source never retries).
    const connectionRetries = connectionFailures(result.stderr);
    expect(connectionRetries.length, result.stderr).toBeGreaterThan(0);

    let rotationSummary = '';
    if (rotation !== undefined) {
      // The log was rotated under the run: at least five new files since it began streaming (two rotations
      // before the restart, two after it, and the restart's own), and the run's last checkpoint is in one of
      // them.
      expect(rotations).toBeGreaterThanOrEqual(4);
      const logsNow = await rotation.files(admin);
      const newLogs = logsNow.filter((name) => !logsAtStream.includes(name));
      expect(newLogs.length, logsNow.join(', ')).toBeGreaterThanOrEqual(5);
      expect(newLogs).toContain(await rotation.checkpointIn(checkpointFile));
      rotationSummary = `${rotations} rotations (${rotationsFailed} failed), ${newLogs.length} new files, `;
    }

    const events = await readEvents(log);
    expectOnePayloadPerId(events);
    expectRebuiltTable(events, await tableRows(admin, table));
    // Every committed change is in the log, with its value (the writer starts after the snapshot).
    expect(committed.length).toBeGreaterThanOrEqual(500);
    expectEveryChangeDelivered(committed, events);
    console.log(
      `${backend.service} ${backend.mode}: down for ${downFor} ms, run ${Date.now() - started} ms, ` +
        `${committed.length} committed changes, ${failed} writer transactions failed, ${rotationSummary}` +
        `${connectionRetries.length} DB_CONNECTION_FAILED retries; ${result.stdout.trim()}`,
    );
  }, 240_000);
});
