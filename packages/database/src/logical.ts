// PostgreSQL logical replication through a pgoutput slot: every insert, update, delete and truncate of the
// published tables, one transaction after another in commit order. The slot's flush LSN moves only in
// acknowledge(), which the runtime calls after the checkpoint is saved, so a crash replays what was not
// checkpointed and loses nothing.
import type { Batch, ChangeRecord, ReadContext, Source, StreamInfo } from '@ferry/core/sdk';
import pg from 'pg';
import { LogicalReplicationService, type Pgoutput, PgoutputPlugin } from 'pg-logical-replication';
import type { DataSource, QueryRunner } from 'typeorm';
import type { DatabaseLogicalConfig } from './config.js';
import { classifyDatabaseError, DatabaseError, DatabaseErrorCodes } from './errors.js';
import { type CapturedTable, describeTable, keyOf, param } from './internal/capture.js';
import { Connection, dialectOf } from './internal/connection.js';
import { type ColumnKind, decodePgText } from './internal/images.js';
import {
  bigIntToLsn,
  type LogicalPosition,
  lsnToBigInt,
  parseLogicalPosition,
  type SnapshotProgress,
} from './internal/positions.js';
import { readSnapshotChunk, SnapshotProgressLog } from './internal/snapshot.js';
import type { DatabaseSourceContext } from './polling.js';

type Row = Record<string, unknown>;

/** Messages buffered ahead of the reader before the replication stream is paused (flow control). */
const HIGH_WATER = 10_000;

/** pgoutput with every column left as PostgreSQL text: Ferry decodes it (exact numbers, ISO timestamps). */
class TextPgoutputPlugin extends PgoutputPlugin {
  override parse(buffer: Buffer): Pgoutput.Message {
    const message = super.parse(buffer);
    if (message.tag === 'relation') {
      // The parser keeps this very object for the relation's later tuples.
      for (const column of message.columns)
        (column as { parser: (raw: unknown) => unknown }).parser = (raw) => raw;
    }
    return message;
  }
}

export interface SlotInfo {
  exists: boolean;
  confirmedFlush?: string;
  active?: boolean;
  walStatus?: string;
}

export class DatabaseLogicalSource implements Source<LogicalPosition> {
  readonly type = 'database';
  private readonly connection: Connection;
  private readonly closed = new AbortController();
  private service: LogicalReplicationService | undefined;
  /** The LSN last confirmed to the server, and the last position the runtime acknowledged. */
  private acked: bigint | undefined;
  /** Captured table of each relation message the parser has seen (null: not captured). */
  private relations = new WeakMap<object, CapturedTable | null>();

  constructor(
    private readonly config: DatabaseLogicalConfig,
    context: DatabaseSourceContext = {},
  ) {
    this.connection = new Connection(config.connection, context.baseDir ?? process.cwd());
  }

  async discover(): Promise<StreamInfo[]> {
    const dataSource = await this.connection.open();
    const tables = await this.describe(dataSource, 'discover');
    const slot = await slotInfo(dataSource, this.config.slot);
    return tables.map((table) => ({
      name: table.stream,
      fields: table.columns.map((c) => ({ name: c.name, type: c.kind })),
      key: table.config.key,
      notes: [
        `captured by logical replication slot ${this.config.slot}, publication ${this.config.publication}`,
      ],
      details: { slot },
    }));
  }

  async *read(ctx: ReadContext<LogicalPosition>): AsyncGenerator<Batch<LogicalPosition>> {
    const stop = AbortSignal.any([ctx.signal, this.closed.signal]);
    if (stop.aborted) return;
    const target = this.connection.target;
    let dataSource: DataSource;
    let tables: CapturedTable[];
    try {
      dataSource = await this.connection.open();
      tables = await this.describe(dataSource, 'start');
    } catch (error) {
      if (stop.aborted) return;
      throw error;
    }
    let position = parseLogicalPosition(ctx.from);
    let snapshotName: string | undefined;
    let exporter: pg.Client | undefined;
    try {
      await checkWalLevel(dataSource, target);
      const slot = await slotInfo(dataSource, this.config.slot);
      if (slot.walStatus === 'lost') {
        throw new DatabaseError(
          DatabaseErrorCodes.DB_SLOT_INVALIDATED,
          `the replication slot ${this.config.slot} on ${target} lost WAL it still needed (wal_status lost). Drop ` +
            'it, clear the pipeline checkpoint and start again with snapshot: initial (or raise max_slot_wal_keep_size).',
          { details: { slot: this.config.slot, target } },
        );
      }
      await this.ensurePublication(dataSource, tables);
      const wantSnapshot =
        (position === undefined && this.config.snapshot !== 'never') ||
        (!slot.exists && position !== undefined && this.config.snapshot === 'when-needed');
      if (!slot.exists) {
        if (!this.config.createSlot) throw slotMissing(this.config.slot, target);
        if (position !== undefined && this.config.snapshot !== 'when-needed') {
          throw new DatabaseError(
            DatabaseErrorCodes.DB_SLOT_MISSING,
            `the replication slot ${this.config.slot} on ${target} is gone but the checkpoint expects it; changes ` +
              'since the checkpoint are lost. Clear the pipeline checkpoint to start again with a snapshot, or set ' +
              'snapshot: when-needed.',
            { details: { slot: this.config.slot, target } },
          );
        }
        // The slot's exported snapshot is exactly the data before its first change: no gap, no double.
        const created = await createSlot(this.replicationClientConfig(), this.config.slot, wantSnapshot);
        exporter = created.client;
        snapshotName = created.snapshotName;
        ctx.log.info({ slot: this.config.slot, lsn: created.lsn }, 'replication slot created');
        position = {
          mode: 'logical',
          lsn: created.lsn,
          ...(wantSnapshot ? { snapshot: { pending: tables.map((t) => t.stream), after: null } } : {}),
        };
      } else if (position === undefined || wantSnapshot) {
        const lsn = slot.confirmedFlush ?? '0/0';
        position = {
          mode: 'logical',
          lsn,
          ...(wantSnapshot ? { snapshot: { pending: tables.map((t) => t.stream), after: null } } : {}),
        };
      }
    } catch (error) {
      await exporter?.end().catch(() => undefined);
      if (stop.aborted) return;
      throw classifyDatabaseError(error, { operation: 'start', target });
    }

    if (position.snapshot !== undefined) {
      const snapshot = this.snapshot(ctx, dataSource, tables, position, snapshotName, exporter);
      exporter = undefined;
      for await (const batch of snapshot) {
        position = batch.position;
        yield batch;
        if (stop.aborted) return;
      }
    }
    await exporter?.end().catch(() => undefined);
    if (stop.aborted) return;
    yield* this.stream(ctx, dataSource, tables, position, stop);
  }

  async acknowledge(position: LogicalPosition): Promise<void> {
    const lsn = lsnToBigInt(position.lsn);
    if (this.acked !== undefined && lsn <= this.acked) return;
    this.acked = lsn;
    const service = this.service;
    if (service !== undefined && !service.isStop()) this.sendStatus(false);
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

  async close(): Promise<void> {
    this.closed.abort();
    const service = this.service;
    this.service = undefined;
    await service?.destroy().catch(() => undefined);
    await this.connection.close();
  }

  private replicationClientConfig(): pg.ClientConfig {
    const c = this.config.connection;
    if (c.type === 'better-sqlite3') throw new Error('logical mode needs PostgreSQL');
    return {
      host: c.host,
      port: c.port ?? 5432,
      user: c.username,
      ...(c.password === undefined ? {} : { password: c.password }),
      database: c.database,
      connectionTimeoutMillis: c.connectTimeoutMs,
      application_name: `ferry:${this.config.slot}`,
      // pgoutput renders values with the session's settings: UTC timestamps take the decoder's fast path.
      options: '-c TimeZone=UTC -c DateStyle=ISO',
    };
  }

  /** Confirm the acknowledged LSN to the server (the library adds one to what it is given). */
  private sendStatus(ping: boolean): void {
    const service = this.service;
    if (service === undefined || service.isStop() || this.acked === undefined) return;
    void service
      .acknowledge(bigIntToLsn(this.acked > 0n ? this.acked - 1n : 0n), ping)
      .catch(() => undefined);
  }

  private async describe(dataSource: DataSource, operation: string): Promise<CapturedTable[]> {
    const dialect = dialectOf(dataSource);
    try {
      const tables: CapturedTable[] = [];
      for (const table of this.config.tables)
        tables.push(await describeTable(dataSource, dialect, table, this.connection.target));
      return tables;
    } catch (error) {
      throw classifyDatabaseError(error, { operation, target: this.connection.target });
    }
  }

  private async ensurePublication(dataSource: DataSource, tables: CapturedTable[]): Promise<void> {
    const rows = (await dataSource.query(
      `SELECT 1 FROM pg_publication WHERE pubname = ${param(dataSource, 0)}`,
      [this.config.publication],
    )) as Row[];
    if (rows.length > 0) return;
    if (!this.config.createSlot) {
      throw new DatabaseError(
        DatabaseErrorCodes.DB_SLOT_MISSING,
        `the publication ${this.config.publication} does not exist on ${this.connection.target}. Run \`ferry ` +
          'database create-slot <pipeline.yaml>` (or set createSlot: true).',
        { details: { publication: this.config.publication, target: this.connection.target } },
      );
    }
    await dataSource.query(publicationSql(dataSource, this.config.publication, tables));
  }

  private async *snapshot(
    ctx: ReadContext<LogicalPosition>,
    dataSource: DataSource,
    tables: CapturedTable[],
    start: LogicalPosition,
    snapshotName: string | undefined,
    exporter: pg.Client | undefined,
  ): AsyncGenerator<Batch<LogicalPosition>> {
    const byStream = new Map(tables.map((t) => [t.stream, t]));
    const dialect = dialectOf(dataSource);
    let runner: QueryRunner | undefined = dataSource.createQueryRunner();
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
      const log = new SnapshotProgressLog(ctx.log, dataSource, dialect);
      while (position.snapshot !== undefined) {
        if (ctx.signal.aborted || this.closed.signal.aborted) return;
        const progress: SnapshotProgress = position.snapshot;
        const stream = progress.pending[0] as string;
        const table = byStream.get(stream);
        if (table === undefined) {
          position = withSnapshot(position, nextTable(progress));
          continue;
        }
        const active = runner;
        const chunk = await readSnapshotChunk(
          dataSource,
          dialect,
          table,
          progress.after,
          this.config.snapshotChunkSize,
          { snapshot: start.lsn },
          (sql, params) => active.query(sql, params),
        ).catch((error: unknown) => {
          throw classifyDatabaseError(error, {
            operation: 'snapshot',
            stream,
            target: this.connection.target,
          });
        });
        const next =
          chunk.full && chunk.last !== null
            ? { pending: progress.pending, after: chunk.last }
            : nextTable(progress);
        position = withSnapshot(position, next);
        const counted = await log.chunk(table, chunk.records.length, next?.pending[0] !== stream);
        if (chunk.records.length > 0 || next === undefined)
          yield { records: chunk.records, position, progress: counted };
      }
      await runner.query('COMMIT');
    } finally {
      await runner?.release().catch(() => undefined);
      runner = undefined;
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
      tables.map((t) => [`${t.config.schema ?? defaultSchema}.${t.config.name}`, t]),
    );
    let endOfWal: bigint | undefined;
    if (ctx.once) {
      // The insert position, not the flushed one: with synchronous_commit off, commits already acknowledged to
      // their clients may not be flushed yet, and --once must wait for them.
      const [row] = (await dataSource.query('SELECT pg_current_wal_insert_lsn()::text AS lsn')) as Row[];
      endOfWal = lsnToBigInt(String(row?.lsn));
    }

    const queue: Message[] = [];
    let wake: (() => void) | undefined;
    let paused = false;
    let failure: unknown;
    const notify = () => {
      wake?.();
      wake = undefined;
    };
    const service = new LogicalReplicationService(this.replicationClientConfig(), {
      // Auto-acknowledge would confirm what is not checkpointed yet; the periodic status of the library
      // confirms the last LSN received, so Ferry sends its own. The library's flow control is off because
      // it lets keepalives overtake the data it queues; Ferry pauses the socket itself instead.
      acknowledge: { auto: false, timeoutSeconds: 0 },
      flowControl: { enabled: false },
    });
    this.service = service;
    const socket = () =>
      (service as unknown as { _connection?: { stream?: { pause(): void; resume(): void } } })._connection
        ?.stream;
    service.on('data', (lsn: string, message: Pgoutput.Message) => {
      queue.push({ lsn, message });
      notify();
      if (queue.length >= HIGH_WATER && !paused) {
        paused = true;
        socket()?.pause();
      }
    });
    service.on('heartbeat', (lsn: string, _timestamp: number, shouldRespond: boolean) => {
      queue.push({ lsn, keepalive: true });
      notify();
      if (shouldRespond) this.sendStatus(false);
    });
    // Ask for a keepalive at once: it tells where the WAL ends, so --once knows when it has caught up.
    service.on('start', () => this.sendStatus(true));
    service.on('error', (error: unknown) => {
      failure ??= error;
      notify();
    });
    this.acked = lsnToBigInt(from.lsn);
    const plugin = new TextPgoutputPlugin({ protoVersion: 1, publicationNames: [this.config.publication] });
    const subscribed = service
      .subscribe(plugin, this.config.slot, bigIntToLsn(lsnToBigInt(from.lsn)))
      .catch((error: unknown) => {
        failure ??= error;
        notify();
      });
    const onStop = () => notify();
    stop.addEventListener('abort', onStop);
    // --once asks often where the WAL ends, so it stops soon after catching up.
    const tickMs = ctx.once
      ? Math.min(250, this.config.heartbeatIntervalMs)
      : this.config.heartbeatIntervalMs;
    const heartbeat = setInterval(() => {
      this.sendStatus(true);
      queue.push({ lsn: '', tick: true });
      notify();
    }, tickMs);
    ctx.log.info({ slot: this.config.slot, from: from.lsn }, 'logical replication streaming');

    let position = from;
    let records: ChangeRecord[] = [];
    let txn: { xid: number; lsn: string; index: number; skip: number; occurredAt: Date } | undefined;
    let walEnd = lsnToBigInt(from.lsn);
    let lastYieldAt = Date.now();
    try {
      for (;;) {
        if (failure !== undefined) throw classifyDatabaseError(failure, { operation: 'replication', target });
        if (stop.aborted) return;
        const item = queue.shift();
        if (paused && queue.length < HIGH_WATER / 2) {
          paused = false;
          socket()?.resume();
        }
        if (item === undefined) {
          if (records.length > 0 && txn === undefined) {
            yield { records, position };
            records = [];
            lastYieldAt = Date.now();
            continue;
          }
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        if (item.tick === true || item.keepalive === true) {
          if (item.keepalive === true) {
            const at = lsnToBigInt(item.lsn);
            if (at > walEnd) walEnd = at;
          }
          if (txn === undefined && records.length === 0 && walEnd <= lsnToBigInt(position.lsn))
            ctx.caughtUp?.();
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
            txn = {
              xid: message.xid,
              lsn: normaliseLsn(message.commitLsn ?? item.lsn),
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
            const end = lsnToBigInt(normaliseLsn(message.commitEndLsn ?? item.lsn));
            if (end > walEnd) walEnd = end;
            txn = undefined;
            const previous = position;
            if (end > lsnToBigInt(position.lsn)) position = { mode: 'logical', lsn: bigIntToLsn(end) };
            else position = { mode: 'logical', lsn: position.lsn };
            const split = records.length === 0 && previous.xid !== undefined;
            if (
              records.length >= this.config.batchSize ||
              (queue.length === 0 && records.length > 0) ||
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
      clearInterval(heartbeat);
      stop.removeEventListener('abort', onStop);
      if (this.service === service) this.service = undefined;
      await service.destroy().catch(() => undefined);
      await subscribed;
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
    txn: { xid: number; lsn: string; index: number; occurredAt: Date },
  ): ChangeRecord[] {
    const origin = (index: number) => ({ lsn: txn.lsn, xid: txn.xid, seq: index });
    if (message.tag === 'truncate') {
      const out: ChangeRecord[] = [];
      for (const relation of message.relations) {
        const table = byRelation.get(`${relation.schema}.${relation.name}`);
        if (table === undefined) continue;
        out.push({
          stream: table.stream,
          op: 'delete',
          key: {},
          origin: { ...origin(txn.index + out.length + 1), truncate: true },
          occurredAt: txn.occurredAt,
        });
      }
      return out;
    }
    const relation = message.relation;
    // The parser keeps one object per relation, so the lookup is done once per relation, not per change.
    let table = this.relations.get(relation);
    if (table === undefined) {
      table = byRelation.get(`${relation.schema ?? defaultSchema}.${relation.name}`) ?? null;
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
      occurredAt: txn.occurredAt,
    };
    if (before !== undefined) record.before = before;
    if (after !== undefined) record.after = after;
    return [record];
  }
}

interface Message {
  lsn: string;
  message?: Pgoutput.Message;
  keepalive?: boolean;
  tick?: boolean;
}

function normaliseLsn(lsn: string): string {
  return bigIntToLsn(lsnToBigInt(lsn));
}

function nextTable(progress: SnapshotProgress): SnapshotProgress | undefined {
  const pending = progress.pending.slice(1);
  return pending.length === 0 ? undefined : { pending, after: null };
}

function withSnapshot(position: LogicalPosition, snapshot: SnapshotProgress | undefined): LogicalPosition {
  const { snapshot: _old, ...rest } = position;
  return snapshot === undefined ? rest : { ...rest, snapshot };
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

export function publicationSql(dataSource: DataSource, publication: string, tables: CapturedTable[]): string {
  const q = (name: string) => dataSource.driver.escape(name);
  return `CREATE PUBLICATION ${q(publication)} FOR TABLE ${tables.map((t) => t.sql).join(', ')}`;
}

/**
 * Create the slot on a replication connection. With a snapshot the connection is returned open: the
 * exported snapshot stays importable only until that connection runs its next command.
 */
export async function createSlot(
  config: pg.ClientConfig,
  slot: string,
  exportSnapshot: boolean,
): Promise<{ lsn: string; snapshotName?: string; client?: pg.Client }> {
  const client = new pg.Client({ ...config, replication: 'database' } as pg.ClientConfig);
  client.on('error', () => undefined);
  await client.connect();
  try {
    const result = await client.query(
      `CREATE_REPLICATION_SLOT "${slot}" LOGICAL pgoutput ${exportSnapshot ? 'EXPORT_SNAPSHOT' : 'NOEXPORT_SNAPSHOT'}`,
    );
    const row = result.rows[0] as { consistent_point: string; snapshot_name: string | null };
    if (!exportSnapshot || row.snapshot_name === null) {
      await client.end();
      return { lsn: normaliseLsn(row.consistent_point) };
    }
    return { lsn: normaliseLsn(row.consistent_point), snapshotName: row.snapshot_name, client };
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
}
