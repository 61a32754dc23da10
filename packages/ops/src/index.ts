export { ExpectationMonitor, type ExpectationMonitorOptions, type ExpectationStatus } from './freshness.js';
export {
  codeLabel,
  createMetrics,
  type ExpectationOutcome,
  type FerryMetrics,
  type MetricsOptions,
  type PipelineState,
} from './metrics.js';
export { createMigrationMetrics, type MigrationMetrics, type MigrationSample } from './migrations.js';
export { startTracing, type TracingHandle, type TracingOptions, tracesEndpoint } from './tracing.js';
export {
  attemptResult,
  createWebhookMetrics,
  type WebhookDeliveryObserver,
  type WebhookMetrics,
  type WebhookSubscriptionSample,
} from './webhooks.js';
