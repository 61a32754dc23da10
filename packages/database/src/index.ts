// Public API of @ferry/database: the source factory, its options, its positions, its set-up commands and its errors.
export {
  createDatabaseSlot,
  dropDatabaseSlot,
  installDatabaseTriggers,
  uninstallDatabaseTriggers,
} from './admin.js';
export {
  type CapturedTableConfig,
  type DatabaseConnectionConfig,
  type DatabaseLogicalConfig,
  type DatabasePollingConfig,
  type DatabaseSourceConfig,
  type DatabaseSourceConfigInput,
  type DatabaseTableConfig,
  type DatabaseTriggerConfig,
  databaseModeSchemas,
  databaseSourceConfigSchema,
  streamName,
} from './config.js';
export {
  classifyDatabaseError,
  DatabaseError,
  type DatabaseErrorCode,
  DatabaseErrorCodes,
  type DatabaseErrorContext,
} from './errors.js';
export {
  createDatabaseSource,
  type DatabaseSourcePosition,
  databaseSourceFactory,
  databaseSourceNotes,
  parseDatabaseSourceConfig,
} from './factory.js';
export type { LogicalPosition, SnapshotProgress, TriggerGap, TriggerPosition } from './internal/positions.js';
export type { DatabasePosition, TableWatermark, WatermarkValue } from './internal/values.js';
export { DatabaseLogicalSource } from './logical.js';
export { DatabasePollingSource, type DatabaseSourceContext } from './polling.js';
export {
  type DatabaseConnectionConfigInput,
  type DatabaseRow,
  type DatabaseRowsConfig,
  type DatabaseRowsConfigInput,
  type DatabaseRowsContext,
  databaseRowsConfigSchema,
  describeDatabaseConnection,
  parseDatabaseConnection,
  readDatabaseRows,
} from './rows.js';
export { DatabaseTriggerSource } from './trigger.js';
