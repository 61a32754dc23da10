// Delivering one subscription's events: in order per subject (a subject's next event waits until the one
// before it is delivered or dead-lettered), `concurrency` subjects at once, each event tried until it is
// delivered, refused, or out of tries, with backoff and jitter between tries and a Retry-After waited out as
// asked, through a circuit breaker per endpoint. An event that cannot be delivered goes to the dead letters
// with the answer's status and the start of its body; the subscription then goes on, or pauses.
import { setMaxListeners } from 'node:events';
import {
  backoffDelay,
  type CanonicalEvent,
  CircuitBreaker,
  createRetrier,
  type DeadLetter,
  FerryError,
  isRetryable,
  type Retrier,
  type RetryPolicy,
  sleep,
} from '@ferry/core';
import { type SubscriptionConfig, selects } from './config.js';
import { WebhookError } from './errors.js';
import type { AddressPolicy } from './guard.js';
import { parseSecret, signatureHeaders } from './sign.js';
import { type Answer, Endpoint } from './transport.js';

/** What became of an event. */
export type Outcome =
  | { kind: 'delivered'; attempts: number; status: number }
  | { kind: 'dead-lettered'; attempts: number; code: string }
  | { kind: 'not-selected' };

/** What a dispatcher tells whoever watches it (metrics, `ferry status`, the admin API). */
export interface DeliveryObserver {
  attempt?(subscription: string, result: { status?: number; code?: string; ms: number }): void;
  delivered?(subscription: string, event: CanonicalEvent, attempts: number): void;
  deadLettered?(subscription: string, letter: DeadLetter): void;
  paused?(subscription: string, reason: string): void;
}

export interface DispatcherOptions {
  subscription: SubscriptionConfig;
  policy: AddressPolicy;
  /** Where undeliverable events go; an event counts as done only once this has resolved. */
  deadLetters: (letters: DeadLetter[]) => Promise<void>;
  observer?: DeliveryObserver;
  /** Events accepted and not yet done at most; `enqueue` waits for room beyond it. */
  maxPending?: number;
  /** The signing time (seconds since the epoch) and secret expiry are judged by this clock. */
  now?: () => number;
}

/** Counters of one subscription. */
export interface DeliveryStats {
  delivered: number;
  deadLettered: number;
  /** Tries after the first, over all events. */
  retries: number;
  pending: number;
  /** Age of the oldest event accepted and not yet done, in ms (0 when none). */
  oldestPendingMs: number;
  paused: boolean;
  pausedReason: string | undefined;
  circuit: string;
}

interface Item {
  event: CanonicalEvent;
  origin: Record<string, unknown>;
  acceptedAt: number;
  done: (outcome: Outcome) => void;
  failed: (error: unknown) => void;
}

export class Dispatcher {
  readonly name: string;
  private readonly endpoint: Endpoint;
  private readonly breaker: CircuitBreaker;
  private readonly retrier: Retrier;
  private readonly retryPolicy: RetryPolicy;
  /** The signing keys, each until when it signs. */
  private readonly secrets: { key: Buffer; until: number }[];
  private readonly queues = new Map<string, Item[]>();
  /** Subjects with events waiting and none in flight, in the order they became ready. */
  private readonly ready: string[] = [];
  private readonly active = new Set<string>();
  private readonly accepted = new Set<Item>();
  private readonly roomWaiters: (() => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private readonly maxPending: number;
  private readonly now: () => number;
  private pausedReason: string | undefined;
  private closed = false;
  private readonly stopping = new AbortController();
  private readonly counts = { delivered: 0, deadLettered: 0, retries: 0 };

  constructor(private readonly options: DispatcherOptions) {
    const { subscription } = options;
    this.name = subscription.name;
    this.endpoint = new Endpoint(subscription, options.policy);
    this.now = options.now ?? Date.now;
    this.maxPending = options.maxPending ?? Math.max(1000, subscription.concurrency * 100);
    this.breaker = new CircuitBreaker(
      {
        failureThreshold: subscription.breaker.failures,
        // Only failures in a row open it: a receiver failing now and then is retried, not cut off.
        failureRatio: 1,
        window: subscription.breaker.failures,
        cooldownMs: subscription.breaker.cooldownMs,
      },
      this.now,
    );
    // Every delivery under way listens for the stop: as many listeners as `concurrency`, not a leak.
    setMaxListeners(0, this.stopping.signal);
    // Decoded once: a secret that is not valid fails the start, not each delivery.
    this.secrets = subscription.secrets.map((s) =>
      typeof s === 'string'
        ? { key: parseSecret(s), until: Number.POSITIVE_INFINITY }
        : {
            key: parseSecret(s.secret),
            until: s.until === undefined ? Number.POSITIVE_INFINITY : Date.parse(s.until),
          },
    );
    this.retryPolicy = {
      retries: subscription.retry.attempts - 1,
      minTimeoutMs: subscription.retry.minDelayMs,
      maxTimeoutMs: subscription.retry.maxDelayMs,
      factor: 2,
      jitter: true,
      maxRetryTimeMs: Number.MAX_SAFE_INTEGER,
      startupMaxRetryTimeMs: Number.MAX_SAFE_INTEGER,
    };
    this.retrier = createRetrier({
      policy: this.retryPolicy,
      onRetry: () => {
        this.counts.retries += 1;
      },
    });
  }

  /**
   * Accept an event (call in stream order); resolves once there is room for it, with `done`, which settles
   * when the event is delivered, dead-lettered, or not selected by the subscription.
   */
  async enqueue(
    event: CanonicalEvent,
    origin: Record<string, unknown> = {},
  ): Promise<{ done: Promise<Outcome> }> {
    if (!selects(this.options.subscription.events, event.type))
      return { done: Promise.resolve({ kind: 'not-selected' }) };
    while (this.accepted.size >= this.maxPending && !this.closed)
      await new Promise<void>((room) => this.roomWaiters.push(room));
    if (this.closed) throw new WebhookError('WEBHOOK_STOPPED', `${this.name} is closed`, { retryable: true });
    let item!: Item;
    const done = new Promise<Outcome>((resolve, reject) => {
      item = { event, origin, acceptedAt: this.now(), done: resolve, failed: reject };
    });
    this.accepted.add(item);
    // Without a subject there is no order to keep: the event is a subject of its own.
    const subject = event.subject === undefined ? `\u0000${event.id}` : event.subject;
    const queue = this.queues.get(subject);
    if (queue === undefined) {
      this.queues.set(subject, [item]);
      this.ready.push(subject);
    } else queue.push(item);
    this.pump();
    return { done };
  }

  /** Stop starting deliveries (those under way finish); `resume` goes on where it stopped. */
  pause(reason = 'paused by an operator'): void {
    if (this.pausedReason !== undefined) return;
    this.pausedReason = reason;
    this.options.observer?.paused?.(this.name, reason);
  }

  resume(): void {
    this.pausedReason = undefined;
    this.pump();
  }

  get paused(): boolean {
    return this.pausedReason !== undefined;
  }

  stats(): DeliveryStats {
    let oldest = Number.POSITIVE_INFINITY;
    for (const item of this.accepted) oldest = Math.min(oldest, item.acceptedAt);
    return {
      ...this.counts,
      pending: this.accepted.size,
      oldestPendingMs: this.accepted.size === 0 ? 0 : this.now() - oldest,
      paused: this.paused,
      pausedReason: this.pausedReason,
      circuit: this.breaker.state,
    };
  }

  /** Resolves when every event accepted so far is done. */
  async idle(): Promise<void> {
    while (this.accepted.size > 0) await new Promise<void>((idle) => this.idleWaiters.push(idle));
  }

  /**
   * Stop: deliveries under way are abandoned and events waiting are given up, each `done` rejecting with
   * WEBHOOK_STOPPED (retryable): they stay undone, so a restart sends them again.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.stopping.abort();
    for (const room of this.roomWaiters.splice(0)) room();
    const stopped = new WebhookError('WEBHOOK_STOPPED', `${this.name} is closed`, { retryable: true });
    // A subject in flight keeps its head: `run` settles it when the try it is in returns.
    for (const [subject, queue] of this.queues)
      for (const item of this.active.has(subject) ? queue.slice(1) : queue) {
        this.accepted.delete(item);
        item.failed(stopped);
      }
    await this.endpoint.close();
  }

  private pump(): void {
    while (!this.paused && !this.closed && this.active.size < this.options.subscription.concurrency) {
      const subject = this.ready.shift();
      if (subject === undefined) return;
      this.active.add(subject);
      void this.run(subject);
    }
  }

  /** Deliver the subject's next event, then give the slot to the next subject waiting. */
  private async run(subject: string): Promise<void> {
    const queue = this.queues.get(subject) as Item[];
    const item = queue[0] as Item;
    try {
      const outcome = await this.deliver(item);
      queue.shift();
      this.accepted.delete(item);
      item.done(outcome);
    } catch (error) {
      // Stopped (close) or the dead letters could not be written: the event is not done.
      this.active.delete(subject);
      item.failed(error);
      return;
    }
    this.active.delete(subject);
    if (queue.length === 0) this.queues.delete(subject);
    else this.ready.push(subject);
    this.roomWaiters.shift()?.();
    if (this.accepted.size === 0) for (const idle of this.idleWaiters.splice(0)) idle();
    this.pump();
  }

  private async deliver(item: Item): Promise<Outcome> {
    const { subscription } = this.options;
    const signal = this.stopping.signal;
    let attempts = 0;
    let last: Answer | undefined;
    const attempt = async () => {
      if (this.breaker.waitMs() > 0) await this.circuitClosed();
      this.breaker.admit();
      if (this.closed) throw new WebhookError('WEBHOOK_STOPPED', `${this.name} is closed`);
      attempts += 1;
      const { headers, body } = this.request(item.event);
      let answer: Answer;
      try {
        answer = await this.endpoint.post(headers, body);
      } catch (error) {
        const code = (error as FerryError).code;
        this.options.observer?.attempt?.(subscription.name, { code, ms: 0 });
        if ((error as FerryError).retryable) this.breaker.failure();
        throw error;
      }
      last = answer;
      this.options.observer?.attempt?.(subscription.name, { status: answer.status, ms: answer.ms });
      const refusal = classify(subscription, answer);
      if (refusal === undefined) {
        this.breaker.success();
        return;
      }
      // The endpoint answered: a refusal says nothing about whether it is up.
      if (refusal.retryable) this.breaker.failure();
      else this.breaker.success();
      throw refusal;
    };
    try {
      try {
        // The first try outside the retrier: most deliveries need no other, and p-retry's set-up for each
        // would cost more than the rest of the delivery.
        await attempt();
      } catch (error) {
        if (this.closed || !isRetryable(error) || subscription.retry.attempts <= 1) throw error;
        this.counts.retries += 1;
        const asked = (error as FerryError).retryAfterMs ?? 0;
        await sleep(Math.max(backoffDelay(this.retryPolicy, 1), asked), signal);
        // The other tries, through core's retrier: backoff with jitter, a Retry-After waited out.
        await this.retrier.run(`deliver ${item.event.id} to ${subscription.name}`, attempt, signal, {
          retries: subscription.retry.attempts - 2,
        });
      }
    } catch (error) {
      if (this.closed) throw error;
      return this.deadLetter(item, error, attempts, last);
    }
    this.counts.delivered += 1;
    this.options.observer?.delivered?.(subscription.name, item.event, attempts);
    return { kind: 'delivered', attempts, status: last?.status ?? 0 };
  }

  /** Wait while the circuit is open (the endpoint failing), then let this try through. */
  private async circuitClosed(): Promise<void> {
    for (let wait = this.breaker.waitMs(); wait > 0 && !this.closed; wait = this.breaker.waitMs())
      await sleep(wait, this.stopping.signal);
    this.breaker.admit();
  }

  private request(event: CanonicalEvent): { headers: Record<string, string>; body: string } {
    const { subscription } = this.options;
    const now = this.now();
    const secrets = this.secrets.filter((s) => s.until > now).map((s) => s.key);
    const binary = subscription.mode === 'binary';
    const body = JSON.stringify(binary ? (event.data ?? null) : event);
    const headers: Record<string, string> = {
      ...signatureHeaders({ id: event.id, timestamp: Math.floor(now / 1000), body, secrets }),
      'content-type': binary
        ? (event.datacontenttype ?? 'application/json')
        : 'application/cloudevents+json; charset=utf-8',
      'user-agent': 'ferry-webhooks',
    };
    if (binary)
      for (const [name, value] of Object.entries(event))
        if (name !== 'data' && name !== 'datacontenttype' && value !== undefined && value !== null)
          headers[`ce-${name}`] = encodeHeader(typeof value === 'string' ? value : JSON.stringify(value));
    return { headers, body };
  }

  private async deadLetter(
    item: Item,
    error: unknown,
    attempts: number,
    last: Answer | undefined,
  ): Promise<Outcome> {
    const { subscription } = this.options;
    const cause = (error as { cause?: unknown }).cause;
    const reason = (error instanceof FerryError && error.code === 'RETRIES_EXHAUSTED' ? cause : error) as
      | FerryError
      | Error;
    const code = reason instanceof FerryError ? reason.code : 'WEBHOOK_CONNECTION_FAILED';
    const exhausted = reason instanceof FerryError && reason.retryable;
    const letter: DeadLetter = {
      pipeline: `webhooks/${subscription.name}`,
      stream: item.event.type,
      stage: 'sink',
      code,
      message: exhausted ? `${reason.message} (gave up after ${attempts} tries)` : (reason as Error).message,
      retryable: exhausted,
      record: item.event,
      origin: {
        ...item.origin,
        subscription: subscription.name,
        url: subscription.url,
        ...(last === undefined ? {} : { status: last.status, body: last.excerpt }),
      },
      attempts,
      failedAt: new Date(this.now()).toISOString(),
    };
    await this.options.deadLetters([letter]);
    this.counts.deadLettered += 1;
    this.options.observer?.deadLettered?.(subscription.name, letter);
    if (subscription.onFailure === 'pause')
      this.pause(`event ${item.event.id} was dead-lettered (${code}); resume once the endpoint is fixed`);
    return { kind: 'dead-lettered', attempts, code };
  }
}

/**
 * What an answer means: undefined for success (2xx); a retryable WebhookError for 408, 429 and 5xx (with
 * the Retry-After asked); a final one for a redirect not followed and any other 4xx.
 */
export function classify(subscription: SubscriptionConfig, answer: Answer): WebhookError | undefined {
  const { status } = answer;
  if (status >= 200 && status < 300) return undefined;
  const details = { status, body: answer.excerpt, url: subscription.url };
  if (status === 408 || status === 429 || status >= 500)
    return new WebhookError(
      'WEBHOOK_UNAVAILABLE',
      `${subscription.name}: ${subscription.url} answered ${status}${answer.retryAfterMs === undefined ? '' : ` (retry after ${Math.round(answer.retryAfterMs / 1000)} s)`}`,
      {
        retryable: true,
        details,
        ...(answer.retryAfterMs === undefined ? {} : { retryAfterMs: answer.retryAfterMs }),
      },
    );
  if (status >= 300 && status < 400)
    return new WebhookError(
      'WEBHOOK_REDIRECTED',
      `${subscription.name}: ${subscription.url} answered ${status} to ${answer.location ?? '(no Location)'}; redirects are not followed (set followRedirects, or fix the URL)`,
      { retryable: false, details: { ...details, location: answer.location } },
    );
  return new WebhookError(
    'WEBHOOK_REFUSED',
    `${subscription.name}: ${subscription.url} refused the event with ${status}: ${answer.excerpt.slice(0, 200)}`,
    { retryable: false, details },
  );
}

/** A header value as the CloudEvents HTTP binding wants it: printable ASCII, the rest percent-encoded. */
function encodeHeader(value: string): string {
  return value.replace(/[^\x20-\x7e]|%/g, (c) => encodeURIComponent(c));
}
