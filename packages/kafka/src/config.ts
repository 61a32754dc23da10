// Options of the Kafka sink, dead-letter topic and checkpoint store, declared once: the schemas validate
// pipeline files, type the code and are the source of the option tables in README.md.
import { z } from 'zod';

const secret = (what: string) =>
  z.string().min(1).describe(`${what}; write it as a \${env:NAME} or \${file:path} reference.`);

export const kafkaTlsSchema = z
  .object({
    ca: z.string().min(1).optional().describe('PEM of the CA that signed the brokers’ certificates.'),
    cert: z.string().min(1).optional().describe('PEM client certificate, for mutual TLS.'),
    key: secret('PEM private key of the client certificate, for mutual TLS').optional(),
    servername: z
      .string()
      .min(1)
      .optional()
      .describe('Server name to verify, when it differs from the host.'),
    rejectUnauthorized: z
      .boolean()
      .default(true)
      .describe('Verify the brokers’ certificates; false only for a test cluster.'),
  })
  .strict();

export const kafkaSaslSchema = z
  .object({
    mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).describe('SASL mechanism.'),
    username: z.string().min(1).describe('SASL user name.'),
    password: secret('SASL password'),
  })
  .strict();

/** How to reach the cluster; shared by the sink, the dead-letter topic and the checkpoint store. */
export const kafkaConnectionShape = {
  brokers: z
    .array(z.string().regex(/^[^:\s]+:\d{1,5}$/, 'host:port'))
    .min(1)
    .describe('Bootstrap brokers, as host:port.'),
  clientId: z
    .string()
    .min(1)
    .default('ferry')
    .describe('Client id the brokers see in their logs and quotas.'),
  ssl: z
    .union([z.boolean(), kafkaTlsSchema])
    .default(false)
    .describe('TLS: true for the system CAs, or an object with ca/cert/key.'),
  sasl: kafkaSaslSchema.optional().describe('SASL authentication.'),
  connectionTimeoutMs: z
    .number()
    .int()
    .min(100)
    .default(10_000)
    .describe('How long to wait for a TCP/TLS connection to a broker.'),
  requestTimeoutMs: z
    .number()
    .int()
    .min(100)
    .default(30_000)
    .describe('How long to wait for a broker to answer a request (a produce waits for acks=all).'),
  transport: z
    .enum(['kafkajs', 'platformatic'])
    .default('kafkajs')
    .describe('Kafka client library behind the sink (kafkajs, or @platformatic/kafka for plain produce).'),
};

const topicSettings = (partitions: number) =>
  z
    .object({
      create: z
        .boolean()
        .default(true)
        .describe(
          'Create missing topics at start; false refuses to start when a topic is missing (production).',
        ),
      partitions: z.number().int().min(1).default(partitions).describe('Partitions of a created topic.'),
      replicationFactor: z
        .number()
        .int()
        .min(1)
        .default(1)
        .describe('Replication factor of a created topic (3 in production).'),
      config: z
        .record(z.string(), z.string())
        .default({})
        .describe(
          'Topic configs for a created topic, e.g. retention.ms, cleanup.policy, min.insync.replicas.',
        ),
    })
    .strict();

export const kafkaSinkConfigSchema = z
  .object({
    ...kafkaConnectionShape,
    topic: z
      .string()
      .min(1)
      .default('{type}.v{major}')
      .describe('Topic, or a template with {type}, {domain}, {entity}, {major} from the event.'),
    mode: z
      .enum(['binary', 'structured'])
      .default('binary')
      .describe(
        'CloudEvents Kafka binding: binary (ce_* headers, body = data) or structured (application/cloudevents+json body).',
      ),
    compression: z.enum(['gzip', 'none']).default('gzip').describe('Compression of produced batches.'),
    idempotent: z
      .boolean()
      .default(true)
      .describe(
        'Idempotent producer: a retried send never writes a message twice (needs IDEMPOTENT_WRITE ACL).',
      ),
    delivery: z
      .enum(['at-least-once', 'exactly-once'])
      .default('at-least-once')
      .describe(
        'at-least-once: a crash may re-send the last batches (same event ids). exactly-once: events, dead letters and the checkpoint in one Kafka transaction; needs deadLetters.type and checkpoints.type kafka.',
      ),
    transactionalId: z
      .string()
      .min(1)
      .optional()
      .describe('Transactional id for exactly-once (default ferry-<pipeline>); one per pipeline instance.'),
    transactionTimeoutMs: z
      .number()
      .int()
      .min(1000)
      .default(60_000)
      .describe('How long the broker keeps an unfinished transaction before aborting it (exactly-once).'),
    producerThread: z
      .boolean()
      .default(false)
      .describe(
        'At-least-once with transport kafkajs: run the producer in a worker thread, so kafkajs encodes and sends on another core while the pipeline prepares the next batches. Exactly-once always produces on the pipeline thread.',
      ),
    maxMessagesPerSend: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(2000)
      .describe(
        'Largest number of messages in one produce call (kafkajs groups messages in quadratic time).',
      ),
    topics: topicSettings(6)
      .default(topicSettings(6).parse({}))
      .describe('Provisioning of the event topics.'),
  })
  .strict();

export type KafkaSinkConfig = z.output<typeof kafkaSinkConfigSchema>;
export type KafkaSinkConfigInput = z.input<typeof kafkaSinkConfigSchema>;
export type KafkaConnectionConfig = Pick<
  KafkaSinkConfig,
  'brokers' | 'clientId' | 'ssl' | 'sasl' | 'connectionTimeoutMs' | 'requestTimeoutMs' | 'transport'
>;

export const kafkaDeadLetterConfigSchema = z
  .object({
    ...kafkaConnectionShape,
    topic: z
      .string()
      .min(1)
      .default('{pipeline}.dlq')
      .describe('Dead-letter topic; {pipeline} is the pipeline name.'),
    topics: topicSettings(1)
      .default(topicSettings(1).parse({}))
      .describe('Provisioning of the dead-letter topic (one partition keeps letters in failure order).'),
  })
  .strict();

export type KafkaDeadLetterConfig = z.output<typeof kafkaDeadLetterConfigSchema>;

export const kafkaCheckpointConfigSchema = z
  .object({
    ...kafkaConnectionShape,
    topic: z
      .string()
      .min(1)
      .default('ferry-checkpoints')
      .describe('Compacted topic holding every pipeline’s position, keyed by pipeline name.'),
    create: z.boolean().default(true).describe('Create the topic (cleanup.policy=compact) when missing.'),
    replicationFactor: z.number().int().min(1).default(1).describe('Replication factor of a created topic.'),
    readTimeoutMs: z
      .number()
      .int()
      .min(1000)
      .default(30_000)
      .describe('How long loading a position may take before failing with KAFKA_TIMEOUT (retried).'),
    fencing: z
      .boolean()
      .default(false)
      .describe(
        'One owner per pipeline, enforced by the broker: a run claims its pipeline at start with a transactional producer (transactional.id ferry-checkpoint-<pipeline>), which fences any earlier owner; that owner’s next save fails with KAFKA_PRODUCER_FENCED (not retried) and stops its run, and nothing it saves after the fence is visible.',
      ),
    transactionTimeoutMs: z
      .number()
      .int()
      .min(1000)
      .default(60_000)
      .describe('With fencing: how long the broker waits for a save’s transaction before aborting it.'),
  })
  .strict()
  .refine((c) => !(c.fencing && c.transport === 'platformatic'), {
    path: ['fencing'],
    message:
      'fencing needs transactions, which the platformatic transport does not have: use transport: kafkajs',
  });

export type KafkaCheckpointConfig = z.output<typeof kafkaCheckpointConfigSchema>;

export function connectionOf(config: KafkaConnectionConfig): KafkaConnectionConfig {
  const { brokers, clientId, ssl, sasl, connectionTimeoutMs, requestTimeoutMs, transport } = config;
  return {
    brokers,
    clientId,
    ssl,
    ...(sasl ? { sasl } : {}),
    connectionTimeoutMs,
    requestTimeoutMs,
    transport,
  };
}
