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
}

/** Input a source could not turn into a record (a ragged CSV row, an undecodable value). */
export interface RejectedInput {
  stream: string;
  code: string;
  message: string;
  /** The raw input as read (a line, a row object), for the dead-letter place. */
  raw: unknown;
  origin: Record<string, unknown>;
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
}

export interface StreamInfo {
  name: string;
  fields?: { name: string; type: string; nullable?: boolean }[];
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
  /** True for `ferry run --once`: read what is there now, then end. */
  once: boolean;
  log: Logger;
  /**
   * Fires when an operator asks for a pass now (`POST /pipelines/{name}/trigger`): scheduled sources stop
   * waiting for the next tick and run a pass at once. Sources without a schedule may ignore it.
   */
  wake?: WakeSignal;
  /**
   * Tell the runtime the source has read everything the legacy system has right now (a poll found nothing
   * new, a scheduled pass ended, replication is idle): the source lag is 0 until the next batch says more.
   */
  caughtUp?(): void;
}

/** A wake-up call a scheduled source can wait on beside its timer. */
export interface WakeSignal {
  /** Resolves at the next wake-up, or when `signal` aborts. */
  next(signal: AbortSignal): Promise<void>;
}

export interface Source<P = unknown> {
  readonly type: string;
  discover?(): Promise<StreamInfo[]>;
  read(ctx: ReadContext<P>): AsyncIterable<Batch<P>>;
  /** Called only after the position (and everything before it) is durably committed. */
  acknowledge?(position: P): Promise<void>;
  /**
   * Check that the legacy system answers now, without reading or changing anything (readiness checks).
   * Resolves when it does; rejects with the connector's classified error when not. May run while `read`
   * is running, so it must not disturb it.
   */
  probe?(signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
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
  traceparent?: string;
}

export interface Sink {
  readonly type: string;
  /** Resolves only when every event is durably stored. */
  write(events: CanonicalEvent[]): Promise<void>;
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

export interface AtomicBatch {
  pipeline: string;
  events: CanonicalEvent[];
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
  /** Remove the pipeline's checkpoint (offsets reset). */
  clear?(pipeline: string): Promise<void>;
  close?(): Promise<void>;
}
