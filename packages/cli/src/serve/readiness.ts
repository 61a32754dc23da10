// /readyz for `ferry serve`: whether each hosted pipeline can do its work now. A run that failed, a batch
// waiting too long to be committed or a long streak of retries says no; so does a running source or sink
// that does not answer its probe.
import { isFerryError, type PipelineObserver, type Sink, type Source } from '@ferry/core';
import type { PipelineStatus, Readiness } from '@ferry/server';
import type { HostedPipelines } from './hosted.js';

/** How long one probe may take, and how long its verdict is reused. */
const PROBE_TIMEOUT_MS = 5_000;
const PROBE_REUSE_MS = 10_000;
/** A retry streak is over when a batch arrives, or when no retry happened for this long. */
const RETRY_QUIET_MS = 30_000;

/** The running source and sink of a pipeline, which the probes ask. */
export interface RunningParts {
  source: Source;
  sink: Sink;
}

/** What the lifecycle tells the readiness about each run. */
export interface RunWatcher {
  /** Observes the run's batches, commits and retries. */
  observer(name: string): PipelineObserver;
  /** The run assembled its source and sink. */
  started(name: string, parts: RunningParts): void;
  /** The run ended, whatever the reason. */
  ended(name: string): void;
}

interface Health {
  /** performance.now() of the oldest batch read and not yet committed. */
  pendingSince?: number;
  /** When the current streak of retries began (cleared by the next successful commit). */
  retryingSince?: number;
  lastRetryAt?: number;
  retryingOperation?: string;
  /** The running source and sink, probed by /readyz. */
  parts?: RunningParts;
  /** The last probe's verdict, reused for a few seconds so frequent /readyz calls do not hammer systems. */
  probed?: { at: number; problem: string | undefined };
  /** What the source last reported as harming the legacy system (Source.health), already worded. */
  harm?: string | undefined;
}

export class PipelineReadiness implements RunWatcher {
  private readonly health = new Map<string, Health>();
  private readonly stallMs: number;

  constructor(private readonly pipelines: HostedPipelines) {
    this.stallMs = (pipelines.options.stallAfterSeconds ?? 300) * 1000;
    for (const loaded of pipelines.all()) this.health.set(loaded.name, {});
  }

  observer(name: string): PipelineObserver {
    const h = this.of(name);
    return {
      batchPrepared: () => {
        // A batch arrived: the source answers again.
        delete h.retryingSince;
        delete h.lastRetryAt;
        h.pendingSince ??= performance.now();
      },
      committed: () => {
        delete h.retryingSince;
        // Later batches may still be waiting; the next batchPrepared restarts the clock if so.
        delete h.pendingSince;
      },
      retrying: (retry) => {
        h.retryingSince ??= performance.now();
        h.lastRetryAt = performance.now();
        h.retryingOperation = retry.operation;
      },
      sourceHealth: (report) => {
        const type = h.parts?.source.type ?? 'source';
        const redactor = this.pipelines.find(name).redactor;
        h.harm =
          report.problems.length === 0
            ? undefined
            : `source (${type}) harms the legacy system: ${report.problems
                .map((p) => `${p.code}: ${redactor.scrub(p.message)}`)
                .join('; ')}`;
      },
    };
  }

  started(name: string, parts: RunningParts): void {
    const h = this.of(name);
    h.parts = parts;
    delete h.probed;
  }

  ended(name: string): void {
    const h = this.of(name);
    delete h.parts;
    delete h.probed;
    delete h.pendingSince;
    delete h.retryingSince;
    delete h.harm;
  }

  /** `statuses` are the pipelines' run states now, in the order to report them. */
  async readiness(statuses: readonly PipelineStatus[]): Promise<Readiness> {
    const pipelines = await Promise.all(
      statuses.map(async (status) => {
        const name = status.name;
        const problem = this.runProblem(status) ?? (await this.probeProblem(name));
        if (problem !== undefined) return { name, ready: false, reason: problem };
        return status.state === 'paused'
          ? { name, ready: true, reason: 'paused by an operator' }
          : { name, ready: true };
      }),
    );
    return { ready: pipelines.every((p) => p.ready), pipelines };
  }

  /** What the run itself says: failed, stalled, or in a retry streak. */
  private runProblem(status: PipelineStatus): string | undefined {
    const h = this.of(status.name);
    const now = performance.now();
    if (status.state === 'failed') return `failed: ${status.error?.code ?? 'INTERNAL'}`;
    if (h.lastRetryAt !== undefined && now - h.lastRetryAt > RETRY_QUIET_MS) {
      delete h.retryingSince;
      delete h.lastRetryAt;
    }
    if (h.retryingSince !== undefined && now - h.retryingSince > this.stallMs) {
      return `${h.retryingOperation} has been failing for ${Math.round((now - h.retryingSince) / 1000)} s`;
    }
    if (h.pendingSince !== undefined && now - h.pendingSince > this.stallMs) {
      return `stalled: a batch has waited ${Math.round((now - h.pendingSince) / 1000)} s to be committed`;
    }
    if (h.retryingSince !== undefined) return `retrying ${h.retryingOperation}: source or sink unreachable`;
    return h.harm;
  }

  /** Ask the running source and sink whether they answer now (connectors that cannot tell are trusted). */
  private async probeProblem(name: string): Promise<string | undefined> {
    const h = this.of(name);
    const parts = h.parts;
    if (parts === undefined) return undefined;
    if (h.probed && performance.now() - h.probed.at < PROBE_REUSE_MS) return h.probed.problem;
    const redactor = this.pipelines.find(name).redactor;
    const check = async (what: 'source' | 'sink', part: Source | Sink): Promise<string | undefined> => {
      if (part.probe === undefined) return undefined;
      const signal = AbortSignal.timeout(PROBE_TIMEOUT_MS);
      try {
        await Promise.race([
          part.probe(signal),
          new Promise((_, reject) =>
            signal.addEventListener('abort', () => reject(new Error(`no answer in ${PROBE_TIMEOUT_MS} ms`)), {
              once: true,
            }),
          ),
        ]);
        return undefined;
      } catch (error) {
        const code = isFerryError(error) ? `${error.code}: ` : '';
        const message = error instanceof Error ? error.message : String(error);
        return `${what} (${part.type}) unreachable: ${code}${redactor.scrub(message)}`;
      }
    };
    const problems = await Promise.all([check('source', parts.source), check('sink', parts.sink)]);
    const problem = problems.filter((p) => p !== undefined).join('; ') || undefined;
    h.probed = { at: performance.now(), problem };
    return problem;
  }

  private of(name: string): Health {
    const h = this.health.get(name);
    if (h === undefined) throw new TypeError(`no readiness kept for pipeline '${name}'`);
    return h;
  }
}
