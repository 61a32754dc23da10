// The `webhook` sink: each event a pipeline writes goes to every subscription that selects its type, through
// one Dispatcher per subscription (order per subject, retries, breaker, the address guard at connect). A
// write resolves once every event is delivered or refused for good; the refused ones are the write's dead
// letters, which the runtime stores with the batch's own before it saves the checkpoint.
import type { CanonicalEvent, DeadLetter, Sink, SinkWriteResult } from '@ferry/core/sdk';
import { Dispatcher } from './dispatcher.js';
import { WebhookError } from './errors.js';
import type { WebhookSinkConfig } from './factory.js';

export interface WebhookSinkOptions {
  /** The pipeline whose events these are: its name goes in every dead letter. */
  pipeline: string;
}

export function createWebhookSink(config: WebhookSinkConfig, options: WebhookSinkOptions): WebhookSink {
  return new WebhookSink(config, options);
}

export class WebhookSink implements Sink {
  readonly type = 'webhook';
  private readonly dispatchers: Dispatcher[];
  /** Events of writes under way, each with the dead letters its deliveries have become so far. */
  private readonly refused = new Map<CanonicalEvent, DeadLetter[]>();
  /** Ends the writes under way when the sink is closed (a dispatcher abandons what it has not delivered). */
  private readonly stopped: Promise<never>;
  private stop!: (reason: unknown) => void;

  constructor(
    config: WebhookSinkConfig,
    private readonly options: WebhookSinkOptions,
  ) {
    const policy = { allow: config.allow };
    this.dispatchers = config.subscriptions.map(
      (subscription) =>
        new Dispatcher({ subscription, policy, deadLetters: async (letters) => this.collect(letters) }),
    );
    this.stopped = new Promise<never>((_, reject) => {
      this.stop = reject;
    });
    // Nobody may be waiting on it when the sink closes.
    this.stopped.catch(() => {});
  }

  async write(events: CanonicalEvent[]): Promise<SinkWriteResult> {
    for (const event of events) this.refused.set(event, []);
    try {
      await Promise.race([this.deliver(events), this.stopped]);
      // In the order of the events, and for one event in the order of the subscriptions.
      const rejected = events.flatMap((event) =>
        (this.refused.get(event) ?? []).sort((a, b) => this.subscriptionIndex(a) - this.subscriptionIndex(b)),
      );
      return { rejected };
    } finally {
      for (const event of events) this.refused.delete(event);
    }
  }

  async close(): Promise<void> {
    this.stop(new WebhookError('WEBHOOK_STOPPED', 'the webhook sink was closed', { retryable: true }));
    await Promise.all(this.dispatchers.map((d) => d.close()));
  }

  /** Every event to every subscription, in order; settles when each has delivered or refused it. */
  private async deliver(events: CanonicalEvent[]): Promise<void> {
    const done: Promise<unknown>[] = [];
    let notAccepted: unknown;
    try {
      for (const event of events) {
        const { origin } = lineageOf(event);
        for (const dispatcher of this.dispatchers) done.push((await dispatcher.enqueue(event, origin)).done);
      }
    } catch (error) {
      notAccepted = error;
    }
    // What was accepted settles first, so no delivery outlives the write unobserved.
    const outcomes = await Promise.allSettled(done);
    if (notAccepted !== undefined) throw notAccepted;
    const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
  }

  /** A dispatcher's dead letters, as the pipeline's: its name, the event's stream and origin. */
  private collect(letters: DeadLetter[]): void {
    for (const letter of letters) {
      const event = letter.record as CanonicalEvent;
      const pending = this.refused.get(event);
      // Only an event of a write under way can be refused; anything else is a bug, and the event stays undone.
      if (pending === undefined) throw new Error(`a dead letter for event ${event.id}, which no write holds`);
      pending.push({ ...letter, pipeline: this.options.pipeline, stream: lineageOf(event).stream });
    }
  }

  private subscriptionIndex(letter: DeadLetter): number {
    return this.dispatchers.findIndex((d) => d.name === letter.origin.subscription);
  }
}

/** The stream and origin an event came from (its `ferryorigin` lineage), for its dead letter. */
function lineageOf(event: CanonicalEvent): { stream: string; origin: Record<string, unknown> } {
  try {
    const parsed: unknown = JSON.parse(event.ferryorigin);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const { stream, ...origin } = parsed as Record<string, unknown>;
      return { stream: typeof stream === 'string' ? stream : event.type, origin };
    }
  } catch {
    // An event built elsewhere may carry no lineage: the letter names its type instead.
  }
  return { stream: event.type, origin: {} };
}
