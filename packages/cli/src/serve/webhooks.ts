// `ferry serve --webhooks <file>`: webhooks files run next to the pipelines (a WebhooksRunner each, in the
// same metrics and the same shutdown), and the admin routes that show each subscription and pause or resume
// it. @ferry/server knows nothing of webhooks: the routes are a plugin of the admin server, declared like its
// own (access, OpenAPI schema, every status they can answer); the server's error handler answers for them,
// given `webhooksErrorStatuses`.
import { ConfigError, type Logger, type Redactor } from '@ferry/core';
import type { FerryMetrics } from '@ferry/ops';
import type { AdminServerOptions, ServerConfig } from '@ferry/server';
import { loadWebhooksFile, type SubscriptionStatus, WebhookError, WebhooksRunner } from '@ferry/webhooks';
import { pluginRouteSchemas } from './plugin-routes.js';

type AdminPlugin = NonNullable<AdminServerOptions['plugins']>[number];
type AdminApp = Parameters<AdminPlugin>[0];

export interface HostedWebhooksOptions {
  logger: Logger;
  metrics: FerryMetrics;
  /** The serve logger's redactor: each file's secrets are added to it as the file is loaded. */
  redactor: Redactor;
}

/** The webhooks files one `ferry serve` runs; a subscription name is unique across them. */
export class HostedWebhooks {
  private readonly stopping = new AbortController();
  private running: Promise<void>[] = [];
  private failure: { error: unknown } | undefined;

  private constructor(
    private readonly runners: readonly WebhooksRunner[],
    private readonly logger: Logger,
  ) {}

  /** Load every file (a configuration mistake fails here, before anything runs) and make its runner. */
  static async load(files: readonly string[], options: HostedWebhooksOptions): Promise<HostedWebhooks> {
    const metrics = files.length === 0 ? undefined : options.metrics.webhooks();
    const runners: WebhooksRunner[] = [];
    const owner = new Map<string, string>();
    for (const file of files) {
      const loaded = await loadWebhooksFile(file);
      options.redactor.addAll(loaded.redactor);
      for (const [index, subscription] of loaded.config.subscriptions.entries()) {
        const first = owner.get(subscription.name);
        if (first !== undefined)
          throw new ConfigError(loaded.file, [
            {
              path: `subscriptions[${index}].name`,
              message: `${subscription.name} is already a subscription of ${first}; names must differ across the --webhooks files (they name the admin routes and the metrics)`,
            },
          ]);
        owner.set(subscription.name, loaded.file);
      }
      const runner = new WebhooksRunner(loaded.config, {
        logger: options.logger,
        ...(metrics === undefined ? {} : { observer: metrics.observer }),
      });
      metrics?.watch(() => runner.list());
      runners.push(runner);
    }
    return new HostedWebhooks(runners, options.logger);
  }

  get size(): number {
    return this.runners.length;
  }

  /**
   * Start every runner. One that fails is logged and its subscriptions report it (`state: failed`); the
   * other files and the pipelines go on.
   */
  start(): void {
    this.running = this.runners.map((runner) =>
      runner.run(this.stopping.signal).catch((error: unknown) => {
        this.failure ??= { error };
        this.logger.error({ err: error, webhooks: runner.name }, `webhooks ${runner.name} failed`);
      }),
    );
  }

  /** The first runner failure, if any (serve then exits 1). */
  failed(): unknown {
    return this.failure?.error;
  }

  /** Stop reading, wait for the consumers, then close the dispatchers and dead letters. */
  async close(): Promise<void> {
    this.stopping.abort();
    await Promise.all(this.running);
    for (const runner of this.runners) await runner.close();
  }

  list(): SubscriptionStatus[] {
    return this.runners.flatMap((runner) => runner.list());
  }

  get(name: string): SubscriptionStatus {
    return this.find(name).get(name);
  }

  pause(name: string): SubscriptionStatus {
    return this.find(name).pause(name);
  }

  resume(name: string): SubscriptionStatus {
    return this.find(name).resume(name);
  }

  private find(name: string): WebhooksRunner {
    const runner = this.runners.find((r) => r.has(name));
    if (runner === undefined) {
      const known = this.list().map((s) => s.name);
      throw new WebhookError(
        'WEBHOOK_SUBSCRIPTION_NOT_FOUND',
        `no subscription '${name}' here; serving ${known.length === 0 ? 'none' : known.join(', ')}`,
        { retryable: false },
      );
    }
    return runner;
  }
}

/** Statuses of the codes the webhooks routes throw, for the admin server's error handler. */
export const webhooksErrorStatuses: Readonly<Record<string, number>> = {
  WEBHOOK_SUBSCRIPTION_NOT_FOUND: 404,
};

const timestamp = { type: 'string', format: 'date-time' } as const;

const subscriptionStatusSchema = {
  type: 'object',
  description:
    'A webhook subscription of a `--webhooks` file: where it posts, what it has done since `ferry serve` started, and whether it is paused.',
  required: [
    'name',
    'url',
    'group',
    'topics',
    'state',
    'delivered',
    'deadLettered',
    'retries',
    'pending',
    'oldestPendingMs',
    'paused',
    'circuit',
  ],
  additionalProperties: false,
  properties: {
    name: { type: 'string' },
    url: { type: 'string', description: 'The endpoint (a secret in it is shown as [REDACTED]).' },
    group: { type: 'string', description: 'Its Kafka consumer group.' },
    topics: { type: 'array', items: { type: 'string' } },
    state: {
      type: 'string',
      enum: ['running', 'stopped', 'failed'],
      description: '`failed`: its consumer stopped on an error that trying again cannot mend (see `error`).',
    },
    error: {
      type: 'object',
      required: ['code', 'message', 'retryable', 'at'],
      additionalProperties: false,
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        retryable: { type: 'boolean' },
        at: timestamp,
      },
    },
    delivered: { type: 'integer' },
    deadLettered: { type: 'integer' },
    retries: { type: 'integer', description: 'Tries after the first, over all events.' },
    pending: { type: 'integer', description: 'Events read and not yet delivered or dead-lettered.' },
    oldestPendingMs: {
      type: 'number',
      description: 'Age of the oldest of them, in milliseconds (0 when none).',
    },
    paused: { type: 'boolean' },
    pausedReason: { type: 'string', description: 'Why it is paused (absent while it delivers).' },
    circuit: { type: 'string', description: 'Its endpoint’s circuit breaker: closed, open or half-open.' },
  },
} as const;

const subscriptionParams = {
  type: 'object',
  required: ['subscription'],
  additionalProperties: false,
  properties: {
    subscription: {
      type: 'string',
      pattern: '^[a-z0-9][a-z0-9-]*$',
      maxLength: 200,
      description: 'Subscription name, as in the webhooks file.',
    },
  },
} as const;

/**
 * The admin routes of the webhooks: `GET /webhooks`, `GET /webhooks/{subscription}` (read), `POST
 * /webhooks/{subscription}/pause` and `/resume` (operate). Each documents the statuses it can answer with,
 * as the built-in routes do (auth failures only in oauth2 mode).
 */
export function webhooksRoutes(
  webhooks: HostedWebhooks,
  options: { config: ServerConfig; redactor?: Redactor },
): AdminPlugin {
  const { config, redactor } = options;
  const scrub = (text: string) => (redactor ? redactor.scrub(text) : text);
  const shown = (s: SubscriptionStatus): SubscriptionStatus => ({
    ...s,
    url: scrub(s.url),
    ...(s.error === undefined ? {} : { error: { ...s.error, message: scrub(s.error.message) } }),
  });

  const schemaOf = pluginRouteSchemas(config, 'webhooks');
  const named = {
    params: subscriptionParams,
    badRequest: 'The request does not match the schema (a subscription name that cannot be).',
    notFound: 'No subscription of that name (WEBHOOK_SUBSCRIPTION_NOT_FOUND).',
  };
  const one = (description: string) => ({ ...subscriptionStatusSchema, description });
  const nameOf = (params: unknown) => (params as { subscription: string }).subscription;

  return async (app: AdminApp) => {
    app.get(
      '/webhooks',
      {
        config: { access: 'read' },
        schema: schemaOf({
          access: 'read',
          operationId: 'listWebhooks',
          summary: 'Every webhook subscription with its counts, oldest undelivered event and pause state',
          ok: {
            description: 'The subscriptions, in the order of the `--webhooks` files.',
            type: 'object',
            required: ['subscriptions'],
            additionalProperties: false,
            properties: { subscriptions: { type: 'array', items: subscriptionStatusSchema } },
          },
        }),
      },
      async () => ({ subscriptions: webhooks.list().map(shown) }),
    );
    app.get(
      '/webhooks/:subscription',
      {
        config: { access: 'read' },
        schema: schemaOf({
          access: 'read',
          operationId: 'getWebhook',
          summary: 'One webhook subscription',
          named,
          ok: one('The subscription.'),
        }),
      },
      async (request) => shown(webhooks.get(nameOf(request.params))),
    );
    app.post(
      '/webhooks/:subscription/pause',
      {
        config: { access: 'operate' },
        schema: schemaOf({
          access: 'operate',
          operationId: 'pauseWebhook',
          summary: 'Pause: start no more deliveries (those under way finish)',
          description:
            'Its consumer keeps its place: events read meanwhile wait, and nothing past them is committed. A pause lasts until resumed or until `ferry serve` restarts.',
          post: true,
          named,
          ok: one('The subscription, now paused.'),
        }),
      },
      async (request) => shown(webhooks.pause(nameOf(request.params))),
    );
    app.post(
      '/webhooks/:subscription/resume',
      {
        config: { access: 'operate' },
        schema: schemaOf({
          access: 'operate',
          operationId: 'resumeWebhook',
          summary: 'Resume a paused subscription where it stopped',
          description:
            'Also after it paused itself (`onFailure: pause`) once the endpoint is fixed. Resuming one that delivers changes nothing.',
          post: true,
          named,
          ok: one('The subscription, delivering again.'),
        }),
      },
      async (request) => shown(webhooks.resume(nameOf(request.params))),
    );
  };
}
