// Trigger-journal capture on a real SQLite file (better-sqlite3): install, snapshot, changes with before
// images, blobs, resume with stable origins and sequences, and purge on acknowledge (also of the checkpoint
// acknowledged again at start).
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@ferry/core';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createDatabaseSource,
  installDatabaseTriggers,
  parseDatabaseSourceConfig,
  type TriggerPosition,
} from '../../src/index.js';
import { identities, readOnce } from '../helpers.js';

describe('database source: trigger sqlite', () => {
  const open: Database.Database[] = [];
  afterEach(() => {
    for (const db of open.splice(0)) db.close();
  });

  async function fixture() {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-trigger-'));
    const file = join(dir, 'legacy.db');
    const db = new Database(file);
    open.push(db);
    db.exec(`CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, photo BLOB, score REAL)`);
    db.prepare('INSERT INTO people VALUES (?, ?, ?, ?)').run(1, 'Al', Buffer.from('al'), 1.5);
    const config = parseDatabaseSourceConfig({
      mode: 'trigger',
      connection: { type: 'better-sqlite3', database: file },
      tables: [{ name: 'people', key: ['id'] }],
      batchSize: 2,
    });
    return { db, config };
  }

  async function read(config: ReturnType<typeof parseDatabaseSourceConfig>, from?: TriggerPosition) {
    const source = createDatabaseSource(config);
    try {
      return await readOnce(source, from);
    } finally {
      await source.close();
    }
  }

  it('logs snapshot progress with rows done, the total, the rate and the end of each table', async () => {
    const { db, config } = await fixture();
    const insert = db.prepare('INSERT INTO people VALUES (?, ?, NULL, 0)');
    for (let id = 2; id <= 7; id += 1) insert.run(id, `p${id}`);
    await installDatabaseTriggers(config);
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({
      level: 'info',
      destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
    });
    const source = createDatabaseSource(config);
    try {
      for await (const _ of source.read({
        from: undefined,
        signal: new AbortController().signal,
        once: true,
        log,
        caughtUp: () => undefined,
      }));
    } finally {
      await source.close();
    }
    expect(lines.find((l) => l.msg === 'snapshot of table starting')).toMatchObject({
      table: 'people',
      total: 7,
    });
    const done = lines.find((l) => l.msg === 'snapshot of table done');
    expect(done).toMatchObject({ table: 'people', rows: 7, total: 7, level: 'info' });
    expect(typeof done?.rowsPerSecond).toBe('number');
  });

  it('fails with DB_TRIGGERS_MISSING until install-triggers ran; acknowledging meanwhile is harmless', async () => {
    const { config } = await fixture();
    await expect(read(config)).rejects.toMatchObject({ code: 'DB_TRIGGERS_MISSING' });
    // Core acknowledges a loaded checkpoint before the first read: with no journal there is nothing to purge.
    const source = createDatabaseSource({ ...config, mode: 'trigger' });
    await expect(source.acknowledge?.([{ mode: 'trigger', seq: 3, gaps: [] }])).resolves.toBeUndefined();
    await source.close();
  });

  it('snapshots, then streams inserts, updates and deletes with before images, and purges on ack', async () => {
    const { db, config } = await fixture();
    await installDatabaseTriggers(config);
    const first = await read(config);
    expect(first.records).toEqual([
      {
        stream: 'people',
        op: 'read',
        key: { id: 1 },
        after: { id: 1, name: 'Al', photo: Buffer.from('al').toString('base64'), score: 1.5 },
        origin: { table: 'people', snapshot: 'seq:0', version: expect.any(String) },
        // Before every journal row: the snapshot started at seq 0.
        sequence: '00000000000000000000',
      },
    ]);
    db.prepare('INSERT INTO people VALUES (?, ?, ?, ?)').run(2, 'Bea', null, 2);
    db.transaction(() => {
      db.prepare('UPDATE people SET name = ? WHERE id = 1').run('Al Jr');
      db.prepare('DELETE FROM people WHERE id = 2').run();
    })();
    const second = await read(config, first.position as TriggerPosition);
    expect(second.records.map((r) => [r.op, r.key.id, r.origin.seq, r.sequence])).toEqual([
      ['create', 2, 1, '00000000000000000001'],
      ['update', 1, 2, '00000000000000000002'],
      ['delete', 2, 3, '00000000000000000003'],
    ]);
    expect(second.records[1]?.before).toMatchObject({ name: 'Al' });
    expect(second.records[1]?.after).toMatchObject({ name: 'Al Jr' });
    expect(second.records[2]?.before).toEqual({ id: 2, name: 'Bea', photo: null, score: 2 });

    const resumed = await read(config, second.batches[0]?.position as TriggerPosition);
    expect(resumed.records).toEqual(second.records.slice(2));
    expect(identities(resumed.records)).toEqual(identities(second.records.slice(2)));

    // Acknowledging purges up to the last position given; the same again (core's acknowledgement of the
    // loaded checkpoint at start) changes nothing.
    const source = createDatabaseSource({ ...config, mode: 'trigger' });
    await source.acknowledge?.([
      first.position as TriggerPosition,
      second.batches[0]?.position as TriggerPosition,
    ]);
    await source.acknowledge?.([second.batches[0]?.position as TriggerPosition]);
    await source.close();
    expect(db.prepare('SELECT seq FROM ferry_journal').all()).toEqual([{ seq: 3 }]);
  });

  it('records a hole in the sequence and reads its row when it appears later', async () => {
    const { db, config } = await fixture();
    await installDatabaseTriggers(config);
    const first = await read(config);
    db.prepare('INSERT INTO people VALUES (2, ?, NULL, NULL)').run('two');
    db.prepare('INSERT INTO people VALUES (3, ?, NULL, NULL)').run('three');
    // Simulate a transaction that took seq 1 and commits after seq 2 was read.
    const late = db.prepare('SELECT * FROM ferry_journal WHERE seq = 1').get() as Record<string, unknown>;
    db.prepare('DELETE FROM ferry_journal WHERE seq = 1').run();
    const second = await read(config, first.position as TriggerPosition);
    expect(second.records.map((r) => r.origin.seq)).toEqual([2]);
    expect((second.position as TriggerPosition).gaps.map((g) => g.seq)).toEqual([1]);
    db.prepare(
      'INSERT INTO ferry_journal (seq, stream, op, before_image, after_image, changed_at) VALUES (@seq, @stream, @op, @before_image, @after_image, @changed_at)',
    ).run(late);
    const third = await read(config, second.position as TriggerPosition);
    expect(third.records.map((r) => [r.origin.seq, r.key.id])).toEqual([[1, 2]]);
    expect((third.position as TriggerPosition).gaps).toEqual([]);
  });
});
