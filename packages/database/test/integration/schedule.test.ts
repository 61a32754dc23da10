// Acceptance for issue 13, against the real PostgreSQL: a polling pipeline with a cron `schedule:` runs exactly
// one pass per tick, driven by core under a fake clock, each pass reading exactly the rows inserted since the
// last one; nothing runs between ticks; an operator's wake-up (what `POST /pipelines/{name}/trigger` fires)
// runs one pass at once without the clock moving. pollIntervalMs is tiny on purpose: a runtime that fell back
// to it, or a source that looped on it, would read between ticks.
import { randomBytes } from 'node:crypto';
import { runPipeline, WakeUp } from '@ferry/core';
import { FakeClock, MemoryCheckpoints, MemoryDeadLetters, MemorySink } from '@ferry/testkit';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import { createDatabaseSource, databasePositionSchema } from '../../src/index.js';
import { waitFor } from '../helpers.js';

describe('database polling on a schedule (PostgreSQL)', () => {
  const { host, port, user, password, database } = services.postgres;
  const connection = { type: 'postgres', host, port, username: user, password, database } as const;
  const table = `ferry_sched_${randomBytes(4).toString('hex')}`;
  let admin: DataSource;

  beforeAll(async () => {
    admin = new DataSource({ ...connection, logging: false });
    await admin.initialize();
    await admin.query(
      `CREATE TABLE ${table} (id BIGINT PRIMARY KEY, name TEXT NOT NULL, modified TIMESTAMP(6) NOT NULL)`,
    );
  });

  afterAll(async () => {
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await admin.destroy();
  });

  const insert = async (...ids: number[]) => {
    for (const id of ids)
      await admin.query(`INSERT INTO ${table} VALUES ($1, $2, clock_timestamp())`, [id, `row ${id}`]);
  };

  it('runs one pass per cron tick, none between ticks, and one at once on a wake-up', async () => {
    await insert(1, 2, 3);
    // Half a minute before the first tick of `*/1 * * * *` (every minute, UTC).
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 30));
    const wake = new WakeUp();
    const sink = new MemorySink();
    const subjects = () => sink.events.map((e) => e.subject);
    /** The subjects written by each pass, recorded when core says the pass has ended. */
    const passes: string[][] = [];
    let seen = 0;
    const controller = new AbortController();
    const run = runPipeline({
      name: table,
      source: createDatabaseSource({
        connection,
        tables: [{ name: table, key: ['id'], timestampColumn: 'modified', incrementingColumn: 'id' }],
        batchSize: 2,
        pollIntervalMs: 10,
      }),
      mapping: {
        canonicalType: 'test.scheduled',
        map: (record) => ({ subject: String(record.key.id), data: record.after }),
      },
      sink,
      deadLetters: new MemoryDeadLetters(),
      checkpoints: new MemoryCheckpoints(),
      positionSchema: databasePositionSchema,
      schedule: { cron: '*/1 * * * *', timezone: 'UTC' },
      clock,
      wake,
      signal: controller.signal,
      observer: {
        caughtUp: () => {
          passes.push(subjects().slice(seen));
          seen = sink.events.length;
        },
      },
    });
    /** Core has ended a pass and waits for the next tick (or a wake-up). */
    const idle = (count: number) =>
      waitFor(() => passes.length === count && clock.waiting === 1 && wake.waiting, 30_000);

    try {
      // Nothing was remembered, so the first pass runs at start: every row there is.
      await idle(1);
      expect(passes).toEqual([['1', '2', '3']]);

      // Rows arrive; the clock moves to one second before the tick: no pass (core is still asleep).
      await insert(4, 5);
      await clock.advance(29_000);
      expect(clock.waiting).toBe(1);
      expect(passes).toHaveLength(1);

      // The tick: exactly one pass, exactly the new rows.
      await clock.advance(1_000);
      await idle(2);
      expect(passes[1]).toEqual(['4', '5']);

      // A tick with nothing new is still one pass, reading nothing.
      await clock.advance(60_000);
      await idle(3);
      expect(passes[2]).toEqual([]);

      // Almost a whole minute later, a row arrives and an operator asks for a pass: it runs at once.
      await clock.advance(59_999);
      expect(passes).toHaveLength(3);
      await insert(6);
      const now = clock.now();
      expect(wake.wake()).toBe(1);
      await idle(4);
      expect(passes[3]).toEqual(['6']);
      expect(clock.now()).toBe(now);

      // The next tick (1 ms later) is still one pass of its own.
      await insert(7);
      await clock.advance(1);
      await idle(5);
      expect(passes[4]).toEqual(['7']);
      expect(new Date(clock.now()).toISOString()).toBe('2026-01-01T00:03:00.000Z');
    } finally {
      controller.abort();
    }
    const summary = await run;
    expect(summary).toMatchObject({ eventsWritten: 7, stoppedBy: 'signal' });
    expect(subjects()).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    // Every event carries the row's place in the polling order.
    expect(sink.events.every((e) => typeof e.sequence === 'string')).toBe(true);
  });
});
