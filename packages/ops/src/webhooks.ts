// Prometheus metrics of webhook deliveries (`ferry serve --webhooks`): counters fed by the dispatchers'
// observer as attempts end, and what only the runners know (retries, the oldest event waiting, paused) read
// from their status at scrape time. The types are structural, so @ferry/ops does not depend on
// @ferry/webhooks: its `DeliveryObserver` and `SubscriptionStatus` fit them.
import type { CanonicalEvent, DeadLetter } from '@ferry/core';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What a webhook dispatcher tells its observer (`DeliveryObserver` of @ferry/webhooks). */
export interface WebhookDeliveryObserver {
  attempt(subscription: string, result: { status?: number; code?: string; ms: number }): void;
  delivered(subscription: string, event: CanonicalEvent, attempts: number): void;
  deadLettered(subscription: string, letter: DeadLetter): void;
}

/** One subscription as its runner reports it (`SubscriptionStatus` of @ferry/webhooks has these fields). */
export interface WebhookSubscriptionSample {
  name: string;
  /** Tries after the first, over all events, since the runner started. */
  retries: number;
  /** Age of the oldest event the dispatcher holds and has not delivered or dead-lettered (0 when none). */
  oldestPendingMs: number;
  paused: boolean;
}

export interface WebhookMetrics {
  /** Give it to every webhooks runner (`new WebhooksRunner(file, { logger, observer })`). */
  readonly observer: WebhookDeliveryObserver;
  /** Read `list` at every scrape, for the gauges and the retries: `metrics.webhooks().watch(() => runner.list())`. */
  watch(list: () => readonly WebhookSubscriptionSample[]): void;
}

/** An attempt's `result` label: the answer's status class, or how it failed without an answer. */
export function attemptResult(result: { status?: number; code?: string }): string {
  const { status } = result;
  if (status !== undefined && status >= 200 && status < 600) return `${Math.floor(status / 100)}xx`;
  return result.code === 'WEBHOOK_TIMEOUT' ? 'timeout' : 'error';
}

// From 5 ms (a receiver on the same network) to 30 s (past the longest sensible request timeout).
const ATTEMPT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The webhook metrics, in `registry`. FerryMetrics.webhooks() makes them once per registry. */
export function createWebhookMetrics(registry: Registry): WebhookMetrics {
  const registers = [registry];
  const lists: (() => readonly WebhookSubscriptionSample[])[] = [];
  const samples = () => lists.flatMap((list) => list());

  const deliveries = new Counter({
    name: 'ferry_webhook_deliveries_total',
    help: 'Events a subscription is done with, by outcome (delivered, dead_lettered).',
    labelNames: ['subscription', 'outcome'] as const,
    registers,
  });
  const attempts = new Counter({
    name: 'ferry_webhook_attempts_total',
    help: 'Delivery attempts, by result: the status class (2xx, 3xx, 4xx, 5xx), timeout, or error.',
    labelNames: ['subscription', 'result'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'ferry_webhook_attempt_duration_seconds',
    help: 'Seconds from sending a delivery to the whole answer, for attempts the endpoint answered.',
    labelNames: ['subscription'] as const,
    buckets: ATTEMPT_BUCKETS,
    registers,
  });
  // The dispatcher counts its retries as they happen; the counter moves by what it counted since the scrape
  // before, so a delivery retrying for an hour shows now, not when it ends.
  const retriesSeen = new Map<string, number>();
  new Counter({
    name: 'ferry_webhook_retries_total',
    help: 'Delivery attempts after the first of an event (computed at scrape time).',
    labelNames: ['subscription'] as const,
    registers,
    collect() {
      for (const s of samples()) {
        const before = retriesSeen.get(s.name) ?? 0;
        this.inc({ subscription: s.name }, Math.max(0, s.retries - before));
        retriesSeen.set(s.name, Math.max(before, s.retries));
      }
    },
  });
  new Gauge({
    name: 'ferry_webhook_oldest_undelivered_seconds',
    help: 'Age of the oldest event read and not yet delivered or dead-lettered, 0 when none (computed at scrape time).',
    labelNames: ['subscription'] as const,
    registers,
    collect() {
      for (const s of samples()) this.set({ subscription: s.name }, s.oldestPendingMs / 1000);
    },
  });
  new Gauge({
    name: 'ferry_webhook_paused',
    help: 'Whether the subscription is paused (1) or delivering (0) (computed at scrape time).',
    labelNames: ['subscription'] as const,
    registers,
    collect() {
      for (const s of samples()) this.set({ subscription: s.name }, s.paused ? 1 : 0);
    },
  });

  return {
    observer: {
      attempt(subscription, result) {
        attempts.inc({ subscription, result: attemptResult(result) });
        // Attempts without an answer (a timeout, a refused connection) report no duration.
        if (result.status !== undefined) duration.observe({ subscription }, result.ms / 1000);
      },
      delivered(subscription) {
        deliveries.inc({ subscription, outcome: 'delivered' });
      },
      deadLettered(subscription) {
        deliveries.inc({ subscription, outcome: 'dead_lettered' });
      },
    },
    watch(list) {
      lists.push(list);
      // Every series from 0, so that a rate or an increase counts the first event too.
      for (const { name } of list()) {
        for (const outcome of ['delivered', 'dead_lettered'])
          deliveries.inc({ subscription: name, outcome }, 0);
        for (const result of ['2xx', '4xx', '5xx', 'timeout', 'error'])
          attempts.inc({ subscription: name, result }, 0);
      }
    },
  };
}
