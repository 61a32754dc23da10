export type {
  Batch,
  CanonicalEvent,
  ChangeOp,
  ChangeRecord,
  CheckpointStore,
  DeadLetter,
  DeadLetterSink,
  DeadLetterStage,
  ReadContext,
  RejectedInput,
  Sink,
  Source,
  StreamInfo,
} from './types.js';
export {
  ConfigError,
  type ConfigIssue,
  CoreErrorCodes,
  DeadLetterThresholdError,
  FerryError,
  type FerryErrorOptions,
  isFerryError,
  isProgrammerError,
  isRetryable,
  MappingError,
  RetriesExhaustedError,
  toFerryError,
} from './errors.js';
export { createRetrier, defaultRetryPolicy, type Retrier, type RetryAttempt, type RetryPolicy, sleep } from './retry.js';
export { createLogger, type Logger, type LoggerOptions, Redactor, silentLogger } from './logging.js';
export { buildEvent, type EnvelopeInput, eventId, eventType, stableStringify, topicFor, uuidV5 } from './event.js';
export {
  type FieldMapConfig,
  type FieldSpec,
  fieldMapping,
  fieldMapSchema,
  getPath,
  type LegacyDateFormat,
  type MappedEvent,
  type Mapping,
  type MappingContext,
  type MappingFunction,
} from './mapping.js';
export {
  type CommitInfo,
  type DeadLetterThreshold,
  defaultDeadLetterThreshold,
  type EventValidator,
  type PipelineOptions,
  type RunSummary,
  runPipeline,
} from './pipeline.js';
export { FileEventLogSink, type FileSinkConfig, createFileSink, readEventLog } from './embedded/file-sink.js';
export { FileDeadLetterSink, type FileDeadLetterConfig, createFileDeadLetterSink } from './embedded/file-dead-letters.js';
export {
  FileCheckpointStore,
  type FileCheckpointConfig,
  createFileCheckpointStore,
} from './embedded/file-checkpoints.js';
export { JsonlAppender, readJsonl } from './embedded/jsonl.js';
export {
  createRegistry,
  type Factory,
  type FactoryContext,
  fileCheckpointFactory,
  fileDeadLetterFactory,
  fileSinkFactory,
  type Registry,
} from './registry.js';
export {
  type ComponentConfig,
  formatPath,
  type LoadedPipeline,
  loadMapping,
  loadPipelineFile,
  parsePipelineConfig,
  type PipelineFile,
  pipelineFileSchema,
  redactedConfig,
} from './config.js';
export { type AssembleOptions, assemblePipeline, createCheckpointStore, createDeadLetterSink } from './assemble.js';
export { handleShutdownSignals, type ShutdownHandle } from './shutdown.js';
