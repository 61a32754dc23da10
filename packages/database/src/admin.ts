// Set-up that Ferry does only when asked (`ferry database …`): installing the trigger journal, creating and
// dropping the logical replication slot and publication.
import type { SourceContext } from '@ferry/core/sdk';
import type { DataSource } from 'typeorm';
import type { DatabaseLogicalConfig, DatabaseSourceConfig, DatabaseTriggerConfig } from './config.js';
import { classifyDatabaseError, DatabaseError, DatabaseErrorCodes } from './errors.js';
import { type CapturedTable, describeTables, journalNames, uninstallStatements } from './internal/capture.js';
import { Connection, dialectOf } from './internal/connection.js';
import { createSlot, replicationClientConfig } from './internal/replication.js';
import { checkWalLevel, publicationSql, slotInfo } from './logical.js';
import { installCapture } from './trigger.js';

async function withConnection<T>(
  config: DatabaseSourceConfig,
  context: SourceContext,
  operation: string,
  work: (dataSource: DataSource, tables: CapturedTable[], target: string) => Promise<T>,
): Promise<T> {
  const connection = new Connection(config.connection, context.baseDir ?? process.cwd(), true);
  try {
    const dataSource = await connection.open();
    const dialect = dialectOf(dataSource);
    const tables = await describeTables(dataSource, dialect, config.tables, connection.target);
    return await work(dataSource, tables, connection.target);
  } catch (error) {
    throw classifyDatabaseError(error, { operation, target: connection.target });
  } finally {
    await connection.close();
  }
}

function requireMode<M extends DatabaseSourceConfig['mode']>(
  config: DatabaseSourceConfig,
  mode: M,
  command: string,
): asserts config is Extract<DatabaseSourceConfig, { mode: M }> {
  if (config.mode !== mode) {
    throw new DatabaseError(
      DatabaseErrorCodes.DB_QUERY_FAILED,
      `${command} applies to source mode ${mode}; this pipeline's source has mode ${config.mode}`,
    );
  }
}

/** Create (or refresh) the journal and the triggers; returns the statements run. */
export async function installDatabaseTriggers(
  config: DatabaseSourceConfig,
  context: SourceContext = {},
): Promise<string[]> {
  requireMode(config, 'trigger', 'install-triggers');
  const trigger: DatabaseTriggerConfig = config;
  return withConnection(config, context, 'install-triggers', async (dataSource, tables) => {
    const dialect = dialectOf(dataSource);
    const names = await journalNames(dataSource, dialect, trigger.journal);
    return installCapture(dataSource, dialect, names, tables, trigger.journal);
  });
}

/** Remove the triggers, and the journal too when `dropJournal`. */
export async function uninstallDatabaseTriggers(
  config: DatabaseSourceConfig,
  context: SourceContext = {},
  options: { dropJournal?: boolean } = {},
): Promise<string[]> {
  requireMode(config, 'trigger', 'uninstall-triggers');
  const trigger: DatabaseTriggerConfig = config;
  return withConnection(config, context, 'uninstall-triggers', async (dataSource, tables) => {
    const dialect = dialectOf(dataSource);
    const names = await journalNames(dataSource, dialect, trigger.journal);
    const statements = uninstallStatements(dialect, names, tables, options.dropJournal ?? false);
    for (const sql of statements) await dataSource.query(sql);
    return statements;
  });
}

/**
 * Create the publication and the slot when missing (and set REPLICA IDENTITY FULL when asked, so updates
 * and deletes carry the whole before image). Returns what was done.
 */
export async function createDatabaseSlot(
  config: DatabaseSourceConfig,
  context: SourceContext = {},
  options: { replicaIdentityFull?: boolean } = {},
): Promise<string[]> {
  requireMode(config, 'logical', 'create-slot');
  const logical: DatabaseLogicalConfig = config;
  return withConnection(config, context, 'create-slot', async (dataSource, tables, target) => {
    await checkWalLevel(dataSource, target);
    const done: string[] = [];
    if (options.replicaIdentityFull) {
      for (const table of tables) {
        await dataSource.query(`ALTER TABLE ${table.sql} REPLICA IDENTITY FULL`);
        done.push(`ALTER TABLE ${table.sql} REPLICA IDENTITY FULL`);
      }
    }
    const publications = (await dataSource.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [
      logical.publication,
    ])) as unknown[];
    if (publications.length === 0) {
      const sql = publicationSql(dataSource, logical.publication, tables);
      await dataSource.query(sql);
      done.push(sql);
    }
    if (!(await slotInfo(dataSource, logical.slot)).exists) {
      const created = await createSlot(replicationClientConfig(logical), logical.slot, false);
      done.push(`CREATE_REPLICATION_SLOT ${logical.slot} LOGICAL pgoutput (at ${created.lsn})`);
    }
    return done;
  });
}

/** Drop the slot (so it stops holding WAL) and, when asked, the publication. */
export async function dropDatabaseSlot(
  config: DatabaseSourceConfig,
  context: SourceContext = {},
  options: { dropPublication?: boolean } = {},
): Promise<string[]> {
  requireMode(config, 'logical', 'drop-slot');
  const logical: DatabaseLogicalConfig = config;
  return withConnection(config, context, 'drop-slot', async (dataSource) => {
    const done: string[] = [];
    if ((await slotInfo(dataSource, logical.slot)).exists) {
      await dataSource.query('SELECT pg_drop_replication_slot($1)', [logical.slot]);
      done.push(`pg_drop_replication_slot('${logical.slot}')`);
    }
    if (options.dropPublication) {
      const sql = `DROP PUBLICATION IF EXISTS ${dataSource.driver.escape(logical.publication)}`;
      await dataSource.query(sql);
      done.push(sql);
    }
    return done;
  });
}
