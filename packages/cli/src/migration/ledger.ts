// The parity ledger: every shadow run of every migration, its mismatches one by one, the operators' notes
// explaining known differences, and the cut-over decisions. SQLite (embedded) or PostgreSQL (production),
// through typeorm; the statements are the same but for placeholders and a few types. A run and its
// mismatches are written in one transaction, so a process killed mid-run leaves no half-written run.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { FerryError } from '@ferry/core';
import { DataSource, type EntityManager } from 'typeorm';
import type { MigrationFile } from './config.js';
import type { FieldDifference, MismatchKind, Note, RunSummary } from './model.js';

export type LedgerConfig = MigrationFile['ledger'];

export class LedgerError extends FerryError {
  override readonly name = 'LedgerError';
}

/** A mismatch as the ledger keeps it. */
export interface LedgerMismatch {
  key: string;
  kind: MismatchKind;
  fields?: FieldDifference[];
}

/** A run as recorded: the summary, without what depends on today's notes (unexplained, clean). */
export type RecordedRun = Omit<RunSummary, 'unexplained' | 'clean'> & {
  /** Mismatches not recorded one by one (past the migration's mismatchLimit). */
  unrecorded: number;
  samples?: { missing: string[]; extra: string[] };
};

export interface Decision {
  phase: 'cut over' | 'retired';
  author: string;
  at: string;
  note?: string;
}

const ROWS_PER_INSERT = 100;

type Row = Record<string, unknown>;

export class Ledger {
  private constructor(
    private readonly db: DataSource,
    private readonly postgres: boolean,
    private readonly qualify: (table: string) => string,
  ) {}

  static async open(config: LedgerConfig): Promise<Ledger> {
    const common = { synchronize: false, logging: false, entities: [] };
    if (config.type === 'sqlite') mkdirSync(dirname(config.path), { recursive: true });
    const db =
      config.type === 'sqlite'
        ? new DataSource({
            ...common,
            type: 'better-sqlite3',
            database: config.path,
            prepareDatabase: (sqlite: { pragma(sql: string): unknown }) => {
              sqlite.pragma('journal_mode = WAL');
              sqlite.pragma('busy_timeout = 5000');
            },
          })
        : new DataSource({
            ...common,
            type: 'postgres',
            host: config.host,
            port: config.port,
            username: config.username,
            ...(config.password === undefined ? {} : { password: config.password }),
            database: config.database,
            applicationName: 'ferry-shadow',
          });
    try {
      await db.initialize();
    } catch (error) {
      throw new LedgerError(
        'SHADOW_LEDGER_UNAVAILABLE',
        `cannot open the parity ledger (${config.type === 'sqlite' ? config.path : `${config.host}:${config.port}/${config.database}`}): ${(error as Error).message}`,
        { retryable: config.type === 'postgres', cause: error },
      );
    }
    const schema = config.type === 'postgres' ? config.schema : undefined;
    const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
    const ledger = new Ledger(db, config.type === 'postgres', (table) =>
      schema === undefined ? quote(table) : `${quote(schema)}.${quote(table)}`,
    );
    await ledger.migrate(schema);
    return ledger;
  }

  async close(): Promise<void> {
    if (this.db.isInitialized) await this.db.destroy();
  }

  /** `?` placeholders become `$n` on PostgreSQL. */
  private sql(text: string): string {
    if (!this.postgres) return text;
    let n = 0;
    return text.replace(/\?/g, () => `$${++n}`);
  }

  private query(sql: string, params: unknown[] = [], on?: EntityManager): Promise<Row[]> {
    return (on ?? this.db).query(this.sql(sql), params) as Promise<Row[]>;
  }

  private async migrate(schema: string | undefined): Promise<void> {
    const real = this.postgres ? 'DOUBLE PRECISION' : 'REAL';
    if (schema !== undefined) await this.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    const t = (name: string) => this.qualify(name);
    for (const statement of [
      `CREATE TABLE IF NOT EXISTS ${t('ferry_shadow_state')} (
        migration TEXT PRIMARY KEY, started_at TEXT NOT NULL)`,
      `CREATE TABLE IF NOT EXISTS ${t('ferry_shadow_runs')} (
        migration TEXT NOT NULL, slot TEXT NOT NULL, cutoff TEXT NOT NULL, status TEXT NOT NULL,
        reason TEXT, trigger_kind TEXT, started_at TEXT, duration_ms BIGINT,
        parity ${real} NOT NULL, threshold ${real} NOT NULL, keys BIGINT NOT NULL, matching BIGINT NOT NULL,
        missing BIGINT NOT NULL, extra BIGINT NOT NULL, differing BIGINT NOT NULL,
        after_cutoff BIGINT NOT NULL, unrecorded BIGINT NOT NULL, fields TEXT NOT NULL,
        positions TEXT, last_event_time TEXT, samples TEXT, recorded_at TEXT NOT NULL,
        PRIMARY KEY (migration, slot))`,
      `CREATE TABLE IF NOT EXISTS ${t('ferry_shadow_mismatches')} (
        migration TEXT NOT NULL, slot TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL, fields TEXT,
        PRIMARY KEY (migration, slot, key))`,
      `CREATE TABLE IF NOT EXISTS ${t('ferry_shadow_notes')} (
        migration TEXT NOT NULL, id BIGINT NOT NULL, key TEXT, field TEXT, kind TEXT, reason TEXT NOT NULL,
        author TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (migration, id))`,
      `CREATE TABLE IF NOT EXISTS ${t('ferry_shadow_decisions')} (
        migration TEXT NOT NULL, at TEXT NOT NULL, phase TEXT NOT NULL, author TEXT NOT NULL, note TEXT,
        PRIMARY KEY (migration, at, phase))`,
    ])
      await this.query(statement);
  }

  /** When shadowing began: recorded by the first pass (its first slot), unless migration.yaml says. */
  async startedAt(migration: string): Promise<string | undefined> {
    const rows = await this.query(
      `SELECT started_at FROM ${this.qualify('ferry_shadow_state')} WHERE migration = ?`,
      [migration],
    );
    return rows[0]?.started_at as string | undefined;
  }

  async recordStart(migration: string, at: string): Promise<void> {
    await this.query(
      `INSERT INTO ${this.qualify('ferry_shadow_state')} (migration, started_at) VALUES (?, ?) ON CONFLICT (migration) DO NOTHING`,
      [migration, at],
    );
  }

  /**
   * A run and its mismatches (given in batches, so any number streams through), all or nothing; a slot
   * already recorded is left as it was (false).
   */
  async recordRun(
    migration: string,
    run: RecordedRun,
    mismatches: Iterable<LedgerMismatch[]> | AsyncIterable<LedgerMismatch[]>,
  ): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const existing = await this.query(
        `SELECT 1 AS one FROM ${this.qualify('ferry_shadow_runs')} WHERE migration = ? AND slot = ?`,
        [migration, run.slot],
        tx,
      );
      if (existing.length > 0) return false;
      for await (const batch of mismatches)
        for (let i = 0; i < batch.length; i += ROWS_PER_INSERT) {
          const chunk = batch.slice(i, i + ROWS_PER_INSERT);
          await this.query(
            `INSERT INTO ${this.qualify('ferry_shadow_mismatches')} (migration, slot, key, kind, fields) VALUES ${chunk.map(() => '(?, ?, ?, ?, ?)').join(', ')}`,
            chunk.flatMap((m) => [
              migration,
              run.slot,
              m.key,
              m.kind,
              m.fields === undefined ? null : JSON.stringify(m.fields),
            ]),
            tx,
          );
        }
      // The run row goes last: a reader that sees it sees its mismatches.
      await this.query(
        `INSERT INTO ${this.qualify('ferry_shadow_runs')} (migration, slot, cutoff, status, reason, trigger_kind,
          started_at, duration_ms, parity, threshold, keys, matching, missing, extra, differing, after_cutoff,
          unrecorded, fields, positions, last_event_time, samples, recorded_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          migration,
          run.slot,
          run.cutoff,
          run.status,
          run.reason ?? null,
          run.trigger ?? null,
          run.startedAt ?? null,
          run.durationMs ?? null,
          run.parity,
          run.threshold,
          run.keys,
          run.matching,
          run.missing,
          run.extra,
          run.differing,
          run.afterCutoff,
          run.unrecorded,
          JSON.stringify(run.fields),
          run.positions === undefined ? null : JSON.stringify(run.positions),
          run.lastEventTime ?? null,
          run.samples === undefined ? null : JSON.stringify(run.samples),
          new Date().toISOString(),
        ],
        tx,
      );
      return true;
    });
  }

  /** Every run of a migration, oldest slot first. */
  async runs(migration: string): Promise<RecordedRun[]> {
    const rows = await this.query(
      `SELECT * FROM ${this.qualify('ferry_shadow_runs')} WHERE migration = ? ORDER BY slot`,
      [migration],
    );
    return rows.map((r) => {
      const run: RecordedRun = {
        slot: String(r.slot),
        cutoff: String(r.cutoff),
        status: r.status as RecordedRun['status'],
        parity: Number(r.parity),
        threshold: Number(r.threshold),
        keys: Number(r.keys),
        matching: Number(r.matching),
        missing: Number(r.missing),
        extra: Number(r.extra),
        differing: Number(r.differing),
        afterCutoff: Number(r.after_cutoff),
        unrecorded: Number(r.unrecorded),
        fields: JSON.parse(String(r.fields)) as RecordedRun['fields'],
      };
      if (r.reason !== null) run.reason = String(r.reason);
      if (r.trigger_kind !== null) run.trigger = r.trigger_kind as NonNullable<RecordedRun['trigger']>;
      if (r.started_at !== null) run.startedAt = String(r.started_at);
      if (r.duration_ms !== null) run.durationMs = Number(r.duration_ms);
      if (r.positions !== null) run.positions = JSON.parse(String(r.positions)) as Record<string, unknown>;
      if (r.last_event_time !== null) run.lastEventTime = String(r.last_event_time);
      if (r.samples !== null)
        run.samples = JSON.parse(String(r.samples)) as NonNullable<RecordedRun['samples']>;
      return run;
    });
  }

  /** The mismatches of the given slots, by slot. */
  async mismatches(migration: string, slots: string[]): Promise<Map<string, LedgerMismatch[]>> {
    const out = new Map<string, LedgerMismatch[]>(slots.map((s) => [s, []]));
    for (const slot of slots) {
      const rows = await this.query(
        `SELECT key, kind, fields FROM ${this.qualify('ferry_shadow_mismatches')} WHERE migration = ? AND slot = ? ORDER BY key`,
        [migration, slot],
      );
      out.set(
        slot,
        rows.map((r) => ({
          key: String(r.key),
          kind: r.kind as MismatchKind,
          ...(r.fields === null ? {} : { fields: JSON.parse(String(r.fields)) as FieldDifference[] }),
        })),
      );
    }
    return out;
  }

  async addNote(migration: string, note: Omit<Note, 'id'>): Promise<Note> {
    return this.db.transaction(async (tx) => {
      const rows = await this.query(
        `SELECT coalesce(max(id), 0) AS id FROM ${this.qualify('ferry_shadow_notes')} WHERE migration = ?`,
        [migration],
        tx,
      );
      const id = Number(rows[0]?.id ?? 0) + 1;
      await this.query(
        `INSERT INTO ${this.qualify('ferry_shadow_notes')} (migration, id, key, field, kind, reason, author, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          migration,
          id,
          note.key ?? null,
          note.field ?? null,
          note.kind ?? null,
          note.reason,
          note.author,
          note.at,
        ],
        tx,
      );
      return { id, ...note };
    });
  }

  async notes(migration: string): Promise<Note[]> {
    const rows = await this.query(
      `SELECT * FROM ${this.qualify('ferry_shadow_notes')} WHERE migration = ? ORDER BY id`,
      [migration],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      ...(r.key === null ? {} : { key: String(r.key) }),
      ...(r.field === null ? {} : { field: String(r.field) }),
      ...(r.kind === null ? {} : { kind: r.kind as MismatchKind }),
      reason: String(r.reason),
      author: String(r.author),
      at: String(r.at),
    }));
  }

  async addDecision(migration: string, decision: Decision): Promise<void> {
    await this.query(
      `INSERT INTO ${this.qualify('ferry_shadow_decisions')} (migration, at, phase, author, note) VALUES (?, ?, ?, ?, ?)`,
      [migration, decision.at, decision.phase, decision.author, decision.note ?? null],
    );
  }

  async decisions(migration: string): Promise<Decision[]> {
    const rows = await this.query(
      `SELECT * FROM ${this.qualify('ferry_shadow_decisions')} WHERE migration = ? ORDER BY at`,
      [migration],
    );
    return rows.map((r) => ({
      phase: r.phase as Decision['phase'],
      author: String(r.author),
      at: String(r.at),
      ...(r.note === null ? {} : { note: String(r.note) }),
    }));
  }
}
