// PostgreSQL logical replication through a pgoutput slot: every insert, update, delete and truncate of the
// published tables, one transaction after another in commit order. The slot's flush LSN moves only in
// acknowledge(), which the runtime calls after the checkpoint is saved, so a crash replays what was not
// checkpointed and loses nothing.
import {
  type Batch,
  type ChangeRecord,
  type Clock,
  formatBytes,
  type ReadContext,
  type Source,
  type SourceCadence,
  type SourceContext,
  type SourceHealth,
  type StreamInfo,
  sequenceOf,
  systemClock,
} from '@ferry/core/sdk';
import type pg from 'pg';
import type { Pgoutput } from 'pg-logical-replication';
import type { DataSource } from 'typeorm';
import { preflight, refuseOnErrors } from './check.js';
import type { DatabaseLogicalConfig } from './config.js';
import { classifyDatabaseError, DatabaseError, DatabaseErrorCodes, rethrowAs } from './errors.js';
import { type CapturedTable, describeTables, keyOf, param } from './internal/capture.js';
import { Connection, dialectOf } from './internal/connection.js';
import { type ColumnKind, decodePgText } from './internal/images.js';
import { publishTables } from './internal/publication.js';
import {
  createSlot,
  normaliseLsn,
  ReplicationStream,
  replicationClientConfig,
} from './internal/replication.js';
import { snapshotBatches, withSnapshot } from './internal/snapshot.js';
import {
  bigIntToLsn,
  checkMode,
  type LogicalPosition,
  lsnToBigInt,
  type SnapshotProgress,
} from './positions.js';

type Row = Record<string, unknown>;

export interface SlotInfo {
  exists: boolean;
  confirmedFlush?: string;
  active?: boolean;
  walStatus?: string;
}

/** A stream source: one long read follows the slot until the pipeline stops (or, with --once, catches up). */
export class DatabaseLogicalSource implements Source<LogicalPosition> {
  readonly type = 'database';
  readonly cadence: SourceCadence = { kind: 'stream' };
  private readonly connection: Connection;
  private readonly closed = new AbortController();
  private replication: ReplicationStream | undefined;
  /** The end LSN of the last position the runtime acknowledged: what the server is told is flushed. */
  private acked: bigint | undefined;
  /** Captured table of each relation message the parser has seen (null: not captured). */
  private relations = new WeakMap<object, CapturedTable | null>();
  private readonly clock: Clock;

  constructor(
    private readonly config: DatabaseLogicalConfig,
    context: SourceContext = {},
  ) {
    this.clock = context.clock ?? systemClock;
    this.connection = new Connection(config.connection, context.baseDir ?? process.cwd());
  }

  async discover(): Promise<StreamInfo[]> {
    const dataSource = await this.connection.open();
    const tables = await this.describe(dataSource, 'discover');
    const slot = await slotInfo(dataSource, this.config.slot);
    return tables.map((table) => ({
      name: table.stream,
      fields: table.columns.map((c) => ({ name: c.name, type: c.kind })),
      recordFields: true,
      key: table.config.key,
      notes: [
        `captured by logical replication slot ${this.config.slot}, publication ${this.config.publication}`,
      ],
      details: { slot },
    }));
  }

  async *read(ctx: ReadContext<LogicalPosition>): AsyncGenerator<Batch<LogicalPosition>> {
    checkMode(ctx.from, 'logical');
    const stop = AbortSignal.any([ctx.signal, this.closed.signal]);
    try {
      if (stop.aborted) return;
      const dataSource = await this.connection.open();
      const tables = await this.describe(dataSource, 'start');
      const start = await this.start(ctx, dataSource, tables);
      let position = start.position;
      if (position.snapshot !== undefined) {
        const snapshot = this.snapshot(ctx, dataSource, tables, position.snapshot, start, stop);
        for await (const batch of snapshot) {
          position = batch.position;
          yield batch;
          if (stop.aborted) return;
        }
        position = withSnapshot(position, undefined);
      }
      if (stop.aborted) return;
      yield* this.stream(ctx, dataSource, tables, position, stop);
    } catch (error) {
      // A stop or close() interrupts queries and the stream; that ends the read, it is not a failure.
      if (!stop.aborted)
        throw classifyDatabaseError(error, { operation: 'replication', target: this.connection.target });
    }
  }

  /**
   * Where the read starts: the checkpoint, or the slot (created here when allowed, exporting the snapshot
   * that holds exactly the data before its first change), with the snapshot to take first if any.
   */
  private async start(
    ctx: ReadContext<LogicalPosition>,
    dataSource: DataSource,
    tables: CapturedTable[],
  ): Promise<Start> {
    const { slot: name, snapshot, createSlot: create } = this.config;
    const target = this.connection.target;
    const from = ctx.from ?? undefined;
    try {
      await checkWalLevel(dataSource, target);
      // The preflight (check.ts) refuses what would break the legacy application (a keyless table about to be
      // published) or the run, before the publication or the slot exists; its warnings are logged.
      refuseOnErrors(
        await preflight(dataSource, this.config, target, { purpose: 'run', clock: this.clock }),
        target,
        ctx.log,
      );
      let slot = await slotInfo(dataSource, name);
      // onWalLimit: resnapshot — a slot over its limit is dropped here, and the run starts over from a new
      // slot and a snapshot (below, as for a slot that is gone with snapshot: when-needed).
      const dropped = await this.dropOverLimit(dataSource, slot, ctx);
      if (dropped) slot = { exists: false };
      if (slot.walStatus === 'lost') {
        throw new DatabaseError(
          DatabaseErrorCodes.DB_SLOT_INVALIDATED,
          `the replication slot ${name} on ${target} lost WAL it still needed (wal_status lost). Drop ` +
            'it, clear the pipeline checkpoint and start again with snapshot: initial (or raise max_slot_wal_keep_size).',
          { details: { slot: name, target } },
        );
      }
      await this.ensurePublication(dataSource, tables);
      const wantSnapshot =
        (from === undefined && snapshot !== 'never') ||
        (!slot.exists && from !== undefined && (snapshot === 'when-needed' || dropped));
      const at = (lsn: string): LogicalPosition => ({
        mode: 'logical',
        lsn,
        ...(wantSnapshot
          ? {
              snapshot: {
                pending: tables.map((t) => t.stream),
                after: null,
                startedAt: new Date().toISOString(),
              },
            }
          : {}),
      });
      if (slot.exists)
        return { position: from !== undefined && !wantSnapshot ? from : at(slot.confirmedFlush ?? '0/0') };
      if (!create) throw slotMissing(name, target);
      if (from !== undefined && snapshot !== 'when-needed' && !dropped) {
        throw new DatabaseError(
          DatabaseErrorCodes.DB_SLOT_MISSING,
          `the replication slot ${name} on ${target} is gone but the checkpoint expects it; changes ` +
            'since the checkpoint are lost. Clear the pipeline checkpoint to start again with a snapshot, or set ' +
            'snapshot: when-needed.',
          { details: { slot: name, target } },
        );
      }
      const created = await createSlot(replicationClientConfig(this.config), name, wantSnapshot);
      ctx.log.info({ slot: name, lsn: created.lsn }, 'replication slot created');
      return { ...created, position: at(created.lsn) };
    } catch (error) {
      throw classifyDatabaseError(error, { operation: 'start', target });
    }
  }

  /**
   * With `onWalLimit: resnapshot`, drop a slot that holds back more than `maxRetainedWalBytes` (or that the
   * server gave up), so the legacy disk is freed; true when it was dropped. A slot in use by another process
   * is left alone (and reported by health).
   */
  private async dropOverLimit(dataSource: DataSource, slot: SlotInfo, ctx: ReadContext<LogicalPosition>) {
    if (this.config.onWalLimit !== 'resnapshot' || !slot.exists || slot.active) return false;
    const name = this.config.slot;
    const retention = await slotRetention(dataSource, name);
    if (retention === undefined) return false;
    const over = retention.retained > this.config.maxRetainedWalBytes;
    if (!over && retention.walStatus !== 'lost' && retention.walStatus !== 'unreserved') return false;
    ctx.log.error(
      {
        code: DatabaseErrorCodes.DB_SLOT_WAL_RETAINED,
        slot: name,
        retainedBytes: retention.retained,
        maxRetainedWalBytes: this.config.maxRetainedWalBytes,
        walStatus: retention.walStatus,
      },
      `replication slot ${name} holds back ${formatBytes(retention.retained)} of WAL on ${this.connection.target} ` +
        `(maxRetainedWalBytes ${formatBytes(this.config.maxRetainedWalBytes)}): dropping it and starting again ` +
        'with a new slot and a snapshot (onWalLimit: resnapshot). Changes between the last checkpoint and the ' +
        'snapshot reach consumers only as the rows the snapshot reads; rows deleted in between are not seen.',
    );
    await dataSource.query('SELECT pg_drop_replication_slot($1)', [name]);
    return true;
  }

  /**
   * Confirm the end LSN of the last committed position (a transaction split across batches confirms only the
   * transactions before it). Idempotent: an LSN at or below the one confirmed is ignored.
   */
  async acknowledge(positions: readonly LogicalPosition[]): Promise<void> {
    const position = positions.at(-1);
    if (position === undefined) return;
    const lsn = lsnToBigInt(position.lsn);
    if (this.acked !== undefined && lsn <= this.acked) return;
    this.acked = lsn;
    const replication = this.replication;
    if (replication !== undefined && !replication.stopped) replication.status(false);
    else await this.advanceSlot(lsn);
  }

  /**
   * Between streams (during the snapshot, after a --once run ended) there is no replication connection to
   * carry the status, so the slot is moved with SQL. Best effort: a slot still held by a walsender that is
   * shutting down is left alone, and the next stream confirms the checkpointed LSN as it starts.
   */
  private async advanceSlot(lsn: bigint): Promise<void> {
    if (this.connection.closed) return;
    try {
      const dataSource = await this.connection.open();
      await dataSource.query(
        `SELECT pg_replication_slot_advance(slot_name, $2::pg_lsn) FROM pg_replication_slots
          WHERE slot_name = $1 AND NOT active AND confirmed_flush_lsn < $2::pg_lsn`,
        [this.config.slot, bigIntToLsn(lsn)],
      );
    } catch {
      // See above: the next stream start confirms it.
    }
  }

  /** `SELECT 1` on a short-lived connection of its own; see Connection.probe. */
  probe(signal: AbortSignal): Promise<void> {
    return this.connection.probe(signal);
  }

  /**
   * The WAL the slot holds back on the server (from its restart LSN to the end of the WAL): PostgreSQL
   * keeps it until Ferry confirms it, so a pipeline behind or stopped fills the legacy server's disk. Over
   * `maxRetainedWalBytes`, or when the server is about to give the slot up, it is a problem.
   */
  async health(signal: AbortSignal): Promise<SourceHealth> {
    if (this.connection.closed || signal.aborted) return {};
    const row = await slotRetention(await this.connection.open(), this.config.slot);
    if (row === undefined) return {};
    const { retained } = row;
    const gauges: Record<string, number> = { slot_retained_wal_bytes: retained };
    if (row.safe !== undefined) gauges.slot_safe_wal_bytes = row.safe;
    const problems: { code: string; message: string }[] = [];
    const slot = `replication slot ${this.config.slot} on ${this.connection.target}`;
    const limit = this.config.maxRetainedWalBytes;
    if (row.walStatus === 'lost') {
      problems.push({
        code: DatabaseErrorCodes.DB_SLOT_INVALIDATED,
        message: `${slot} has lost WAL it still needed (wal_status lost): changes since the last checkpoint are gone. Drop the slot and start again with a snapshot.`,
      });
    } else if (retained > limit || row.walStatus === 'unreserved') {
      problems.push({
        code: DatabaseErrorCodes.DB_SLOT_WAL_RETAINED,
        message:
          `${slot} holds back ${formatBytes(retained)} of WAL (maxRetainedWalBytes ${formatBytes(limit)}` +
          `${row.walStatus === 'unreserved' ? '; the server is about to give the slot up' : ''}). ` +
          'PostgreSQL cannot recycle it until this pipeline confirms it, so the server’s disk fills while the ' +
          'pipeline is behind or stopped. Let it catch up (is the sink reachable?); if it will not, drop the slot ' +
          '(`ferry database drop-slot`) and start again with a snapshot.',
      });
    }
    return { gauges, problems };
  }

  async close(): Promise<void> {
    this.closed.abort();
    const replication = this.replication;
    this.replication = undefined;
    await replication?.close();
    await this.connection.close();
  }

  private describe(dataSource: DataSource, operation: string): Promise<CapturedTable[]> {
    const target = this.connection.target;
    return describeTables(dataSource, dialectOf(dataSource), this.config.tables, target).catch(
      rethrowAs({ operation, target }),
    );
  }

  private async ensurePublication(dataSource: DataSource, tables: CapturedTable[]): Promise<void> {
    const rows = (await dataSource.query(
      `SELECT 1 FROM pg_publication WHERE pubname = ${param(dataSource, 0)}`,
      [this.config.publication],
    )) as Row[];
    // With createSlot the set-up is Ferry's to finish: a replica identity the pipeline asks for is applied even
    // when the publication already exists (publishTables does nothing when all is in place).
    if (rows.length > 0 && !this.config.createSlot) return;
    if (!this.config.createSlot) {
      throw new DatabaseError(
        DatabaseErrorCodes.DB_SLOT_MISSING,
        `the publication ${this.config.publication} does not exist on ${this.connection.target}. Run \`ferry ` +
          'database create-slot <pipeline.yaml>` (or set createSlot: true).',
        { details: { publication: this.config.publication, target: this.connection.target } },
      );
    }
    await publishTables(dataSource, this.config, tables);
  }

  private async *snapshot(
    ctx: ReadContext<LogicalPosition>,
    dataSource: DataSource,
    tables: CapturedTable[],
    progress: SnapshotProgress,
    { position: start, snapshotName, exporter }: Start,
    stop: AbortSignal,
  ): AsyncGenerator<Batch<LogicalPosition>> {
    const dialect = dialectOf(dataSource);
    const runner = dataSource.createQueryRunner();
    let position = start;
    try {
      try {
        await runner.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        if (snapshotName !== undefined) {
          if (!/^[0-9A-F-]+$/i.test(snapshotName))
            throw new Error(`unexpected snapshot name ${snapshotName}`);
          await runner.query(`SET TRANSACTION SNAPSHOT '${snapshotName}'`);
        }
      } finally {
        // The exported snapshot lives only until the exporting connection does its next thing.
        await exporter?.end().catch(() => undefined);
      }
      ctx.log.info({ exported: snapshotName !== undefined, lsn: start.lsn }, 'logical snapshot starting');
      // Snapshot rows sort before every change streamed after the slot's LSN: those commit at or after it and
      // are numbered from 1 within their transaction.
      const stamp = { origin: { snapshot: start.lsn }, sequence: sequenceOf(lsnToBigInt(start.lsn), 0) };
      for await (const batch of snapshotBatches({
        log: ctx.log,
        dataSource,
        dialect,
        tables,
        position: { ...position, snapshot: progress },
        stamp,
        chunkSize: this.config.snapshotChunkSize,
        maxRowsPerSecond: this.config.maxRowsPerSecond,
        clock: this.clock,
        target: this.connection.target,
        stop,
        query: (sql, p) => runner.query(sql, p),
      })) {
        position = batch.position;
        yield batch;
      }
      if (stop.aborted) return;
      await runner.query('COMMIT');
    } finally {
      await runner.release().catch(() => undefined);
    }
  }

  private async *stream(
    ctx: ReadContext<LogicalPosition>,
    dataSource: DataSource,
    tables: CapturedTable[],
    from: LogicalPosition,
    stop: AbortSignal,
  ): AsyncGenerator<Batch<LogicalPosition>> {
    const target = this.connection.target;
    const [schemaRow] = (await dataSource.query('SELECT current_schema() AS s')) as Row[];
    const defaultSchema = String(schemaRow?.s ?? 'public');
    const byRelation = new Map(
      tables.map((t) => [relationKey(t.config.schema ?? defaultSchema, t.config.name), t]),
    );
    let endOfWal: bigint | undefined;
    if (ctx.once) {
      // The insert position, not the flushed one: with synchronous_commit off, commits already acknowledged to
      // their clients may not be flushed yet, and --once must wait for them.
      const [row] = (await dataSource.query('SELECT pg_current_wal_insert_lsn()::text AS lsn')) as Row[];
      endOfWal = lsnToBigInt(String(row?.lsn));
    }

    this.acked = lsnToBigInt(from.lsn);
    // --once asks often where the WAL ends, so it stops soon after catching up.
    const tickMs = ctx.once
      ? Math.min(250, this.config.heartbeatIntervalMs)
      : this.config.heartbeatIntervalMs;
    const replication = new ReplicationStream(this.config, normaliseLsn(from.lsn), tickMs, () => this.acked);
    this.replication = replication;
    const onStop = () => replication.interrupt();
    stop.addEventListener('abort', onStop);
    ctx.log.info({ slot: this.config.slot, from: from.lsn }, 'logical replication streaming');

    let position = from;
    let records: ChangeRecord[] = [];
    let txn: Transaction | undefined;
    let walEnd = lsnToBigInt(from.lsn);
    let lastYieldAt = Date.now();
    try {
      for (;;) {
        if (replication.failure !== undefined)
          throw classifyDatabaseError(replication.failure, { operation: 'replication', target });
        if (stop.aborted) return;
        const item = replication.shift();
        if (item === undefined) {
          if (records.length > 0 && txn === undefined) {
            yield { records, position };
            records = [];
            lastYieldAt = Date.now();
            continue;
          }
          await replication.wait();
          continue;
        }
        if (item.tick === true || item.keepalive === true) {
          if (item.keepalive === true) {
            const at = lsnToBigInt(item.lsn);
            if (at > walEnd) walEnd = at;
          }
          if (txn === undefined && records.length === 0 && walEnd <= lsnToBigInt(position.lsn))
            ctx.caughtUp();
          // Idle between transactions: move the position (and so the slot, once acknowledged) to the end of
          // the WAL already decoded, so an idle slot does not hold WAL back.
          const current = lsnToBigInt(position.lsn);
          if (
            txn === undefined &&
            records.length === 0 &&
            walEnd > current &&
            Date.now() - lastYieldAt >= this.config.heartbeatIntervalMs
          ) {
            position = { mode: 'logical', lsn: bigIntToLsn(walEnd) };
            lastYieldAt = Date.now();
            yield { records: [], position };
          }
          if (endOfWal !== undefined && txn === undefined && records.length === 0 && walEnd >= endOfWal) {
            if (walEnd > lsnToBigInt(position.lsn))
              yield { records: [], position: { mode: 'logical', lsn: bigIntToLsn(walEnd) } };
            return;
          }
          continue;
        }
        const message = item.message as Pgoutput.Message;
        switch (message.tag) {
          case 'begin': {
            const skip = position.xid === message.xid ? (position.skip ?? 0) : 0;
            const commit = lsnToBigInt(message.commitLsn ?? item.lsn);
            txn = {
              xid: message.xid,
              lsn: bigIntToLsn(commit),
              commit,
              index: 0,
              skip,
              occurredAt: new Date(Number((message.commitTime as bigint) / 1000n)),
            };
            break;
          }
          case 'insert':
          case 'update':
          case 'delete':
          case 'truncate': {
            if (txn === undefined) break;
            for (const record of this.toRecords(message, byRelation, defaultSchema, txn)) {
              txn.index += 1;
              if (txn.index <= txn.skip) continue;
              records.push(record);
              if (records.length >= this.config.batchSize) {
                // A long transaction is split; the position says how much of it is done.
                position = { mode: 'logical', lsn: position.lsn, xid: txn.xid, skip: txn.index };
                yield { records, position };
                records = [];
                lastYieldAt = Date.now();
              }
            }
            break;
          }
          case 'commit': {
            const end = lsnToBigInt(message.commitEndLsn ?? item.lsn);
            if (end > walEnd) walEnd = end;
            txn = undefined;
            const previous = position;
            if (end > lsnToBigInt(position.lsn)) position = { mode: 'logical', lsn: bigIntToLsn(end) };
            else position = { mode: 'logical', lsn: position.lsn };
            const split = records.length === 0 && previous.xid !== undefined;
            if (
              records.length >= this.config.batchSize ||
              (replication.queued === 0 && records.length > 0) ||
              split
            ) {
              // A split transaction is finished: its end becomes the checkpoint even with nothing left to send.
              yield { records, position };
              records = [];
              lastYieldAt = Date.now();
            }
            if (endOfWal !== undefined && end >= endOfWal && records.length === 0) return;
            break;
          }
          default:
            break;
        }
      }
    } finally {
      stop.removeEventListener('abort', onStop);
      if (this.replication === replication) this.replication = undefined;
      await replication.close();
      await this.waitForSlotRelease(dataSource);
    }
  }

  /**
   * The server's walsender lets go of the slot a moment after the connection closes; waiting for it means a
   * read that starts right after this one (the runtime's resume, a test) does not find the slot in use.
   */
  private async waitForSlotRelease(dataSource: DataSource): Promise<void> {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && dataSource.isInitialized) {
      const info = await slotInfo(dataSource, this.config.slot).catch(() => undefined);
      if (info?.active !== true) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  private toRecords(
    message:
      | Pgoutput.MessageInsert
      | Pgoutput.MessageUpdate
      | Pgoutput.MessageDelete
      | Pgoutput.MessageTruncate,
    byRelation: Map<string, CapturedTable>,
    defaultSchema: string,
    txn: Transaction,
  ): ChangeRecord[] {
    const origin = (index: number) => ({ lsn: txn.lsn, xid: txn.xid, seq: index });
    // Commit order, then the change's number in its transaction: the order PostgreSQL applied them in.
    // The commit part is the same for every change of the transaction: padded once (sequenceOf's text).
    txn.sequencePrefix ??= `${sequenceOf(txn.commit)}.`;
    const prefix = txn.sequencePrefix;
    const sequence = (index: number) => prefix + sequenceOf(index);
    if (message.tag === 'truncate') {
      const out: ChangeRecord[] = [];
      for (const relation of message.relations) {
        const table = byRelation.get(relationKey(relation.schema, relation.name));
        if (table === undefined) continue;
        out.push({
          stream: table.stream,
          op: 'delete',
          key: {},
          origin: { ...origin(txn.index + out.length + 1), truncate: true },
          sequence: sequence(txn.index + out.length + 1),
          occurredAt: txn.occurredAt,
        });
      }
      return out;
    }
    const relation = message.relation;
    // The parser keeps one object per relation, so the lookup is done once per relation, not per change.
    let table = this.relations.get(relation);
    if (table === undefined) {
      table = byRelation.get(relationKey(relation.schema ?? defaultSchema, relation.name)) ?? null;
      this.relations.set(relation, table);
    }
    if (table === null) return [];
    const kinds = table.kinds;
    const decode = (tuple: Record<string, unknown> | null | undefined) => {
      if (tuple === null || tuple === undefined) return undefined;
      const out: Record<string, unknown> = {};
      for (const name in tuple) {
        const raw = tuple[name];
        if (raw === undefined) continue; // an unchanged TOASTed value the server did not send
        const kind: ColumnKind = kinds.get(name) ?? { name, kind: 'text' };
        out[name] = decodePgText(raw as string | null, kind);
      }
      return out;
    };
    let before: Record<string, unknown> | undefined;
    let after: Record<string, unknown> | undefined;
    let op: ChangeRecord['op'];
    if (message.tag === 'insert') {
      op = 'create';
      after = decode(message.new);
    } else if (message.tag === 'update') {
      op = 'update';
      before = decode(message.old) ?? decode(message.key);
      after = decode(message.new);
    } else {
      op = 'delete';
      before = decode(message.old) ?? decode(message.key);
    }
    const record: ChangeRecord = {
      stream: table.stream,
      op,
      key: keyOf(after ?? before, table),
      origin: origin(txn.index + 1),
      sequence: sequence(txn.index + 1),
      occurredAt: txn.occurredAt,
    };
    if (before !== undefined) record.before = before;
    if (after !== undefined) record.after = after;
    return [record];
  }
}

/**
 * A relation's schema and name as one map key. pgoutput sends both exactly as the catalogue spells them;
 * joined with a dot they would be ambiguous ("a.b"."c" and "a"."b.c"), so they are kept apart.
 */
function relationKey(schema: string, name: string): string {
  return JSON.stringify([schema, name]);
}

/** Where a read starts, and the snapshot the slot exported when it was just created. */
interface Start {
  position: LogicalPosition;
  snapshotName?: string;
  exporter?: pg.Client;
}

interface Transaction {
  xid: number;
  /** Commit LSN, as text (origins) and as a number (sequences). */
  lsn: string;
  commit: bigint;
  /** Changes seen so far, and how many of them a resumed checkpoint already holds. */
  index: number;
  skip: number;
  occurredAt: Date;
  /** `sequenceOf(commit)` and the dot after it, made at the transaction's first change. */
  sequencePrefix?: string;
}

function slotMissing(slot: string, target: string): DatabaseError {
  return new DatabaseError(
    DatabaseErrorCodes.DB_SLOT_MISSING,
    `the replication slot ${slot} does not exist on ${target}. Run \`ferry database create-slot <pipeline.yaml>\` ` +
      '(or set createSlot: true).',
    { details: { slot, target } },
  );
}

export async function checkWalLevel(dataSource: DataSource, target: string): Promise<void> {
  const [row] = (await dataSource.query('SHOW wal_level')) as Row[];
  const level = String(row?.wal_level ?? '');
  if (level !== 'logical') {
    throw new DatabaseError(
      DatabaseErrorCodes.DB_LOGICAL_DISABLED,
      `${target} runs with wal_level = ${level}; logical replication needs wal_level = logical. Set it in ` +
        'postgresql.conf (ALTER SYSTEM SET wal_level = logical) and restart the server.',
      { details: { target, walLevel: level } },
    );
  }
}

/**
 * The WAL a slot holds back, from its restart LSN to the WAL insert position (not the write position, which lags
 * behind commits made with synchronous_commit off); undefined when it has none.
 */
async function slotRetention(
  dataSource: DataSource,
  slot: string,
): Promise<{ retained: number; walStatus: string; safe: number | undefined } | undefined> {
  const rows = (await dataSource.query(
    `SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), restart_lsn)::text AS retained, wal_status,
            safe_wal_size::text AS safe
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  )) as Row[];
  const row = rows[0];
  if (row === undefined || row.retained == null) return undefined;
  return {
    retained: Number(row.retained),
    walStatus: String(row.wal_status),
    safe: row.safe == null ? undefined : Number(row.safe),
  };
}

export async function slotInfo(dataSource: DataSource, slot: string): Promise<SlotInfo> {
  const rows = (await dataSource.query(
    `SELECT confirmed_flush_lsn::text AS lsn, active, wal_status FROM pg_replication_slots WHERE slot_name = ${param(dataSource, 0)}`,
    [slot],
  )) as Row[];
  const row = rows[0];
  if (row === undefined) return { exists: false };
  const info: SlotInfo = { exists: true, active: row.active === true, walStatus: String(row.wal_status) };
  if (row.lsn != null) info.confirmedFlush = String(row.lsn);
  return info;
}
