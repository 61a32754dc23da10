// A subscriber that refuses (410): its events go to the dead letters with the status and the body while the
// other subscription is served; after the fix, `ferry dlq replay <webhooks.yaml>` delivers each exactly once
// (issue 21's acceptance), with the built CLI, real Kafka and real receivers on loopback.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CanonicalEvent } from '@ferry/core';
import { encodeEvent } from '@ferry/kafka';
import { generateSecret } from '@ferry/webhooks';
import { Kafka, logLevel } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { cliBin, runCli, startNode, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { services } from '../../../../test/services/endpoints.js';
import { startReceiver } from '../../../webhooks/test/receiver.js';

const brokers = [...services.kafka.brokers];
const kafka = new Kafka({ brokers, clientId: 'ferry-webhooks-dlq-test', logLevel: logLevel.NOTHING });
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const EVENTS = 200;

function eventOf(i: number): CanonicalEvent {
  const subject = `S${i % 20}`;
  return {
    specversion: '1.0',
    id: `evt-${i}`,
    source: '/ferry/dlq/offenders',
    type: 'justice.offender.updated',
    subject,
    time: new Date(Date.UTC(2026, 0, 1) + i).toISOString(),
    datacontenttype: 'application/json',
    data: { offenderId: subject, seq: Math.floor(i / 20) + 1 },
  };
}

describe('webhook dead letters', () => {
  it('keeps what a subscriber refuses with its status and body, and replays each once after the fix', async () => {
    const topic = `webhooks_dlq_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
    const admin = kafka.admin();
    await admin.connect();
    cleanups.push(() => admin.disconnect());
    await admin.createTopics({
      topics: [{ topic, numPartitions: 2, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    cleanups.push(() => admin.deleteTopics({ topics: [topic] }));
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: Array.from({ length: EVENTS }, (_, i) => encodeEvent(eventOf(i), 'structured')),
    });
    await producer.disconnect();

    const secret = generateSecret();
    const healthy = await startReceiver([secret]);
    cleanups.push(() => healthy.close());
    let gone = true;
    const broken = await startReceiver([secret], () =>
      gone ? { status: 410, body: '{"error":"this endpoint was retired"}' } : { status: 204 },
    );
    cleanups.push(() => broken.close());

    const dir = await mkdtemp(join(tmpdir(), 'ferry-webhooks-dlq-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const config = join(dir, 'webhooks.yaml');
    await writeFile(
      config,
      [
        'webhooks: dlq',
        `kafka: { brokers: [${brokers.join(', ')}], topics: [${topic}] }`,
        'allow: [127.0.0.1/32]',
        'subscriptions:',
        '  - name: healthy',
        `    url: ${healthy.url}`,
        '    events: ["*"]',
        "    secrets: ['${env:HOOK_SECRET}']",
        '  - name: retired',
        `    url: ${broken.url}`,
        '    events: [justice.offender.*]',
        "    secrets: ['${env:HOOK_SECRET}']",
      ].join('\n'),
    );
    const env = { HOOK_SECRET: secret };
    const { child, done } = startNode(cliBin, ['webhooks', 'run', config], env, 300_000);
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`ferry webhooks exited: ${(await done).stderr}`);
        const status = await runCli(['webhooks', 'status', config, '--json'], env);
        const subscriptions = JSON.parse(status.stdout).subscriptions ?? {};
        return subscriptions.healthy?.delivered === EVENTS && subscriptions.retired?.deadLettered === EVENTS;
      },
      120_000,
      'every event delivered to one subscriber and dead-lettered for the other',
    );
    child.kill('SIGTERM');
    expect((await done).code).toBe(0);
    expect(broken.received).toHaveLength(EVENTS);

    // Each letter names the subscription, the answer's status and body, and where the event was read.
    const listed = await runCli(['dlq', 'list', config, '--subscription', 'retired', '--json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    const letters = listed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(letters).toHaveLength(EVENTS);
    expect(letters[0]).toMatchObject({
      subscription: 'retired',
      stage: 'sink',
      code: 'WEBHOOK_REFUSED',
      retryable: false,
      origin: { topic, subscription: 'retired', status: 410, body: '{"error":"this endpoint was retired"}' },
    });
    const raw = await readFile(join(dir, '.ferry', 'dlq', 'webhooks_retired.dlq.jsonl'), 'utf8');
    expect(raw.trim().split('\n')).toHaveLength(EVENTS);

    // Fixed: a replay sends each event once, a subject's in order; a second replay sends nothing.
    gone = false;
    broken.received.length = 0;
    const replay = await runCli(['dlq', 'replay', config], env);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain(`retired: delivered ${EVENTS} dead letters; 0 left`);
    expect(replay.stdout).toContain('healthy: delivered 0 dead letters; 0 left');
    expect(new Set(broken.received.map((r) => r.id)).size).toBe(EVENTS);
    expect(broken.received).toHaveLength(EVENTS);
    expect(broken.received.every((r) => r.verifiedWith === 0)).toBe(true);
    const last = new Map<string, number>();
    for (const r of broken.received) {
      const { subject, data } = JSON.parse(r.body) as { subject: string; data: { seq: number } };
      expect(data.seq).toBeGreaterThan(last.get(subject) ?? 0);
      last.set(subject, data.seq);
    }
    const again = await runCli(['dlq', 'replay', config], env);
    expect(again.stdout).toContain('retired: delivered 0 dead letters; 0 left');
    expect(broken.received).toHaveLength(EVENTS);
    expect((await runCli(['dlq', 'list', config], env)).stdout).toContain('0 dead letters pending');
  }, 300_000);
});
