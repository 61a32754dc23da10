// Public API of @ferry/database: the source factory, its options, its positions, its set-up commands and its errors.
export {
  createDatabaseSlot,
  dropDatabaseSlot,
  installDatabaseTriggers,
  uninstallDatabase,
  uninstallDatabaseTriggers,
} from './admin.js';
export { DatabaseBinlogSource, defaultServerId } from './binlog.js';
export {
  checkDatabaseSource,
  type DatabaseCheckOptions,
  type DatabaseCheckPurpose,
  formatFinding,
  type PreflightFinding,
} from './check.js';
export {
  type CapturedTableConfig,
  type DatabaseBinlogConfig,
  type DatabaseConnectionConfig,
  type DatabaseLogicalConfig,
  type DatabasePollingConfig,
  type DatabaseSourceConfig,
  type DatabaseSourceConfigInput,
  type DatabaseTableConfig,
  type DatabaseTriggerConfig,
  databaseModeSchemas,
  databaseSourceConfigSchema,
  type LogicalTableConfig,
  streamName,
} from './config.js';
export { createDatabaseSource, parseDatabaseSourceConfig } from './create.js';
export {
  classifyDatabaseError,
  DatabaseError,
  type DatabaseErrorCode,
  DatabaseErrorCodes,
  type DatabaseErrorContext,
} from './errors.js';
export { databaseSourceFactory, databaseSourceNotes, ferryPlugin } from './factory.js';
export { DatabaseLogicalSource } from './logical.js';
export { DatabasePollingSource } from './polling.js';
export {
  type BinlogPosition,
  type DatabasePosition,
  type DatabaseSourcePosition,
  databasePositionSchema,
  type LogicalPosition,
  type SnapshotProgress,
  type TableWatermark,
  type TriggerGap,
  type TriggerPosition,
  type WatermarkValue,
} from './positions.js';
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
