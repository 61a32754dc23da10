// `ferry api <api.yaml>`: which canonical streams to consume, where the state is kept, which entities are
// served under which paths, and how callers are authenticated and limited. Mistakes are ConfigErrors naming
// the file, the line and the path (`entities[0].filters[1]`); `${env:…}`/`${file:…}` references are resolved
// as in pipeline files.
import { dirname, resolve } from 'node:path';
import { loadConfigFile, type Redactor } from '@ferry/core';
import { oauth2Schema } from '@ferry/server';
import { z } from 'zod';

const name = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, 'lower-case letters, digits and -, starting with a letter');

const storeSchema = z
  .discriminatedUnion('type', [
    z
      .object({
        type: z.literal('sqlite').describe('An SQLite file (the embedded default).'),
        path: z.string().min(1).describe('The file, relative to api.yaml; created when missing.'),
      })
      .strict(),
    z
      .object({
        type: z.literal('postgres'),
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(1).max(65_535).default(5432),
        username: z.string().min(1),
        password: z.string().optional().describe('Write it as a ${env:NAME} or ${file:path} reference.'),
        database: z.string().min(1),
        schema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case schema name')
          .default('public')
          .describe('Schema of the API’s tables; created when missing.'),
      })
      .strict(),
  ])
  .describe('Where the materialised state is kept.');

const streamSchema = z.union([
  z
    .object({ file: z.string().min(1).describe('A file event log (`.ferry/events/<topic>.jsonl`).') })
    .strict(),
  z
    .object({
      kafka: z
        .object({
          brokers: z.array(z.string().min(1)).min(1),
          topics: z.array(z.string().min(1)).min(1),
          groupId: z
            .string()
            .min(1)
            .describe('Consumer group; positions are kept in the store, not in Kafka.'),
        })
        .strict(),
    })
    .strict(),
]);

/** A field of the canonical object callers may filter on, as a dotted path (`location.prisonId`). */
const fieldPath = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, 'a dotted field path');

const entitySchema = z
  .object({
    type: z
      .string()
      .regex(/^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)+$/, 'a canonical type such as justice.offender')
      .describe('Canonical type, as in the contract repository.'),
    path: name.optional().describe('Path segment of the collection (default: the type’s last part and “s”).'),
    filters: z
      .array(fieldPath)
      .default([])
      .describe('Fields callers may filter on: equality; ranges for dates and numbers.'),
    scope: z
      .string()
      .min(1)
      .optional()
      .describe('OAuth2 scope to read it, with {major} for the version (default `<path>:v{major}:read`).'),
  })
  .strict();

export const apiConfigSchema = z
  .object({
    api: name.describe('Name of this API (logs, catalogue).'),
    listen: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65_535).default(8080),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8080 }),
    store: storeSchema,
    contracts: z
      .object({ repository: z.string().min(1) })
      .strict()
      .describe('The contract repository.'),
    streams: z.array(streamSchema).min(1).describe('Canonical event streams to consume.'),
    entities: z.array(entitySchema).min(1).describe('What is served, one collection per type and major.'),
    auth: z
      .discriminatedUnion('mode', [
        oauth2Schema.omit({ scopes: true, publicMetrics: true }).extend({
          tokenCacheSeconds: z
            .number()
            .int()
            .min(0)
            .default(60)
            .describe(
              'How long a verified token is remembered (never past its exp), so a client reusing it is not verified again on every request; 0 verifies every request. A key removed from the JWKS stops being accepted when the entries made with it end.',
            ),
        }),
        z
          .object({
            mode: z.literal('none'),
            acknowledgeUnauthenticated: z.literal(true, {
              error: 'must be true: with auth.mode none anyone who can reach the port reads every entity',
            }),
          })
          .strict(),
      ])
      .describe('How callers are authenticated; there is no default.'),
    rateLimit: z
      .object({
        requests: z.number().int().min(1).default(600).describe('Requests per client per window.'),
        windowSeconds: z.number().int().min(1).default(60),
      })
      .strict()
      .default({ requests: 600, windowSeconds: 60 }),
    pageSize: z
      .object({ default: z.number().int().min(1).default(50), max: z.number().int().min(1).default(500) })
      .strict()
      .default({ default: 50, max: 500 }),
    goneSeconds: z
      .number()
      .int()
      .min(0)
      .default(86_400)
      .describe('How long a deleted id answers 410 Gone (then 404).'),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    for (const [index, entity] of config.entities.entries()) {
      const path = collectionPath(entity);
      const first = seen.get(path);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['entities', index, 'path'],
          message: `collection ${path} is already served by entities[${first}]`,
        });
      else seen.set(path, index);
    }
  });

export type ApiConfig = z.output<typeof apiConfigSchema>;
export type EntityConfig = ApiConfig['entities'][number];

/** The collection's path segment: configured, or the type's last part with an s. */
export function collectionPath(entity: { type: string; path?: string | undefined }): string {
  return entity.path ?? `${entity.type.split('.').at(-1)}s`;
}

export interface LoadedApiConfig {
  file: string;
  config: ApiConfig;
  redactor: Redactor;
}

/** Read and validate api.yaml; relative paths (store, contracts, file streams) come back absolute. */
export async function loadApiConfig(file: string): Promise<LoadedApiConfig> {
  const { path, config, redactor } = await loadConfigFile(file, apiConfigSchema);
  const base = dirname(path);
  return {
    file: path,
    redactor,
    config: {
      ...config,
      store:
        config.store.type === 'sqlite'
          ? { ...config.store, path: resolve(base, config.store.path) }
          : config.store,
      contracts: { repository: resolve(base, config.contracts.repository) },
      streams: config.streams.map((s) => ('file' in s ? { file: resolve(base, s.file) } : s)),
    },
  };
}
