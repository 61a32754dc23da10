// "Run a pass now": a scheduled pipeline under `ferry serve` waits for its nightly tick; the admin API's
// trigger wakes it and what arrived since is read at once: a file over the real sshd, and rows of a legacy
// table polled by the database source (whose `schedule` the runtime now honours like any pass source's).

import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PipelineStatus } from '@ferry/server';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../../examples/quickstart/test/cli.js';
import { sftpListPipeline, startServe, uploadList } from './serve-helpers.js';

async function eventCount(dir: string): Promise<number> {
  let count = 0;
  for (const file of await readdir(dir).catch(() => [] as string[])) {
    const text = await readFile(join(dir, file), 'utf8');
    count += text.split('\n').filter((l) => l.includes('"type":"test.hearing.')).length;
  }
  return count;
}

describe('trigger a scheduled pipeline now', () => {
  it('wakes the source waiting for its tick; the new file is read at once', async () => {
    const { file, dir, uploadDir } = await sftpListPipeline('lists-nightly', {
      extra: 'schedule: { cron: "30 2 * * *", timezone: Europe/London }',
    });
    const serve = await startServe([file, '--allow-unauthenticated', '--port', '0']);
    try {
      const status = async () =>
        (await (await fetch(`${serve.base}/pipelines/lists-nightly`)).json()) as PipelineStatus;
      // The catch-up pass at start finds nothing; the source then waits for 02:30. The lag turns 0 (from
      // unknown) when that pass has read everything there was: only then is the file uploaded, or the
      // catch-up pass itself could read it on a slow machine.
      await waitFor(async () => (await status()).state === 'running', 20_000, 'the pipeline to run');
      expect((await status()).scheduled).toBe(true);
      await waitFor(async () => (await status()).lagSeconds === 0, 30_000, 'the catch-up pass to end');

      await uploadList(uploadDir, 'LIST_1.csv', 3);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(await eventCount(join(dir, 'events'))).toBe(0);

      // Until the runtime waits for its tick (the pass state is saved a moment after the pass ends), a trigger
      // answers started: false and changes nothing, so ask again.
      await waitFor(
        async () => {
          const trigger = await fetch(`${serve.base}/pipelines/lists-nightly/trigger`, { method: 'POST' });
          expect(trigger.status).toBe(202);
          return ((await trigger.json()) as { started: boolean }).started;
        },
        20_000,
        'the runtime to wait for its tick and take the trigger',
      );
      await waitFor(async () => (await eventCount(join(dir, 'events'))) === 3, 20_000, 'the triggered pass');
      // The status counts a batch once its checkpoint is saved, a moment after its events are in the log.
      await waitFor(
        async () => (await status()).counts.eventsWritten === 3,
        10_000,
        'the commit to be counted',
      );
      expect((await status()).counts).toMatchObject({ recordsRead: 3, eventsWritten: 3 });
    } finally {
      const result = await serve.stop();
      expect(result.code, result.stderr).toBe(0);
    }
  });

  it('wakes a database polling pipeline waiting for its tick; the rows inserted since are read at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-trigger-db-'));
    const Database = createRequire(import.meta.url)('better-sqlite3');
    const legacy = new Database(join(dir, 'legacy.db'));
    legacy.exec(
      'CREATE TABLE CASES (CASE_ID INTEGER PRIMARY KEY, TITLE TEXT NOT NULL, MODIFIED TEXT NOT NULL)',
    );
    const insert = (from: number, count: number) => {
      const row = legacy.prepare("INSERT INTO CASES VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))");
      for (let id = from; id < from + count; id += 1) row.run(id, `case ${id}`);
    };
    insert(1, 4);
    const file = join(dir, 'pipeline.yaml');
    await writeFile(
      file,
      `pipeline: cases-nightly
source:
  type: database
  connection: { type: better-sqlite3, database: ./legacy.db }
  tables: [{ name: CASES, key: [CASE_ID], timestampColumn: MODIFIED, incrementingColumn: CASE_ID }]
  pollIntervalMs: 10
mapping:
  subject: id
  fields:
    id: { from: CASE_ID, type: string, required: true }
    title: TITLE
contract: { type: test.case, version: 1.0.0 }
schedule: { cron: "30 2 * * *", timezone: Europe/London }
`,
    );
    const count = async () => {
      let n = 0;
      for (const name of await readdir(join(dir, '.ferry', 'events')).catch(() => [] as string[]))
        n += (await readFile(join(dir, '.ferry', 'events', name), 'utf8'))
          .split('\n')
          .filter((l) => l.includes('"type":"test.case.')).length;
      return n;
    };
    const serve = await startServe([file, '--allow-unauthenticated', '--port', '0']);
    try {
      const status = async () =>
        (await (await fetch(`${serve.base}/pipelines/cases-nightly`)).json()) as PipelineStatus;
      // Nothing is remembered of earlier passes: one pass at start reads the 4 rows, then the runtime waits
      // for 02:30 (pollIntervalMs is 10 ms: a source or a runtime that fell back to it would read on).
      await waitFor(async () => (await status()).counts.eventsWritten === 4, 20_000, 'the pass at start');
      expect((await status()).scheduled).toBe(true);
      insert(5, 3);
      // The pass at start ends (caught up, pass state saved) a moment after its commit is counted; until the
      // runtime waits for its tick a trigger answers started: false and changes nothing, so ask again.
      await waitFor(
        async () => {
          const trigger = await fetch(`${serve.base}/pipelines/cases-nightly/trigger`, { method: 'POST' });
          expect(trigger.status).toBe(202);
          return ((await trigger.json()) as { started: boolean }).started;
        },
        20_000,
        'the runtime to wait for its tick and take the trigger',
      );
      await waitFor(async () => (await status()).counts.eventsWritten === 7, 20_000, 'the triggered pass');
      expect(await count()).toBe(7);
    } finally {
      legacy.close();
      const result = await serve.stop();
      expect(result.code, result.stderr).toBe(0);
    }
  });
});
