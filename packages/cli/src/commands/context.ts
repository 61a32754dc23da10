// What every command module gets: where to print, the registry of connectors, and how to open a pipeline
// file's parts without running it.
import {
  createLogger,
  type FactoryContext,
  factoryContextFor,
  type LoadedPipeline,
  type Logger,
  loadPipelineFile,
  type Registry,
} from '@ferry/core';
import { routeConsoleToLog } from '../console.js';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

export interface CommandContext {
  io: CliIo;
  registry: Registry;
  /** Set the process exit code without throwing (0 ok, 1 runtime failure, 2 usage). */
  setExit(code: number): void;
}

export interface OpenedPipeline {
  pipeline: LoadedPipeline;
  logger: Logger;
  factoryContext: FactoryContext;
}

/** Load and validate a pipeline file; nothing is connected yet. */
export async function openPipeline(
  file: string,
  ctx: CommandContext,
  logLevel = 'warn',
): Promise<OpenedPipeline> {
  const pipeline = await loadPipelineFile(file, ctx.registry);
  const logger = createLogger({ redactor: pipeline.redactor, level: logLevel });
  routeConsoleToLog(logger);
  return { pipeline, logger, factoryContext: factoryContextFor(pipeline, logger) };
}
