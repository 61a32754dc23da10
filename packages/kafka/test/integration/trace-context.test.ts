// The trace context crosses the broker: a pipeline run with a tracer registered writes each event's
// `traceparent` as the `ce_traceparent` header (CloudEvents distributed-tracing extension), and a consumer
// that extracts it continues the very trace the batch span started.
import { runPipeline } from '@ferry/core';
import { type Batch, type ChangeRecord, type Source, silentLogger } from '@ferry/core/sdk';
import { MemoryCheckpoints, MemoryDeadLetters } from '@ferry/testkit';
import { context, propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { afterEach, describe, expect, it } from 'vitest';
import { createKafkaSink, kafkaSinkConfigSchema } from '../../src/index.js';
import { brokers, consumeAll, unique } from '../helpers.js';

function source(records: ChangeRecord[]): Source<number> {
  return {
    type: 'array',
    cadence: { kind: 'stream' },
    async *read(ctx): AsyncIterable<Batch<number>> {
      for (let i = ctx.from ?? 0; i < records.length; i += 2) {
        yield { records: records.slice(i, i + 2), position: Math.min(i + 2, records.length) };
      }
    },
    close: async () => {},
  };
}

describe('trace context over Kafka', () => {
  afterEach(() => {
    trace.disable();
    propagation.disable();
  });

  it('a consumer continues the batch trace from the ce_traceparent header', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    provider.register();
    const topic = unique('ferry-it-trace');
    const sink = await createKafkaSink(kafkaSinkConfigSchema.parse({ brokers, topic }), {
      pipeline: 'trace-it',
      logger: silentLogger(),
    });
    const records: ChangeRecord[] = [1, 2, 3].map((id) => ({
      stream: 'main.T',
      op: 'create',
      key: { id },
      after: { id },
      origin: { table: 'T', id },
    }));
    await runPipeline({
      name: 'trace-it',
      source: source(records),
      mapping: {
        canonicalType: 'test.thing',
        dataschema: 'urn:test',
        map: (r) => ({ subject: String(r.key.id), data: r.after ?? {} }),
      },
      sink,
      deadLetters: new MemoryDeadLetters(),
      checkpoints: new MemoryCheckpoints(),
      maxInFlightBatches: 1,
    });
    await provider.forceFlush();
    const batchSpans = exporter.getFinishedSpans().filter((s) => s.name === 'ferry.batch');
    expect(batchSpans).toHaveLength(2);

    const messages = await consumeAll(topic, 3);
    expect(messages).toHaveLength(3);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    const consumerTracer = trace.getTracer('consumer');
    for (const message of messages) {
      const header = message.headers.ce_traceparent;
      expect(header).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      const parent = propagation.extract(context.active(), { traceparent: header });
      const span = consumerTracer.startSpan('consume', undefined, parent);
      span.end();
      const batch = batchSpans.find((b) => b.spanContext().spanId === header!.split('-')[2]);
      expect(batch, 'the header names an exported ferry.batch span').toBeDefined();
      expect(span.spanContext().traceId).toBe(batch!.spanContext().traceId);
    }
    await provider.forceFlush();
    const consumed = exporter.getFinishedSpans().filter((s) => s.name === 'consume');
    expect(consumed.map((s) => s.parentSpanContext?.spanId).sort()).toEqual(
      messages.map((m) => m.headers.ce_traceparent!.split('-')[2]).sort(),
    );
    await provider.shutdown();
  });
});
