// The publication of a logical pipeline, created together with the replica identities its keyless tables
// asked for (`replicaIdentity:`), in one transaction; what Ferry changed on a legacy table is recorded in the
// publication's comment, so `ferry database uninstall` puts exactly that back.
import type { DataSource, EntityManager } from 'typeorm';
import type { DatabaseLogicalConfig } from '../config.js';
import type { CapturedTable } from './capture.js';

type Row = Record<string, unknown>;

/** The publication comment Ferry writes: a marker, then JSON. */
const MARKER = 'ferry:';

export interface PublicationRecord {
  /** By escaped, qualified table name: the replica identity clause the table had before Ferry changed it. */
  replicaIdentity: Record<string, string>;
}

/** What Ferry recorded on the publication, or undefined when the comment is not Ferry's (or absent). */
export async function publicationRecord(
  query: (sql: string, params: unknown[]) => Promise<unknown>,
  publication: string,
): Promise<PublicationRecord | undefined> {
  const rows = (await query(
    `SELECT obj_description(oid, 'pg_publication') AS comment FROM pg_publication WHERE pubname = $1`,
    [publication],
  )) as Row[];
  const comment = rows[0]?.comment;
  if (typeof comment !== 'string' || !comment.startsWith(MARKER)) return undefined;
  try {
    const parsed = JSON.parse(comment.slice(MARKER.length)) as Partial<PublicationRecord>;
    return { replicaIdentity: { ...(parsed.replicaIdentity ?? {}) } };
  } catch {
    return undefined;
  }
}

function identityClause(row: Row): string {
  switch (String(row.replident)) {
    case 'f':
      return 'FULL';
    case 'n':
      return 'NOTHING';
    case 'i':
      return row.index == null ? 'DEFAULT' : `USING INDEX "${String(row.index).replaceAll('"', '""')}"`;
    default:
      return 'DEFAULT';
  }
}

/**
 * Set the replica identity each table asked for, then create the publication when it is missing, in one
 * transaction (a failure leaves nothing half done). Returns the statements run.
 */
export async function publishTables(
  dataSource: DataSource,
  config: DatabaseLogicalConfig,
  tables: CapturedTable[],
): Promise<string[]> {
  const q = (name: string) => dataSource.driver.escape(name);
  return dataSource.transaction(async (manager: EntityManager) => {
    const done: string[] = [];
    const run = async (sql: string) => {
      await manager.query(sql);
      done.push(sql);
    };
    const exists =
      (
        (await manager.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [
          config.publication,
        ])) as Row[]
      ).length > 0;
    const record = (await publicationRecord((sql, p) => manager.query(sql, p), config.publication)) ?? {
      replicaIdentity: {},
    };
    // describeTables keeps the order of config.tables.
    let changed = false;
    for (const [index, table] of tables.entries()) {
      const wanted = config.tables[index]?.replicaIdentity;
      if (wanted === undefined) continue;
      const [row] = (await manager.query(
        `SELECT c.relreplident AS replident,
                (SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                  WHERE i.indrelid = c.oid AND i.indisreplident) AS index
           FROM pg_class c WHERE c.oid = to_regclass($1)`,
        [table.sql],
      )) as Row[];
      const current = identityClause(row ?? {});
      const clause = wanted === 'full' ? 'FULL' : `USING INDEX ${q(wanted.index)}`;
      if (current === clause) continue;
      await run(`ALTER TABLE ${table.sql} REPLICA IDENTITY ${clause}`);
      // The first change is the one to undo: a table set twice goes back to what the legacy system had.
      record.replicaIdentity[table.sql] ??= current;
      changed = true;
    }
    if (!exists) {
      await run(
        `CREATE PUBLICATION ${q(config.publication)} FOR TABLE ${tables.map((t) => t.sql).join(', ')}`,
      );
    }
    if (!exists || changed) {
      const text = `${MARKER}${JSON.stringify(record)}`.replaceAll("'", "''");
      // Not listed in `done`: it is bookkeeping, not a change to the legacy database.
      await manager.query(`COMMENT ON PUBLICATION ${q(config.publication)} IS '${text}'`);
    }
    return done;
  });
}
