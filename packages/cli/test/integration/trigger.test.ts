// "Run a pass now": a scheduled SFTP pipeline under `ferry serve` waits for its nightly tick; the admin
// API's trigger wakes it and the file uploaded since is read at once, over the real sshd.
import { readdir, readFile } from 'node:fs/promises';
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
      // The catch-up pass at start finds nothing; the source then waits for 02:30.
      await waitFor(async () => (await status()).state === 'running', 20_000, 'the pipeline to run');
      expect((await status()).scheduled).toBe(true);
      await new Promise((r) => setTimeout(r, 1_500));

      await uploadList(uploadDir, 'LIST_1.csv', 3);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(await eventCount(join(dir, 'events'))).toBe(0);

      const trigger = await fetch(`${serve.base}/pipelines/lists-nightly/trigger`, { method: 'POST' });
      expect(trigger.status).toBe(202);
      expect(await trigger.json()).toMatchObject({ started: true });
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
});
