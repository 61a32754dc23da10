// The @ferry/testkit Source conformance suite for polling on a real SQLite file: resume from every page,
// determinism, a pass that ends by itself and stops when aborted, no handles left after close(), and the
// retry flag of a locked database (busy) versus a dropped table.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeSourceConformance } from '@ferry/testkit';
import Database from 'better-sqlite3';
import { createDatabaseSource } from '../../src/index.js';

const ROWS = 25;

interface Seeded {
  dir: string;
  lock?: Database.Database;
}

let current: Seeded | undefined;

async function dispose(): Promise<void> {
  const seeded = current;
  current = undefined;
  if (seeded === undefined) return;
  seeded.lock?.close();
  await rm(seeded.dir, { recursive: true, force: true });
}

function withDatabase<T>(fn: (db: Database.Database) => T): T {
  if (current === undefined) throw new Error('seed() first');
  const db = new Database(join(current.dir, 'legacy.db'));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

describeSourceConformance(
  'database polling (SQLite)',
  () =>
    createDatabaseSource(
      {
        connection: { type: 'better-sqlite3', database: './legacy.db', busyTimeoutMs: 100 },
        tables: [
          {
            name: 'OFFENDERS',
            key: ['OFF_ID'],
            timestampColumn: 'MODIFY_DATETIME',
            incrementingColumn: 'OFF_ID',
          },
        ],
        batchSize: 4,
        pollIntervalMs: 200,
      },
      { baseDir: current?.dir ?? tmpdir() },
    ),
  {
    async seed() {
      await dispose();
      current = { dir: await mkdtemp(join(tmpdir(), 'ferry-db-conf-')) };
      withDatabase((db) => {
        db.exec(
          'CREATE TABLE OFFENDERS (OFF_ID INTEGER PRIMARY KEY, NAME TEXT NOT NULL, MODIFY_DATETIME TEXT NOT NULL)',
        );
        const insert = db.prepare('INSERT INTO OFFENDERS VALUES (?, ?, ?)');
        // Runs of equal timestamps that straddle page boundaries.
        for (let id = 1; id <= ROWS; id += 1)
          insert.run(id, `offender ${id}`, `2024-01-01 10:00:0${Math.floor(id / 6)}`);
      });
      return { expected: ROWS };
    },
    failRetryable: {
      async break() {
        if (current === undefined) throw new Error('seed() first');
        // Another process holding the write lock: readers get SQLITE_BUSY after busyTimeoutMs.
        const lock = new Database(join(current.dir, 'legacy.db'));
        lock.exec('BEGIN EXCLUSIVE');
        current.lock = lock;
      },
      async repair() {
        if (current?.lock === undefined) return;
        current.lock.exec('COMMIT');
        current.lock.close();
        delete current.lock;
      },
    },
    failFatal: {
      async break() {
        withDatabase((db) => db.exec('DROP TABLE OFFENDERS'));
      },
      async repair() {},
    },
    cleanup: dispose,
    timeoutMs: 20_000,
    lacks: {
      acknowledge: 'polling only reads: nothing is confirmed or purged upstream',
      upstreamPosition: 'nothing is acknowledged upstream',
    },
  },
);
