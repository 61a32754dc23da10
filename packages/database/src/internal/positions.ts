// Positions of the trigger and logical modes: plain JSON, checked when read back from a checkpoint.
import { DatabaseError, DatabaseErrorCodes } from '../errors.js';

/** Snapshot progress: streams still to read (the first is in progress) and the last key read in it. */
export interface SnapshotProgress {
  pending: string[];
  after: Record<string, unknown> | null;
}

/** A hole in the journal sequence, watched since `at` (epoch ms) for a row committed late. */
export interface TriggerGap {
  seq: number;
  at: number;
}

export interface TriggerPosition {
  mode: 'trigger';
  /** Highest journal sequence read. */
  seq: number;
  /** Sequence numbers below `seq` not seen yet: transactions in flight (or rolled back). */
  gaps: TriggerGap[];
  /** Present while the initial snapshot runs. */
  snapshot?: SnapshotProgress;
}

export interface LogicalPosition {
  mode: 'logical';
  /** End LSN of the last transaction read completely; streaming resumes after it. */
  lsn: string;
  /** Within a transaction split across batches: its xid and how many of its changes were read. */
  xid?: number;
  skip?: number;
  /** Present while the initial snapshot runs. */
  snapshot?: SnapshotProgress & { name?: string };
}

function invalid(mode: string, from: unknown, why: string): DatabaseError {
  return new DatabaseError(
    DatabaseErrorCodes.DB_POSITION_INVALID,
    `the saved checkpoint is not a database ${mode} position (${why}). It may come from another source type or ` +
      'mode; clear the pipeline checkpoint to start again.',
    { details: { position: from } },
  );
}

function object(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function parseSnapshot(mode: string, from: unknown, value: unknown): SnapshotProgress | undefined {
  if (value === undefined) return undefined;
  if (!object(value) || !Array.isArray(value.pending) || !value.pending.every((s) => typeof s === 'string'))
    throw invalid(mode, from, 'snapshot.pending is not a list of streams');
  if (value.after !== null && !object(value.after)) throw invalid(mode, from, 'snapshot.after is not a key');
  return { pending: value.pending as string[], after: value.after as Record<string, unknown> | null };
}

export function parseTriggerPosition(from: unknown): TriggerPosition | undefined {
  if (from === undefined || from === null) return undefined;
  if (!object(from) || from.mode !== 'trigger') throw invalid('trigger', from, 'mode is not trigger');
  if (typeof from.seq !== 'number' || !Number.isSafeInteger(from.seq) || from.seq < 0)
    throw invalid('trigger', from, 'seq is not a sequence number');
  const gaps = from.gaps ?? [];
  if (
    !Array.isArray(gaps) ||
    !gaps.every((g) => object(g) && Number.isSafeInteger(g.seq) && typeof g.at === 'number')
  )
    throw invalid('trigger', from, 'gaps is not a list of {seq, at}');
  const position: TriggerPosition = { mode: 'trigger', seq: from.seq, gaps: gaps as TriggerGap[] };
  const snapshot = parseSnapshot('trigger', from, from.snapshot);
  if (snapshot !== undefined) position.snapshot = snapshot;
  return position;
}

const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i;

export function parseLogicalPosition(from: unknown): LogicalPosition | undefined {
  if (from === undefined || from === null) return undefined;
  if (!object(from) || from.mode !== 'logical') throw invalid('logical', from, 'mode is not logical');
  if (typeof from.lsn !== 'string' || !LSN.test(from.lsn))
    throw invalid('logical', from, 'lsn is not an LSN');
  const position: LogicalPosition = { mode: 'logical', lsn: from.lsn.toUpperCase() };
  if (from.xid !== undefined || from.skip !== undefined) {
    if (!Number.isSafeInteger(from.xid) || !Number.isSafeInteger(from.skip))
      throw invalid('logical', from, 'xid and skip must be integers');
    position.xid = from.xid as number;
    position.skip = from.skip as number;
  }
  const snapshot = parseSnapshot('logical', from, from.snapshot);
  if (snapshot !== undefined) position.snapshot = snapshot;
  return position;
}

/** LSNs as 64-bit integers, to compare and step them. */
export function lsnToBigInt(lsn: string): bigint {
  const [high, low] = lsn.split('/');
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

export function bigIntToLsn(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;
}
