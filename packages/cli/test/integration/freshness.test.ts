// A batch owner's freshness promise, checked at the deadline: `ferry serve` reads court-list files from the
// real sshd; the expectation fires for a late (missing) file at its deadline, is met once a full file has
// arrived, and fires again for a short one.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PipelineStatus } from '@ferry/server';
import { describe, expect, it } from 'vitest';
import { startCli, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { services } from '../../../../test/services/endpoints.js';

const sftp = services.sftp;

function csv(rows: number, from: number): string {
  const lines = ['REF,NAME'];
  for (let i = 0; i < rows; i += 1) lines.push(`H${from + i},Defendant ${from + i}`);
  return `${lines.join('\n')}\n`;
}

describe('freshness expectations (SFTP court lists)', () => {
  it('fires at the deadline for a missing file, is met by a full file, fires again for a short one', async () => {
    const folder = `freshness-${randomBytes(4).toString('hex')}`;
    const local = join(sftp.rootDir, sftp.uploadDir.replace(/^\//, ''), folder);
    await mkdir(local, { recursive: true });
    const dir = await mkdtemp(join(tmpdir(), 'ferry-freshness-'));
    const pipelineFile = join(dir, 'pipeline.yaml');
    await writeFile(
      pipelineFile,
      `pipeline: court-lists-fresh
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
  pollIntervalMs: 300
  afterProcessing: leave
mapping:
  subject: ref
  fields:
    ref: { from: REF, required: true }
    name: NAME
contract: { type: test.hearing, version: 1.0.0 }
expectations:
  - name: nightly-list
    description: a court list of 3 to 10 rows every 4 seconds (a stand-in for 02:30 on weekdays)
    deadline: { cron: "*/4 * * * * *", timezone: Europe/London }
    records: { min: 3, max: 10 }
sink: { type: file, dir: ./events }
deadLetters: { type: file, dir: ./dead-letters }
checkpoints: { type: file, dir: ./checkpoints }
`,
    );
    const serve = startCli([
      'serve',
      pipelineFile,
      '--allow-unauthenticated',
      '--port',
      '0',
      '--log-level',
      'info',
    ]);
    let stdout = '';
    let stderr = '';
    serve.child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    serve.child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const logLines = () =>
      stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    let base = '';
    try {
      await waitFor(
        () => {
          if (serve.child.exitCode !== null) throw new Error(`ferry serve exited: ${stderr}`);
          base = /admin API on (http:\/\/\S+)/.exec(stdout)?.[1] ?? '';
          return base !== '';
        },
        30_000,
        'ferry serve to listen',
      );
      const expectation = async () => {
        const status = (await (await fetch(`${base}/pipelines/court-lists-fresh`)).json()) as PipelineStatus;
        return status.expectations[0]!;
      };

      // No file by the deadline: the rule fires at the deadline, as a log event and a metric.
      await waitFor(async () => (await expectation()).status === 'missing', 15_000, 'the missing-file alert');
      const missing = logLines().find((l) => l.code === 'FRESHNESS_MISSING');
      expect(missing, stderr).toMatchObject({
        level: 'error',
        pipeline: 'court-lists-fresh',
        expectation: 'nightly-list',
      });
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(
        /ferry_expectation_failures_total\{[^}]*expectation="nightly-list"[^}]*reason="missing"[^}]*\} [1-9]/,
      );
      expect(metrics).toMatch(/ferry_expectation_met\{[^}]*expectation="nightly-list"[^}]*\} 0/);

      // A full file arrives: the next deadline finds the window complete.
      await writeFile(join(local, 'LIST_1.csv.tmp'), csv(5, 1));
      await rename(join(local, 'LIST_1.csv.tmp'), join(local, 'LIST_1.csv'));
      await waitFor(async () => (await expectation()).status === 'met', 20_000, 'the expectation to be met');
      expect((await expectation()).lastCheck).toMatchObject({ records: 5, deliveries: 1 });

      // A short file (1 row of the 3 expected) fires the rule again, as short.
      await writeFile(join(local, 'LIST_2.csv.tmp'), csv(1, 100));
      await rename(join(local, 'LIST_2.csv.tmp'), join(local, 'LIST_2.csv'));
      await waitFor(
        async () => (await expectation()).status === 'short',
        20_000,
        'the short-delivery alert',
      ).catch((e) => {
        throw new Error(
          `${e.message}\n${stderr
            .split('\n')
            .filter((l) => /FRESHNESS|expectation|file/.test(l))
            .join('\n')}`,
        );
      });
      const short = logLines().find((l) => l.code === 'FRESHNESS_SHORT');
      expect(short).toMatchObject({ level: 'error', records: 1 });
    } finally {
      serve.child.kill('SIGTERM');
    }
    const result = await serve.done;
    expect(result.code, result.stderr).toBe(0);
  });
});
