export {
  type AsyncApiOptions,
  asyncApiDocument,
  type ChannelEntry,
  currentVersions,
  generateTypes,
  repositoryChannels,
  typeName,
} from './artefacts.js';
export {
  type CheckReport,
  checkExamples,
  checkRepository,
  compareVersions,
  type ExampleReport,
  formatCheckReport,
  type PairReport,
} from './check.js';
export {
  type Bump,
  breakingUnder,
  type CompatibilityMode,
  compatibilityModes,
  diffSchemas,
  isTransitive,
  requiredBump,
  type SchemaChange,
} from './compatibility.js';
export {
  type ContractRepository,
  type ContractType,
  type ContractVersion,
  contractId,
  findVersion,
  loadContractRepository,
  resolveRefs,
} from './repository.js';
export { ContractValidators, type ContractViolation, createContractValidator } from './validation.js';
