// JSON Schemas of what the admin API sends and accepts. Fastify validates requests and serializes responses
// with them, and @fastify/swagger turns them into the OpenAPI components, so the document cannot drift.

export const timestamp = { type: 'string', format: 'date-time' } as const;

export const errorBodySchema = {
  $id: 'ErrorBody',
  type: 'object',
  description:
    'Every error response. `code` is stable (docs/errors.md); `retryable` says whether trying later can help.',
  required: ['code', 'message', 'retryable'],
  additionalProperties: false,
  properties: {
    code: { type: 'string', examples: ['PIPELINE_NOT_FOUND'] },
    message: { type: 'string' },
    retryable: { type: 'boolean' },
  },
} as const;

const batchProgressSchema = {
  type: 'object',
  required: ['label', 'done', 'unit'],
  additionalProperties: false,
  properties: {
    label: { type: 'string' },
    done: { type: 'number' },
    total: { type: 'number' },
    unit: { type: 'string', enum: ['rows', 'bytes', 'records'] },
  },
} as const;

const expectationStatusSchema = {
  type: 'object',
  required: ['name', 'status', 'deadline'],
  additionalProperties: false,
  properties: {
    name: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'met', 'missing', 'short', 'over'] },
    deadline: {
      type: 'object',
      required: ['cron', 'timezone'],
      additionalProperties: false,
      properties: { cron: { type: 'string' }, timezone: { type: 'string' } },
    },
    lastCheck: {
      type: 'object',
      required: ['at', 'windowStart', 'records', 'deliveries'],
      additionalProperties: false,
      properties: {
        at: timestamp,
        windowStart: timestamp,
        records: { type: 'integer' },
        deliveries: { type: 'integer' },
      },
    },
    nextDeadline: timestamp,
  },
} as const;

export const pipelineStatusSchema = {
  $id: 'PipelineStatus',
  type: 'object',
  required: ['name', 'state', 'source', 'sink', 'lagSeconds', 'counts', 'scheduled', 'expectations'],
  additionalProperties: false,
  properties: {
    name: { type: 'string' },
    state: { type: 'string', enum: ['starting', 'running', 'paused', 'failed', 'stopped'] },
    source: { type: 'string', description: 'Source type.' },
    sink: { type: 'string', description: 'Sink type.' },
    error: {
      type: 'object',
      description: 'Set while the pipeline is failed, and kept as the last error after a resume.',
      required: ['code', 'message', 'retryable', 'at'],
      additionalProperties: false,
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        retryable: { type: 'boolean' },
        at: timestamp,
      },
    },
    lastCheckpoint: {
      type: 'object',
      description: 'The last committed position and when it was saved; absent before the first commit.',
      required: ['position', 'at'],
      additionalProperties: false,
      properties: { position: { description: 'Source-specific position.' }, at: timestamp },
    },
    lagSeconds: {
      type: ['number', 'null'],
      description: 'Seconds behind the legacy system; null when the source cannot tell.',
    },
    counts: {
      type: 'object',
      required: ['recordsRead', 'eventsWritten', 'deadLetters', 'retries'],
      additionalProperties: false,
      properties: {
        recordsRead: { type: 'integer' },
        eventsWritten: { type: 'integer' },
        deadLetters: { type: 'integer' },
        retries: { type: 'integer' },
      },
    },
    scheduled: {
      type: 'boolean',
      description: 'The source runs on a schedule (trigger starts a pass at once).',
    },
    progress: batchProgressSchema,
    expectations: { type: 'array', items: expectationStatusSchema },
  },
} as const;

export const deadLetterSchema = {
  $id: 'DeadLetter',
  type: 'object',
  required: [
    'id',
    'pipeline',
    'stream',
    'stage',
    'code',
    'message',
    'retryable',
    'record',
    'origin',
    'attempts',
    'failedAt',
  ],
  additionalProperties: false,
  properties: {
    id: { type: 'string', description: 'Stable id (the same as `ferry dlq list --json`).' },
    pipeline: { type: 'string' },
    stream: { type: 'string' },
    stage: { type: 'string', enum: ['source', 'mapping', 'contract', 'sink'] },
    code: { type: 'string' },
    message: { type: 'string' },
    retryable: { type: 'boolean' },
    record: { description: 'The original change record (raw input for source-stage letters).' },
    origin: { type: 'object', additionalProperties: true },
    attempts: { type: 'integer' },
    failedAt: timestamp,
  },
} as const;

export const readinessSchema = {
  $id: 'Readiness',
  type: 'object',
  required: ['ready', 'pipelines'],
  additionalProperties: false,
  properties: {
    ready: { type: 'boolean' },
    pipelines: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'ready'],
        additionalProperties: false,
        properties: { name: { type: 'string' }, ready: { type: 'boolean' }, reason: { type: 'string' } },
      },
    },
  },
} as const;

export const replayResultSchema = {
  $id: 'ReplayResult',
  type: 'object',
  required: ['dryRun', 'replayed', 'events', 'stillFailing'],
  additionalProperties: false,
  properties: {
    dryRun: { type: 'boolean' },
    replayed: { type: 'integer', description: 'Letters that passed (published unless dryRun).' },
    events: { type: 'integer' },
    stillFailing: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'code', 'message'],
        additionalProperties: false,
        properties: { id: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
} as const;

const stringList = { type: 'array', items: { type: 'string' } } as const;

const clusterPipeline = {
  type: 'object',
  required: ['pipeline', 'since', 'state', 'lagSeconds', 'lastCommitAt'],
  additionalProperties: false,
  properties: {
    pipeline: { type: 'string' },
    since: { type: ['string', 'null'], format: 'date-time', description: 'When its worker was given it.' },
    state: {
      type: ['string', 'null'],
      description: 'As in PipelineStatus; null when its worker has not said yet.',
    },
    lagSeconds: { type: ['number', 'null'] },
    lastCommitAt: {
      type: ['string', 'null'],
      format: 'date-time',
      description: 'When its worker last committed a batch of it.',
    },
  },
} as const;

export const clusterStatusSchema = {
  $id: 'ClusterStatus',
  type: 'object',
  description:
    'This worker in its cluster (`ferry serve --cluster`), and the whole cluster as the board (a compacted Kafka topic every worker reads) shows it: the leader’s last plan, every member with its pipelines, their state and lag, and what could not be placed. Any worker answers the same for the cluster; `assigned` is this worker’s own.',
  required: [
    'mode',
    'group',
    'worker',
    'memberId',
    'leader',
    'generation',
    'assigned',
    'plan',
    'members',
    'unassigned',
  ],
  additionalProperties: false,
  properties: {
    mode: { type: 'string', enum: ['single', 'cluster'] },
    group: { type: ['string', 'null'] },
    worker: { type: ['string', 'null'] },
    memberId: { type: ['string', 'null'], description: 'Given by Kafka when the worker joined the group.' },
    leader: { type: 'boolean' },
    generation: {
      type: ['integer', 'null'],
      description: 'The group generation this worker last joined (Kafka counts one per rebalance).',
    },
    assigned: {
      type: 'array',
      description: 'The pipelines this worker runs by the last assignment, since when, their state and lag.',
      items: clusterPipeline,
    },
    plan: {
      type: ['object', 'null'],
      description: 'The plan the members and unassigned lists come from: its generation, leader and time.',
      required: ['generation', 'leader', 'at'],
      additionalProperties: false,
      properties: { generation: { type: 'integer' }, leader: { type: 'string' }, at: timestamp },
    },
    members: {
      type: ['array', 'null'],
      items: {
        type: 'object',
        required: ['memberId', 'worker', 'labels', 'draining', 'url', 'pipelines'],
        additionalProperties: false,
        properties: {
          memberId: { type: 'string' },
          worker: { type: 'string' },
          labels: stringList,
          draining: { type: 'boolean' },
          url: { type: ['string', 'null'], description: 'Its admin API, as it listens.' },
          pipelines: { type: 'array', items: clusterPipeline },
        },
      },
    },
    unassigned: {
      type: ['array', 'null'],
      items: {
        type: 'object',
        required: ['name', 'reason'],
        additionalProperties: false,
        properties: { name: { type: 'string' }, reason: { type: 'string' } },
      },
    },
  },
} as const;

/** Registered with `app.addSchema`; routes refer to them as `{ $ref: 'Name#' }`. */
export const sharedSchemas = [
  errorBodySchema,
  pipelineStatusSchema,
  deadLetterSchema,
  readinessSchema,
  replayResultSchema,
  clusterStatusSchema,
];

export const ref = (id: (typeof sharedSchemas)[number]['$id']): { $ref: string } => ({ $ref: `${id}#` });

export const pipelineNameParam = {
  type: 'string',
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  maxLength: 200,
  description: 'Pipeline name.',
} as const;
