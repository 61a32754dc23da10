// Set-up that Ferry does only when asked (`ferry database …`): installing the trigger journal, creating and
// dropping the logical replication slot and publication, and removing all of it. Set-up runs the preflight
// first (`check.ts`) and refuses on an error before it changes anything.
import { type SourceContext, systemClock } from '@ferry/core/sdk';
import type { DataSource } from 'typeorm';
import { type DatabaseCheckPurpose, formatFinding, preflight, refuseOnErrors } from './check.js';
import type { DatabaseLogicalConfig, DatabaseSourceConfig, DatabaseTriggerConfig } from './config.js';
import { classifyDatabaseError, DatabaseError, DatabaseErrorCodes } from './errors.js';
import { type CapturedTable, describeTables, journalNames, uninstallStatements } from './internal/capture.js';
import { Connection, dialectOf } from './internal/connection.js';
import { publicationRecord, publishTables } from './internal/publication.js';
import { createSlot, replicationClientConfig } from './internal/replication.js';
import { checkWalLevel, slotInfo } from './logical.js';
import { installCapture } from './trigger.js';

/** What publishTables records: a quoted, qualified table name and a replica identity clause. */
const RECORDED_TABLE = /^(?:"(?:[^"]|"")+"\.)?"(?:[^"]|"")+"$/;
const RECORDED_CLAUSE = /^(?:DEFAULT|FULL|NOTHING|USING INDEX "(?:[^"]|"")+")$/;

async function withConnection<T>(
  config: DatabaseSourceConfig,
  context: SourceContext,
  operation: string,
  work: (dataSource: DataSource, tables: CapturedTable[], target: string, warnings: string[]) => Promise<T>,
  purpose?: DatabaseCheckPurpose,
): Promise<T> {
  const connection = new Connection(config.connection, context.baseDir ?? process.cwd(), true);
  try {
    const dataSource = await connection.open();
    const dialect = dialectOf(dataSource);
    const warnings: string[] = [];
    if (purpose !== undefined) {
      // Checked before anything is described or created: a refusal leaves the database as it was.
      const findings = await preflight(dataSource, config, connection.target, {
        purpose,
        clock: context.clock ?? systemClock,
      });
      refuseOnErrors(findings, connection.target);
      warnings.push(...findings.map(formatFinding));
    }
    const tables = await describeTables(dataSource, dialect, config.tables, connection.target);
    return await work(dataSource, tables, connection.target, warnings);
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
  return withConnection(
    config,
    context,
    'install-triggers',
    async (dataSource, tables, _target, warnings) => {
      const dialect = dialectOf(dataSource);
      const names = await journalNames(dataSource, dialect, trigger.journal);
      const statements = await installCapture(dataSource, dialect, names, tables, trigger.journal);
      return [...warnings, ...statements];
    },
    'install-triggers',
  );
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
 * Create the publication and the slot when missing, after the preflight: a table without a primary key or
 * replica identity is refused unless its `replicaIdentity` (or `replicaIdentityFull` here, for every table
 * without its own) says how, and then that identity is set first. Returns what was done (warnings first).
 */
export async function createDatabaseSlot(
  config: DatabaseSourceConfig,
  context: SourceContext = {},
  options: { replicaIdentityFull?: boolean } = {},
): Promise<string[]> {
  requireMode(config, 'logical', 'create-slot');
  const logical: DatabaseLogicalConfig = options.replicaIdentityFull
    ? {
        ...config,
        tables: config.tables.map((t) => ({ ...t, replicaIdentity: t.replicaIdentity ?? 'full' })),
      }
    : config;
  return withConnection(
    logical,
    context,
    'create-slot',
    async (dataSource, tables, target, warnings) => {
      await checkWalLevel(dataSource, target);
      const done = [...warnings, ...(await publishTables(dataSource, logical, tables))];
      if (!(await slotInfo(dataSource, logical.slot)).exists) {
        const created = await createSlot(replicationClientConfig(logical), logical.slot, false);
        done.push(`CREATE_REPLICATION_SLOT ${logical.slot} LOGICAL pgoutput (at ${created.lsn})`);
      }
      return done;
    },
    'create-slot',
  );
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

/**
 * Remove everything Ferry created for this pipeline: logical mode the slot, the publication and the replica
 * identities Ferry set (put back as they were, from the publication's record); trigger mode the triggers,
 * the trigger function and the journal (with its rows). Polling creates nothing. Returns what was done.
 */
export async function uninstallDatabase(
  config: DatabaseSourceConfig,
  context: SourceContext = {},
): Promise<string[]> {
  if (config.mode === 'trigger') return uninstallDatabaseTriggers(config, context, { dropJournal: true });
  if (config.mode !== 'logical') return [];
  const logical: DatabaseLogicalConfig = config;
  return withConnection(config, context, 'uninstall', async (dataSource) => {
    const q = (name: string) => dataSource.driver.escape(name);
    const done: string[] = [];
    if ((await slotInfo(dataSource, logical.slot)).exists) {
      await dataSource.query('SELECT pg_drop_replication_slot($1)', [logical.slot]);
      done.push(`pg_drop_replication_slot('${logical.slot}')`);
    }
    // The publication goes first: a keyless table given back its old identity must no longer be published.
    await dataSource.transaction(async (manager) => {
      const record = await publicationRecord((sql, p) => manager.query(sql, p), logical.publication);
      const exists =
        (
          (await manager.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [
            logical.publication,
          ])) as unknown[]
        ).length > 0;
      if (exists) {
        const sql = `DROP PUBLICATION ${q(logical.publication)}`;
        await manager.query(sql);
        done.push(sql);
      }
      for (const [table, clause] of Object.entries(record?.replicaIdentity ?? {})) {
        // The comment is only as trustworthy as the publication's owner: take back only what Ferry writes.
        if (!RECORDED_TABLE.test(table) || !RECORDED_CLAUSE.test(clause)) continue;
        const sql = `ALTER TABLE IF EXISTS ${table} REPLICA IDENTITY ${clause}`;
        await manager.query(sql);
        done.push(sql);
      }
    });
    return done;
  });
}
