// `sink: { type: webhook }` through the built `ferry` command, as a person runs it: `ferry run --once` posts
// the quickstart's offenders to a receiver on loopback that checks every signature with the official
// `standardwebhooks` package; the offender the receiver refuses (410) ends in the same dead-letter file as
// the rows the contract refused; `ferry validate` refuses an endpoint on the cloud metadata address.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeadLetter } from '@ferry/core';
import { generateSecret } from '@ferry/webhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { prisonNumber, seedLegacyDatabase } from '../../../../examples/quickstart/seed.mjs';
import { quickstartCopy, runCli } from '../../../../examples/quickstart/test/cli.js';
import { type Receiver, startReceiver } from '../../../webhooks/test/receiver.js';

const receivers: Receiver[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});

const FILE_SINK = 'sink:\n  type: file\n  dir: .ferry/events\n';

/** The quickstart pipeline with its file sink replaced by `sink`. */
async function withSink(pipeline: string, sink: string): Promise<void> {
  const text = await readFile(pipeline, 'utf8');
  expect(text).toContain(FILE_SINK);
  await writeFile(pipeline, text.replace(FILE_SINK, sink));
}

describe('ferry with a webhook sink', () => {
  it('`ferry run --once` delivers every offender signed; a refused one joins the contract’s rejects in the dead letters', async () => {
    const ROWS = 200;
    const BAD_EVERY = 50; // rows 50, 100, 150, 200 have an impossible birth date: the contract refuses them
    const gone = prisonNumber(7);
    const secret = generateSecret();
    let refusing = true;
    const receiver = await startReceiver([secret], (request) =>
      refusing && (JSON.parse(request.body) as { subject: string }).subject === gone
        ? { status: 410, body: 'no such offender here' }
        : { status: 202 },
    );
    receivers.push(receiver);
    const q = await quickstartCopy();
    seedLegacyDatabase(q.db, { rows: ROWS, badEvery: BAD_EVERY });
    await withSink(
      q.pipeline,
      `sink:
  type: webhook
  allow: [127.0.0.1/32]
  subscriptions:
    - name: supplier-a
      url: ${receiver.url}
      events: [justice.offender.*]
      secrets: ['\${env:SUPPLIER_A_SECRET}']
`,
    );

    const result = await runCli(['run', q.pipeline, '--once'], { SUPPLIER_A_SECRET: secret });

    expect(result.code).toBe(0);
    // One warning, for the one refusal; nothing else on stderr.
    const logged = result.stderr
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged).toEqual([
      expect.objectContaining({
        level: 'warn',
        count: 1,
        codes: ['WEBHOOK_REFUSED'],
        msg: 'events the sink refused go to the dead letters',
      }),
    ]);
    const events = receiver.received.map((r) => ({
      ...(JSON.parse(r.body) as { id: string; subject: string }),
      verifiedWith: r.verifiedWith,
    }));
    const rejectedByContract = ROWS / BAD_EVERY;
    expect(events).toHaveLength(ROWS - rejectedByContract);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(events.every((e) => e.verifiedWith === 0)).toBe(true);

    const letters = (await readFile(join(q.dir, '.ferry', 'dead-letters', 'quickstart.dlq.jsonl'), 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as DeadLetter);
    expect(letters.filter((l) => l.stage !== 'sink')).toHaveLength(rejectedByContract);
    expect(letters.filter((l) => l.stage === 'sink')).toEqual([
      expect.objectContaining({
        pipeline: 'quickstart',
        stream: 'OFFENDERS',
        code: 'WEBHOOK_REFUSED',
        origin: expect.objectContaining({
          subscription: 'supplier-a',
          status: 410,
          body: 'no such offender here',
        }),
        record: expect.objectContaining({ subject: gone }),
      }),
    ]);

    // The receiver fixed: `ferry dlq replay` sends the refused event again, as it was (same id), once; the
    // contract's rejects still fail and stay.
    refusing = false;
    const refusedId = letters.find((l) => l.stage === 'sink')?.record as { id: string };
    const sentBefore = receiver.received.length;
    const env = { SUPPLIER_A_SECRET: secret };
    const replay = await runCli(['dlq', 'replay', q.pipeline], env);
    expect(replay.stdout).toContain(
      `replayed 1 dead letter (1 events to webhook); ${rejectedByContract} left`,
    );
    expect(receiver.received.slice(sentBefore).map((r) => r.id)).toEqual([refusedId.id]);
    expect(receiver.received.at(-1)?.status).toBe(202);
    const again = await runCli(['dlq', 'replay', q.pipeline], env);
    expect(again.stdout).toContain('replayed 0 dead letters');
    expect(receiver.received).toHaveLength(sentBefore + 1);
  });

  it('`ferry validate` refuses an endpoint on the cloud metadata address, naming the path and the code', async () => {
    const q = await quickstartCopy();
    await withSink(
      q.pipeline,
      `sink:
  type: webhook
  subscriptions:
    - name: metadata
      url: http://169.254.169.254/latest/meta-data/
      events: ['*']
      secrets: ['${generateSecret()}']
`,
    );

    const result = await runCli(['validate', q.pipeline]);

    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/pipeline\.yaml:\d+:\d+ sink\.subscriptions\[0\]\.url: /);
    expect(result.stderr).toContain('link-local (cloud metadata)');
    expect(result.stderr).toContain('WEBHOOK_ADDRESS_REFUSED');
  });
});
