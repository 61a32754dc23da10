// The admin routes as data: what each accepts and answers, who may call it, and which host errors it can
// return. app.ts turns each entry into a fastify route whose schema also carries the auth and error
// responses, so the OpenAPI document lists every status a route can answer with.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Access } from './auth.js';
import type { AdminHost } from './host.js';
import { pipelineNameParam, ref, timestamp } from './schemas.js';

export interface RouteInput {
  request: FastifyRequest;
  reply: FastifyReply;
  host: AdminHost;
}

export interface AdminRoute {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  access: Access;
  operationId: string;
  summary: string;
  description?: string;
  tag: 'health' | 'pipelines' | 'offsets' | 'dead-letters' | 'documents' | 'cluster';
  params?: Record<string, unknown>;
  querystring?: Record<string, unknown>;
  body?: Record<string, unknown>;
  /** Success responses by status. */
  responses: Record<number, Record<string, unknown>>;
  /** Statuses of host errors (hostErrorStatus) this route can answer with, and why. */
  hostErrors?: Record<number, string>;
  /** False for routes that never call the host, so they cannot fail with a 500. */
  callsHost?: boolean;
  handler(input: RouteInput): Promise<unknown>;
}

const nameParams = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name: pipelineNameParam },
};

const NOT_FOUND = 'No pipeline of that name (PIPELINE_NOT_FOUND).';
const WRONG_STATE = 'The pipeline is not in a state that allows this (PIPELINE_STATE).';

const name = (request: FastifyRequest): string => (request.params as { name: string }).name;

export function adminRoutes(options: { publicMetrics: boolean }): AdminRoute[] {
  return [
    {
      method: 'GET',
      url: '/healthz',
      access: 'public',
      operationId: 'health',
      summary: 'Liveness: the process answers',
      tag: 'health',
      callsHost: false,
      responses: {
        200: {
          description: 'The process is alive.',
          type: 'object',
          required: ['status'],
          additionalProperties: false,
          properties: { status: { type: 'string', const: 'ok' } },
        },
      },
      handler: async () => ({ status: 'ok' }),
    },
    {
      method: 'GET',
      url: '/readyz',
      access: 'public',
      operationId: 'readiness',
      summary: 'Readiness: every pipeline reaches its source and sink and is not stalled',
      tag: 'health',
      responses: {
        200: { description: 'Every pipeline is ready.', ...ref('Readiness') },
        503: { description: 'At least one pipeline is not ready; `reason` says why.', ...ref('Readiness') },
      },
      handler: async ({ host, reply }) => {
        const readiness = await host.readiness();
        return reply.code(readiness.ready ? 200 : 503).send(readiness);
      },
    },
    {
      method: 'GET',
      url: '/cluster',
      access: 'read',
      operationId: 'cluster',
      summary: 'This worker in its cluster: the pipelines it runs, and on the leader the whole plan',
      tag: 'cluster',
      responses: {
        200: {
          description: 'Where this worker stands (`mode: single` without `--cluster`).',
          ...ref('ClusterStatus'),
        },
      },
      handler: async ({ host }) => host.cluster(),
    },
    ...(['POST', 'DELETE'] as const).map(
      (method): AdminRoute => ({
        method,
        url: '/cluster/workers/:worker/drain',
        access: 'operate',
        operationId: method === 'POST' ? 'drainWorker' : 'undrainWorker',
        summary:
          method === 'POST'
            ? 'Move a worker’s pipelines to the others before maintenance'
            : 'Let a drained worker take pipelines again',
        description:
          method === 'POST'
            ? 'Any worker takes the request and puts it on the cluster’s board; the worker named gives every pipeline away (flush, checkpoint) at the rebalance it asks for, and gets none until the request is withdrawn (DELETE) or it restarts. Accepted means asked: watch `GET /cluster` for the pipelines to move.'
            : 'Withdraws the drain request; the worker asks for a rebalance and is given its share again.',
        tag: 'cluster',
        params: {
          type: 'object',
          required: ['worker'],
          additionalProperties: false,
          properties: {
            worker: {
              type: 'string',
              minLength: 1,
              maxLength: 200,
              description: 'The worker’s name (`--worker`, as in `GET /cluster`).',
            },
          },
        },
        responses: {
          202: {
            description: 'Accepted: the worker named will act on it.',
            type: 'object',
            required: ['worker', 'draining', 'requestedAt'],
            additionalProperties: false,
            properties: { worker: { type: 'string' }, draining: { type: 'boolean' }, requestedAt: timestamp },
          },
        },
        hostErrors: {
          404: 'No worker of that name in the cluster (SERVER_WORKER_NOT_FOUND).',
          409: 'This `ferry serve` was not started with --cluster (SERVER_NOT_IN_CLUSTER).',
        },
        handler: async ({ host, request, reply }) =>
          reply
            .code(202)
            .send(await host.drainWorker((request.params as { worker: string }).worker, method === 'DELETE')),
      }),
    ),
    {
      method: 'GET',
      url: '/metrics',
      access: options.publicMetrics ? 'public' : 'read',
      operationId: 'metrics',
      summary: 'Prometheus metrics of every pipeline',
      tag: 'health',
      responses: {
        200: {
          description: 'Prometheus text exposition format.',
          content: { 'text/plain': { schema: { type: 'string' } } },
        },
      },
      handler: async ({ host, reply }) => {
        const metrics = await host.metrics();
        return reply.header('content-type', metrics.contentType).send(metrics.body);
      },
    },
    {
      method: 'GET',
      url: '/pipelines',
      access: 'read',
      operationId: 'listPipelines',
      summary: 'Every hosted pipeline with its state, last checkpoint, lag and counts',
      tag: 'pipelines',
      responses: {
        200: {
          description: 'The pipelines, in the order they were given to `ferry serve`.',
          type: 'object',
          required: ['pipelines'],
          additionalProperties: false,
          properties: { pipelines: { type: 'array', items: ref('PipelineStatus') } },
        },
      },
      handler: async ({ host }) => ({ pipelines: host.list() }),
    },
    {
      method: 'GET',
      url: '/pipelines/:name',
      access: 'read',
      operationId: 'getPipeline',
      summary: 'One pipeline',
      tag: 'pipelines',
      params: nameParams,
      responses: { 200: { description: 'The pipeline.', ...ref('PipelineStatus') } },
      hostErrors: { 404: NOT_FOUND },
      handler: async ({ host, request }) => host.get(name(request)),
    },
    {
      method: 'POST',
      url: '/pipelines/:name/pause',
      access: 'operate',
      operationId: 'pausePipeline',
      summary: 'Pause: stop reading, commit what was read, save the checkpoint',
      description: 'The pipeline stays paused until resumed, also across a restart of `ferry serve`.',
      tag: 'pipelines',
      params: nameParams,
      responses: { 200: { description: 'The pipeline, now paused.', ...ref('PipelineStatus') } },
      hostErrors: { 404: NOT_FOUND, 409: WRONG_STATE },
      handler: async ({ host, request }) => host.pause(name(request)),
    },
    {
      method: 'POST',
      url: '/pipelines/:name/resume',
      access: 'operate',
      operationId: 'resumePipeline',
      summary: 'Resume a paused, failed or stopped pipeline from its checkpoint',
      tag: 'pipelines',
      params: nameParams,
      responses: { 200: { description: 'The pipeline, started again.', ...ref('PipelineStatus') } },
      hostErrors: { 404: NOT_FOUND, 409: WRONG_STATE },
      handler: async ({ host, request }) => host.resume(name(request)),
    },
    {
      method: 'POST',
      url: '/pipelines/:name/trigger',
      access: 'operate',
      operationId: 'triggerPipeline',
      summary: 'Run a pass now',
      description:
        'A pass source waiting for its next pass (its schedule or its poll interval) starts one at once; a paused or stopped pipeline runs one pass and stops; a pipeline in a pass, or streaming, is already reading (`started: false`).',
      tag: 'pipelines',
      params: nameParams,
      responses: {
        202: {
          description: 'Accepted: the pass runs in the background.',
          type: 'object',
          required: ['started', 'detail'],
          additionalProperties: false,
          properties: { started: { type: 'boolean' }, detail: { type: 'string' } },
        },
      },
      hostErrors: { 404: NOT_FOUND, 409: WRONG_STATE },
      handler: async ({ host, request, reply }) => reply.code(202).send(await host.trigger(name(request))),
    },
    {
      method: 'GET',
      url: '/pipelines/:name/offsets',
      access: 'read',
      operationId: 'getOffsets',
      summary: 'The saved source position',
      tag: 'offsets',
      params: nameParams,
      responses: {
        200: {
          description: 'The checkpointed position; null before the first commit.',
          type: 'object',
          required: ['pipeline', 'position'],
          additionalProperties: false,
          properties: {
            pipeline: { type: 'string' },
            position: { description: 'Source-specific position, or null.' },
          },
        },
      },
      hostErrors: { 404: NOT_FOUND },
      handler: async ({ host, request }) => ({
        pipeline: name(request),
        position: (await host.offsets(name(request))) ?? null,
      }),
    },
    {
      method: 'DELETE',
      url: '/pipelines/:name/offsets',
      access: 'operate',
      operationId: 'resetOffsets',
      summary: 'Forget the saved position: the next run starts from the beginning',
      tag: 'offsets',
      params: nameParams,
      responses: { 204: { description: 'The checkpoint is removed.', type: 'null' } },
      hostErrors: {
        404: NOT_FOUND,
        409: 'The pipeline is running; pause it first (PIPELINE_RUNNING).',
      },
      handler: async ({ host, request, reply }) => {
        await host.resetOffsets(name(request));
        return reply.code(204).send();
      },
    },
    {
      method: 'GET',
      url: '/pipelines/:name/dead-letters',
      access: 'read',
      operationId: 'listDeadLetters',
      summary: 'Dead letters not yet replayed, oldest first',
      tag: 'dead-letters',
      params: nameParams,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          offset: { type: 'integer', minimum: 0, default: 0 },
        },
      },
      responses: {
        200: {
          description: 'One page of letters and the total.',
          type: 'object',
          required: ['total', 'limit', 'offset', 'items'],
          additionalProperties: false,
          properties: {
            total: { type: 'integer' },
            limit: { type: 'integer' },
            offset: { type: 'integer' },
            items: { type: 'array', items: ref('DeadLetter') },
          },
        },
      },
      hostErrors: { 404: NOT_FOUND, 501: 'The dead-letter store cannot list (DLQ_LIST_UNSUPPORTED).' },
      handler: async ({ host, request }) => {
        const page = request.query as { limit: number; offset: number };
        return { ...(await host.deadLetters(name(request), page)), ...page };
      },
    },
    {
      method: 'GET',
      url: '/pipelines/:name/dead-letters/:id',
      access: 'read',
      operationId: 'getDeadLetter',
      summary: 'One dead letter with its original record',
      tag: 'dead-letters',
      params: {
        type: 'object',
        required: ['name', 'id'],
        additionalProperties: false,
        properties: { name: pipelineNameParam, id: { type: 'string', minLength: 1, maxLength: 200 } },
      },
      responses: { 200: { description: 'The letter.', ...ref('DeadLetter') } },
      hostErrors: {
        404: 'No pipeline (PIPELINE_NOT_FOUND) or no letter (DLQ_LETTER_NOT_FOUND) of that name.',
        501: 'The dead-letter store cannot list (DLQ_LIST_UNSUPPORTED).',
      },
      handler: async ({ host, request }) => {
        const params = request.params as { name: string; id: string };
        return host.deadLetter(params.name, params.id);
      },
    },
    {
      method: 'POST',
      url: '/pipelines/:name/dead-letters/replay',
      access: 'operate',
      operationId: 'replayDeadLetters',
      summary: 'Re-map and re-check dead letters and publish what passes',
      description: 'Without `ids`, every pending letter. With `dryRun`, nothing is published or marked.',
      tag: 'dead-letters',
      params: nameParams,
      body: {
        type: 'object',
        additionalProperties: false,
        properties: {
          ids: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, maxItems: 10_000 },
          dryRun: { type: 'boolean', default: false },
        },
      },
      responses: { 200: { description: 'What was replayed and what still fails.', ...ref('ReplayResult') } },
      hostErrors: {
        404: NOT_FOUND,
        409: 'The pipeline is running (here or in another process); pause it first, or use dryRun (PIPELINE_RUNNING).',
        501: 'The dead-letter store cannot list or record replays (DLQ_LIST_UNSUPPORTED, DLQ_REPLAY_UNSUPPORTED).',
      },
      handler: async ({ host, request }) => {
        const body = request.body as { ids?: string[]; dryRun: boolean };
        return host.replay(name(request), body);
      },
    },
    {
      method: 'GET',
      url: '/asyncapi.json',
      access: 'read',
      operationId: 'asyncapi',
      summary: 'AsyncAPI 3.0 document of the events the hosted pipelines publish',
      tag: 'documents',
      responses: {
        200: { description: 'The AsyncAPI document.', type: 'object', additionalProperties: true },
      },
      handler: async ({ host }) => host.asyncapi(),
    },
  ];
}
