// A subscription as `webhooks.yaml` (and a pipeline's `sink: { type: webhook }`) declares it: where to post,
// which event types, the secrets that sign, and how hard to try. Validated with zod; a mistake names the path.
import { z } from 'zod';

/** An event type pattern: exact (`justice.offender.created`), `justice.offender.*`, `justice.*` or `*`. */
const pattern = z
  .string()
  .regex(/^(\*|[a-z0-9_-]+(\.[a-z0-9_-]+)*(\.\*)?)$/i, 'an event type, `prefix.*` or `*`');

/** A signing secret; `until` (ISO 8601) ends it, so a rotation needs no restart. */
const secret = z.union([
  z.string().min(1),
  z
    .object({
      secret: z.string().min(1),
      until: z.iso.datetime({ offset: true }).optional().describe('Stop signing with it from this time.'),
    })
    .strict(),
]);

export const subscriptionSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes')
      .describe('Names the subscription in metrics, dead letters, the admin API and its consumer group.'),
    url: z
      .string()
      .min(1)
      .describe('The endpoint (http or https); refused if the address policy refuses it.'),
    events: z.array(pattern).min(1).describe('Event types delivered: exact, `prefix.*` or `*`.'),
    secrets: z
      .array(secret)
      .min(1)
      .describe(
        'Standard Webhooks secrets (`whsec_…`). Every current one signs each delivery, so during a rotation a receiver holding either secret accepts it.',
      ),
    mode: z
      .enum(['structured', 'binary'])
      .default('structured')
      .describe(
        'CloudEvents HTTP binding: the whole event as JSON, or `data` as the body with ce-* headers.',
      ),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(10)
      .describe('Subjects delivered at once; one subject’s events always go one after another, in order.'),
    retry: z
      .object({
        attempts: z.number().int().min(1).default(8).describe('Tries per event, the first included.'),
        minDelayMs: z.number().int().min(0).default(500),
        maxDelayMs: z.number().int().min(0).default(60_000),
      })
      .strict()
      .default({ attempts: 8, minDelayMs: 500, maxDelayMs: 60_000 })
      .describe(
        'Exponential backoff with jitter between tries; a Retry-After answer is waited out as asked.',
      ),
    timeouts: z
      .object({
        connectMs: z.number().int().min(1).default(5_000),
        requestMs: z
          .number()
          .int()
          .min(1)
          .default(15_000)
          .describe(
            'The answer’s headers must come within this once the request is sent, and its body may not stall longer.',
          ),
      })
      .strict()
      .default({ connectMs: 5_000, requestMs: 15_000 }),
    onFailure: z
      .enum(['continue', 'pause'])
      .default('continue')
      .describe(
        'After an event is dead-lettered (refused, or out of tries): go on with the next, or pause the subscription until resumed.',
      ),
    breaker: z
      .object({
        failures: z.number().int().min(1).default(5).describe('Failed tries in a row that open the circuit.'),
        cooldownMs: z.number().int().min(0).default(30_000),
      })
      .strict()
      .default({ failures: 5, cooldownMs: 30_000 })
      .describe('Per endpoint: while open, nothing is sent to it; then one try tests it.'),
    followRedirects: z.boolean().default(false).describe('Redirects are failures unless this is true.'),
    tls: z
      .object({
        ca: z.string().optional().describe('PEM of the CA that signs the endpoint’s certificate.'),
        cert: z.string().optional().describe('PEM client certificate (mTLS).'),
        key: z.string().optional().describe('PEM key of the client certificate.'),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((s) => s.secrets.some((secret) => typeof secret === 'string' || secret.until === undefined), {
    path: ['secrets'],
    message: 'at least one secret must have no `until`: it is the one that signs once the others end',
  });

export type SubscriptionConfig = z.infer<typeof subscriptionSchema>;
export type SubscriptionInput = z.input<typeof subscriptionSchema>;

/** Whether `type` is one a subscription's patterns select. */
export function selects(patterns: readonly string[], type: string): boolean {
  return patterns.some(
    (p) => p === '*' || p === type || (p.endsWith('.*') && type.startsWith(p.slice(0, -1))),
  );
}
