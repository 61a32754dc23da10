// `@ferry/core`: what a pipeline author and a program hosting pipelines use: load and validate a pipeline
// file, assemble it from registered factories, run it, observe it, replay its dead letters. Connector
// authors build with `@ferry/core/sdk`.
export {
  type AssembleOptions,
  assemblePipeline,
  createCheckpointStore,
  createDeadLetterSink,
  createValidator,
  factoryContextFor,
} from './assemble.js';
export { type BreakerPolicy, CircuitBreaker, type CircuitState, defaultBreakerPolicy } from './breaker.js';
export {
  type ComponentConfig,
  type ConfigDocument,
  type Expectation,
  formatPath,
  type LoadedPipeline,
  loadConfigFile,
  loadMapping,
  loadPipelineFile,
  type PipelineFile,
  parseComponentOptions,
  parseConfigYaml,
  parsePipelineConfig,
  pipelineFileSchema,
  type ResolvedSecrets,
  readConfigFile,
  redactedConfig,
  resolveSecrets,
  WEAK_SECRET_WARNING,
} from './config.js';
export { type IssueAt, zodConfigIssues } from './config-issues.js';
export { cronSchedule, scheduleProblem } from './cron.js';
export {
  createFileCheckpointStore,
  type FileCheckpointConfig,
  FileCheckpointStore,
} from './embedded/file-checkpoints.js';
export { createFileDeadLetterSink, type FileDeadLetterConfig } from './embedded/file-dead-letters.js';
export { createFileSink, type FileSinkConfig, readEventLog } from './embedded/file-sink.js';
export {
  ConfigError,
  type ConfigIssue,
  CoreErrorCodes,
  DeadLetterThresholdError,
  FerryError,
  isFerryError,
  isRetryable,
  MappingError,
  RetriesExhaustedError,
} from './errors.js';
export { buildEvent, eventId, stableStringify, topicFor, topicName, topicResolver, uuidV5 } from './event.js';
export {
  createLogger,
  isWeakSecret,
  type Logger,
  type LoggerOptions,
  Redactor,
  SAFE_SECRET_LENGTH,
  silentLogger,
} from './logging.js';
export {
  type FieldMapConfig,
  type FieldSpec,
  fieldMapping,
  fieldMapSchema,
  type LegacyDateFormat,
  type MappedEvent,
  type Mapping,
  type MappingContext,
  type MappingFunction,
  mappedEvents,
} from './mapping.js';
export {
  fieldMapColumns,
  type MappedColumn,
  type MissingColumn,
  missingMappedColumns,
} from './mapping-check.js';
export {
  type BatchesCommitted,
  type BatchPrepared,
  combineObservers,
  type NoticeSummary,
  type PipelineObserver,
  type RetryObserved,
  type RunEnded,
  type SourceHealthObserved,
  type StreamCounts,
} from './observe.js';
export { factoryDocs, optionTable, registryDocs, SECTION_OF } from './option-docs.js';
export {
  type CommitInfo,
  type DeadLetterThreshold,
  defaultDeadLetterThreshold,
  type EventValidator,
  type PipelineOptions,
  positionProblems,
  runPipeline,
} from './pipeline.js';
export {
  definePlugin,
  type FerryPlugin,
  type ImportedPlugin,
  importPlugin,
  PLUGIN_API_VERSION,
  PLUGIN_KINDS,
  type PluginKind,
  type PluginReference,
  pluginExport,
  pluginOwning,
  pluginReferences,
  type RegisteredPlugin,
  registerPipelinePlugins,
  registerPlugin,
} from './plugins.js';
export {
  createRegistry,
  defineFactory,
  embeddedPlugin,
  type Factory,
  type FactoryContext,
  fileCheckpointFactory,
  fileDeadLetterFactory,
  fileSinkFactory,
  type PipelineComponents,
  type PipelineContract,
  type PreflightFinding,
  type Registry,
} from './registry.js';
export {
  letterId,
  pendingLetters,
  type ReplayOptions,
  type ReplayOutcome,
  replayDeadLetters,
} from './replay.js';
export {
  backoffDelay,
  createRetrier,
  defaultRetryPolicy,
  type Retrier,
  type RetryPolicy,
  sleep,
} from './retry.js';
export { type Clock, type NextRun, systemClock, WakeUp, waitForNextRun } from './schedule.js';
export { handleShutdownSignals, type ShutdownHandle } from './shutdown.js';
export type {
  AtomicBatch,
  CanonicalEvent,
  ChangeOp,
  ChangeRecord,
  CheckpointStore,
  DeadLetter,
  DeadLetterSink,
  EncodedEvents,
  RunSummary,
  Sink,
  SinkWriteResult,
  Source,
  WakeSignal,
} from './types.js';
