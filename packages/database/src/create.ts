// Building a database source from its options: the classes of every mode, and with them typeorm and the
// drivers. The factory (factory.ts) imports this module only when a pipeline builds a source, so registering
// the plugin costs a host nothing it does not use.
import { parseComponentOptions, type Source, type SourceContext } from '@ferry/core/sdk';
import { DatabaseBinlogSource } from './binlog.js';
import {
  type DatabaseSourceConfig,
  type DatabaseSourceConfigInput,
  databaseSourceConfigSchema,
} from './config.js';
import { DatabaseLogicalSource } from './logical.js';
import { DatabasePollingSource } from './polling.js';
import type {
  BinlogPosition,
  DatabasePosition,
  DatabaseSourcePosition,
  LogicalPosition,
  TriggerPosition,
} from './positions.js';
import { DatabaseTriggerSource } from './trigger.js';

/** Validate options the way a pipeline file is validated, naming the path of each problem. */
export function parseDatabaseSourceConfig(config: DatabaseSourceConfigInput): DatabaseSourceConfig {
  return parseComponentOptions(databaseSourceConfigSchema, config, 'source');
}

/** The source for the options' mode (already validated, defaults applied). */
export function buildDatabaseSource(
  config: DatabaseSourceConfig,
  context: SourceContext,
): Source<DatabaseSourcePosition> {
  switch (config.mode) {
    case 'trigger':
      return new DatabaseTriggerSource(config, context);
    case 'logical':
      return new DatabaseLogicalSource(config, context);
    case 'binlog':
      return new DatabaseBinlogSource(config, context);
    default:
      return new DatabasePollingSource(config, context);
  }
}

/** Validate options (defaults applied) and build the source for their mode. */
export function createDatabaseSource(
  config: DatabaseSourceConfigInput & { mode?: 'polling' },
  context?: SourceContext,
): Source<DatabasePosition>;
export function createDatabaseSource(
  config: DatabaseSourceConfigInput & { mode: 'trigger' },
  context?: SourceContext,
): Source<TriggerPosition>;
export function createDatabaseSource(
  config: DatabaseSourceConfigInput & { mode: 'logical' },
  context?: SourceContext,
): Source<LogicalPosition>;
export function createDatabaseSource(
  config: DatabaseSourceConfigInput & { mode: 'binlog' },
  context?: SourceContext,
): Source<BinlogPosition>;
export function createDatabaseSource(
  config: DatabaseSourceConfigInput,
  context?: SourceContext,
): Source<DatabaseSourcePosition>;
export function createDatabaseSource(
  config: DatabaseSourceConfigInput,
  context: SourceContext = {},
): Source<DatabaseSourcePosition> {
  return buildDatabaseSource(parseDatabaseSourceConfig(config), context);
}
