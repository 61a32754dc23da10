// `ferry serve --webhooks`: the built CLI delivers a webhooks file's subscriptions next to a pipeline, from
// real Kafka to a real receiver on loopback, and the admin API shows each subscription, pauses and resumes
// it; /metrics and `ferry status --url` show the deliveries.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CanonicalEvent } from '@ferry/core';
import { encodeEvent } from '@ferry/kafka';
import { generateSecret, type SubscriptionStatus } from '@ferry/webhooks';
import { Kafka, logLevel } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { services } from '../../../../test/services/endpoints.js';
import { startReceiver } from '../../../webhooks/test/receiver.js';
import { sftpListPipeline, startServe } from './serve-helpers.js';

const brokers = [...services.kafka.brokers];
const kafka = new Kafka({ brokers, clientId: 'ferry-serve-webhooks-test', logLevel: logLevel.NOTHING });
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

function eventOf(i: number): CanonicalEvent {
  return {
    specversion: '1.0',
    id: `evt-${i}`,
    source: '/ferry/serve-webhooks',
    type: 'justice.offender.updated',
    subject: `S${i}`,
    time: new Date(Date.UTC(2026, 0, 1) + i).toISOString(),
    datacontenttype: 'application/json',
    data: { offenderId: `S${i}`, seq: i },
  };
}

/** The value of one sample in a Prometheus text exposition (undefined when absent). */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length, line.lastIndexOf(' '));
    if (wanted.every((w) => labelText.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('ferry serve --webhooks', () => {
  it('delivers next to the pipelines; the admin API shows, pauses and resumes a subscription', async () => {
    const topic = `serve_webhooks_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
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
    cleanups.push(() => producer.disconnect());
    const produce = (from: number, to: number) =>
      producer.send({
        topic,
        messages: Array.from({ length: to - from + 1 }, (_, i) =>
          encodeEvent(eventOf(from + i), 'structured'),
        ),
      });
    await produce(1, 5);

    const secret = generateSecret();
    const receiver = await startReceiver([secret]);
    cleanups.push(() => receiver.close());
    const dir = await mkdtemp(join(tmpdir(), 'ferry-serve-webhooks-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const config = join(dir, 'webhooks.yaml');
    await writeFile(
      config,
      [
        'webhooks: serve-test',
        `kafka: { brokers: [${brokers.join(', ')}], topics: [${topic}] }`,
        'allow: [127.0.0.1/32]',
        'subscriptions:',
        '  - name: offenders',
        `    url: ${receiver.url}`,
        '    events: [justice.offender.*]',
        "    secrets: ['${env:HOOK_SECRET}']",
      ].join('\n'),
    );
    const { file: pipeline } = await sftpListPipeline('serve-webhooks-lists');
    const env = { HOOK_SECRET: secret };
    const serve = await startServe(
      [pipeline, '--webhooks', config, '--allow-unauthenticated', '--port', '0', '--log-level', 'warn'],
      env,
    );
    cleanups.push(() => serve.stop());
    const get = async (path: string) => {
      const response = await fetch(`${serve.base}${path}`);
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const post = async (path: string) => {
      const response = await fetch(`${serve.base}${path}`, { method: 'POST' });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const subscription = async () => (await get('/webhooks/offenders')).body as unknown as SubscriptionStatus;
    const delivered = () => new Set(receiver.received.filter((r) => r.status === 204).map((r) => r.id));

    // Delivered as `ferry webhooks run` would, each signed with the secret.
    await waitFor(async () => (await subscription()).delivered === 5, 60_000, 'the first 5 events');
    expect(delivered()).toEqual(new Set(['evt-1', 'evt-2', 'evt-3', 'evt-4', 'evt-5']));
    expect(receiver.received.every((r) => r.verifiedWith === 0)).toBe(true);
    const listed = await get('/webhooks');
    expect(listed.status).toBe(200);
    expect(listed.body.subscriptions).toEqual([
      expect.objectContaining({
        name: 'offenders',
        url: receiver.url,
        group: 'ferry-webhooks-serve-test-offenders',
        topics: [topic],
        state: 'running',
        delivered: 5,
        deadLettered: 0,
        paused: false,
      }),
    ]);

    // Paused: what arrives meanwhile is read and held (pending), not delivered.
    const paused = await post('/webhooks/offenders/pause');
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({
      name: 'offenders',
      paused: true,
      pausedReason: 'paused by an operator',
    });
    await produce(6, 8);
    await waitFor(async () => (await subscription()).pending === 3, 30_000, 'the 3 new events to be held');
    expect(await subscription()).toMatchObject({ paused: true, delivered: 5, pending: 3 });
    expect(delivered().size).toBe(5);
    expect(receiver.received).toHaveLength(5);
    const whilePaused = await (await fetch(`${serve.base}/metrics`)).text();
    expect(sample(whilePaused, 'ferry_webhook_paused', { subscription: 'offenders' })).toBe(1);
    expect(
      sample(whilePaused, 'ferry_webhook_deliveries_total', {
        subscription: 'offenders',
        outcome: 'delivered',
      }),
    ).toBe(5);
    expect(
      sample(whilePaused, 'ferry_webhook_oldest_undelivered_seconds', { subscription: 'offenders' }),
    ).toBeGreaterThan(0);

    // `ferry status --url` lists the subscription after the pipelines.
    const status = await runCli(['status', '--url', serve.base]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^SUBSCRIPTION\s+STATE\s+DELIVERED/m);
    expect(status.stdout).toMatch(/^offenders\s+paused \(paused by an operator\)\s+5\s+0\s+\d+\s+3\s/m);
    const statusJson = JSON.parse((await runCli(['status', '--url', serve.base, '--json'])).stdout);
    expect(statusJson.webhooks).toEqual([expect.objectContaining({ name: 'offenders', pending: 3 })]);

    // Resumed: the held events go out, in order per subject, and nothing is left.
    const resumed = await post('/webhooks/offenders/resume');
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ paused: false });
    await waitFor(async () => (await subscription()).delivered === 8, 30_000, 'the held events after resume');
    expect(await subscription()).toMatchObject({ paused: false, pending: 0, deadLettered: 0 });
    expect(delivered()).toEqual(new Set(Array.from({ length: 8 }, (_, i) => `evt-${i + 1}`)));
    const metrics = await (await fetch(`${serve.base}/metrics`)).text();
    expect(
      sample(metrics, 'ferry_webhook_deliveries_total', { subscription: 'offenders', outcome: 'delivered' }),
    ).toBe(8);
    expect(
      sample(metrics, 'ferry_webhook_attempts_total', { subscription: 'offenders', result: '2xx' }),
    ).toBe(8);
    expect(sample(metrics, 'ferry_webhook_paused', { subscription: 'offenders' })).toBe(0);
    expect(
      sample(metrics, 'ferry_webhook_attempt_duration_seconds_count', { subscription: 'offenders' }),
    ).toBe(8);

    // A name no file has: 404 in the admin API's error shape.
    for (const [method, path] of [
      ['GET', '/webhooks/nobody'],
      ['POST', '/webhooks/nobody/pause'],
      ['POST', '/webhooks/nobody/resume'],
    ] as const) {
      const response = await fetch(`${serve.base}${path}`, { method });
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(await response.json()).toEqual({
        code: 'WEBHOOK_SUBSCRIPTION_NOT_FOUND',
        message: "no subscription 'nobody' here; serving offenders",
        retryable: false,
      });
    }
    // The pipeline is served as before.
    expect((await get('/pipelines/serve-webhooks-lists')).status).toBe(200);

    const stopped = await serve.stop();
    expect(stopped.code, stopped.stderr).toBe(0);
  }, 180_000);

  it('refuses to start when a webhooks file has a mistake, as for a pipeline file (exit 2)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-serve-webhooks-bad-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const config = join(dir, 'webhooks.yaml');
    await writeFile(
      config,
      [
        'webhooks: bad',
        `kafka: { brokers: [${brokers.join(', ')}], topics: [t] }`,
        'subscriptions:',
        '  - name: internal',
        '    url: http://127.0.0.1:9/hooks',
        '    events: ["*"]',
        `    secrets: [${generateSecret()}]`,
      ].join('\n'),
    );
    const { file: pipeline } = await sftpListPipeline('serve-webhooks-bad');
    const result = await runCli([
      'serve',
      pipeline,
      '--webhooks',
      config,
      '--allow-unauthenticated',
      '--port',
      '0',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('webhooks.yaml:5');
    expect(result.stderr).toContain('subscriptions[0].url');
    expect(result.stderr).toContain('WEBHOOK_ADDRESS_REFUSED');
    expect(result.stdout).not.toContain('admin API on');
  }, 60_000);
});
