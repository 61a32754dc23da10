// What the shadow-run commands know about a migration, in the shapes the gate, the report page, the
// inventory and the admin API share. Times are ISO 8601 strings so every view prints the same thing.

/** Where a migration stands, from the ledger. */
export type MigrationPhase = 'not started' | 'shadowing' | 'gate open' | 'cut over' | 'retired';

/** A mismatch kind, as the ledger classifies it. */
export type MismatchKind = 'missing' | 'extra' | 'differs';

export interface FieldDifference {
  field: string;
  column: string;
  reference: string | null;
  stream: string | null;
}

/** One shadow run: one legacy run (a schedule slot) compared with the stream as of its cut-off. */
export interface RunSummary {
  /** The schedule slot (the legacy job's scheduled time) this run stands for. */
  slot: string;
  /** The legacy run's cut-off: the stream was compared as of this moment. */
  cutoff: string;
  /** complete: compared; missed: no comparison was possible for the slot (reason says why). */
  status: 'complete' | 'missed';
  reason?: string;
  /** What started it: the schedule (slot + grace), the legacy output's freshness, or a catch-up. */
  trigger?: 'schedule' | 'freshness' | 'catch-up';
  startedAt?: string;
  durationMs?: number;
  parity: number;
  threshold: number;
  keys: number;
  matching: number;
  missing: number;
  extra: number;
  differing: number;
  /** Mismatches no operator note explains. */
  unexplained: number;
  /** Events after the cut-off, held back for the next run. */
  afterCutoff: number;
  /** Parity at or above the threshold and every mismatch explained. */
  clean: boolean;
  /** Per canonical field: how many keys differ in it in this run. */
  fields: Record<string, { column: string; differing: number }>;
  /** What was compared: the reference's rows and keys, the event log's lines or the Kafka topic's next offset per partition, and the window. */
  positions?: Record<string, unknown>;
  /** The newest event time seen up to the cut-off. */
  lastEventTime?: string;
}

/** An operator's explanation of a known difference: applies to every run whose mismatch it matches. */
export interface Note {
  id: number;
  /** Undefined matches any key, field or kind. */
  key?: string;
  field?: string;
  kind?: MismatchKind;
  reason: string;
  author: string;
  at: string;
}

export interface Gate {
  open: boolean;
  /** Consecutive clean runs required (gate.runs) and the parity threshold. */
  required: number;
  threshold: number;
  /** Consecutive clean runs ending with the latest slot, and the days they span. */
  cleanRuns: number;
  cleanDays: number;
  /** Why the gate is closed (empty when open), one sentence each. */
  reasons: string[];
}

export interface FieldSample {
  slot: string;
  key: string;
  reference: string | null;
  stream: string | null;
  explained: boolean;
}

export interface TopField {
  field: string;
  column: string;
  /** Differences in this field over the runs shown. */
  differing: number;
  samples: FieldSample[];
}

export interface Consumer {
  group: string;
  state: string;
  members: number;
  /** Per topic the group has committed offsets for or is assigned: its lag (end − committed, summed). */
  topics: { topic: string; lag: number | null }[];
}

export interface InventoryEntry {
  migration: string;
  description?: string;
  legacyJob: string;
  schedule: string;
  /** Replacing pipelines by name. */
  pipelines: string[];
  topics: string[];
  /** type@version. */
  contracts: string[];
  /** From the broker; `consumersError` when it could not be asked. */
  consumers: Consumer[];
  consumersError?: string;
  phase: MigrationPhase;
  /** "shadowing 6 days", "gate open", "cut over 2026-12-01 by alice", … */
  status: string;
  freshness: { lastRun?: string; lastCutoff?: string; lastEventTime?: string; ageMs?: number };
}

export interface MigrationView {
  name: string;
  description?: string;
  legacyJob: string;
  schedule: { cron: string; timezone: string };
  phase: MigrationPhase;
  gate: Gate;
  /** Oldest first. */
  runs: RunSummary[];
  topFields: TopField[];
  notes: Note[];
  inventory: InventoryEntry;
}

export interface ShadowReport {
  generatedAt: string;
  migrations: MigrationView[];
}
