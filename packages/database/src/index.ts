// Public API of @ferry/database: the source factory, its options and its errors.
export {
  type DatabaseConnectionConfig,
  type DatabaseSourceConfig,
  type DatabaseSourceConfigInput,
  type DatabaseTableConfig,
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
export { createDatabaseSource, databaseSourceFactory, databaseSourceNotes } from './factory.js';
export type { DatabasePosition, TableWatermark, WatermarkValue } from './internal/values.js';
export { DatabasePollingSource, type DatabaseSourceContext } from './polling.js';
