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
export { MemoryCheckpoints, MemoryDeadLetters, MemorySink } from './memory.js';
export { closedPort, type SilentServer, settled, silentServer } from './network.js';
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
