// The database source's plugin manifest: the factory the CLI registers under `type: database`, with its
// options, positions and notes. It is light on purpose: the sources themselves (create.ts) and the preflight
// (check.ts) are imported when a pipeline builds or checks one.
import { defineFactory, definePlugin, PLUGIN_API_VERSION } from '@ferry/core/sdk';
import {
  type DatabasePollingConfig,
  type DatabaseSourceConfig,
  databaseSourceConfigSchema,
  streamName,
} from './config.js';
import { databasePositionSchema } from './positions.js';

/** What a person should know before trusting this configuration; `ferry validate` prints these. */
export function databaseSourceNotes(config: DatabaseSourceConfig): string[] {
  if (config.mode === 'trigger') return triggerNotes(config);
  if (config.mode === 'logical') return logicalNotes(config);
  if (config.mode === 'binlog') return binlogNotes(config);
  return pollingNotes(config);
}

function triggerNotes(config: Extract<DatabaseSourceConfig, { mode: 'trigger' }>): string[] {
  const journal = `${config.journal.schema === undefined ? '' : `${config.journal.schema}.`}${config.journal.table}`;
  const notes = [
    config.installTriggers
      ? `installTriggers is true: the journal ${journal} and triggers on every captured table are created at start when missing (needs CREATE and TRIGGER privileges)`
      : `trigger mode needs the journal ${journal} and triggers on every captured table: run \`ferry database install-triggers <pipeline.yaml>\` once with a user allowed to create them`,
    `the journal ${journal} serves one pipeline: acknowledged rows are deleted from it`,
    `snapshot: ${config.snapshot}${config.snapshot === 'never' ? ' (rows that exist before the triggers are never read)' : ''}`,
  ];
  if (config.connection.type !== 'postgres') {
    notes.push(
      'the triggers list the columns of each table: run install-triggers again after adding columns',
      ...(config.connection.type === 'better-sqlite3'
        ? []
        : ['TRUNCATE fires no trigger on MySQL/MariaDB and is not captured']),
    );
  }
  return notes;
}

function logicalNotes(config: Extract<DatabaseSourceConfig, { mode: 'logical' }>): string[] {
  return [
    'logical mode needs wal_level = logical on the server and a user with the REPLICATION attribute and SELECT on the tables',
    config.createSlot
      ? `createSlot is true: the slot ${config.slot} and the publication ${config.publication} are created at start when missing`
      : `the slot ${config.slot} and the publication ${config.publication} must exist: run \`ferry database create-slot <pipeline.yaml>\`, or set createSlot: true`,
    'updates and deletes carry the whole before image only for tables with REPLICA IDENTITY FULL (create-slot --replica-identity-full sets it); otherwise only the key',
    ...config.tables
      .filter((t) => t.replicaIdentity !== undefined)
      .map(
        (t) =>
          `${streamName(t)}: create-slot sets REPLICA IDENTITY ${t.replicaIdentity === 'full' ? 'FULL' : `USING INDEX ${t.replicaIdentity?.index}`} before publishing it (replicaIdentity); \`ferry database uninstall\` puts back what it was`,
      ),
    "a table without a primary key and without replicaIdentity is refused (DB_REPLICA_IDENTITY_MISSING): published, PostgreSQL would refuse the legacy application's UPDATE and DELETE on it; `ferry check <pipeline.yaml>` finds such tables",
    `an unused slot holds WAL on the server: drop it with \`ferry database drop-slot <pipeline.yaml>\` when the pipeline is retired`,
    `snapshot: ${config.snapshot}`,
  ];
}

function binlogNotes(config: Extract<DatabaseSourceConfig, { mode: 'binlog' }>): string[] {
  return [
    'binlog mode needs the server to write a row-based binary log: log_bin on, binlog_format = ROW, binlog_row_image = FULL and binlog_row_metadata = FULL (MariaDB 10.5+, MySQL 8.0.1+); `ferry check` says which setting is missing',
    'the user needs REPLICATION SLAVE and REPLICATION CLIENT on *.* and SELECT on the tables (docs/database.md#privileges)',
    config.serverId === undefined
      ? 'serverId is derived from the pipeline name; give it explicitly when other replicas or binlog readers use ids in 1073741824–2147483647'
      : `reads the binary log as server id ${config.serverId}: no other replica or reader of this server may use it`,
    'the server keeps binary logs for binlog_expire_logs_seconds only: a pipeline stopped longer than that must snapshot again (DB_BINLOG_PURGED, or snapshot: when-needed)',
    'an update that changes a row’s key is a delete of the old key and a create of the new one',
    `snapshot: ${config.snapshot}`,
  ];
}

function pollingNotes(config: DatabasePollingConfig): string[] {
  const notes = [
    'polling cannot see deletes: rows deleted in the legacy table produce no event; use mode trigger or logical, ' +
      'or a periodic full comparison',
  ];
  for (const table of config.tables) {
    const stream = streamName(table);
    if (table.timestampColumn === undefined) {
      notes.push(
        `${stream}: tracked by ${table.incrementingColumn} alone, so only new rows are read; updates to ` +
          'existing rows are not seen (add timestampColumn to see them)',
      );
      if (config.delayMs > 0) notes.push(`${stream}: delayMs has no effect without timestampColumn`);
    } else {
      notes.push(`${stream}: rows whose ${table.timestampColumn} is NULL are never read`);
      if (table.incrementingColumn === undefined) {
        notes.push(
          `${stream}: tracked by ${table.timestampColumn} alone; a page that ends inside a run of equal ` +
            'timestamps is extended to the whole run so none is skipped, which can make pages larger than ' +
            'batchSize; add incrementingColumn to keep pages bounded',
        );
      }
    }
  }
  const timestamped = config.tables.some((table) => table.timestampColumn !== undefined);
  if (timestamped && config.delayMs === 0) {
    notes.push(
      'delayMs is 0: a row written by a transaction that commits after later rows were read keeps an older ' +
        'timestamp and is skipped; set delayMs above the longest write transaction of the legacy system',
    );
  }
  if (timestamped && config.delayMs > 0 && config.connection.type === 'better-sqlite3') {
    notes.push(
      'delayMs in SQLite needs timestamp columns holding ISO 8601 text in UTC (what CURRENT_TIMESTAMP writes)',
    );
  }
  return notes;
}

export const databaseSourceFactory = defineFactory({
  type: 'database',
  description:
    'Change capture from PostgreSQL, MySQL, MariaDB or SQLite tables: polling, trigger journal, PostgreSQL logical replication, or the MariaDB/MySQL binary log.',
  configSchema: databaseSourceConfigSchema,
  positionSchema: databasePositionSchema,
  create: async (config, ctx) => (await import('./create.js')).buildDatabaseSource(config, ctx),
  notes: databaseSourceNotes,
  check: async (config, ctx) => (await import('./check.js')).checkDatabaseSource(config, ctx),
});

/** The plugin manifest (the database source): how the CLI, and any host, registers this package. */
export const ferryPlugin = definePlugin({
  apiVersion: PLUGIN_API_VERSION,
  name: '@ferry/database',
  sources: [databaseSourceFactory],
});
