// The metrics an observer feeds: counters move as records flow, labels carry only names and codes, and each
// FerryMetrics has a registry of its own.
import { type BatchesCommitted, type BatchPrepared, createLogger, runPipeline } from '@ferry/core';
import { type ReadContext, type Source, sleep } from '@ferry/core/sdk';
import { FakeClock } from '@ferry/testkit';
import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { codeLabel, createMetrics, type FerryMetrics } from '../../src/index.js';

async function values(metrics: FerryMetrics, name: string) {
  const metric = metrics.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  return (await metric.get()).values;
}

async function value(metrics: FerryMetrics, name: string, labels: Record<string, string>) {
  const found = (await values(metrics, name)).filter((v) =>
    Object.entries(labels).every(([k, l]) => v.labels[k] === l),
  );
  if (found.length !== 1)
    throw new Error(`${found.length} series of ${name} match ${JSON.stringify(labels)}`);
  return found[0]!.value;
}

const prepared = (over: Partial<BatchPrepared> = {}): BatchPrepared => ({
  pipeline: 'courts',
  streams: [
    { stream: 'main.CASES', records: 10, events: 7, skipped: 1, deadLetters: { MAPPING_REQUIRED_FIELD: 2 } },
    { stream: 'main.HEARINGS', records: 5, events: 5, skipped: 0, deadLetters: {} },
  ],
  notices: [],
  lagSeconds: 42,
  ...over,
});

const committed = (at: Date, over: Partial<BatchesCommitted> = {}): BatchesCommitted => ({
  pipeline: 'courts',
  batches: 2,
  streams: [
    { stream: 'main.CASES', records: 10, events: 7, skipped: 1, deadLetters: {} },
    { stream: 'main.HEARINGS', records: 5, events: 5, skipped: 0, deadLetters: {} },
  ],
  notices: [],
  latencySeconds: [0.003, 0.7],
  position: { lsn: '0/16B3748' },
  at,
  ...over,
});

describe('createMetrics', () => {
  it('counts records, skips and dead letters when a batch is prepared, events when it is committed', async () => {
    const metrics = createMetrics();
    const observer = metrics.observer('courts');
    observer.batchPrepared?.(prepared());
    expect(await value(metrics, 'ferry_records_read_total', { stream: 'main.CASES' })).toBe(10);
    expect(await value(metrics, 'ferry_records_read_total', { stream: 'main.HEARINGS' })).toBe(5);
    expect(await value(metrics, 'ferry_records_skipped_total', { stream: 'main.CASES' })).toBe(1);
    expect(
      await value(metrics, 'ferry_dead_letters_total', {
        stream: 'main.CASES',
        code: 'MAPPING_REQUIRED_FIELD',
      }),
    ).toBe(2);
    expect(await value(metrics, 'ferry_source_lag_seconds', { pipeline: 'courts' })).toBe(42);
    // Nothing is written before the commit.
    expect(await values(metrics, 'ferry_events_written_total')).toEqual([]);

    observer.committed?.(committed(new Date('2026-11-23T02:00:00Z')));
    expect(await value(metrics, 'ferry_events_written_total', { stream: 'main.CASES' })).toBe(7);
    expect(await value(metrics, 'ferry_events_written_total', { stream: 'main.HEARINGS' })).toBe(5);
    expect(await value(metrics, 'ferry_last_checkpoint_timestamp_seconds', { pipeline: 'courts' })).toBe(
      Date.parse('2026-11-23T02:00:00Z') / 1000,
    );
    const latency = await values(metrics, 'ferry_batch_latency_seconds');
    const count = latency.find((v) => v.metricName === 'ferry_batch_latency_seconds_count');
    expect(count?.value).toBe(2);
    const fast = latency.find(
      (v) => v.metricName === 'ferry_batch_latency_seconds_bucket' && v.labels.le === 0.005,
    );
    expect(fast?.value).toBe(1);
  });

  it('times ferry_batch_latency_seconds from the batch leaving the source to its commit, not the wait before', async () => {
    // As under `ferry serve`: a streaming source idle for 500 ms, then a one-row batch. The old clock started
    // when the runtime asked for the batch and recorded the idle wait (9.2 s seen for one-row batches).
    const metrics = createMetrics();
    const source: Source<number> = {
      type: 'idle-then-one',
      cadence: { kind: 'stream' },
      async *read(ctx: ReadContext<number>) {
        await sleep(500, ctx.signal);
        yield {
          records: [{ stream: 's', op: 'create', key: { id: 1 }, after: { id: 1 }, origin: {} }],
          position: 1,
        };
      },
      close: async () => {},
    };
    const events: unknown[] = [];
    let saved: unknown;
    await runPipeline({
      name: 'latency',
      source,
      mapping: { canonicalType: 'test.thing', map: (r) => ({ subject: String(r.key.id), data: r.after }) },
      sink: { type: 'memory', write: async (e) => void events.push(...e), close: async () => {} },
      deadLetters: { type: 'memory', write: async () => {}, close: async () => {} },
      checkpoints: {
        type: 'memory',
        load: async () => saved,
        save: async (_p, position) => {
          saved = position;
        },
      },
      observer: metrics.observer('latency'),
    });
    expect(events).toHaveLength(1);
    const latency = await values(metrics, 'ferry_batch_latency_seconds');
    const series = (name: string) =>
      latency.find((v) => v.metricName === name && v.labels.pipeline === 'latency');
    expect(series('ferry_batch_latency_seconds_count')?.value).toBe(1);
    expect(series('ferry_batch_latency_seconds_sum')?.value).toBeLessThan(0.25);
  });

  it('keeps the last known lag when a batch cannot tell, and drops it to 0 when the source caught up', async () => {
    const metrics = createMetrics();
    const observer = metrics.observer('courts');
    observer.batchPrepared?.(prepared({ lagSeconds: 12 }));
    observer.batchPrepared?.(prepared({ lagSeconds: undefined }));
    expect(await value(metrics, 'ferry_source_lag_seconds', { pipeline: 'courts' })).toBe(12);
    observer.caughtUp?.({ pipeline: 'courts', at: new Date() });
    expect(await value(metrics, 'ferry_source_lag_seconds', { pipeline: 'courts' })).toBe(0);
  });

  it('computes the checkpoint age at scrape time', async () => {
    const clock = new FakeClock(Date.parse('2026-11-23T02:00:00Z'));
    const metrics = createMetrics({ clock });
    expect(await metrics.text()).not.toContain('ferry_checkpoint_age_seconds{');
    metrics.observer('courts').committed?.(committed(new Date(clock.now())));
    await clock.advance(90_000);
    expect(await value(metrics, 'ferry_checkpoint_age_seconds', { pipeline: 'courts' })).toBe(90);
    await clock.advance(10_000);
    expect(await metrics.text()).toContain('ferry_checkpoint_age_seconds{pipeline="courts"} 100');
  });

  it('counts retries and run failures as errors, with the retryable flag', async () => {
    const metrics = createMetrics();
    const observer = metrics.observer('courts');
    observer.retrying?.({
      pipeline: 'courts',
      operation: 'sink.write',
      code: 'KAFKA_BROKER_UNAVAILABLE',
      attempt: 1,
    });
    observer.retrying?.({
      pipeline: 'courts',
      operation: 'sink.write',
      code: 'KAFKA_BROKER_UNAVAILABLE',
      attempt: 2,
    });
    observer.retrying?.({ pipeline: 'courts', operation: 'source.read', code: undefined, attempt: 1 });
    observer.runEnded?.({
      pipeline: 'courts',
      error: { code: 'RETRIES_EXHAUSTED', message: 'gave up', retryable: false },
    });
    expect(
      await value(metrics, 'ferry_retries_total', {
        operation: 'sink.write',
        code: 'KAFKA_BROKER_UNAVAILABLE',
      }),
    ).toBe(2);
    expect(await value(metrics, 'ferry_retries_total', { operation: 'source.read', code: 'UNKNOWN' })).toBe(
      1,
    );
    expect(
      await value(metrics, 'ferry_errors_total', { code: 'KAFKA_BROKER_UNAVAILABLE', retryable: 'true' }),
    ).toBe(2);
    expect(
      await value(metrics, 'ferry_errors_total', { code: 'RETRIES_EXHAUSTED', retryable: 'false' }),
    ).toBe(1);
    expect(await value(metrics, 'ferry_runs_total', { outcome: 'failed' })).toBe(1);
  });

  it('counts runs by outcome and tracks batches in flight', async () => {
    const metrics = createMetrics();
    const observer = metrics.observer('courts');
    expect(await value(metrics, 'ferry_in_flight_batches', { pipeline: 'courts' })).toBe(0);
    observer.inFlight?.({ pipeline: 'courts', batches: 3 });
    expect(await value(metrics, 'ferry_in_flight_batches', { pipeline: 'courts' })).toBe(3);
    const summary = {
      pipeline: 'courts',
      recordsRead: 0,
      eventsWritten: 0,
      deadLetters: 0,
      skipped: 0,
      batches: 0,
      retries: 0,
      durationMs: 1,
      eventsPerSecond: 0,
      position: null,
    };
    observer.runEnded?.({ pipeline: 'courts', summary: { ...summary, stoppedBy: 'end' } });
    observer.runEnded?.({ pipeline: 'courts', summary: { ...summary, stoppedBy: 'signal' } });
    expect(await value(metrics, 'ferry_runs_total', { outcome: 'completed' })).toBe(1);
    expect(await value(metrics, 'ferry_runs_total', { outcome: 'stopped' })).toBe(1);
    expect(await value(metrics, 'ferry_in_flight_batches', { pipeline: 'courts' })).toBe(0);
  });

  it('shows what a running source reports about its load on the legacy system, and clears a problem', async () => {
    const metrics = createMetrics();
    const reports = [
      {
        gauges: { slot_retained_wal_bytes: 3_000_000_000 },
        problems: [{ code: 'DB_SLOT_WAL_RETAINED', message: 'slot ferry holds 2.8 GiB of WAL' }],
      },
      { gauges: { slot_retained_wal_bytes: 1_000 }, problems: [] },
    ];
    let asked = 0;
    let askedTwice: () => void = () => {};
    const twice = new Promise<void>((resolve) => {
      askedTwice = resolve;
    });
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      destination: { write: (line: string) => void lines.push(line) },
    });
    const source: Source = {
      type: 'test',
      cadence: { kind: 'stream' },
      async health() {
        asked += 1;
        if (asked >= 2) askedTwice();
        return reports[Math.min(asked - 1, reports.length - 1)]!;
      },
      async *read() {
        // The runtime asks at start, then every healthIntervalMs: the run lasts until it asked twice.
        await twice;
        yield { records: [], position: 1 };
      },
      close: async () => {},
    };
    let during: number | undefined;
    const observer = metrics.observer('courts');
    await runPipeline({
      name: 'courts',
      source,
      mapping: { canonicalType: 'test.row', map: () => null },
      sink: { type: 'memory', write: async () => {}, close: async () => {} },
      deadLetters: { type: 'memory', write: async () => {}, close: async () => {} },
      checkpoints: { type: 'memory', load: async () => undefined, save: async () => {} },
      healthIntervalMs: 10,
      logger,
      observer: {
        ...observer,
        sourceHealth(info) {
          observer.sourceHealth?.(info);
          if (info.problems.length > 0) during = 1;
        },
      },
    });
    expect(during).toBe(1);
    expect(
      await value(metrics, 'ferry_source_gauge', { pipeline: 'courts', name: 'slot_retained_wal_bytes' }),
    ).toBe(1_000);
    // Reported once, then cleared: the series stays, at 0, so an alert on it resolves.
    expect(await value(metrics, 'ferry_source_problems', { code: 'DB_SLOT_WAL_RETAINED' })).toBe(0);
    const messages = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages.filter((m) => m.includes('legacy system'))).toEqual([
      'legacy system at risk: slot ferry holds 2.8 GiB of WAL',
      'legacy system no longer at risk: the condition cleared',
    ]);
  });

  it('never puts anything but an error code into a code label', async () => {
    const metrics = createMetrics();
    metrics.observer('courts').batchPrepared?.(
      prepared({
        streams: [
          {
            stream: 'main.CASES',
            records: 1,
            events: 0,
            skipped: 0,
            deadLetters: { 'connect failed: password=hunter22': 1 },
          },
        ],
      }),
    );
    const text = await metrics.text();
    expect(text).not.toContain('hunter22');
    expect(text).toContain(
      'ferry_dead_letters_total{pipeline="courts",stream="main.CASES",code="UNKNOWN"} 1',
    );
    expect(codeLabel('CSV_RAGGED_ROW')).toBe('CSV_RAGGED_ROW');
    expect(codeLabel('ECONNRESET')).toBe('ECONNRESET');
    expect(codeLabel('lowercase')).toBe('UNKNOWN');
    expect(codeLabel(undefined)).toBe('UNKNOWN');
  });

  it('sets exactly one pipeline state to 1', async () => {
    const metrics = createMetrics();
    metrics.setState('courts', 'running');
    metrics.setState('courts', 'paused');
    const states = (await values(metrics, 'ferry_pipeline_state')).map((v) => [v.labels.state, v.value]);
    expect(Object.fromEntries(states)).toEqual({ starting: 0, running: 0, paused: 1, failed: 0, stopped: 0 });
  });

  it('records expectation checks: met gauge, failures by reason, records', async () => {
    const metrics = createMetrics();
    expect(await values(metrics, 'ferry_expectation_met')).toEqual([]);
    metrics.expectationChecked('courts', 'court-list', 'short', 1200);
    expect(await value(metrics, 'ferry_expectation_met', { expectation: 'court-list' })).toBe(0);
    expect(await value(metrics, 'ferry_expectation_failures_total', { reason: 'short' })).toBe(1);
    expect(await value(metrics, 'ferry_expectation_records', { expectation: 'court-list' })).toBe(1200);
    metrics.expectationChecked('courts', 'court-list', 'met', 20000);
    expect(await value(metrics, 'ferry_expectation_met', { expectation: 'court-list' })).toBe(1);
    expect(await value(metrics, 'ferry_expectation_failures_total', { reason: 'short' })).toBe(1);
  });

  it('uses a registry of its own, never the global one', async () => {
    const a = createMetrics();
    const b = createMetrics({ collectDefault: true });
    a.observer('courts').batchPrepared?.(prepared());
    expect(await b.text()).not.toContain('ferry_records_read_total{');
    expect(await b.text()).toContain('process_cpu_user_seconds_total');
    expect(await a.text()).not.toContain('process_cpu_user_seconds_total');
    expect(await globalRegistry.metrics()).not.toContain('ferry_');
    expect(a.contentType).toContain('text/plain');
  });
});
