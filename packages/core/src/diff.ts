// The snapshot-diff engine shared by full-extract sources (SFTP daily extracts, SOAP list operations): it
// keeps the previous snapshot as key -> content hash in SQLite, so a new snapshot yields only creates,
// updates and deletes, in bounded memory whatever the snapshot's size.
import { createHash } from 'node:crypto';
import type { StateDatabase, StateStatement } from './embedded/sqlite-state.js';
import { stableStringify } from './event.js';
import type { BaselineHandoff } from './types.js';

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
 * observed into it, deletions are what the committed generation has and it lacks, and the runtime makes it
 * the baseline once the batch that ends it is committed (`handoff`, given to the runtime as
 * `Batch.baseline`). Observing a row twice is harmless, so a resumed snapshot can observe again from the
 * start.
 *
 * Crash safety: the runtime stages a handoff with the checkpoint it waits for, saves the checkpoint, then
 * promotes. Opening a diff with the checkpoint the read starts from settles what a crash left staged: a
 * handoff staged for exactly that checkpoint was committed (promote it), any other was not (drop it).
 */
export class SnapshotDiff {
  private readonly lookup: StateStatement;
  private readonly upsert: StateStatement;
  private readonly currentGen: StateStatement;

  /**
   * @param committed the position the current read started from (`ReadContext.from`): handoffs a crash
   *   left staged in this database are settled against it.
   */
  constructor(
    private readonly db: StateDatabase,
    private readonly scope: string,
    committed: unknown,
  ) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS diff_rows (
        scope TEXT NOT NULL, generation TEXT NOT NULL, key TEXT NOT NULL, hash TEXT NOT NULL, row TEXT NOT NULL,
        PRIMARY KEY (scope, generation, key)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS diff_baseline (scope TEXT PRIMARY KEY, generation TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS diff_staged (scope TEXT PRIMARY KEY, generation TEXT NOT NULL, position TEXT NOT NULL);
    `);
    settleStaged(db, committed);
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

  /**
   * Hand the generation to the runtime as the next baseline (`Batch.baseline` on the batch that ends it):
   * it becomes the baseline only once that batch is committed.
   */
  handoff(generation: string): BaselineHandoff {
    return {
      stage: (position) => {
        this.db
          .prepare('INSERT OR REPLACE INTO diff_staged (scope, generation, position) VALUES (?, ?, ?)')
          .run(this.scope, generation, position);
      },
      promote: () => promote(this.db, this.scope, generation),
    };
  }
}

/** Make the generation the scope's baseline, drop the old one and its staging. Idempotent. */
function promote(db: StateDatabase, scope: string, generation: string): void {
  db.transaction(() => {
    const base = (
      db.prepare('SELECT generation FROM diff_baseline WHERE scope = ?').get(scope) as
        | { generation: string }
        | undefined
    )?.generation;
    db.prepare('DELETE FROM diff_staged WHERE scope = ?').run(scope);
    if (base === generation) return;
    db.prepare('INSERT OR REPLACE INTO diff_baseline (scope, generation) VALUES (?, ?)').run(
      scope,
      generation,
    );
    if (base !== undefined)
      db.prepare('DELETE FROM diff_rows WHERE scope = ? AND generation = ?').run(scope, base);
  })();
}

/** Promote what was staged for exactly the committed position; drop every other staging. */
function settleStaged(db: StateDatabase, committed: unknown): void {
  const staged = db.prepare('SELECT scope, generation, position FROM diff_staged').all() as {
    scope: string;
    generation: string;
    position: string;
  }[];
  if (staged.length === 0) return;
  const at = stableStringify(committed ?? null);
  for (const row of staged) {
    if (row.position === at) promote(db, row.scope, row.generation);
    else db.prepare('DELETE FROM diff_staged WHERE scope = ?').run(row.scope);
  }
}
