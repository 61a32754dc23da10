// The contract every Ferry part implements: sources yield change records in batches, sinks store
// canonical events, checkpoint stores remember how far a source has been read.
import type { Logger } from './logging.js';

/** What happened to a legacy entity. `read` is a snapshot or batch row whose history is unknown. */
export type ChangeOp = 'create' | 'update' | 'delete' | 'read';

export interface ChangeRecord {
  /** Where the record was read from: "main.OFFENDERS", "court-lists/*.csv", "CaseService.ListCases". */
  stream: string;
  op: ChangeOp;
  /** Legacy identity of the row or entity. */
  key: Record<string, unknown>;
  before?: Record<string, unknown>;
  after?: Record<string, unknown>;
  /** When it changed in the legacy system, if the source can tell. */
  occurredAt?: Date;
  /** Exactly where the record came from: {file, line} | {table, ts, id} | {lsn, xid} | {operation, page}. */
  origin: Record<string, unknown>;
  /**
   * Where the change stands in the source's order, as a string that sorts (by plain string comparison) like
   * the changes happened: a later change of the same key has a greater sequence. Derived from the position
   * (an LSN, a journal sequence, a file's time and line), so a record read twice, or replayed from the
   * dead-letter place, keeps it. Events carry it as the CloudEvents `sequence` extension. Build it with
   * `sequenceOf` from `@ferry/core/sdk`.
   */
  sequence?: string;
}

/** Input a source could not turn into a record (a ragged CSV row, an undecodable value). */
export interface RejectedInput {
  stream: string;
  code: string;
  message: string;
  /** The raw input as read (a line, a row object), for the dead-letter place. */
  raw: unknown;
  origin: Record<string, unknown>;
  /**
   * Its place in the source's order, as `ChangeRecord.sequence` (`sequenceOf`). With it, the runtime writes
   * a batch's dead letters in the order the source read them, rejected input and mapping failures together.
   */
  sequence?: string;
}

export interface Batch<P = unknown> {
  records: ChangeRecord[];
  /** Input the source had to reject; it goes to the dead-letter sink with the batch. */
  rejected?: RejectedInput[];
  /**
   * Facts about the batch's unit of work (a file started, a file completed with its counts), written to the
   * sink as CloudEvents ahead of the batch's record events, without the mapping or the contract check.
   */
  notices?: BatchNotice[];
  /** Resume point after this batch: reading again from here yields what follows it. */
  position: P;
  /**
   * The moment in the legacy system this batch is current to (a file's mtime, a watermark), when the
   * records' `occurredAt` does not say it; the runtime reports `now - sourceTime` as the source lag.
   */
  sourceTime?: Date;
  /** How far a long unit of work (a snapshot, a file) has got, for progress bars and status. */
  progress?: BatchProgress;
  /**
   * This batch ends a unit of work the source finishes upstream when it is acknowledged (a file archived, a
   * journal purged): the runtime commits it as the last batch of its group, so its position is exactly a
   * saved checkpoint and a restart acknowledges it again (see `Source.acknowledge`).
   */
  boundary?: boolean;
  /**
   * A new diff baseline (a full extract or a snapshot pass that ended with this batch). The runtime stages
   * it before the commit and promotes it after, before it reads on, so the next snapshot is compared with
   * exactly the last committed one. Implies `boundary`.
   */
  baseline?: BaselineHandoff;
}

/** A snapshot that becomes the baseline of the next comparison only once committed (see `SnapshotDiff`). */
export interface BaselineHandoff {
  /** Record, durably, that this baseline is waiting for the checkpoint `position` (stable JSON). */
  stage(position: string): void | Promise<void>;
  /** The checkpoint is saved: make it the baseline. */
  promote(): void | Promise<void>;
}

export interface BatchProgress {
  /** What is being worked through: `snapshot main.OFFENDERS`, `court-lists/2026-11-23.csv`. */
  label: string;
  done: number;
  /** Unknown totals (a streamed response) leave this out. */
  total?: number;
  unit: 'rows' | 'bytes' | 'records';
}

/** A source-level fact published beside the records, e.g. `ferry.file.completed`. */
export interface BatchNotice {
  /** CloudEvents type, e.g. `ferry.file.started`; the sink's topic template applies to it like any type. */
  type: string;
  stream: string;
  /** What the notice is about (a file path): the event subject and Kafka key. */
  subject: string;
  /** Identity of the fact (e.g. path#sha256): the event id is derived from it, so replays keep the id. */
  key: string;
  data: Record<string, unknown>;
  origin: Record<string, unknown>;
  occurredAt?: Date;
  /**
   * The notice's place in a unit of work (a file): `opens` starts it, `closes` ends it, `whole` is a unit of
   * one batch. The runtime counts what the unit's records became and adds it to a closing notice's data:
   * `events` (record events written), `deadLetters` (rejected input, mapping and contract failures) and
   * `skipped` (records the mapping dropped). The counts of an open unit are saved with each checkpoint
   * (`CheckpointStore.saveUnitTally`), so a restart inside a file still reports the whole file; when they
   * could not be restored the three are null and `countsIncomplete` says why.
   */
  unit?: 'opens' | 'closes' | 'whole';
}

/** What the records of a unit of work (a file) became, as a closing notice reports it. */
export interface UnitCounts {
  events: number;
  deadLetters: number;
  skipped: number;
}

/**
 * The counts of the unit open at a checkpoint, saved before that checkpoint while a unit is open. `previous`
 * is the same for the checkpoint before it: a crash between the two saves leaves that checkpoint in place.
 */
export interface UnitTallyState {
  /** The checkpoint (stable JSON) the counts are as of. */
  position: string;
  /** The open unit's counts; null when no unit was open there. */
  counts: UnitCounts | null;
  previous: { position: string; counts: UnitCounts | null };
}

export interface StreamInfo {
  name: string;
  fields?: { name: string; type: string; nullable?: boolean }[];
  /**
   * True when this is a stream the pipeline reads and `fields` are the fields its records carry (a
   * captured table's columns), so `ferry validate` can check a field map's `from:` against them. Leave it
   * out when `fields` describe something else (an operation's response shape).
   */
  recordFields?: boolean;
  key?: string[];
  notes?: string[];
  /** Connector-specific facts worth showing (a file's size, mtime and stability; a slot's LSN). */
  details?: Record<string, unknown>;
}

export interface ReadContext<P = unknown> {
  /** Position saved by the last committed batch; undefined on a first run. */
  from: P | undefined;
  /** Aborted when the pipeline stops: stop reading promptly and return. */
  signal: AbortSignal;
  /**
   * True for `ferry run --once`. A pass source can ignore it (a pass always ends); a stream source ends
   * its read once it has caught up.
   */
  once: boolean;
  log: Logger;
  /**
   * A stream source tells the runtime it has read everything the legacy system has right now (replication
   * is idle): the source lag is 0 until the next batch says more. The runtime says it for a pass source
   * when the pass ends.
   */
  caughtUp(): void;
}

/**
 * How the runtime drives a source. `passes`: each `read` reads what the legacy system has now and ends;
 * the runtime starts the next pass on the pipeline's `schedule` (cron and time zone) or, without one, every
 * `intervalMs`, never overlapping, catching up a run missed while the process was down, at once on an
 * operator's trigger, and only once with `--once`. `stream`: one `read` runs until the pipeline stops (a
 * replication stream); with `--once` it ends when caught up.
 */
export type SourceCadence = { kind: 'passes'; intervalMs: number } | { kind: 'stream' };

/** A wake-up call the runtime waits on beside a pass source's timer (`ferry serve`'s trigger). */
export interface WakeSignal {
  /** Resolves at the next wake-up, or when `signal` aborts. */
  next(signal: AbortSignal): Promise<void>;
}

export interface Source<P = unknown> {
  readonly type: string;
  readonly cadence: SourceCadence;
  discover?(): Promise<StreamInfo[]>;
  /** One pass (or, for a stream source, the stream) from `ctx.from`; see `SourceCadence`. */
  read(ctx: ReadContext<P>): AsyncIterable<Batch<P>>;
  /**
   * Positions that became durable, oldest first, each one covering everything before it: called after
   * every commit with the positions of the batches it committed, and once at start with the saved
   * checkpoint (a crash may have fallen between a checkpoint and its acknowledgement), so it must be
   * idempotent. Move upstream state here (confirm an LSN, purge a journal, archive a file).
   */
  acknowledge?(positions: readonly P[]): Promise<void>;
  /**
   * Check that the legacy system answers now, without reading or changing anything (readiness checks).
   * Resolves when it does; rejects with the connector's classified error when not. May run while `read`
   * is running, so it must not disturb it.
   */
  probe?(signal: AbortSignal): Promise<void>;
  /**
   * What the source's presence costs the legacy system now (the WAL a replication slot holds back, a
   * journal's backlog), asked by the runtime every `healthIntervalMs` while the pipeline runs: gauges
   * become metrics, problems make `/readyz` fail and are logged as warnings. Read-only and cheap, like
   * `probe`; may run while `read` is running.
   */
  health?(signal: AbortSignal): Promise<SourceHealth>;
  close(): Promise<void>;
}

/** What a source reports about its load on the legacy system (see `Source.health`). */
export interface SourceHealth {
  /** Measures for `ferry_source_gauge{pipeline, name}`, e.g. `{ slot_retained_wal_bytes: 1048576 }`. */
  gauges?: Record<string, number>;
  /** Conditions that harm the legacy system or soon will, each with a stable code and the fix. */
  problems?: { code: string; message: string }[];
}

/** A CloudEvents 1.0 event carrying a canonical data object. */
export interface CanonicalEvent<T = unknown> {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  dataschema?: string;
  data: T;
  /** Lineage extension: the change's stream and origin, as JSON. */
  ferryorigin: string;
  /** Lineage extension: the legacy operation. */
  ferryop: ChangeOp;
  /** CloudEvents `sequence` extension: the change's place in its source's order (`ChangeRecord.sequence`). */
  sequence?: string;
  traceparent?: string;
}

export interface Sink {
  readonly type: string;
  /**
   * Resolves only when every event is durably stored, or refused for good by where it goes (a webhook
   * receiver answering 410): those come back as dead letters at stage `sink` (`SinkWriteResult`), which the
   * runtime writes to the pipeline's dead-letter place with the batch's own, before it saves the checkpoint.
   * What the sink may yet store is an error (retryable), not a reject.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a sink that never refuses anything returns nothing.
  write(events: CanonicalEvent[]): Promise<void | SinkWriteResult>;
  /**
   * Optional, with `writeEncoded`: turn a batch's events into the sink's own format (file lines, Kafka
   * records) as soon as the batch is ready. The runtime then keeps only what this returns in flight, not
   * the event objects, counts its `bytes` against `runtime.maxInFlightBytes`, and later hands it to
   * `writeEncoded` (or to `commitBatch` as `AtomicBatch.encoded`). Synchronous and free of I/O: it runs on
   * the reader's side, before the batch waits for a slot. Without it the runtime measures each event's JSON
   * to count bytes, and calls `write`.
   */
  encode?(events: CanonicalEvent[]): EncodedEvents;
  /**
   * Write batches made by `encode`, in order, as one write; resolves when all are durably stored, or with
   * what was refused, as `write`.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: as `write`.
  writeEncoded?(batches: EncodedEvents[]): Promise<void | SinkWriteResult>;
  /**
   * Present only when the sink can commit a whole batch atomically (Kafka transactions, exactly-once):
   * events, dead letters and the checkpoint become visible together or not at all. The runtime then
   * calls this instead of write + dead-letter write + checkpoint save.
   */
  commitBatch?(batch: AtomicBatch): Promise<void>;
  /** Check that where events go answers now, without writing anything (see `Source.probe`). */
  probe?(signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** What a sink's write could not store and never will (see `Sink.write`). */
export interface SinkWriteResult {
  /** One dead letter per refused delivery, at stage `sink`, in the order of the events written. */
  rejected: DeadLetter[];
}

/** A batch's events in a sink's own format (see `Sink.encode`); the sink adds what it needs. */
export interface EncodedEvents {
  /** How many events it holds. */
  readonly count: number;
  /** About how many bytes it holds: what `runtime.maxInFlightBytes` counts. */
  readonly bytes: number;
}

export interface AtomicBatch {
  pipeline: string;
  /** The events; empty when the sink encodes (`Sink.encode`): then they are in `encoded`. */
  events: CanonicalEvent[];
  /** With a sink that encodes: the group's batches as it encoded them, in order. */
  encoded?: EncodedEvents[];
  deadLetters: DeadLetter[];
  position: unknown;
}

export type DeadLetterStage = 'source' | 'mapping' | 'contract' | 'sink';

export interface DeadLetter {
  pipeline: string;
  stream: string;
  stage: DeadLetterStage;
  code: string;
  message: string;
  retryable: boolean;
  /** The original change record (or raw input for source rejects). */
  record: unknown;
  origin: Record<string, unknown>;
  /** How many times this input has been tried (replays add one). */
  attempts: number;
  failedAt: string;
}

export interface DeadLetterSink {
  readonly type: string;
  write(letters: DeadLetter[]): Promise<void>;
  /** Every dead letter stored so far and not yet replayed, oldest first (for `ferry dlq list`/replay). */
  list?(): AsyncIterable<DeadLetter>;
  /**
   * Record that `ferry dlq replay` published these letters' events to the sink; list() no longer yields
   * them, so a letter is replayed once.
   */
  markReplayed?(replays: { letter: DeadLetter; events: string[] }[]): Promise<void>;
  close(): Promise<void>;
}

export interface CheckpointStore {
  readonly type: string;
  load(pipeline: string): Promise<unknown>;
  save(pipeline: string, position: unknown): Promise<void>;
  /** Remove the pipeline's checkpoint (offsets reset), its pass state and its unit tally. */
  clear?(pipeline: string): Promise<void>;
  /**
   * When the pipeline's last scheduled pass ended and at which position, so a restart runs a pass missed
   * while the process was down (and only then). A store without these runs a pass at every start.
   */
  loadPassState?(pipeline: string): Promise<PassState | undefined>;
  savePassState?(pipeline: string, state: PassState): Promise<void>;
  /**
   * The counts of a unit of work (a file) open at the last checkpoint (see `BatchNotice.unit`), so a restart
   * inside a file reports the whole file. A store without these reports such a file's counts as unknown.
   */
  loadUnitTally?(pipeline: string): Promise<UnitTallyState | undefined>;
  saveUnitTally?(pipeline: string, state: UnitTallyState): Promise<void>;
  close?(): Promise<void>;
}

/** What the runtime remembers of a pass source's schedule between processes. */
export interface PassState {
  /** ISO time the last complete pass ended. */
  endedAt: string;
  /** The checkpoint (stable JSON) when it ended: a different checkpoint at start means a pass was cut short. */
  position: string;
}

/** What a run counts as it goes. */
export interface RunCounts {
  recordsRead: number;
  eventsWritten: number;
  deadLetters: number;
  /** Records the mapping dropped on purpose (returned null). */
  skipped: number;
  batches: number;
  retries: number;
}

/** What a run did, logged and printed at its end. */
export interface RunSummary extends RunCounts {
  pipeline: string;
  durationMs: number;
  eventsPerSecond: number;
  stoppedBy: 'end' | 'signal';
  position: unknown;
}
