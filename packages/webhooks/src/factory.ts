// The plugin manifest (`@ferry/webhooks/plugin`): a pipeline's `sink: { type: webhook }`. Its options are
// checked when the pipeline file is loaded, every subscription URL against the address policy, so an
// internal endpoint is refused before anything runs. Light on purpose: the sink, and undici with it, are
// imported (sink.ts) when a pipeline builds one.
import { defineFactory, definePlugin, PLUGIN_API_VERSION, type Sink } from '@ferry/core/sdk';
import { z } from 'zod';
import { subscriptionSchema } from './config.js';
import { WebhookError } from './errors.js';
import { type AddressPolicy, allowEntryProblem, checkEndpoint } from './guard.js';

export const webhookSinkConfigSchema = z
  .object({
    allow: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Internal addresses endpoints may use (CIDRs such as `10.1.0.0/16`, host names, `*.domain`); every other loopback, private or link-local address is refused.',
      ),
    subscriptions: z
      .array(subscriptionSchema)
      .min(1)
      .describe(
        'Where events go: each subscription gets every event whose type it selects, signed, in order per subject.',
      ),
  })
  .strict()
  .superRefine((config, ctx) => {
    let policyUsable = true;
    for (const [index, entry] of config.allow.entries()) {
      const problem = allowEntryProblem(entry);
      if (problem === undefined) continue;
      policyUsable = false;
      ctx.addIssue({ code: 'custom', path: ['allow', index], message: problem });
    }
    const policy: AddressPolicy = { allow: config.allow };
    const seen = new Map<string, number>();
    for (const [index, subscription] of config.subscriptions.entries()) {
      const first = seen.get(subscription.name);
      if (first === undefined) seen.set(subscription.name, index);
      else
        ctx.addIssue({
          code: 'custom',
          path: ['subscriptions', index, 'name'],
          message: `${subscription.name} is already the name of subscriptions[${first}]`,
        });
      if (subscription.onFailure === 'pause')
        // Nothing resumes a pipeline's sink: the write would wait for ever, and the pipeline with it.
        ctx.addIssue({
          code: 'custom',
          path: ['subscriptions', index, 'onFailure'],
          message:
            'pause is not possible in a pipeline sink (nothing resumes it, so the pipeline would stop for good); use continue: refused events go to the dead letters',
        });
      // With an unusable allow entry the policy is unknown; the entry's own issue says what to fix.
      if (!policyUsable) continue;
      try {
        checkEndpoint(subscription.url, policy);
      } catch (error) {
        if (!(error instanceof WebhookError)) throw error;
        ctx.addIssue({
          code: 'custom',
          path: ['subscriptions', index, 'url'],
          message: `${error.message} (${error.code})`,
        });
      }
    }
  });

export type WebhookSinkConfig = z.output<typeof webhookSinkConfigSchema>;

export const webhookSinkFactory = defineFactory({
  type: 'webhook',
  description:
    'Posts every event to subscribers’ endpoints, signed (Standard Webhooks), in order per subject; an event an endpoint refuses goes to the dead letters.',
  configSchema: webhookSinkConfigSchema,
  create: async (config, ctx): Promise<Sink> =>
    (await import('./sink.js')).createWebhookSink(config, { pipeline: ctx.pipeline }),
  // Only the origin of each URL: a path or query may hold a token.
  notes: (config) =>
    config.subscriptions.map(
      (s) => `subscription ${s.name}: ${s.events.join(', ')} to ${new URL(s.url).origin} (${s.mode})`,
    ),
});

/** The plugin manifest (the webhook sink): how the CLI, and any host, registers this package. */
export const ferryPlugin = definePlugin({
  apiVersion: PLUGIN_API_VERSION,
  name: '@ferry/webhooks',
  sinks: [webhookSinkFactory],
});
