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
      CREATE TABLE ref (key TEXT PRIMARY KEY, doc TEXT NOT NULL, dup INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
      CREATE TABLE stream (key TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;
    `);
    this.upsertRef = this.db.prepare(
      'INSERT INTO ref (key, doc) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET doc = excluded.doc, dup = dup + 1',
    );
    this.upsertStream = this.db.prepare(
      'INSERT INTO stream (key, doc) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET doc = excluded.doc',
    );
    this.deleteStream = this.db.prepare('DELETE FROM stream WHERE key = ?');
    this.db.exec('BEGIN');
  }

  putReference(key: string, doc: string): void {
    this.upsertRef.run(key, doc);
    this.tick();
  }

  /** The last event per subject wins. */
  putStream(key: string, doc: string): void {
    this.upsertStream.run(key, doc);
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

  /** Commit the last writes; after this the store is only read. */
  seal(): void {
    if (!this.open) return;
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
