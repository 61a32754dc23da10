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
import { definePlugin, PLUGIN_API_VERSION, type RegisteredPlugin, registerPlugin } from './plugins.js';
import type { Clock } from './schedule.js';
import type { CheckpointStore, DeadLetterSink, Sink, Source } from './types.js';

/**
 * What a source is built with. Programs that build one in code may leave any of it out: the pipeline name
 * defaults to the connector's type, the directory to the working directory, the logger to a silent one.
 */
export interface SourceContext {
  pipeline?: string;
  /** Directory of the pipeline file: relative paths in options are resolved against it. */
  baseDir?: string;
  logger?: Logger;
  /** Time, injectable so tests of waits (a file settling, a schedule) need not wait. */
  clock?: Clock;
}

/** What a factory gets to build a pipeline's part. */
export interface FactoryContext extends SourceContext {
  pipeline: string;
  baseDir: string;
  logger: Logger;
  redactor: Redactor;
  /** Every component of the pipeline file, so a factory can refuse a contradictory combination. */
  components?: PipelineComponents;
  /**
   * The process running the pipeline, as its commits name it (a cluster worker's name; otherwise
   * host-pid): a checkpoint store that fences owners records it beside each position.
   */
  worker?: string;
  /**
   * The runtime's budget of in-flight bytes for this pipeline (`runtime.maxInFlightBytes`): a source sizes
   * its read buffers to a fraction of it so that reading ahead cannot hold more than the runtime would.
   */
  maxInFlightBytes?: number;
}

export interface PipelineComponents {
  source: { type: string; options: Record<string, unknown> };
  sink: { type: string; options: Record<string, unknown> };
  deadLetters: { type: string; options: Record<string, unknown> };
  checkpoints: { type: string; options: Record<string, unknown> };
}

/**
 * Builds one kind of part from its options. The options schema is declared once: it validates the pipeline
 * file, documents the options, and types `create` (it receives the schema's output, defaults applied).
 */
export interface Factory<S extends z.ZodType = z.ZodType, T = unknown> {
  type: string;
  description: string;
  configSchema: S;
  create(config: z.output<S>, ctx: FactoryContext): T | Promise<T>;
  /** What a person should know about this configuration (printed by `ferry validate`). */
  notes?(config: z.output<S>): string[];
  /**
   * Source factories: the shape of the positions their sources save. The runtime checks a loaded
   * checkpoint against it before the first read, and `ferry offsets set` refuses a position that does not
   * fit, naming the path of the mistake.
   */
  positionSchema?: z.ZodType;
  /**
   * A read-only preflight (`ferry check`): connect with the configured credentials, change nothing, and say
   * what would stop or harm a run. A factory without it has no checks.
   */
  check?(config: z.output<S>, ctx: FactoryContext): Promise<PreflightFinding[]>;
}

/** One problem a preflight found: an error stops `ferry check` (exit 1), a warning is printed only. */
export interface PreflightFinding {
  severity: 'error' | 'warning';
  /** A stable code documented in docs/errors.md. */
  code: string;
  /** The stream it concerns, when it concerns one. */
  stream?: string;
  /** What is wrong, and where. */
  message: string;
  /** The exact fix: SQL to run or an option to set. */
  fix: string;
}

/** A factory with its types inferred from the object (no annotations, no casts). */
export function defineFactory<S extends z.ZodType, T>(factory: Factory<S, T>): Factory<S, T> {
  return factory;
}

export interface Registry {
  sources: Map<string, Factory<z.ZodType, Source>>;
  sinks: Map<string, Factory<z.ZodType, Sink>>;
  deadLetters: Map<string, Factory<z.ZodType, DeadLetterSink>>;
  checkpoints: Map<string, Factory<z.ZodType, CheckpointStore>>;
  /** The plugins whose factories these are, in the order they were registered (`registerPlugin`). */
  plugins?: RegisteredPlugin[];
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

export const fileSinkFactory = defineFactory({
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
  create: (config, ctx): Sink =>
    createFileSink({ dir: resolve(ctx.baseDir, config.dir), topic: config.topic }),
});

export const fileDeadLetterFactory = defineFactory({
  type: 'file',
  description: 'Dead letters as JSON Lines in <dir>/<pipeline>.dlq.jsonl (the embedded default).',
  configSchema: z.object({ dir: dirOption('.ferry/dead-letters') }).strict(),
  create: (config, ctx): DeadLetterSink =>
    createFileDeadLetterSink({ dir: resolve(ctx.baseDir, config.dir), pipeline: ctx.pipeline }),
});

export const fileCheckpointFactory = defineFactory({
  type: 'file',
  description: 'Checkpoints as atomically replaced JSON files (the embedded default).',
  configSchema: z.object({ dir: dirOption('.ferry/checkpoints') }).strict(),
  create: (config, ctx): CheckpointStore =>
    createFileCheckpointStore({ dir: resolve(ctx.baseDir, config.dir) }),
});

/** Core's embedded defaults, registered like any other plugin. */
export const embeddedPlugin = definePlugin({
  apiVersion: PLUGIN_API_VERSION,
  name: '@ferry/core',
  sinks: [fileSinkFactory],
  deadLetters: [fileDeadLetterFactory],
  checkpoints: [fileCheckpointFactory],
});

/** A registry holding core's embedded defaults; add connectors with `registerPlugin(registry, ferryPlugin)`. */
export function createRegistry(): Registry {
  const registry: Registry = {
    sources: new Map(),
    sinks: new Map(),
    deadLetters: new Map(),
    checkpoints: new Map(),
  };
  registerPlugin(registry, embeddedPlugin);
  return registry;
}
