// Trace export: nothing registered without an endpoint (the API stays a no-op), OTLP/JSON to the endpoint
// with the service name when one is set, and the endpoint resolved from the standard variables.
import { trace } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTracing, tracesEndpoint } from '../../src/index.js';
import { type OtlpReceiver, startOtlpReceiver } from '../otlp-receiver.js';

const OTEL_VARS = ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT'] as const;
const saved: Partial<Record<string, string>> = {};

beforeEach(() => {
  for (const name of OTEL_VARS) {
    saved[name] = process.env[name];
    delete process.env[name];
  }
});

afterEach(() => {
  for (const name of OTEL_VARS) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
});

const recording = () => trace.getTracer('x').startSpan('probe').spanContext();

describe('startTracing', () => {
  it('registers nothing without an endpoint: spans stay invalid no-ops', async () => {
    const tracing = await startTracing({ serviceName: 'ferry-test' });
    expect(tracing.enabled).toBe(false);
    expect(trace.isSpanContextValid(recording())).toBe(false);
    await tracing.shutdown();
  });

  describe('with an endpoint', () => {
    let receiver: OtlpReceiver;
    beforeEach(async () => {
      receiver = await startOtlpReceiver();
    });
    afterEach(async () => {
      await receiver.close();
    });

    it('exports spans as OTLP/JSON with the service name, and goes back to a no-op after shutdown', async () => {
      const tracing = await startTracing({
        serviceName: 'ferry-test',
        endpoint: receiver.url,
        headers: { 'x-api-key': 'k' },
      });
      expect(tracing.enabled).toBe(true);
      const span = trace.getTracer('x').startSpan('hello', { attributes: { 'ferry.records': 3 } });
      const { traceId, spanId } = span.spanContext();
      expect(trace.isSpanContextValid(span.spanContext())).toBe(true);
      span.end();
      await tracing.shutdown();
      await tracing.shutdown();

      expect(receiver.rejected).toEqual([]);
      expect(receiver.headers.map((h) => h['x-api-key'])).toContain('k');
      expect(receiver.spans).toEqual([
        {
          serviceName: 'ferry-test',
          traceId,
          spanId,
          parentSpanId: '',
          name: 'hello',
          attributes: { 'ferry.records': 3 },
        },
      ]);
      expect(trace.isSpanContextValid(recording())).toBe(false);
    });

    it('takes the endpoint from OTEL_EXPORTER_OTLP_ENDPOINT plus /v1/traces', async () => {
      process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url.replace('/v1/traces', '/');
      const tracing = await startTracing({ serviceName: 'from-env' });
      expect(tracing.enabled).toBe(true);
      trace.getTracer('x').startSpan('env').end();
      await tracing.shutdown();
      expect(receiver.spans.map((s) => [s.serviceName, s.name])).toEqual([['from-env', 'env']]);
    });
  });
});

describe('tracesEndpoint', () => {
  it('prefers the option, then the traces variable as is, then the base variable plus /v1/traces', () => {
    const env = {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:4318/custom',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:4318',
    };
    expect(tracesEndpoint('http://opt:4318/v1/traces', env)).toBe('http://opt:4318/v1/traces');
    expect(tracesEndpoint(undefined, env)).toBe('http://traces:4318/custom');
    expect(tracesEndpoint(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:4318/' })).toBe(
      'http://base:4318/v1/traces',
    );
    expect(tracesEndpoint(undefined, {})).toBeUndefined();
  });
});
