// `@ferry/core/sdk`: what a connector, sink or checkpoint-store author builds with. The contract (Source,
// Sink, CheckpointStore and what flows through them), the factory a plugin registers, the error root and
// the classifier kit, and the shared machinery a connector must not write again: snapshot diffing, local
// state, sequences, time. A pipeline author needs none of it; see the root entry point.
export { type BreakerPolicy, CircuitBreaker, type CircuitState, defaultBreakerPolicy } from './breaker.js';
export {
  type Classified,
  causeChain,
  createErrorClassifier,
  type ErrorClassifierSpec,
  type ErrorLink,
  type ErrorRule,
  type ErrorVerdict,
  networkVerdict,
} from './classify.js';
export { formatPath, parseComponentOptions } from './config.js';
export { withDeadline } from './deadline.js';
export { contentHash, type DiffDeletion, type DiffObservation, type DiffOp, SnapshotDiff } from './diff.js';
export { openStateDatabase, type StateDatabase, type StateStatement } from './embedded/sqlite-state.js';
export {
  ConfigError,
  type ConfigIssue,
  FerryError,
  type FerryErrorOptions,
  isFerryError,
  isProgrammerError,
  isRetryable,
  TRANSIENT_NETWORK_CODES,
  toFerryError,
} from './errors.js';
export { eventId, sequenceOf, stableStringify, topicFor, topicName, topicResolver, uuidV5 } from './event.js';
export { formatBytes } from './format.js';
export { type Logger, type Redactor, silentLogger } from './logging.js';
export { getPath } from './mapping.js';
export { definePlugin, type FerryPlugin, PLUGIN_API_VERSION } from './plugins.js';
export {
  defineFactory,
  type Factory,
  type FactoryContext,
  type PipelineComponents,
  type PreflightFinding,
  type SourceContext,
} from './registry.js';
export { sleep } from './retry.js';
export { type Clock, systemClock } from './schedule.js';
export type {
  AtomicBatch,
  BaselineHandoff,
  Batch,
  BatchNotice,
  BatchProgress,
  CanonicalEvent,
  ChangeOp,
  ChangeRecord,
  CheckpointStore,
  DeadLetter,
  DeadLetterSink,
  DeadLetterStage,
  EncodedEvents,
  PassState,
  ReadContext,
  RejectedInput,
  Sink,
  SinkWriteResult,
  Source,
  SourceCadence,
  SourceHealth,
  StreamInfo,
  UnitCounts,
  UnitTallyState,
} from './types.js';
