// "Run a pass now": a scheduled SFTP pipeline under `ferry serve` waits for its nightly tick; the admin
// API's trigger wakes it and the file uploaded since is read at once, over the real sshd.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PipelineStatus } from '@ferry/server';
import { describe, expect, it } from 'vitest';
import { startCli, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { services } from '../../../../test/services/endpoints.js';

const sftp = services.sftp;

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
    const folder = `trigger-${randomBytes(4).toString('hex')}`;
    const local = join(sftp.rootDir, sftp.uploadDir.replace(/^\//, ''), folder);
    await mkdir(local, { recursive: true });
    const dir = await mkdtemp(join(tmpdir(), 'ferry-trigger-'));
    const pipelineFile = join(dir, 'pipeline.yaml');
    await writeFile(
      pipelineFile,
      `pipeline: lists-nightly
source:
  type: sftp
  connection:
    host: ${sftp.host}
    port: ${sftp.port}
    username: ${sftp.username}
    privateKeyPath: ${sftp.privateKeyPath}
    knownHosts: ${sftp.knownHostsPath}
  paths: [${sftp.uploadDir}/${folder}/LIST_*.csv]
  stability: { mode: rename }
  format: { type: csv }
  key: [REF]
  afterProcessing: leave
schedule: { cron: "30 2 * * *", timezone: Europe/London }
mapping:
  subject: ref
  fields:
    ref: { from: REF, required: true }
contract: { type: test.hearing, version: 1.0.0 }
sink: { type: file, dir: ./events }
deadLetters: { type: file, dir: ./dead-letters }
checkpoints: { type: file, dir: ./checkpoints }
`,
    );
    const serve = startCli(['serve', pipelineFile, '--allow-unauthenticated', '--port', '0']);
    let stdout = '';
    serve.child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    try {
      let base = '';
      await waitFor(
        () => {
          if (serve.child.exitCode !== null) throw new Error('ferry serve exited');
          base = /admin API on (http:\/\/\S+)/.exec(stdout)?.[1] ?? '';
          return base !== '';
        },
        30_000,
        'ferry serve to listen',
      );
      const status = async () =>
        (await (await fetch(`${base}/pipelines/lists-nightly`)).json()) as PipelineStatus;
      // The catch-up pass at start finds nothing; the source then waits for 02:30.
      await waitFor(async () => (await status()).state === 'running', 20_000, 'the pipeline to run');
      expect((await status()).scheduled).toBe(true);
      await new Promise((r) => setTimeout(r, 1_500));

      await writeFile(join(local, 'LIST_1.csv.tmp'), 'REF\nH1\nH2\nH3\n');
      await rename(join(local, 'LIST_1.csv.tmp'), join(local, 'LIST_1.csv'));
      await new Promise((r) => setTimeout(r, 1_000));
      expect(await eventCount(join(dir, 'events'))).toBe(0);

      const trigger = await fetch(`${base}/pipelines/lists-nightly/trigger`, { method: 'POST' });
      expect(trigger.status).toBe(202);
      expect(await trigger.json()).toMatchObject({ started: true });
      await waitFor(async () => (await eventCount(join(dir, 'events'))) === 3, 20_000, 'the triggered pass');
      expect((await status()).counts).toMatchObject({ recordsRead: 3, eventsWritten: 3 });
    } finally {
      serve.child.kill('SIGTERM');
    }
    const result = await serve.done;
    expect(result.code, result.stderr).toBe(0);
  });
});
