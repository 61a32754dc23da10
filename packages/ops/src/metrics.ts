// Prometheus metrics for Ferry pipelines, fed by the runtime's observer hooks. Every metric lives in a
// registry of its own (never prom-client's global one), so several hosts or tests in one process never clash.
import type { PipelineObserver, StreamCounts } from '@ferry/core';
import { type Clock, systemClock } from '@ferry/core/sdk';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { createMigrationMetrics, type MigrationMetrics } from './migrations.js';
import { createWebhookMetrics, type WebhookMetrics } from './webhooks.js';

export type PipelineState = 'starting' | 'running' | 'paused' | 'failed' | 'stopped';

const STATES: readonly PipelineState[] = ['starting', 'running', 'paused', 'failed', 'stopped'];

/** How one expectation's window was judged (see ExpectationMonitor). */
export type ExpectationOutcome = 'met' | 'missing' | 'short' | 'over';

export interface MetricsOptions {
  /** Also collect prom-client's process and Node.js metrics (CPU, memory, event loop) into this registry. */
  collectDefault?: boolean;
  /** Time for `ferry_checkpoint_age_seconds`; the system clock unless a test injects one. */
  clock?: Clock;
}

export interface FerryMetrics {
  readonly registry: Registry;
  /** The Content-Type of `text()`, for the /metrics response. */
  readonly contentType: string;
  /** The exposition text of every metric. */
  text(): Promise<string>;
  /** An observer for one pipeline's runs; give it to the runtime (alone or through combineObservers). */
  observer(pipeline: string): PipelineObserver;
  /** Set `ferry_pipeline_state`: 1 for `state`, 0 for the others. The host owns the state. */
  setState(pipeline: string, state: PipelineState): void;
  /** Record the judgement of one expectation window. */
  expectationChecked(
    pipeline: string,
    expectation: string,
    outcome: ExpectationOutcome,
    records: number,
  ): void;
  /**
   * `ferry serve --cluster`: this worker got an assignment (a rebalance) with `pipelines` to run; the group
   * leader also knows how many pipelines no worker could take (`unassigned`).
   */
  clusterAssigned(info: { pipelines: number; leader: boolean; unassigned?: number }): void;
  /**
   * A pipeline the cluster gave this worker committed its first batch here, `seconds` after the assignment
   * (the new owner's share of a handover: claim, fence, read the checkpoint, first batch).
   */
  clusterHandover(pipeline: string, seconds: number): void;
  /** A commit of `pipeline` was refused because another worker had claimed it (KAFKA_PRODUCER_FENCED). */
  clusterFenced(pipeline: string): void;
  /**
   * The `ferry_webhook_*` metrics (`ferry serve --webhooks`), registered on the first call: a registry
   * without webhooks does not list them.
   */
  webhooks(): WebhookMetrics;
  /**
   * The `ferry_migration_*` metrics (`ferry serve --migration`), registered on the first call: a registry
   * without shadow runs does not list them.
   */
  migrations(): MigrationMetrics;
}

// From 5 ms (a small batch to a local file) to 2 minutes (a large batch through a slow broker or a retry).
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Ferry error codes are UPPER_SNAKE strings; any other value is never used as a label (no message, no secret). */
const CODE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;

/** The label value for an error code: the code itself when it looks like one, else `UNKNOWN`. */
export function codeLabel(code: string | undefined): string {
  return code !== undefined && CODE_PATTERN.test(code) ? code : 'UNKNOWN';
}

export function createMetrics(options: MetricsOptions = {}): FerryMetrics {
  const registry = new Registry();
  const clock = options.clock ?? systemClock;
  const registers = [registry];
  if (options.collectDefault) collectDefaultMetrics({ register: registry });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter<L>({ name, help, labelNames, registers });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Gauge<L>({ name, help, labelNames, registers });

  const recordsRead = counter('ferry_records_read_total', 'Change records read from the source.', [
    'pipeline',
    'stream',
  ]);
  const eventsWritten = counter(
    'ferry_events_written_total',
    'Canonical events durably written to the sink.',
    ['pipeline', 'stream'],
  );
  const recordsSkipped = counter('ferry_records_skipped_total', 'Records the mapping dropped on purpose.', [
    'pipeline',
    'stream',
  ]);
  const deadLetters = counter(
    'ferry_dead_letters_total',
    'Records sent to the dead-letter sink, by error code.',
    ['pipeline', 'stream', 'code'],
  );
  const retries = counter('ferry_retries_total', 'Retried calls, by operation and error code.', [
    'pipeline',
    'operation',
    'code',
  ]);
  const errors = counter(
    'ferry_errors_total',
    'Errors: every retried error and every run failure, by code.',
    ['pipeline', 'code', 'retryable'],
  );
  const batchLatency = new Histogram({
    name: 'ferry_batch_latency_seconds',
    help: 'Seconds from the start of a batch read to the end of its commit.',
    labelNames: ['pipeline'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const sourceLag = gauge(
    'ferry_source_lag_seconds',
    'Seconds the last batch was behind the legacy system, where the source can tell.',
    ['pipeline'],
  );
  const lastCommit = new Map<string, number>();
  new Gauge({
    name: 'ferry_checkpoint_age_seconds',
    help: 'Seconds since the last checkpoint was saved (computed at scrape time).',
    labelNames: ['pipeline'] as const,
    registers,
    collect() {
      for (const [pipeline, at] of lastCommit) this.set({ pipeline }, Math.max(0, (clock.now() - at) / 1000));
    },
  });
  const lastCheckpoint = gauge(
    'ferry_last_checkpoint_timestamp_seconds',
    'Unix time of the last saved checkpoint.',
    ['pipeline'],
  );
  const inFlight = gauge('ferry_in_flight_batches', 'Batches read but not yet committed.', ['pipeline']);
  const sourceGauge = gauge(
    'ferry_source_gauge',
    "The source's last report on its load on the legacy system, e.g. slot_retained_wal_bytes.",
    ['pipeline', 'name'],
  );
  const sourceProblems = gauge(
    'ferry_source_problems',
    'Conditions the source reports as harming the legacy system (0 when none), by code.',
    ['pipeline', 'code'],
  );
  const state = gauge(
    'ferry_pipeline_state',
    'The pipeline state: 1 for the current state, 0 for the others.',
    ['pipeline', 'state'],
  );
  const runs = counter('ferry_runs_total', 'Runs ended, by outcome (completed, stopped, failed).', [
    'pipeline',
    'outcome',
  ]);
  const expectationMet = gauge(
    'ferry_expectation_met',
    'Whether the last checked window of an expectation was met (1) or failed (0); absent until checked.',
    ['pipeline', 'expectation'],
  );
  const expectationFailures = counter(
    'ferry_expectation_failures_total',
    'Expectation windows that failed, by reason (missing, short, over).',
    ['pipeline', 'expectation', 'reason'],
  );
  const expectationRecords = gauge(
    'ferry_expectation_records',
    'Records counted in the last checked window of an expectation.',
    ['pipeline', 'expectation'],
  );

  const reportedCodes = new Map<string, Set<string>>();
  const rebalances = counter(
    'ferry_cluster_rebalances_total',
    'Assignments this worker received (rebalances).',
    [],
  );
  const handover = new Histogram({
    name: 'ferry_cluster_handover_seconds',
    help: 'From the assignment that gave this worker a pipeline to its first batch committed here.',
    labelNames: ['pipeline'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers,
  });
  const fenced = counter(
    'ferry_cluster_fenced_commits_total',
    'Commits refused because another worker had claimed the pipeline (this worker then stops it).',
    ['pipeline'],
  );
  const clusterPipelines = gauge('ferry_cluster_pipelines', 'Pipelines the cluster gave this worker.', []);
  const unassignedPipelines = gauge(
    'ferry_cluster_unassigned_pipelines',
    'Pipelines no live worker could take (labels no worker has, every worker draining); set on the group leader.',
    [],
  );

  const countStreams = (pipeline: string, streams: StreamCounts[]): void => {
    for (const s of streams) {
      const labels = { pipeline, stream: s.stream };
      if (s.records > 0) recordsRead.inc(labels, s.records);
      if (s.skipped > 0) recordsSkipped.inc(labels, s.skipped);
      for (const [code, n] of Object.entries(s.deadLetters)) {
        if (n > 0) deadLetters.inc({ ...labels, code: codeLabel(code) }, n);
      }
    }
  };

  let webhooks: WebhookMetrics | undefined;
  let migrations: MigrationMetrics | undefined;

  return {
    registry,
    contentType: registry.contentType,
    webhooks() {
      webhooks ??= createWebhookMetrics(registry);
      return webhooks;
    },
    migrations() {
      migrations ??= createMigrationMetrics(registry);
      return migrations;
    },
    text: () => registry.metrics(),
    setState(pipeline, current) {
      for (const s of STATES) state.set({ pipeline, state: s }, s === current ? 1 : 0);
    },
    clusterHandover(pipeline, seconds) {
      handover.observe({ pipeline }, seconds);
    },
    clusterFenced(pipeline) {
      fenced.inc({ pipeline });
    },
    clusterAssigned(info) {
      rebalances.inc();
      clusterPipelines.set(info.pipelines);
      if (info.unassigned !== undefined) unassignedPipelines.set(info.unassigned);
    },
    expectationChecked(pipeline, expectation, outcome, records) {
      const labels = { pipeline, expectation };
      expectationMet.set(labels, outcome === 'met' ? 1 : 0);
      expectationRecords.set(labels, records);
      if (outcome !== 'met') expectationFailures.inc({ ...labels, reason: outcome });
    },
    observer(pipeline) {
      inFlight.set({ pipeline }, 0);
      return {
        batchPrepared(info) {
          countStreams(pipeline, info.streams);
          if (info.lagSeconds !== undefined) sourceLag.set({ pipeline }, info.lagSeconds);
        },
        committed(info) {
          for (const s of info.streams) {
            if (s.events > 0) eventsWritten.inc({ pipeline, stream: s.stream }, s.events);
          }
          for (const seconds of info.latencySeconds) batchLatency.observe({ pipeline }, seconds);
          const at = info.at.getTime();
          lastCommit.set(pipeline, at);
          lastCheckpoint.set({ pipeline }, at / 1000);
        },
        caughtUp() {
          sourceLag.set({ pipeline }, 0);
        },
        retrying(info) {
          const code = codeLabel(info.code);
          retries.inc({ pipeline, operation: info.operation, code });
          // Only retryable errors are retried.
          errors.inc({ pipeline, code, retryable: 'true' });
        },
        inFlight(info) {
          inFlight.set({ pipeline }, info.batches);
        },
        sourceHealth(info) {
          for (const [name, value] of Object.entries(info.gauges)) sourceGauge.set({ pipeline, name }, value);
          // A code seen before and not reported now is back to 0, so an alert on it resolves.
          const now = new Set(info.problems.map((p) => codeLabel(p.code)));
          for (const code of reportedCodes.get(pipeline) ?? [])
            if (!now.has(code)) sourceProblems.set({ pipeline, code }, 0);
          for (const code of now) sourceProblems.set({ pipeline, code }, 1);
          reportedCodes.set(pipeline, now);
        },
        runEnded(info) {
          if (info.error !== undefined) {
            const { code, retryable } = info.error;
            errors.inc({ pipeline, code: codeLabel(code), retryable: String(retryable) });
            runs.inc({ pipeline, outcome: 'failed' });
          } else {
            runs.inc({ pipeline, outcome: info.summary?.stoppedBy === 'signal' ? 'stopped' : 'completed' });
          }
          inFlight.set({ pipeline }, 0);
        },
      };
    },
  };
}
