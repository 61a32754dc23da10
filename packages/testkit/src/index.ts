export {
  type CheckpointCapability,
  type CheckpointConformanceCheck,
  type CheckpointFixture,
  type CheckpointTarget,
  checkpointConformanceChecks,
  checkpointsClear,
  checkpointsIsolatePipelines,
  checkpointsKeepPassState,
  checkpointsKeepUnitTally,
  checkpointsLastSaveWins,
  checkpointsPersist,
  checkpointsUnknownIsUndefined,
  describeCheckpointConformance,
} from './checkpoint-conformance.js';
export { FakeClock } from './clock.js';
export {
  acknowledgesOnlyGivenPositions,
  type ConformanceCheck,
  ConformanceFailure,
  type ConformanceOptions,
  closeReleasesResources,
  declaresCadence,
  describeSourceConformance,
  deterministic,
  type FailureMode,
  flagsRetryableErrors,
  honoursAbort,
  type MakeSource,
  ordersBySequence,
  positionsMoveForward,
  readAll,
  readsEverything,
  resumesFromEveryPosition,
  type SourceFixture,
  type SourceLacks,
  sourceConformanceChecks,
} from './conformance.js';
export {
  type DeadLetterCapability,
  type DeadLetterConformanceCheck,
  type DeadLetterFixture,
  type DeadLetterTarget,
  deadLetterConformanceChecks,
  deadLettersListedOldestFirst,
  deadLettersReplayedOnce,
  deadLettersStoredDurably,
  describeDeadLetterConformance,
} from './dead-letter-conformance.js';
export { MemoryCheckpoints, MemoryDeadLetters, MemorySink } from './memory.js';
export { closedPort, type SilentServer, settled, silentServer } from './network.js';
export type { PartCheck, PartSuiteOptions } from './part-check.js';
export {
  type KafkaEndpoint,
  type SftpEndpoint,
  type SoapEndpoint,
  type SqlEndpoint,
  serviceLogs,
  services,
  servicesDir,
  uniqueName,
} from './services.js';
export {
  describeSinkConformance,
  type SinkCapability,
  type SinkConformanceCheck,
  type SinkFixture,
  type SinkTarget,
  sinkClosesSafely,
  sinkCommitsTogether,
  sinkConformanceChecks,
  sinkFailedCommitLeavesNothing,
  sinkKeepsAttributes,
  sinkProbes,
  sinkRewritesKeepIds,
  sinkStoresDurably,
  sinkWritesEncoded,
} from './sink-conformance.js';
export { eventually, type WaitOptions, waitFor } from './wait.js';
