// OpenTelemetry trace export. With no endpoint configured nothing is registered: the API stays the no-op
// it is by default, so the runtime's spans cost (almost) nothing. With one, spans go out as OTLP/JSON over
// HTTP in batches.
import { context, propagation, trace } from '@opentelemetry/api';

export interface TracingOptions {
  /** The `service.name` resource attribute spans are exported under. */
  serviceName: string;
  /**
   * The full OTLP/HTTP traces URL (`http://collector:4318/v1/traces`). Without it, the standard variables
   * are read: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, or OTEL_EXPORTER_OTLP_ENDPOINT plus `/v1/traces`.
   */
  endpoint?: string;
  /** Extra HTTP headers for the collector (e.g. an API key); OTEL_EXPORTER_OTLP_HEADERS also applies. */
  headers?: Record<string, string>;
}

export interface TracingHandle {
  /** True when spans are exported; false when no endpoint was configured (nothing registered). */
  readonly enabled: boolean;
  /** Export what is buffered, then unregister the provider. Safe to call more than once. */
  shutdown(): Promise<void>;
}

/** The traces URL from the options or the environment, as the OTLP exporter specification resolves it. */
export function tracesEndpoint(
  endpoint: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (endpoint) return endpoint;
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (traces) return traces;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (base) return `${base.replace(/\/+$/, '')}/v1/traces`;
  return undefined;
}

export async function startTracing(options: TracingOptions): Promise<TracingHandle> {
  const url = tracesEndpoint(options.endpoint);
  if (url === undefined) return { enabled: false, shutdown: async () => undefined };
  // The SDK and the exporter are imported only when traces are exported: a run without them starts lighter.
  const [{ OTLPTraceExporter }, { resourceFromAttributes }, { BatchSpanProcessor, NodeTracerProvider }] =
    await Promise.all([
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/sdk-trace-node'),
    ]);
  const exporter = new OTLPTraceExporter({ url, ...(options.headers ? { headers: options.headers } : {}) });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  // Sets the global tracer provider, the async-hooks context manager (so child spans find their parent
  // across awaits) and the W3C trace-context propagator.
  provider.register();
  let stopped: Promise<void> | undefined;
  return {
    enabled: true,
    shutdown: () => {
      stopped ??= provider.shutdown().finally(() => {
        trace.disable();
        context.disable();
        propagation.disable();
      });
      return stopped;
    },
  };
}
