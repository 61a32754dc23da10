// The pipelines one `ferry serve` process hosts, loaded once at start: what every part of the host
// (lifecycle, offsets, dead letters, readiness, documents) shares.
import {
  type FactoryContext,
  FerryError,
  factoryContextFor,
  type LoadedPipeline,
  type Logger,
  loadPipelineFile,
  type PipelineObserver,
  type Redactor,
  type Registry,
  WEAK_SECRET_WARNING,
} from '@ferry/core';
import type { FerryMetrics } from '@ferry/ops';

export interface HostOptions {
  registry: Registry;
  logger: Logger;
  metrics: FerryMetrics;
  /** A batch read but not committed for this long, or retries for this long, makes /readyz fail. */
  stallAfterSeconds?: number;
  /** Extra observers for every pipeline (a progress bar). */
  observer?: PipelineObserver;
  /** The redactor of `logger`: every hosted pipeline's secrets are added to it as the files are loaded. */
  redactor?: Redactor;
  /**
   * Cluster mode (`--cluster`): pipelines run only where the cluster assigns them, guarded by checkpoint
   * fencing instead of the single-host run lock. `worker` is this worker's name, which its commits carry.
   */
  cluster?: { worker: string };
}

export class HostedPipelines {
  private constructor(
    private readonly byName: ReadonlyMap<string, LoadedPipeline>,
    readonly options: HostOptions,
  ) {}

  /** Load every pipeline file (a configuration mistake fails here, before anything runs). */
  static async load(files: readonly string[], options: HostOptions): Promise<HostedPipelines> {
    const byName = new Map<string, LoadedPipeline>();
    for (const file of files) {
      const loaded = await loadPipelineFile(file, options.registry);
      options.redactor?.addAll(loaded.redactor);
      for (const path of loaded.weakSecretPaths)
        options.logger.warn({ file: loaded.file, path }, WEAK_SECRET_WARNING);
      if (byName.has(loaded.name)) {
        throw new FerryError('USAGE', `two pipeline files are named '${loaded.name}' (${file})`);
      }
      byName.set(loaded.name, loaded);
    }
    return new HostedPipelines(byName, options);
  }

  /** In the order the files were given. */
  all(): LoadedPipeline[] {
    return [...this.byName.values()];
  }

  find(name: string): LoadedPipeline {
    const loaded = this.byName.get(name);
    if (!loaded) {
      const known = [...this.byName.keys()].join(', ');
      throw new FerryError('PIPELINE_NOT_FOUND', `no pipeline '${name}' here; hosted: ${known}`);
    }
    return loaded;
  }

  context(loaded: LoadedPipeline): FactoryContext {
    return factoryContextFor(loaded, this.options.logger, this.options.cluster?.worker);
  }
}
