export { FakeClock } from './clock.js';
export {
  acknowledgesOnlyGivenPositions,
  type ConformanceCheck,
  ConformanceFailure,
  type ConformanceOptions,
  closeReleasesResources,
  describeSourceConformance,
  deterministic,
  type FailureMode,
  flagsRetryableErrors,
  honoursAbort,
  type MakeSource,
  positionsMoveForward,
  readAll,
  readsEverything,
  resumesFromEveryPosition,
  type SourceFixture,
  sourceConformanceChecks,
} from './conformance.js';
export { MemoryCheckpoints, MemoryDeadLetters, MemorySink } from './memory.js';
export { servicesDir, testServices, uniqueName } from './services.js';
