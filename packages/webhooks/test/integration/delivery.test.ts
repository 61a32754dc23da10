// Deliveries to a real HTTP receiver on loopback that checks every signature with the official
// `standardwebhooks` package: 20,000 events over 500 subjects while the receiver answers 503 with
// Retry-After, 500, or too late, some of the time; a receiver that refuses (410); a rotation of secrets; the
// address policy; redirects; the CloudEvents binary mode.
import type { CanonicalEvent, DeadLetter } from '@ferry/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  checkEndpoint,
  Dispatcher,
  generateSecret,
  type SubscriptionInput,
  subscriptionSchema,
} from '../../src/index.js';
import { type Receiver, startReceiver } from '../receiver.js';

const LOOPBACK = { allow: ['127.0.0.1/32'] };

function offenderEvent(i: number, subjects: number): CanonicalEvent {
  const subject = `S${i % subjects}`;
  const seq = Math.floor(i / subjects) + 1;
  return {
    specversion: '1.0',
    id: `evt-${i}`,
    source: '/ferry/test/offenders',
    type: 'justice.offender.updated',
    subject,
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i)).toISOString(),
    datacontenttype: 'application/json',
    dataschema: 'urn:ferry:contract:justice.offender:1.0.0',
    data: { subject, seq, name: 'Zoë Ä' },
    sequence: String(i).padStart(8, '0'),
  };
}

/** A deterministic random stream (mulberry32), so a failing run can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const receivers: Receiver[] = [];
const dispatchers: Dispatcher[] = [];
afterEach(async () => {
  for (const d of dispatchers.splice(0)) await d.close();
  for (const r of receivers.splice(0)) await r.close();
});

async function setUp(
  secrets: string[],
  overrides: Partial<SubscriptionInput> = {},
  behave?: Receiver['behave'],
) {
  const receiver = await startReceiver(secrets, behave);
  receivers.push(receiver);
  const letters: DeadLetter[] = [];
  const subscription = subscriptionSchema.parse({
    name: 'offenders',
    url: receiver.url,
    events: ['justice.offender.*'],
    secrets,
    ...overrides,
  });
  const dispatcher = new Dispatcher({
    subscription,
    policy: LOOPBACK,
    deadLetters: async (l) => {
      letters.push(...l);
    },
  });
  dispatchers.push(dispatcher);
  return { receiver, dispatcher, letters };
}

describe('webhook deliveries to a real receiver', () => {
  it('delivers 20,000 events over 500 subjects through 503s, 500s and timeouts: all of them, in order per subject, signed', async () => {
    const secret = generateSecret();
    const roll = random(20_260_106);
    const { receiver, dispatcher, letters } = await setUp(
      [secret],
      {
        concurrency: 100,
        retry: { attempts: 30, minDelayMs: 20, maxDelayMs: 2_000 },
        // Long enough that only the staged slow answers time out, even on a loaded machine (the receiver
        // shares this process).
        timeouts: { connectMs: 5_000, requestMs: 2_500 },
        breaker: { failures: 5, cooldownMs: 100 },
      },
      () => {
        const r = roll();
        if (r < 0.1) return { status: 503, headers: { 'retry-after': '1' }, body: 'busy' };
        if (r < 0.15) return { status: 500, body: 'oops' };
        if (r < 0.16) return { status: 200, delayMs: 3_000 };
        return { status: 200 };
      },
    );
    const EVENTS = 20_000;
    const SUBJECTS = 500;
    const outcomes: Promise<unknown>[] = [];
    for (let i = 0; i < EVENTS; i += 1)
      outcomes.push((await dispatcher.enqueue(offenderEvent(i, SUBJECTS))).done);
    const results = await Promise.all(outcomes);
    expect(results.every((o) => (o as { kind: string }).kind === 'delivered')).toBe(true);
    expect(letters).toEqual([]);

    // Every request carried a signature the official library accepts.
    expect(receiver.received.filter((r) => r.verifiedWith !== 0)).toEqual([]);
    // Every event was accepted (a 2xx answered) by the receiver, and nothing else was sent.
    const accepted = new Set(receiver.received.filter((r) => r.status === 200).map((r) => r.id));
    expect(accepted.size).toBe(EVENTS);
    const ids = new Set(receiver.received.map((r) => r.id));
    expect(ids.size).toBe(EVENTS);
    // A duplicate is the same event: same webhook-id, same body.
    const bodies = new Map<string, string>();
    for (const r of receiver.received) {
      expect(bodies.get(r.id) ?? r.body).toBe(r.body);
      bodies.set(r.id, r.body);
    }

    // Per subject: requests never go back to an older event, and move to the next only after the receiver
    // answered 2xx to the one before.
    const bySubject = new Map<string, typeof receiver.received>();
    for (const r of [...receiver.received].sort((a, b) => a.at - b.at)) {
      const { data } = JSON.parse(r.body) as { data: { subject: string } };
      bySubject.set(data.subject, [...(bySubject.get(data.subject) ?? []), r]);
    }
    expect(bySubject.size).toBe(SUBJECTS);
    for (const requests of bySubject.values()) {
      let current = 0;
      let acceptedAt: number | undefined;
      for (const r of requests) {
        const { seq } = (JSON.parse(r.body) as { data: { seq: number } }).data;
        if (seq !== current) {
          expect(seq).toBe(current + 1);
          if (current > 0) expect(acceptedAt).toBeLessThanOrEqual(r.at);
          current = seq;
          acceptedAt = undefined;
        }
        if (r.status === 200)
          acceptedAt = Math.min(acceptedAt ?? Number.POSITIVE_INFINITY, r.answeredAt ?? 0);
      }
      expect(current).toBe(EVENTS / SUBJECTS);
    }

    // Retry-After: 1 was waited out before the next try of the same event.
    const byId = new Map<string, typeof receiver.received>();
    for (const r of receiver.received) byId.set(r.id, [...(byId.get(r.id) ?? []), r]);
    let waited = 0;
    for (const tries of byId.values())
      for (let k = 1; k < tries.length; k += 1) {
        const before = tries[k - 1] as (typeof tries)[number];
        if (before.status !== 503) continue;
        expect((tries[k]?.at ?? 0) - (before.answeredAt ?? 0)).toBeGreaterThanOrEqual(990);
        waited += 1;
      }
    expect(waited).toBeGreaterThan(1_000);
    const stats = dispatcher.stats();
    expect(stats).toMatchObject({ delivered: EVENTS, deadLettered: 0, pending: 0 });
    expect(stats.retries).toBe(receiver.received.length - EVENTS);
  }, 240_000);

  it('dead-letters what an endpoint refuses (410) with the status and the body, and goes on', async () => {
    const secret = generateSecret();
    const { dispatcher, letters } = await setUp([secret], {}, (r) =>
      JSON.parse(r.body).subject === 'S1'
        ? { status: 410, body: '{"error":"subscription gone"}' }
        : { status: 202 },
    );
    const done = [];
    for (let i = 0; i < 6; i += 1)
      done.push((await dispatcher.enqueue(offenderEvent(i, 3), { offset: i })).done);
    const outcomes = await Promise.all(done);
    expect(outcomes.map((o) => o.kind)).toEqual([
      'delivered',
      'dead-lettered',
      'delivered',
      'delivered',
      'dead-lettered',
      'delivered',
    ]);
    expect(letters).toHaveLength(2);
    expect(letters[0]).toMatchObject({
      pipeline: 'webhooks/offenders',
      stage: 'sink',
      code: 'WEBHOOK_REFUSED',
      retryable: false,
      attempts: 1,
      record: { id: 'evt-1', subject: 'S1' },
      origin: { offset: 1, subscription: 'offenders', status: 410, body: '{"error":"subscription gone"}' },
    });
  });

  it('pauses the subscription after a dead letter when onFailure is pause, and goes on when resumed', async () => {
    const secret = generateSecret();
    let refuse = true;
    const { dispatcher, receiver } = await setUp([secret], { onFailure: 'pause', concurrency: 1 }, () =>
      refuse ? { status: 400, body: 'bad' } : { status: 200 },
    );
    const first = (await dispatcher.enqueue(offenderEvent(0, 2))).done;
    const second = (await dispatcher.enqueue(offenderEvent(1, 2))).done;
    expect(await first).toMatchObject({ kind: 'dead-lettered', code: 'WEBHOOK_REFUSED' });
    await new Promise((done) => setTimeout(done, 200));
    expect(dispatcher.stats()).toMatchObject({ paused: true, pending: 1 });
    expect(receiver.received).toHaveLength(1);
    refuse = false;
    dispatcher.resume();
    expect(await second).toMatchObject({ kind: 'delivered' });
  });

  it('signs with every current secret during a rotation, and with the new one alone once the old one ends', async () => {
    const [oldSecret, newSecret] = [generateSecret(), generateSecret()];
    const until = new Date(Date.now() + 1_500).toISOString();
    const { dispatcher, receiver } = await setUp([oldSecret], {
      secrets: [{ secret: oldSecret, until }, newSecret],
    });
    await (await dispatcher.enqueue(offenderEvent(0, 1))).done;
    // A receiver still on the old secret, and one already on the new, both accept during the overlap.
    expect(receiver.received[0]?.verifiedWith).toBe(0);
    receiver.secrets = [newSecret];
    await (await dispatcher.enqueue(offenderEvent(1, 1))).done;
    expect(receiver.received[1]?.verifiedWith).toBe(0);
    expect(String(receiver.received[1]?.headers['webhook-signature']).split(' ')).toHaveLength(2);
    await new Promise((done) => setTimeout(done, Date.parse(until) - Date.now() + 50));
    receiver.secrets = [oldSecret, newSecret];
    await (await dispatcher.enqueue(offenderEvent(2, 1))).done;
    expect(receiver.received[2]?.verifiedWith).toBe(1);
    expect(String(receiver.received[2]?.headers['webhook-signature']).split(' ')).toHaveLength(1);
  });

  it('sends the binary mode: data as the body, the attributes as ce- headers', async () => {
    const secret = generateSecret();
    const { dispatcher, receiver } = await setUp([secret], { mode: 'binary' });
    await (await dispatcher.enqueue(offenderEvent(7, 10))).done;
    const [r] = receiver.received;
    expect(r?.verifiedWith).toBe(0);
    expect(JSON.parse(r?.body ?? '')).toEqual({ subject: 'S7', seq: 1, name: 'Zoë Ä' });
    expect(r?.headers).toMatchObject({
      'ce-id': 'evt-7',
      'ce-type': 'justice.offender.updated',
      'ce-subject': 'S7',
      'ce-specversion': '1.0',
      'content-type': 'application/json',
    });
  });

  it('does not follow a redirect, and refuses internal addresses unless allowed', async () => {
    const secret = generateSecret();
    const { dispatcher, letters } = await setUp([secret], {}, () => ({
      status: 307,
      headers: { location: 'http://169.254.169.254/latest/meta-data' },
    }));
    expect(await (await dispatcher.enqueue(offenderEvent(0, 1))).done).toMatchObject({
      kind: 'dead-lettered',
      code: 'WEBHOOK_REDIRECTED',
    });
    expect(letters[0]?.origin).toMatchObject({ status: 307 });

    // At validation: loopback and the cloud metadata address, unless the allow-list names them.
    expect(() => checkEndpoint('http://127.0.0.1:9/hooks', { allow: [] })).toThrow(
      expect.objectContaining({ code: 'WEBHOOK_ADDRESS_REFUSED' }),
    );
    expect(() => checkEndpoint('http://169.254.169.254/latest', { allow: [] })).toThrow(
      expect.objectContaining({ code: 'WEBHOOK_ADDRESS_REFUSED' }),
    );
    expect(() => checkEndpoint('http://127.0.0.1:9/hooks', LOOPBACK)).not.toThrow();

    // At connection: a subscription that slipped past validation is refused without a try being retried.
    const receiver = await startReceiver([secret]);
    receivers.push(receiver);
    const refused: DeadLetter[] = [];
    const guarded = new Dispatcher({
      subscription: subscriptionSchema.parse({
        name: 'internal',
        url: receiver.url.replace('127.0.0.1', 'localhost'),
        events: ['*'],
        secrets: [secret],
      }),
      policy: { allow: [] },
      deadLetters: async (l) => {
        refused.push(...l);
      },
    });
    dispatchers.push(guarded);
    expect(await (await guarded.enqueue(offenderEvent(0, 1))).done).toMatchObject({
      kind: 'dead-lettered',
      code: 'WEBHOOK_ADDRESS_REFUSED',
      attempts: 1,
    });
    expect(receiver.received).toHaveLength(0);
  });

  it('skips event types the subscription does not select', async () => {
    const secret = generateSecret();
    const { dispatcher, receiver } = await setUp([secret], { events: ['justice.court.*'] });
    expect(await (await dispatcher.enqueue(offenderEvent(0, 1))).done).toEqual({ kind: 'not-selected' });
    expect(receiver.received).toHaveLength(0);
  });
});
