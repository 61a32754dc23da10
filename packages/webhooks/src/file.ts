// `ferry webhooks <webhooks.yaml>`: which Kafka topics feed which subscriptions, the address policy, where
// dead letters go. Mistakes are ConfigErrors naming the file, the line and the path (`subscriptions[1].url`);
// `${env:…}`/`${file:…}` references are resolved (and redacted) as in pipeline files.
import { dirname, resolve } from 'node:path';
import { loadConfigFile, type Redactor } from '@ferry/core';
import { z } from 'zod';
import { subscriptionSchema } from './config.js';
import { allowEntryProblem, checkEndpoint } from './guard.js';

export const webhooksFileSchema = z
  .object({
    webhooks: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,62}$/, 'lower-case letters, digits and -, starting with a letter')
      .describe(
        'Name of this runner: the Kafka client id, the prefix of its consumer groups, its dead letters.',
      ),
    kafka: z
      .object({
        brokers: z.array(z.string().min(1)).min(1),
        topics: z
          .array(z.string().min(1))
          .min(1)
          .describe('Canonical topics read (CloudEvents, either binding).'),
        groupPrefix: z
          .string()
          .min(1)
          .optional()
          .describe(
            'Consumer groups are `<groupPrefix>-<subscription>`; default `ferry-webhooks-<webhooks>`.',
          ),
      })
      .strict(),
    allow: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Internal addresses endpoints may use (CIDRs, host names, `*.domain`); every other loopback, private or link-local address is refused.',
      ),
    deadLetters: z
      .object({ dir: z.string().min(1).default('.ferry/dlq') })
      .strict()
      .default({ dir: '.ferry/dlq' })
      .describe('The file dead-letter place: `<dir>/webhooks_<subscription>.dlq.jsonl`.'),
    subscriptions: z.array(subscriptionSchema).min(1),
  })
  .strict()
  .superRefine((file, ctx) => {
    for (const [index, entry] of file.allow.entries()) {
      const problem = allowEntryProblem(entry);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['allow', index], message: problem });
    }
    const seen = new Map<string, number>();
    for (const [index, subscription] of file.subscriptions.entries()) {
      const first = seen.get(subscription.name);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['subscriptions', index, 'name'],
          message: `${subscription.name} is already the name of subscriptions[${first}]`,
        });
      seen.set(subscription.name, index);
      try {
        checkEndpoint(subscription.url, { allow: file.allow });
      } catch (error) {
        ctx.addIssue({
          code: 'custom',
          path: ['subscriptions', index, 'url'],
          message: `${(error as Error).message} (WEBHOOK_ADDRESS_REFUSED)`,
        });
      }
    }
  });

export type WebhooksFile = z.output<typeof webhooksFileSchema>;

export interface LoadedWebhooksFile {
  file: string;
  config: WebhooksFile;
  redactor: Redactor;
}

/** Read and validate webhooks.yaml; the dead-letter directory comes back absolute. */
export async function loadWebhooksFile(file: string): Promise<LoadedWebhooksFile> {
  const { path, config, redactor } = await loadConfigFile(file, webhooksFileSchema);
  return {
    file: path,
    redactor,
    config: { ...config, deadLetters: { dir: resolve(dirname(path), config.deadLetters.dir) } },
  };
}

/** A subscription's consumer group. */
export function groupOf(config: WebhooksFile, subscription: string): string {
  return `${config.kafka.groupPrefix ?? `ferry-webhooks-${config.webhooks}`}-${subscription}`;
}
