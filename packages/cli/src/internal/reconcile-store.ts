// The on-disk keyed tables `ferry reconcile` compares: one for the reference, one for the state built from
// the events. SQLite rather than JavaScript Maps so a million keys on each side stay within a fixed memory
// budget; the comparison itself is a pair of indexed joins.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openStateDatabase, type StateDatabase, type StateStatement } from '@ferry/core/sdk';

export type Side = 'ref' | 'stream';

/** Rows are committed in transactions of this many writes: large enough to be fast, small enough to stay flat. */
const TRANSACTION_ROWS = 5000;

export class ReconcileStore {
  private readonly db: StateDatabase;
  private readonly dir: string;
  private readonly upsertRef: StateStatement;
  private readonly upsertStream: StateStatement;
  private readonly deleteStream: StateStatement;
  private pending = 0;
  private open = true;

  constructor(workDir: string) {
    this.dir = mkdtempSync(join(workDir, 'ferry-reconcile-'));
    this.db = openStateDatabase(join(this.dir, 'reconcile.sqlite'));
    // A scratch file: losing it in a crash costs nothing, so no journal and no fsyncs. Without WAL there is
    // no shared-memory index either, whose mapped pages would count against the memory budget.
    this.db.pragma('journal_mode = OFF');
    this.db.pragma('synchronous = OFF');
    this.db.pragma('cache_size = -8192');
    this.db.exec(`
      CREATE TABLE ref (key TEXT PRIMARY KEY, doc TEXT NOT NULL, dup INTEGER NOT NULL DEFAULT 0, win TEXT) WITHOUT ROWID;
      CREATE TABLE stream (key TEXT PRIMARY KEY, doc TEXT NOT NULL, win TEXT) WITHOUT ROWID;
    `);
    this.upsertRef = this.db.prepare(
      'INSERT INTO ref (key, doc, win) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET doc = excluded.doc, win = excluded.win, dup = dup + 1',
    );
    this.upsertStream = this.db.prepare(
      'INSERT INTO stream (key, doc, win) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET doc = excluded.doc, win = excluded.win',
    );
    this.deleteStream = this.db.prepare('DELETE FROM stream WHERE key = ?');
    this.db.exec('BEGIN');
  }

  /** `win` is the record's value of the window column, when the comparison has a window. */
  putReference(key: string, doc: string, win: string | null = null): void {
    this.upsertRef.run(key, doc, win);
    this.tick();
  }

  /** The last event per subject wins. */
  putStream(key: string, doc: string, win: string | null = null): void {
    this.upsertStream.run(key, doc, win);
    this.tick();
  }

  deleteFromStream(key: string): void {
    this.deleteStream.run(key);
    this.tick();
  }

  private tick(): void {
    this.pending += 1;
    if (this.pending >= TRANSACTION_ROWS) this.flush();
  }

  private flush(): void {
    this.db.exec('COMMIT');
    this.db.exec('BEGIN');
    this.pending = 0;
  }

  /**
   * Commit the last writes; after this the store is only read. With a window, a key stays in the comparison
   * when either side's value of the window field is at or after `from` (text order, so ISO dates compare by
   * time): a record moved out of the window on one side only is a difference, not two absences.
   */
  seal(windowFrom?: string): void {
    if (!this.open) return;
    if (windowFrom !== undefined) {
      this.db.exec('CREATE TEMP TABLE in_scope (key TEXT PRIMARY KEY) WITHOUT ROWID');
      for (const side of ['ref', 'stream'] as const)
        this.db
          .prepare(`INSERT OR IGNORE INTO in_scope SELECT key FROM ${side} WHERE win >= ?`)
          .run(windowFrom);
      for (const side of ['ref', 'stream'] as const)
        this.db.exec(`DELETE FROM ${side} WHERE key NOT IN (SELECT key FROM in_scope)`);
    }
    this.db.exec('COMMIT');
    this.open = false;
  }

  count(side: Side): number {
    return (this.db.prepare(`SELECT count(*) AS n FROM ${side}`).get() as { n: number }).n;
  }

  duplicateReferenceKeys(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM ref WHERE dup > 0').get() as { n: number }).n;
  }

  /** Keys on one side and not on the other, in key order. */
  *onlyIn(side: Side): IterableIterator<string> {
    const other = side === 'ref' ? 'stream' : 'ref';
    const statement = this.db.prepare(
      `SELECT a.key AS key FROM ${side} a WHERE NOT EXISTS (SELECT 1 FROM ${other} b WHERE b.key = a.key) ORDER BY a.key`,
    );
    for (const row of statement.iterate()) yield (row as { key: string }).key;
  }

  /** Keys on both sides whose documents differ, in key order. */
  *differing(): IterableIterator<{ key: string; ref: string; stream: string }> {
    const statement = this.db.prepare(
      'SELECT r.key AS key, r.doc AS ref, s.doc AS stream FROM ref r JOIN stream s ON s.key = r.key WHERE r.doc <> s.doc ORDER BY r.key',
    );
    for (const row of statement.iterate()) yield row as { key: string; ref: string; stream: string };
  }

  close(): void {
    if (this.open) this.db.exec('ROLLBACK');
    this.open = false;
    this.db.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
