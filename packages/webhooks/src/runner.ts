// Running a webhooks file: per subscription a dispatcher, its dead letters in the file dead-letter place, and
// a consumer group of its own, started again with backoff after a retryable Kafka failure. `ferry webhooks
// run` and `ferry serve --webhooks` both run it; their status file and admin API read list(), and an
// operator pauses and resumes a subscription through it.
import {
  createFileDeadLetterSink,
  createRetrier,
  type DeadLetter,
  type FerryError,
  isFerryError,
  type Logger,
} from '@ferry/core';
import type { SubscriptionConfig } from './config.js';
import { deliverFromKafka } from './consume-kafka.js';
import { type DeliveryObserver, type DeliveryStats, Dispatcher } from './dispatcher.js';
import { WebhookError } from './errors.js';
import { groupOf, type WebhooksFile } from './file.js';

export interface WebhooksRunnerOptions {
  logger: Logger;
  /**
   * Told of every attempt, delivery, dead letter and pause (metrics, say). It runs inside a guard: what it
   * throws is logged and never fails a delivery.
   */
  observer?: DeliveryObserver;
}

/** One subscription as `list()` and the admin API report it. */
export interface SubscriptionStatus extends DeliveryStats {
  name: string;
  url: string;
  /** Its consumer group. */
  group: string;
  topics: string[];
  /**
   * `running` while its consumer reads (also while it starts again after a retryable Kafka failure),
   * `failed` once the run stopped on an error that trying again cannot mend (see `error`), else `stopped`.
   */
  state: 'running' | 'stopped' | 'failed';
  error?: { code: string; message: string; retryable: boolean; at: string };
}

interface Running {
  subscription: SubscriptionConfig;
  dispatcher: Dispatcher;
  letters: ReturnType<typeof createFileDeadLetterSink>;
  state: SubscriptionStatus['state'];
  error?: SubscriptionStatus['error'];
  closing?: Promise<void>;
}

export class WebhooksRunner {
  /** The file's `webhooks` name. */
  readonly name: string;
  private readonly subscriptions = new Map<string, Running>();
  private readonly logger: Logger;
  private closed = false;

  constructor(
    private readonly config: WebhooksFile,
    options: WebhooksRunnerOptions,
  ) {
    this.name = config.webhooks;
    this.logger = options.logger;
    const observer = combine(this.logger, options.observer);
    const policy = { allow: config.allow };
    for (const subscription of config.subscriptions) {
      const letters = createFileDeadLetterSink({
        dir: config.deadLetters.dir,
        pipeline: `webhooks/${subscription.name}`,
      });
      const dispatcher = new Dispatcher({
        subscription,
        policy,
        deadLetters: (l) => letters.write(l),
        observer,
      });
      this.subscriptions.set(subscription.name, { subscription, dispatcher, letters, state: 'stopped' });
    }
  }

  /**
   * Deliver until `signal` aborts (then resolves once every consumer has stopped). A failure that trying
   * again cannot mend stops every subscription of the file and rejects with it; the failed one reports it.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.closed) throw new WebhookError('WEBHOOK_STOPPED', `webhooks ${this.name} is closed`);
    const stop = new AbortController();
    // At the stop every dispatcher is closed at once: events waiting, or between tries (a paused subscription,
    // an endpoint down), are left undone and their offsets uncommitted, so a restart sends them again; the
    // consumers then stop without waiting for retries to run out.
    stop.signal.addEventListener('abort', () => {
      for (const entry of this.subscriptions.values()) void this.closeDispatcher(entry);
    });
    const forward = () => stop.abort();
    signal.addEventListener('abort', forward, { once: true });
    if (signal.aborted) stop.abort();
    let failure: { error: unknown } | undefined;
    const running = [...this.subscriptions.values()];
    this.logger.info(
      {
        webhooks: this.name,
        subscriptions: running.map((r) => r.subscription.name),
        topics: this.config.kafka.topics,
      },
      `webhooks ${this.name} delivering`,
    );
    try {
      await Promise.all(
        running.map(async (entry) => {
          entry.state = 'running';
          delete entry.error;
          try {
            await this.consume(entry, stop.signal);
            entry.state = 'stopped';
          } catch (error) {
            entry.state = 'failed';
            entry.error = {
              code: isFerryError(error) ? error.code : 'INTERNAL',
              message: error instanceof Error ? error.message : String(error),
              retryable: isFerryError(error) && error.retryable,
              at: new Date().toISOString(),
            };
            this.logger.error(
              { err: error, webhooks: this.name, subscription: entry.subscription.name },
              `webhooks ${this.name}: ${entry.subscription.name} stopped: ${entry.error.message}`,
            );
            failure ??= { error };
            // The file's other subscriptions stop with it, as a run of the whole file fails.
            stop.abort();
          }
        }),
      );
    } finally {
      signal.removeEventListener('abort', forward);
    }
    if (failure !== undefined) throw failure.error;
  }

  /** Every subscription, in the order of the file. */
  list(): SubscriptionStatus[] {
    return [...this.subscriptions.values()].map((entry) => this.statusOf(entry));
  }

  has(name: string): boolean {
    return this.subscriptions.has(name);
  }

  get(name: string): SubscriptionStatus {
    return this.statusOf(this.find(name));
  }

  /** Stop starting deliveries (those under way finish); its consumer keeps its place until `resume`. */
  pause(name: string, reason = 'paused by an operator'): SubscriptionStatus {
    const entry = this.find(name);
    entry.dispatcher.pause(reason);
    return this.statusOf(entry);
  }

  resume(name: string): SubscriptionStatus {
    const entry = this.find(name);
    const was = entry.dispatcher.stats().pausedReason;
    entry.dispatcher.resume();
    if (was !== undefined)
      this.logger.info({ webhooks: this.name, subscription: name, was }, 'subscription resumed');
    return this.statusOf(entry);
  }

  /**
   * Stop every dispatcher and close the dead letters; call once `run` has settled. Deliveries still under
   * way are abandoned: not committed, so a restart sends them again with the same webhook-id.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const entry of this.subscriptions.values()) {
      await this.closeDispatcher(entry);
      await entry.letters.close();
    }
  }

  private closeDispatcher(entry: Running): Promise<void> {
    entry.closing ??= entry.dispatcher.close();
    return entry.closing;
  }

  private find(name: string): Running {
    const entry = this.subscriptions.get(name);
    if (entry === undefined) {
      throw new WebhookError(
        'WEBHOOK_SUBSCRIPTION_NOT_FOUND',
        `no subscription '${name}' in webhooks ${this.name}; it has ${[...this.subscriptions.keys()].join(', ')}`,
        { retryable: false },
      );
    }
    return entry;
  }

  private statusOf(entry: Running): SubscriptionStatus {
    const { subscription, dispatcher, state, error } = entry;
    return {
      name: subscription.name,
      url: subscription.url,
      group: groupOf(this.config, subscription.name),
      topics: [...this.config.kafka.topics],
      state,
      ...(error === undefined ? {} : { error }),
      ...dispatcher.stats(),
    };
  }

  /** One subscription's consumer until `signal`; a retryable failure starts it again with backoff. */
  private consume(entry: Running, signal: AbortSignal): Promise<void> {
    const { subscription, dispatcher, letters } = entry;
    const name = subscription.name;
    const retrier = createRetrier({
      policy: { retries: Number.MAX_SAFE_INTEGER, maxRetryTimeMs: Number.POSITIVE_INFINITY },
      onRetry: ({ attempt, error }) =>
        this.logger.warn(
          { code: (error as FerryError).code, attempt, subscription: name },
          `webhooks consumer failed, retrying: ${(error as Error).message}`,
        ),
    });
    const run = () =>
      deliverFromKafka(dispatcher, {
        brokers: this.config.kafka.brokers,
        topics: this.config.kafka.topics,
        groupId: groupOf(this.config, name),
        clientId: `ferry-webhooks-${this.config.webhooks}`,
        signal,
        deadLetters: (l: DeadLetter[]) => letters.write(l),
        logger: this.logger,
      });
    return retrier.run(`deliver ${name}`, run, signal).catch((error: unknown) => {
      // Stopping is what was asked, not a failure.
      if (signal.aborted) return;
      throw error;
    });
  }
}

/** The runner's own log lines, then the caller's observer, each call guarded. */
function combine(logger: Logger, extra: DeliveryObserver | undefined): DeliveryObserver {
  const guarded =
    <A extends unknown[]>(hook: string, call: ((...args: A) => void) | undefined) =>
    (...args: A): void => {
      if (call === undefined) return;
      try {
        call(...args);
      } catch (error) {
        logger.warn({ err: error, hook }, `webhooks: the delivery observer failed in ${hook}`);
      }
    };
  const attempt = guarded('attempt', extra?.attempt?.bind(extra));
  const delivered = guarded('delivered', extra?.delivered?.bind(extra));
  const deadLettered = guarded('deadLettered', extra?.deadLettered?.bind(extra));
  const paused = guarded('paused', extra?.paused?.bind(extra));
  return {
    attempt,
    delivered,
    deadLettered(name, letter) {
      logger.warn(
        {
          subscription: name,
          code: letter.code,
          event: (letter.record as { id?: string }).id,
          ...letter.origin,
        },
        `webhook event dead-lettered: ${letter.message}`,
      );
      deadLettered(name, letter);
    },
    paused(name, reason) {
      logger.warn({ subscription: name }, `subscription paused: ${reason}`);
      paused(name, reason);
    },
  };
}
