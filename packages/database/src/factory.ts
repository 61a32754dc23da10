// The database source's entry points: the factory the CLI registers under `type: database`, and a function
// for programs that build a pipeline in code.
import { ConfigError, type Factory, formatPath, type Source } from '@ferry/core';
import {
  type DatabaseSourceConfig,
  type DatabaseSourceConfigInput,
  databaseSourceConfigSchema,
  streamName,
} from './config.js';
import type { DatabasePosition } from './internal/values.js';
import { DatabasePollingSource, type DatabaseSourceContext } from './polling.js';

/** Validate options (defaults applied) and build the source for their mode. */
export function createDatabaseSource(
  config: DatabaseSourceConfigInput,
  context: DatabaseSourceContext = {},
): Source<DatabasePosition> {
  const parsed = databaseSourceConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new ConfigError(
      undefined,
      parsed.error.issues.map((issue) => ({
        path: formatPath(['source', ...issue.path]),
        message: issue.message,
      })),
    );
  }
  return new DatabasePollingSource(parsed.data, context);
}

/** What a person should know before trusting this configuration; `ferry validate` prints these. */
export function databaseSourceNotes(config: DatabaseSourceConfig): string[] {
  const notes = [
    'polling cannot see deletes: rows deleted in the legacy table produce no event; use mode trigger or logical ' +
      'once available, or a periodic full comparison',
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

export const databaseSourceFactory: Factory<DatabaseSourceConfig, Source> = {
  type: 'database',
  description: 'Change capture from PostgreSQL, MySQL, MariaDB or SQLite tables through typeorm (polling).',
  configSchema: databaseSourceConfigSchema,
  create: (config, ctx) => new DatabasePollingSource(config, { baseDir: ctx.baseDir }),
  notes: databaseSourceNotes,
};
