// The processed-file registry in the SQLite state store next to the pipeline. It survives restarts, so a
// file already processed is never processed again, even when archiving it failed. Beside it, the files the
// source has finished reading but that are not yet acknowledged, numbered like the positions that finish
// them, so a read from any checkpoint knows which of them that checkpoint covers.
import { openStateDatabase, type StateDatabase } from '@ferry/core/sdk';
import { SftpError, SftpErrorCodes } from '../errors.js';

export interface ProcessedFile {
  path: string;
  size: number;
  mtime: number;
  sha256: string;
  outcome: 'done' | 'rejected' | 'skipped';
  rows: number;
  rejectedRows: number;
}

export class SftpState {
  readonly db: StateDatabase;

  constructor(readonly file: string) {
    try {
      this.db = openStateDatabase(file);
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS sftp_processed (
          path TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
          outcome TEXT NOT NULL, rows INTEGER NOT NULL, rejected_rows INTEGER NOT NULL, processed_at TEXT NOT NULL,
          PRIMARY KEY (path, sha256));
        CREATE TABLE IF NOT EXISTS sftp_finished (
          seq INTEGER PRIMARY KEY, path TEXT NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL);
      `);
    } catch (error) {
      throw new SftpError(
        SftpErrorCodes.SFTP_STATE_FAILED,
        `cannot open the SFTP state store ${file}: ${String(error)}`,
        {
          cause: error,
          details: { file },
        },
      );
    }
  }

  /**
   * A file with this path, size and mtime was processed, or finished by a position that is committed or
   * still on its way (no download needed to know it).
   */
  seen(path: string, size: number, mtime: number): boolean {
    return (
      this.db
        .prepare(
          `SELECT 1 FROM sftp_processed WHERE path = ? AND size = ? AND mtime = ?
           UNION ALL SELECT 1 FROM sftp_finished WHERE path = ? AND size = ? AND mtime = ?`,
        )
        .get(path, size, mtime, path, size, mtime) !== undefined
    );
  }

  /** The source yields the position that finishes the file numbered `seq`. */
  finishing(seq: number, file: { path: string; size: number; mtime: number }): void {
    this.db
      .prepare('INSERT OR REPLACE INTO sftp_finished (seq, path, size, mtime) VALUES (?, ?, ?, ?)')
      .run(seq, file.path, file.size, file.mtime);
  }

  /**
   * A read starts from a checkpoint that covers the files numbered up to `committed`: any later one was
   * yielded but never committed (a crash, a failed commit) and must be read again.
   */
  settle(committed: number): void {
    this.db.prepare('DELETE FROM sftp_finished WHERE seq > ?').run(committed);
  }

  byContent(path: string, sha256: string): ProcessedFile | undefined {
    const row = this.db
      .prepare('SELECT * FROM sftp_processed WHERE path = ? AND sha256 = ?')
      .get(path, sha256) as Record<string, unknown> | undefined;
    return row === undefined ? undefined : toProcessed(row);
  }

  byPath(path: string): ProcessedFile | undefined {
    const row = this.db
      .prepare('SELECT * FROM sftp_processed WHERE path = ? ORDER BY processed_at DESC LIMIT 1')
      .get(path) as Record<string, unknown> | undefined;
    return row === undefined ? undefined : toProcessed(row);
  }

  /** Register a finished file (idempotent); it is no longer waiting for its acknowledgement. */
  record(file: ProcessedFile, seq: number | undefined): void {
    const run = this.db.transaction(() => {
      this.insert(file);
      if (seq !== undefined)
        this.db.prepare('DELETE FROM sftp_finished WHERE seq = ? AND path = ?').run(seq, file.path);
    });
    run();
  }

  private insert(file: ProcessedFile): void {
    this.db
      .prepare(
        `INSERT INTO sftp_processed (path, sha256, size, mtime, outcome, rows, rejected_rows, processed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (path, sha256) DO UPDATE SET size = excluded.size, mtime = excluded.mtime,
           processed_at = excluded.processed_at,
           outcome = CASE WHEN excluded.outcome = 'skipped' THEN outcome ELSE excluded.outcome END`,
      )
      .run(
        file.path,
        file.sha256,
        file.size,
        file.mtime,
        file.outcome,
        file.rows,
        file.rejectedRows,
        new Date().toISOString(),
      );
  }

  close(): void {
    this.db.close();
  }
}

function toProcessed(row: Record<string, unknown>): ProcessedFile {
  return {
    path: String(row.path),
    size: Number(row.size),
    mtime: Number(row.mtime),
    sha256: String(row.sha256),
    outcome: row.outcome as ProcessedFile['outcome'],
    rows: Number(row.rows),
    rejectedRows: Number(row.rejected_rows),
  };
}
