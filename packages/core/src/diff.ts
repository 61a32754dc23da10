// The snapshot-diff engine shared by full-extract sources (SFTP daily extracts, SOAP list operations): it
// keeps the previous snapshot as key -> content hash in SQLite, so a new snapshot yields only creates,
// updates and deletes, in bounded memory whatever the snapshot's size.
import { createHash } from 'node:crypto';
import type { StateDatabase, StateStatement } from './embedded/sqlite-state.js';
import { stableStringify } from './event.js';

export type DiffOp = 'create' | 'update' | 'read' | 'unchanged';

export interface DiffObservation {
  op: DiffOp;
  /** The row as the previous snapshot had it (updates). */
  before?: Record<string, unknown>;
}

export interface DiffDeletion {
  key: string;
  before: Record<string, unknown>;
}

export function contentHash(row: unknown): string {
  return createHash('sha256').update(stableStringify(row)).digest('base64');
}

/**
 * One snapshot scope (a stream). A snapshot is a *generation* (e.g. the extract file's sha256): rows are
 * observed into it, deletions are what the committed generation has and it lacks, and `commit` makes it
 * the baseline. Observing a row twice is harmless, so a resumed snapshot can observe again from the start.
 */
export class SnapshotDiff {
  private readonly lookup: StateStatement;
  private readonly upsert: StateStatement;
  private readonly currentGen: StateStatement;

  constructor(
    private readonly db: StateDatabase,
    private readonly scope: string,
  ) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS diff_rows (
        scope TEXT NOT NULL, generation TEXT NOT NULL, key TEXT NOT NULL, hash TEXT NOT NULL, row TEXT NOT NULL,
        PRIMARY KEY (scope, generation, key)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS diff_baseline (scope TEXT PRIMARY KEY, generation TEXT NOT NULL);
    `);
    this.lookup = db.prepare(
      'SELECT hash, row FROM diff_rows WHERE scope = ? AND generation = ? AND key = ?',
    );
    this.upsert = db.prepare(
      'INSERT OR REPLACE INTO diff_rows (scope, generation, key, hash, row) VALUES (?, ?, ?, ?, ?)',
    );
    this.currentGen = db.prepare('SELECT generation FROM diff_baseline WHERE scope = ?');
  }

  /** The committed generation, or undefined before the first snapshot was committed. */
  baseline(): string | undefined {
    return (this.currentGen.get(this.scope) as { generation: string } | undefined)?.generation;
  }

  /** Start (or restart) a generation: rows of abandoned generations are dropped. */
  begin(generation: string): void {
    const base = this.baseline();
    this.db
      .prepare('DELETE FROM diff_rows WHERE scope = ? AND generation <> ? AND generation <> ?')
      .run(this.scope, generation, base ?? '');
  }

  /** Compare rows with the baseline and record them in the generation, in one transaction. */
  observeMany(generation: string, rows: { key: string; row: Record<string, unknown> }[]): DiffObservation[] {
    const base = this.baseline();
    const run = this.db.transaction(() =>
      rows.map(({ key, row }) => {
        const hash = contentHash(row);
        this.upsert.run(this.scope, generation, key, hash, stableStringify(row));
        if (base === undefined) return { op: 'read' as const };
        if (base === generation) return { op: 'unchanged' as const };
        const previous = this.lookup.get(this.scope, base, key) as { hash: string; row: string } | undefined;
        if (previous === undefined) return { op: 'create' as const };
        if (previous.hash === hash) return { op: 'unchanged' as const };
        return { op: 'update' as const, before: JSON.parse(previous.row) as Record<string, unknown> };
      }),
    );
    return run();
  }

  /** Keys of the baseline missing from the generation, in key order after `afterKey`, at most `limit`. */
  deletions(generation: string, afterKey: string | undefined, limit: number): DiffDeletion[] {
    const base = this.baseline();
    if (base === undefined || base === generation) return [];
    const rows = this.db
      .prepare(
        `SELECT c.key AS key, c.row AS row FROM diff_rows c
         WHERE c.scope = ? AND c.generation = ? AND c.key > ?
           AND NOT EXISTS (SELECT 1 FROM diff_rows s WHERE s.scope = c.scope AND s.generation = ? AND s.key = c.key)
         ORDER BY c.key LIMIT ?`,
      )
      .all(this.scope, base, afterKey ?? '', generation, limit) as { key: string; row: string }[];
    return rows.map((r) => ({ key: r.key, before: JSON.parse(r.row) as Record<string, unknown> }));
  }

  /** Make the generation the baseline and drop the old one. Committing the baseline again does nothing. */
  commit(generation: string): void {
    const base = this.baseline();
    if (base === generation) return;
    this.db.transaction(() => {
      this.db
        .prepare('INSERT OR REPLACE INTO diff_baseline (scope, generation) VALUES (?, ?)')
        .run(this.scope, generation);
      if (base !== undefined)
        this.db.prepare('DELETE FROM diff_rows WHERE scope = ? AND generation = ?').run(this.scope, base);
    })();
  }
}
