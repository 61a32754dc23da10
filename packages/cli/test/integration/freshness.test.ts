// A batch owner's freshness promise, checked at the deadline: `ferry serve` reads court-list files from the
// real sshd; the expectation fires for a late (missing) file at its deadline, is met once a full file has
// arrived, and fires again for a short one.
import type { PipelineStatus } from '@ferry/server';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../../examples/quickstart/test/cli.js';
import { sftpListPipeline, startServe, uploadList } from './serve-helpers.js';

describe('freshness expectations (SFTP court lists)', () => {
  it('fires at the deadline for a missing file, is met by a full file, fires again for a short one', async () => {
    const { file, uploadDir } = await sftpListPipeline('court-lists-fresh', {
      sourceExtra: '  pollIntervalMs: 300',
      extra: `expectations:
  - name: nightly-list
    description: a court list of 3 to 10 rows every 4 seconds (a stand-in for 02:30 on weekdays)
    deadline: { cron: "*/4 * * * * *", timezone: Europe/London }
    records: { min: 3, max: 10 }`,
    });
    const serve = await startServe([file, '--allow-unauthenticated', '--port', '0', '--log-level', 'info']);
    const logLines = () =>
      serve
        .stderr()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    const freshnessLog = () =>
      logLines()
        .filter((l) => typeof l.code === 'string' && l.code.startsWith('FRESHNESS'))
        .map((l) => JSON.stringify(l))
        .join('\n');
    try {
      const expectation = async () => {
        const status = (await (
          await fetch(`${serve.base}/pipelines/court-lists-fresh`)
        ).json()) as PipelineStatus;
        return status.expectations[0]!;
      };

      // No file by the deadline: the rule fires at the deadline, as a log event and a metric.
      await waitFor(async () => (await expectation()).status === 'missing', 15_000, 'the missing-file alert');
      const missing = logLines().find((l) => l.code === 'FRESHNESS_MISSING');
      expect(missing, serve.stderr()).toMatchObject({
        level: 'error',
        pipeline: 'court-lists-fresh',
        expectation: 'nightly-list',
      });
      const metrics = await (await fetch(`${serve.base}/metrics`)).text();
      expect(metrics).toMatch(
        /ferry_expectation_failures_total\{[^}]*expectation="nightly-list"[^}]*reason="missing"[^}]*\} [1-9]/,
      );
      expect(metrics).toMatch(/ferry_expectation_met\{[^}]*expectation="nightly-list"[^}]*\} 0/);

      // A full file arrives: the next deadline finds the window complete.
      await uploadList(uploadDir, 'LIST_1.csv', 5, 1);
      await waitFor(async () => (await expectation()).status === 'met', 20_000, 'the expectation to be met');
      // (The file's completion notice is its own batch, committed just after the rows; a deadline falling
      // between the two commits would count the delivery in the next window, so only the rows are asserted.)
      expect((await expectation()).lastCheck).toMatchObject({ records: 5 });

      // A short file (1 row of the 3 expected) fires the rule again, as short.
      await uploadList(uploadDir, 'LIST_2.csv', 1, 100);
      await waitFor(
        async () => (await expectation()).status === 'short',
        20_000,
        'the short-delivery alert',
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n${freshnessLog()}`);
      });
      expect(logLines().find((l) => l.code === 'FRESHNESS_SHORT')).toMatchObject({
        level: 'error',
        records: 1,
      });
    } finally {
      const result = await serve.stop();
      expect(result.code, result.stderr).toBe(0);
    }
  });
});
