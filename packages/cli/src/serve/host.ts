// `ferry serve` runs several pipelines in one process and answers the admin API about them. This is the
// AdminHost the API talks to; each concern lives in its own part: the runs (lifecycle.ts), their saved
// positions (offsets.ts), dead letters (dead-letters.ts), readiness (readiness.ts) and the published
// documents (documents.ts).
import { FerryError, type LoadedPipeline } from '@ferry/core';
import type {
  AdminHost,
  ClusterStatus,
  DeadLetterView,
  DrainAccepted,
  PipelineStatus,
  Readiness,
  ReplayResult,
} from '@ferry/server';
import { PipelineDeadLetters } from './dead-letters.js';
import { PipelineDocuments } from './documents.js';
import { HostedPipelines, type HostOptions } from './hosted.js';
import { PipelineLifecycle } from './lifecycle.js';
import { PipelineOffsets } from './offsets.js';
import { PipelineReadiness } from './readiness.js';

export type { HostOptions } from './hosted.js';

/** What cluster mode answers for the admin API. */
export interface ClusterControl {
  view(): ClusterStatus;
  drain(worker: string, undo: boolean): Promise<DrainAccepted>;
}

export class PipelineHost implements AdminHost {
  private readonly lifecycle: PipelineLifecycle;
  private readonly health: PipelineReadiness;
  private readonly positions: PipelineOffsets;
  private readonly letters: PipelineDeadLetters;
  private readonly documents: PipelineDocuments;

  private constructor(private readonly pipelines: HostedPipelines) {
    this.health = new PipelineReadiness(pipelines);
    this.lifecycle = new PipelineLifecycle(pipelines, this.health);
    this.positions = new PipelineOffsets(pipelines, this.lifecycle);
    this.letters = new PipelineDeadLetters(pipelines, this.lifecycle);
    this.documents = new PipelineDocuments(pipelines);
  }

  /** Load every pipeline file (a configuration mistake fails here, before anything runs). */
  static async open(files: readonly string[], options: HostOptions): Promise<PipelineHost> {
    return new PipelineHost(await HostedPipelines.load(files, options));
  }

  /** Start every pipeline and its freshness checks (in cluster mode: only the checks; see assign). */
  start(): void {
    if (this.pipelines.options.cluster) this.lifecycle.startMonitors();
    else this.lifecycle.start();
  }

  /** Cluster mode: run exactly these pipelines (see PipelineLifecycle.assign). */
  assign(names: ReadonlySet<string>): Promise<void> {
    return this.lifecycle.assign(names);
  }

  /** The hosted pipelines, as loaded (cluster mode checks and shares them). */
  loaded(): LoadedPipeline[] {
    return this.pipelines.all();
  }

  /** Stop every pipeline gracefully and wait for their checkpoints. */
  close(): Promise<void> {
    return this.lifecycle.close();
  }

  list(): PipelineStatus[] {
    return this.lifecycle.list();
  }

  get(name: string): PipelineStatus {
    return this.lifecycle.get(name);
  }

  pause(name: string): Promise<PipelineStatus> {
    return this.lifecycle.pause(name);
  }

  resume(name: string): Promise<PipelineStatus> {
    return this.lifecycle.resume(name);
  }

  trigger(name: string): Promise<{ started: boolean; detail: string }> {
    return this.lifecycle.trigger(name);
  }

  offsets(name: string): Promise<unknown> {
    return this.positions.offsets(name);
  }

  resetOffsets(name: string): Promise<void> {
    return this.positions.resetOffsets(name);
  }

  deadLetters(
    name: string,
    page: { limit: number; offset: number },
  ): Promise<{ total: number; items: DeadLetterView[] }> {
    return this.letters.deadLetters(name, page);
  }

  deadLetter(name: string, id: string): Promise<DeadLetterView> {
    return this.letters.deadLetter(name, id);
  }

  replay(name: string, options: { ids?: string[]; dryRun: boolean }): Promise<ReplayResult> {
    return this.letters.replay(name, options);
  }

  asyncapi(): Promise<Record<string, unknown>> {
    return this.documents.asyncapi();
  }

  readiness(): Promise<Readiness> {
    return this.health.readiness(this.lifecycle.list());
  }

  metrics(): Promise<{ contentType: string; body: string }> {
    return this.documents.metrics();
  }

  /** Set by cluster mode (serve/cluster.ts) as the worker joins; unset in single mode. */
  clusterControl: ClusterControl | undefined;

  cluster(): ClusterStatus {
    return (
      this.clusterControl?.view() ?? {
        mode: 'single',
        group: null,
        worker: null,
        memberId: null,
        leader: false,
        generation: null,
        assigned: [],
        plan: null,
        members: null,
        unassigned: null,
      }
    );
  }

  drainWorker(worker: string, undo: boolean): Promise<DrainAccepted> {
    if (!this.clusterControl) {
      throw new FerryError(
        'SERVER_NOT_IN_CLUSTER',
        'this ferry serve was not started with --cluster: there are no workers to drain',
      );
    }
    return this.clusterControl.drain(worker, undo);
  }
}
