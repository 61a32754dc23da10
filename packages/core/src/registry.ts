// Factories keyed by the `type` in a pipeline file. Core registers its embedded defaults; the CLI adds
// every connector. Each factory declares its options once, as a zod schema, which validates the file and
// documents the options.
import { resolve } from 'node:path';
import { z } from 'zod';
import { createFileCheckpointStore } from './embedded/file-checkpoints.js';
import { createFileDeadLetterSink } from './embedded/file-dead-letters.js';
import { createFileSink } from './embedded/file-sink.js';
import type { Logger, Redactor } from './logging.js';
import type { EventValidator } from './pipeline.js';
import type { CheckpointStore, DeadLetterSink, Sink, Source } from './types.js';

export interface FactoryContext {
  pipeline: string;
  /** Directory of the pipeline file: relative paths in options are resolved against it. */
  baseDir: string;
  logger: Logger;
  redactor: Redactor;
  /** Every component of the pipeline file, so a factory can refuse a contradictory combination. */
  components?: PipelineComponents;
  /** The pipeline's `schedule` (cron and time zone), for batch sources that run on one. */
  schedule?: { cron: string; timezone: string };
}

export interface PipelineComponents {
  source: { type: string; options: Record<string, unknown> };
  sink: { type: string; options: Record<string, unknown> };
  deadLetters: { type: string; options: Record<string, unknown> };
  checkpoints: { type: string; options: Record<string, unknown> };
}

export interface Factory<C, T> {
  type: string;
  description: string;
  configSchema: z.ZodType<C>;
  create(config: C, ctx: FactoryContext): T | Promise<T>;
  /** What a person should know about this configuration (printed by `ferry validate`). */
  notes?(config: C): string[];
}

// biome-ignore lint/suspicious/noExplicitAny: factories of any option type live in one registry
type AnyFactory<T> = Factory<any, T>;

export interface Registry {
  sources: Map<string, AnyFactory<Source>>;
  sinks: Map<string, AnyFactory<Sink>>;
  deadLetters: Map<string, AnyFactory<DeadLetterSink>>;
  checkpoints: Map<string, AnyFactory<CheckpointStore>>;
  /**
   * Builds the contract check for a pipeline whose `contract.repository` is set (provided by
   * @ferry/contracts; core knows no schema language).
   */
  contractValidator?: (contract: PipelineContract) => Promise<EventValidator>;
}

export interface PipelineContract {
  type: string;
  version: string;
  schema: string;
  /** Absolute path of the contract repository. */
  repository?: string;
}

const dirOption = (fallback: string) =>
  z.string().min(1).default(fallback).describe('Directory, relative to the pipeline file.');

export const fileSinkFactory: Factory<{ dir: string; topic: string }, Sink> = {
  type: 'file',
  description: 'Append-only JSON Lines event log, one file per topic (the embedded default).',
  configSchema: z
    .object({
      dir: dirOption('.ferry/events'),
      topic: z
        .string()
        .min(1)
        .default('{type}.v{major}')
        .describe('Topic template: {type}, {domain}, {entity}, {major}.'),
    })
    .strict(),
  create: (config, ctx) => createFileSink({ dir: resolve(ctx.baseDir, config.dir), topic: config.topic }),
};

export const fileDeadLetterFactory: Factory<{ dir: string }, DeadLetterSink> = {
  type: 'file',
  description: 'Dead letters as JSON Lines in <dir>/<pipeline>.dlq.jsonl (the embedded default).',
  configSchema: z.object({ dir: dirOption('.ferry/dead-letters') }).strict(),
  create: (config, ctx) =>
    createFileDeadLetterSink({ dir: resolve(ctx.baseDir, config.dir), pipeline: ctx.pipeline }),
};

export const fileCheckpointFactory: Factory<{ dir: string }, CheckpointStore> = {
  type: 'file',
  description: 'Checkpoints as atomically replaced JSON files (the embedded default).',
  configSchema: z.object({ dir: dirOption('.ferry/checkpoints') }).strict(),
  create: (config, ctx) => createFileCheckpointStore({ dir: resolve(ctx.baseDir, config.dir) }),
};

/** A registry holding core's embedded defaults; add connectors with `registry.sources.set(...)`. */
export function createRegistry(): Registry {
  return {
    sources: new Map(),
    sinks: new Map([[fileSinkFactory.type, fileSinkFactory]]),
    deadLetters: new Map([[fileDeadLetterFactory.type, fileDeadLetterFactory]]),
    checkpoints: new Map([[fileCheckpointFactory.type, fileCheckpointFactory]]),
  };
}
