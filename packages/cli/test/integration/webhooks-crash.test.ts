// Webhook deliveries survive crashes (issue 21's acceptance): `ferry webhooks run`, the built CLI, delivers
// 20,000 events of 500 subjects from a 3-partition Kafka topic to a receiver on loopback that checks every
// signature with the official `standardwebhooks` package and answers 503 + Retry-After, 500 or too late some
// of the time; the runner is killed with SIGKILL three times mid-way and restarted. Every event arrives, each
// subject's events first arrive in order, and anything sent twice is the same event with the same webhook-id.
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
import { type Receiver, startReceiver } from '../../../webhooks/test/receiver.js';

const brokers = [...services.kafka.brokers];
const kafka = new Kafka({ brokers, clientId: 'ferry-webhooks-crash-test', logLevel: logLevel.NOTHING });
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const EVENTS = 20_000;
const SUBJECTS = 500;

function eventOf(i: number): CanonicalEvent {
  const subject = `S${String(i % SUBJECTS).padStart(3, '0')}`;
  return {
    specversion: '1.0',
    id: `evt-${i}`,
    source: '/ferry/crash/offenders',
    type: i % 10 === 0 ? 'justice.offender.created' : 'justice.offender.updated',
    subject,
    time: new Date(Date.UTC(2026, 0, 1) + i).toISOString(),
    datacontenttype: 'application/json',
    dataschema: 'urn:ferry:contract:justice.offender:1.0.0',
    data: { offenderId: subject, seq: Math.floor(i / SUBJECTS) + 1 },
    sequence: String(i).padStart(10, '0'),
  };
}

/** A deterministic random stream (xorshift), so a failing run can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
}

describe('ferry webhooks run, killed three times', () => {
  it('delivers every event, first arrivals in order per subject, duplicates only of the same webhook-id', async () => {
    const topic = `webhooks_crash_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
    const admin = kafka.admin();
    await admin.connect();
    cleanups.push(() => admin.disconnect());
    await admin.createTopics({
      topics: [{ topic, numPartitions: 3, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    cleanups.push(() => admin.deleteTopics({ topics: [topic] }));
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (let from = 0; from < EVENTS; from += 2_000) {
      const messages = [];
      for (let i = from; i < from + 2_000; i += 1) {
        const message = encodeEvent(eventOf(i), i % 2 === 0 ? 'structured' : 'binary');
        messages.push({ key: message.key, value: message.value, headers: message.headers });
      }
      await producer.send({ topic, messages });
    }
    await producer.disconnect();

    const secret = generateSecret();
    const roll = random(21_0421);
    const receiver: Receiver = await startReceiver([secret], () => {
      const r = roll();
      if (r < 0.1) return { status: 503, headers: { 'retry-after': '1' } };
      if (r < 0.15) return { status: 500 };
      if (r < 0.16) return { status: 200, delayMs: 3_000 };
      return { status: 204 };
    });
    cleanups.push(() => receiver.close());

    const dir = await mkdtemp(join(tmpdir(), 'ferry-webhooks-crash-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const config = join(dir, 'webhooks.yaml');
    await writeFile(
      config,
      [
        'webhooks: crash',
        `kafka: { brokers: [${brokers.join(', ')}], topics: [${topic}] }`,
        'allow: [127.0.0.1/32]',
        'deadLetters: { dir: dlq }',
        'subscriptions:',
        '  - name: supplier',
        `    url: ${receiver.url}`,
        '    events: [justice.offender.*]',
        "    secrets: ['${env:SUPPLIER_SECRET}']",
        '    concurrency: 50',
        '    retry: { attempts: 30, minDelayMs: 20, maxDelayMs: 2000 }',
        '    timeouts: { connectMs: 5000, requestMs: 2500 }',
        '    breaker: { failures: 5, cooldownMs: 100 }',
      ].join('\n'),
    );
    const env = { SUPPLIER_SECRET: secret, FERRY_LOG_LEVEL: 'warn' };
    const accepted = () =>
      new Set(receiver.received.filter((r) => r.status === 204 || r.status === 200).map((r) => r.id)).size;

    for (const share of [0.2, 0.45, 0.7]) {
      const { child, done } = startNode(cliBin, ['webhooks', 'run', config], env, 600_000);
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`ferry webhooks exited: ${(await done).stderr}`);
          return accepted() >= share * EVENTS;
        },
        240_000,
        `the receiver to accept ${share * 100}% of the events`,
      );
      child.kill('SIGKILL');
      const result = await done;
      expect(result.signal, result.stderr).toBe('SIGKILL');
      expect(accepted()).toBeLessThan(EVENTS);
    }
    const { child, done } = startNode(cliBin, ['webhooks', 'run', config], env, 600_000);
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`ferry webhooks exited: ${(await done).stderr}`);
        return accepted() === EVENTS;
      },
      240_000,
      'the receiver to accept every event',
    );
    // The status file says the same, then a SIGTERM ends the run cleanly.
    await waitFor(
      async () => {
        const status = await runCli(['webhooks', 'status', config, '--json'], env);
        const s = JSON.parse(status.stdout).subscriptions?.supplier;
        return s !== undefined && s.pending === 0 && s.delivered > 0;
      },
      30_000,
      'the status file to show nothing pending',
    );
    child.kill('SIGTERM');
    const last = await done;
    expect(last.code, last.stderr).toBe(0);

    // Signed: every request verified with the receiver's secret by the official library.
    expect(receiver.received.filter((r) => r.verifiedWith !== 0).map((r) => r.id)).toEqual([]);
    // Nothing lost; nothing sent that is not an event of the topic.
    const ids = new Set(receiver.received.map((r) => r.id));
    expect(ids.size).toBe(EVENTS);
    // Duplicates are the same event: the same webhook-id always carries the same body.
    const bodies = new Map<string, string>();
    for (const r of receiver.received) {
      expect(bodies.get(r.id) ?? r.body, r.id).toBe(r.body);
      bodies.set(r.id, r.body);
    }
    // Per subject, events first arrive in order: a receiver that skips ids it has seen gets each event once,
    // in the order of the stream.
    const firstSeq = new Map<string, number>();
    const seen = new Set<string>();
    for (const r of [...receiver.received].sort((a, b) => a.at - b.at)) {
      if (seen.has(r.id)) continue;
      seen.add(r.id);
      const event = JSON.parse(r.body) as {
        subject?: string;
        data?: { seq: number };
        seq?: number;
        offenderId?: string;
      };
      // Structured mode carries the event; binary mode carries its data, the attributes in ce- headers.
      const subject = event.subject ?? String(r.headers['ce-subject']);
      const seq = event.data?.seq ?? (event as { seq: number }).seq;
      expect(seq, `${subject}: ${r.id}`).toBe((firstSeq.get(subject) ?? 0) + 1);
      firstSeq.set(subject, seq);
    }
    expect(firstSeq.size).toBe(SUBJECTS);
    // Nothing was dead-lettered: every failure here was retryable.
    const letters = await readFile(join(dir, 'dlq', 'webhooks_supplier.dlq.jsonl'), 'utf8').catch(() => '');
    expect(letters).toBe('');
  }, 900_000);
});
