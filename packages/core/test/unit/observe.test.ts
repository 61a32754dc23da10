import {
  type BatchesCommitted,
  type BatchPrepared,
  FerryError,
  type PipelineObserver,
  runPipeline,
  WakeUp,
  waitForNextRun,
} from '@ferry/core';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ArraySource,
  fastRetry,
  identityMapping,
  MemoryCheckpoints,
  MemoryDeadLetters,
  MemorySink,
  record,
} from './helpers.js';

function recorder() {
  const prepared: BatchPrepared[] = [];
  const committed: BatchesCommitted[] = [];
  const inFlight: number[] = [];
  const ended: unknown[] = [];
  const observer: PipelineObserver = {
    batchPrepared: (b) => prepared.push(b),
    committed: (c) => committed.push(c),
    inFlight: (i) => inFlight.push(i.batches),
    runEnded: (e) => ended.push(e),
  };
  return { observer, prepared, committed, inFlight, ended };
}

describe('pipeline observers', () => {
  afterEach(() => trace.disable());

  it('reports per-stream counts, dead letters by code, lag, latency and in-flight batches', async () => {
    const old = new Date(Date.now() - 60_000);
    const input = [
      { ...record(1), stream: 'a', occurredAt: old },
      { ...record(2), stream: 'b', occurredAt: old },
      { ...record(3), stream: 'a', occurredAt: old, after: { id: 3, poison: true } },
    ];
    const rec = recorder();
    const summary = await runPipeline({
      name: 'obs',
      source: new ArraySource(input, 3),
      mapping: {
        ...identityMapping,
        map: (r) => {
          if (r.after?.poison) throw new FerryError('MAPPING_BAD_VALUE', 'poison');
          return { subject: String(r.key.id), data: r.after ?? {} };
        },
      },
      sink: new MemorySink(),
      deadLetters: new MemoryDeadLetters(),
      checkpoints: new MemoryCheckpoints(),
      retry: fastRetry,
      observer: rec.observer,
    });
    expect(summary.eventsWritten).toBe(2);
    expect(rec.prepared).toHaveLength(1);
    const streams = Object.fromEntries(rec.prepared[0]!.streams.map((s) => [s.stream, s]));
    expect(streams.a).toEqual({
      stream: 'a',
      records: 2,
      events: 1,
      skipped: 0,
      deadLetters: { MAPPING_BAD_VALUE: 1 },
    });
    expect(streams.b).toMatchObject({ records: 1, events: 1 });
    expect(rec.prepared[0]!.lagSeconds).toBeGreaterThanOrEqual(59);
    expect(rec.committed).toHaveLength(1);
    expect(rec.committed[0]!.latencySeconds[0]).toBeGreaterThanOrEqual(0);
    expect(rec.committed[0]!.position).toBe(3);
    expect(rec.inFlight).toEqual([1, 0]);
    expect(rec.ended).toEqual([{ pipeline: 'obs', summary }]);
  });

  it('measures batch latency from the moment the source yields the batch, not from when it was asked', async () => {
    // A stream source idle for 500 ms before a one-row batch: the wait is the source's, not the batch's.
    const source = new ArraySource([record(1), record(2)], 1);
    source.delayMs = 500;
    const rec = recorder();
    const started = performance.now();
    await runPipeline({
      name: 'obs',
      source,
      mapping: identityMapping,
      sink: new MemorySink(),
      deadLetters: new MemoryDeadLetters(),
      checkpoints: new MemoryCheckpoints(),
      retry: fastRetry,
      observer: rec.observer,
    });
    const elapsed = (performance.now() - started) / 1000;
    expect(elapsed).toBeGreaterThanOrEqual(0.99);
    const latencies = rec.committed.flatMap((c) => c.latencySeconds);
    expect(latencies).toHaveLength(2);
    // Mapping and an in-memory commit of one row take milliseconds; 0.25 s leaves room for a loaded machine
    // while failing the old clock, which counted the 500 ms wait.
    for (const seconds of latencies) expect(seconds).toBeLessThan(0.25);
  });

  it('passes the caught-up signal of a source to observers', async () => {
    const calls: string[] = [];
    const contexts: boolean[] = [];
    const source = {
      type: 'idle',
      cadence: { kind: 'stream' } as const,
      async *read(ctx: { caughtUp: () => void }) {
        contexts.push(typeof ctx.caughtUp === 'function');
        yield { records: [record(1)], position: 1 };
        ctx.caughtUp();
      },
      close: async () => {},
    };
    const common = {
      name: 'obs',
      mapping: identityMapping,
      sink: new MemorySink(),
      deadLetters: new MemoryDeadLetters(),
      checkpoints: new MemoryCheckpoints(),
      retry: fastRetry,
    };
    await runPipeline({ ...common, source, observer: { caughtUp: (i) => calls.push(i.pipeline) } });
    await runPipeline({ ...common, source, checkpoints: new MemoryCheckpoints() });
    expect(calls).toEqual(['obs']);
    expect(contexts).toEqual([true, true]);
  });

  it('a throwing observer never breaks the run', async () => {
    const sink = new MemorySink();
    const summary = await runPipeline({
      name: 'obs',
      source: new ArraySource([record(1), record(2)], 1),
      mapping: identityMapping,
      sink,
      deadLetters: new MemoryDeadLetters(),
      checkpoints: new MemoryCheckpoints(),
      retry: fastRetry,
      observer: {
        committed: () => {
          throw new Error('observer bug');
        },
      },
    });
    expect(summary.eventsWritten).toBe(2);
    expect(sink.events).toHaveLength(2);
  });

  it('tells observers how a failed run ended', async () => {
    const rec = recorder();
    const source = new ArraySource([record(1)], 1);
    source.failures.set(0, new FerryError('DB_AUTH_FAILED', 'bad password', { retryable: false }));
    await expect(
      runPipeline({
        name: 'obs',
        source,
        mapping: identityMapping,
        sink: new MemorySink(),
        deadLetters: new MemoryDeadLetters(),
        checkpoints: new MemoryCheckpoints(),
        retry: fastRetry,
        observer: rec.observer,
      }),
    ).rejects.toThrow('bad password');
    expect(rec.ended).toEqual([
      { pipeline: 'obs', error: { code: 'DB_AUTH_FAILED', message: 'bad password', retryable: false } },
    ]);
  });
});

describe('pipeline traces', () => {
  afterEach(() => trace.disable());

  it('sets no traceparent when no tracer is registered', async () => {
    const sink = new MemorySink();
    await runPipeline({
      name: 't',
      source: new ArraySource([record(1)], 1),
      mapping: identityMapping,
      sink,
      deadLetters: new MemoryDeadLetters(),
      checkpoints: new MemoryCheckpoints(),
      retry: fastRetry,
    });
    expect(sink.events[0]!.traceparent).toBeUndefined();
  });

  it('records a span per batch with read, map, validate and sink-write children; events carry its traceparent', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    provider.register();
    const sink = new MemorySink();
    await runPipeline({
      name: 't',
      source: new ArraySource([record(1), record(2), record(3)], 2),
      mapping: identityMapping,
      validate: () => undefined,
      sink,
      deadLetters: new MemoryDeadLetters(),
      checkpoints: new MemoryCheckpoints(),
      retry: fastRetry,
      maxInFlightBatches: 1,
    });
    await provider.forceFlush();
    const spans = exporter.getFinishedSpans();
    const batches = spans.filter((s) => s.name === 'ferry.batch');
    expect(batches).toHaveLength(2);
    for (const batch of batches) {
      const { traceId, spanId } = batch.spanContext();
      const children = spans
        .filter((s) => s.parentSpanContext?.spanId === spanId)
        .map((s) => s.name)
        .sort();
      expect(children).toEqual(['ferry.map', 'ferry.read', 'ferry.sink.write', 'ferry.validate']);
      const tagged = sink.events.filter((e) => e.traceparent === `00-${traceId}-${spanId}-01`);
      expect(tagged.length).toBeGreaterThan(0);
    }
    expect(new Set(sink.events.map((e) => e.traceparent)).size).toBe(2);
    await provider.shutdown();
  });
});

describe('WakeUp', () => {
  it('ends a wait for the next run early when an operator wakes it', async () => {
    const wake = new WakeUp();
    const stop = new AbortController();
    const waiting = waitForNextRun(
      new Date(),
      () => new Date(Date.now() + 3_600_000),
      stop.signal,
      undefined,
      wake,
    );
    for (let i = 0; i < 50 && !wake.waiting; i += 1) await new Promise((r) => setTimeout(r, 10));
    expect(wake.waiting).toBe(true);
    expect(wake.wake()).toBe(1);
    const at = await waiting;
    expect(at).toBeInstanceOf(Date);
    expect(Math.abs(at!.getTime() - Date.now())).toBeLessThan(5_000);
    expect(wake.waiting).toBe(false);
  });

  it('returns undefined when stopped while waiting', async () => {
    const wake = new WakeUp();
    const stop = new AbortController();
    const waiting = waitForNextRun(
      new Date(),
      () => new Date(Date.now() + 3_600_000),
      stop.signal,
      undefined,
      wake,
    );
    stop.abort();
    expect(await waiting).toBeUndefined();
    expect(wake.waiting).toBe(false);
  });
});
