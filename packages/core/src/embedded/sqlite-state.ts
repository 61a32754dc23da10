// An embedded SQLite state store (better-sqlite3) for connectors that must remember more than a checkpoint
// holds: processed-file registries, the previous snapshot of a full extract. Typed locally because
// @types/better-sqlite3 is not a dependency; only the few calls Ferry uses are declared.
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

export interface StateStatement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
}

export interface StateDatabase {
  exec(sql: string): void;
  prepare(sql: string): StateStatement;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
  pragma(sql: string): unknown;
  close(): void;
}

type DatabaseConstructor = new (path: string, options?: Record<string, unknown>) => StateDatabase;

/** Open (creating it and its directory if needed) a SQLite file in WAL mode. */
export function openStateDatabase(path: string): StateDatabase {
  const require = createRequire(import.meta.url);
  const Database = require('better-sqlite3') as DatabaseConstructor;
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode survives a process crash; only an OS crash can lose the last transactions, which the
  // checkpoint-driven replay covers.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  return db;
}
