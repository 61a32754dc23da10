// Turns a validated pipeline file into running parts, through the registry's factories.
import { type LoadedPipeline, loadMapping } from './config.js';
import { ConfigError, FerryError } from './errors.js';
import type { Logger } from './logging.js';
import type { PipelineObserver } from './observe.js';
import type { EventValidator, PipelineOptions } from './pipeline.js';
import type { FactoryContext, Registry } from './registry.js';
import type { Clock } from './schedule.js';
import type { CheckpointStore, DeadLetterSink, WakeSignal } from './types.js';

export interface AssembleOptions {
  logger: Logger;
  signal?: AbortSignal;
  once?: boolean;
  observer?: PipelineObserver;
  wake?: WakeSignal;
  clock?: Clock;
  /** This process's name in a cluster (FactoryContext.worker). */
  worker?: string;
}

export async function assemblePipeline(
  pipeline: LoadedPipeline,
  registry: Registry,
  options: AssembleOptions,
): Promise<PipelineOptions> {
  const ctx = factoryContextFor(pipeline, options.logger, options.worker);
  const mapping = await loadMapping(pipeline);
  const validate = await createValidator(pipeline, registry);
  const checkpoints = await createCheckpointStore(pipeline, registry, ctx);
  const sourceFactory = registry.sources.get(pipeline.source.type)!;
  const source = await sourceFactory.create(pipeline.source.options, ctx);
  const sink = await registry.sinks.get(pipeline.sink.type)!.create(pipeline.sink.options, ctx);
  const deadLetters = await createDeadLetterSink(pipeline, registry, ctx);
  return {
    name: pipeline.name,
    source,
    mapping,
    sink,
    deadLetters,
    checkpoints,
    retry: pipeline.runtime.retry,
    breaker: pipeline.runtime.breaker,
    maxInFlightBatches: pipeline.runtime.maxInFlightBatches,
    maxInFlightBytes: pipeline.runtime.maxInFlightBytes,
    ...(pipeline.raw.schedule ? { schedule: pipeline.raw.schedule } : {}),
    ...(sourceFactory.positionSchema ? { positionSchema: sourceFactory.positionSchema } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    deadLetterThreshold: pipeline.deadLetters.threshold,
    ...(validate ? { validate } : {}),
    logger: options.logger,
    once: options.once ?? false,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.observer ? { observer: options.observer } : {}),
    ...(options.wake ? { wake: options.wake } : {}),
  };
}

/** The contract check of a pipeline: none unless `contract.repository` names a contract repository. */
export async function createValidator(
  pipeline: LoadedPipeline,
  registry: Registry,
): Promise<EventValidator | undefined> {
  if (pipeline.contract.repository === undefined) return undefined;
  if (!registry.contractValidator) {
    throw new ConfigError(pipeline.file, [
      {
        path: 'contract.repository',
        message: 'contract validation is not available in this host (no @ferry/contracts)',
      },
    ]);
  }
  try {
    return await registry.contractValidator(pipeline.contract);
  } catch (error) {
    // A missing or broken contract is a configuration problem: say which file and option.
    const code = error instanceof FerryError ? error.code : 'CONFIG_INVALID';
    throw new ConfigError(pipeline.file, [{ path: 'contract', message: (error as Error).message }], code);
  }
}

/** What factories get to build a pipeline's parts: its name, directory, logger and every component. */
export function factoryContextFor(pipeline: LoadedPipeline, logger: Logger, worker?: string): FactoryContext {
  return {
    ...(worker !== undefined ? { worker } : {}),
    pipeline: pipeline.name,
    baseDir: pipeline.baseDir,
    maxInFlightBytes: pipeline.runtime.maxInFlightBytes,
    logger: logger.child({ pipeline: pipeline.name }),
    redactor: pipeline.redactor,
    components: {
      source: pipeline.source,
      sink: pipeline.sink,
      deadLetters: pipeline.deadLetters,
      checkpoints: pipeline.checkpoints,
    },
  };
}

export async function createCheckpointStore(
  pipeline: LoadedPipeline,
  registry: Registry,
  ctx: FactoryContext,
): Promise<CheckpointStore> {
  return registry.checkpoints.get(pipeline.checkpoints.type)!.create(pipeline.checkpoints.options, ctx);
}

export async function createDeadLetterSink(
  pipeline: LoadedPipeline,
  registry: Registry,
  ctx: FactoryContext,
): Promise<DeadLetterSink> {
  return registry.deadLetters.get(pipeline.deadLetters.type)!.create(pipeline.deadLetters.options, ctx);
}
