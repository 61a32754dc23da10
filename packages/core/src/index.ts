export {
  type AssembleOptions,
  assemblePipeline,
  createCheckpointStore,
  createDeadLetterSink,
  createValidator,
  factoryContextFor,
} from './assemble.js';
export {
  type ComponentConfig,
  type ConfigDocument,
  type Expectation,
  formatPath,
  type LoadedPipeline,
  loadMapping,
  loadPipelineFile,
  type PipelineFile,
  parseComponentOptions,
  parseConfigYaml,
  parsePipelineConfig,
  pipelineFileSchema,
  readConfigFile,
  redactedConfig,
} from './config.js';
export { cronSchedule, runSchedule, scheduleProblem } from './cron.js';
export { withDeadline } from './deadline.js';
export { contentHash, type DiffDeletion, type DiffObservation, type DiffOp, SnapshotDiff } from './diff.js';
export {
  createFileCheckpointStore,
  type FileCheckpointConfig,
  FileCheckpointStore,
} from './embedded/file-checkpoints.js';
export {
  createFileDeadLetterSink,
  type FileDeadLetterConfig,
  FileDeadLetterSink,
} from './embedded/file-dead-letters.js';
export { createFileSink, FileEventLogSink, type FileSinkConfig, readEventLog } from './embedded/file-sink.js';
export { JsonlAppender, readJsonl } from './embedded/jsonl.js';
export { openStateDatabase, type StateDatabase, type StateStatement } from './embedded/sqlite-state.js';
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
  TRANSIENT_NETWORK_CODES,
  toFerryError,
} from './errors.js';
export {
  buildEvent,
  type EnvelopeInput,
  eventId,
  eventType,
  stableStringify,
  topicFor,
  topicName,
  uuidV5,
} from './event.js';
export { createLogger, type Logger, type LoggerOptions, Redactor, silentLogger } from './logging.js';
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
  mappedEvents,
} from './mapping.js';
export { noticeEvent } from './notice.js';
export {
  type BatchesCommitted,
  type BatchPrepared,
  combineObservers,
  type NoticeSummary,
  type PipelineObserver,
  type RetryObserved,
  type RunEnded,
  type StreamCounts,
} from './observe.js';
export {
  type CommitInfo,
  type DeadLetterThreshold,
  defaultDeadLetterThreshold,
  type EventValidator,
  type PipelineOptions,
  type RunSummary,
  runPipeline,
} from './pipeline.js';
export {
  createRegistry,
  type Factory,
  type FactoryContext,
  fileCheckpointFactory,
  fileDeadLetterFactory,
  fileSinkFactory,
  type PipelineComponents,
  type PipelineContract,
  type Registry,
} from './registry.js';
export {
  createRetrier,
  defaultRetryPolicy,
  type Retrier,
  type RetryAttempt,
  type RetryPolicy,
  sleep,
} from './retry.js';
export {
  type Clock,
  intervalSchedule,
  isRunDue,
  type NextRun,
  systemClock,
  WakeUp,
  waitForNextRun,
} from './schedule.js';
export { handleShutdownSignals, type ShutdownHandle } from './shutdown.js';
export type {
  AtomicBatch,
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
  ReadContext,
  RejectedInput,
  Sink,
  Source,
  StreamInfo,
  WakeSignal,
} from './types.js';
