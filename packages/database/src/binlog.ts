// MariaDB/MySQL change capture from the row-based binary log, read as a replication client: every insert,
// update and delete of the captured tables, one transaction after another in commit order. The binary log
// keeps no reader position on the server, so the checkpoint alone says where to resume: the GTID position
// (MariaDB's domain-server-sequence list, MySQL's executed set) where the server has one, and the file and
// offset after the last whole transaction always. A crash replays what was not checkpointed.
import { createHash } from 'node:crypto';
import {
  type Batch,
  type ChangeRecord,
  type Clock,
  type ReadContext,
  type Source,
  type SourceCadence,
  type SourceContext,
  type SourceHealth,
  type StreamInfo,
  sequenceOf,
  systemClock,
} from '@ferry/core/sdk';
import type { AnyBinlogEvent } from '@vlasky/zongji';
import mysql from 'mysql2/promise';
import type { DataSource, QueryRunner } from 'typeorm';
import { preflight, refuseOnErrors } from './check.js';
import type { DatabaseBinlogConfig } from './config.js';
import { classifyDatabaseError, DatabaseError, DatabaseErrorCodes, rethrowAs } from './errors.js';
import { BinlogClient, GtidTracker } from './internal/binlog-client.js';
import { type CapturedTable, describeTable, describeTables, keyOf } from './internal/capture.js';
import { Connection, dialectOf } from './internal/connection.js';
import { snapshotBatches, withSnapshot } from './internal/snapshot.js';
import { type BinlogPosition, checkMode, type SnapshotProgress } from './positions.js';

type Row = Record<string, unknown>;

/** Where the server's binary log ends now (or where a consistent snapshot stands in it). */
interface Coordinates {
  file: string;
  pos: number;
  gtid?: string | undefined;
}

/** The default server id: from the pipeline name, in the upper half of the positive 31-bit range. */
export function defaultServerId(pipeline: string): number {
  const hash = createHash('sha256').update(`ferry-binlog:${pipeline}`).digest();
  return 0x40000000 + (hash.readUInt32BE(0) % 0x40000000);
}

/**
 * A stream source: one long read follows the binary log until the pipeline stops (or, with --once, catches
 * up). It has no `acknowledge`: the server keeps no reader position, only binary logs it purges by age.
 */
export class DatabaseBinlogSource implements Source<BinlogPosition> {
  readonly type = 'database';
  readonly cadence: SourceCadence = { kind: 'stream' };
  private readonly connection: Connection;
  private readonly closed = new AbortController();
  private readonly clock: Clock;
  private readonly serverId: number;
  private client: BinlogClient | undefined;
  /** The captured table of each table map's column list (null: not captured). */
  private readonly tableOf = new WeakMap<object, CapturedTable | null>();
  /** The last position read (yielded), for health's distance to the end of the log. */
  private reached: { file: string; pos: number } | undefined;
  /** Holds the server-id lock (GET_LOCK) for as long as the source reads: a connection of its own. */
  private lockConnection: mysql.Connection | undefined;

  constructor(
    private readonly config: DatabaseBinlogConfig,
    context: SourceContext = {},
  ) {
    this.clock = context.clock ?? systemClock;
    this.connection = new Connection(config.connection, context.baseDir ?? process.cwd());
    this.serverId = config.serverId ?? defaultServerId(context.pipeline ?? 'ferry');
  }

  async discover(): Promise<StreamInfo[]> {
    const dataSource = await this.connection.open();
    const tables = await this.describe(dataSource, 'discover');
    return tables.map((table) => ({
      name: table.stream,
      fields: table.columns.map((c) => ({ name: c.name, type: c.kind })),
      recordFields: true,
      key: table.config.key,
      notes: [`captured from the binary log as replication client server id ${this.serverId}`],
    }));
  }

  async *read(ctx: ReadContext<BinlogPosition>): AsyncGenerator<Batch<BinlogPosition>> {
    checkMode(ctx.from, 'binlog');
    const stop = AbortSignal.any([ctx.signal, this.closed.signal]);
    try {
      if (stop.aborted) return;
      const dataSource = await this.connection.open();
      const tables = await this.describe(dataSource, 'start');
      refuseOnErrors(
        await preflight(dataSource, this.config, this.connection.target, {
          purpose: 'run',
          clock: this.clock,
        }),
        this.connection.target,
        ctx.log,
      );
      await this.claimServerId(dataSource);
      let position = await this.start(ctx, dataSource, tables);
      // A first run without a snapshot starts where the log ends now: checkpointed at once, so a run that
      // stops before the first change still resumes from there.
      if (position.snapshot === undefined && ctx.from == null) yield { records: [], position };
      if (position.snapshot !== undefined) {
        for await (const batch of this.snapshot(ctx, dataSource, tables, position, stop)) {
          position = batch.position;
          yield batch;
          if (stop.aborted) return;
        }
        position = withSnapshot(position, undefined);
      }
      if (stop.aborted) return;
      for await (const batch of this.stream(ctx, dataSource, tables, position, stop)) {
        this.reached = { file: batch.position.file, pos: batch.position.pos };
        yield batch;
      }
    } catch (error) {
      if (!stop.aborted)
        throw classifyDatabaseError(error, { operation: 'binlog', target: this.connection.target });
    } finally {
      await this.releaseServerId();
    }
  }

  probe(signal: AbortSignal): Promise<void> {
    return this.connection.probe(signal);
  }

  /**
   * How far behind the end of the binary log the read is, in bytes of log (`binlog_behind_bytes`), and how
   * many log files the server keeps (`binlog_files`): a pipeline far behind risks its log being purged.
   */
  async health(signal: AbortSignal): Promise<SourceHealth> {
    const reached = this.reached;
    if (this.connection.closed || signal.aborted || reached === undefined || reached.file === '') return {};
    const logs = (await (await this.connection.open()).query('SHOW BINARY LOGS')) as Row[];
    let behind = 0;
    let counting = false;
    for (const log of logs) {
      const name = String(log.Log_name);
      const size = Number(log.File_size);
      if (name === reached.file) {
        counting = true;
        behind += Math.max(0, size - reached.pos);
      } else if (counting || compare(name, 0, reached.file, 0) > 0) {
        counting = true;
        behind += size;
      }
    }
    return { gauges: { binlog_behind_bytes: behind, binlog_files: logs.length } };
  }

  async close(): Promise<void> {
    this.closed.abort();
    const client = this.client;
    this.client = undefined;
    await client?.close();
    await this.releaseServerId();
    await this.connection.close();
  }

  private describe(dataSource: DataSource, operation: string): Promise<CapturedTable[]> {
    const target = this.connection.target;
    return describeTables(dataSource, dialectOf(dataSource), this.config.tables, target).catch(
      rethrowAs({ operation, target }),
    );
  }

  /**
   * Two readers with one server id make the server drop the older one, each in turn. The id is refused when it
   * is the server's own, and claimed with a named lock for as long as this source reads, so a second Ferry
   * pipeline with the same id is refused at start instead of taking the stream from the first.
   */
  private async claimServerId(dataSource: DataSource): Promise<void> {
    const target = this.connection.target;
    const [own] = (await dataSource.query('SELECT @@server_id AS id')) as Row[];
    if (Number(own?.id) === this.serverId) {
      throw new DatabaseError(
        DatabaseErrorCodes.DB_SERVER_ID_IN_USE,
        `serverId ${this.serverId} is the server_id of ${target} itself. Set source.serverId to a number no ` +
          'server or replica of this topology uses.',
        { details: { serverId: this.serverId, target } },
      );
    }
    const config = this.config.connection;
    if (config.type === 'better-sqlite3') return;
    const lock = await mysql.createConnection({
      host: config.host,
      port: config.port ?? 3306,
      user: config.username,
      ...(config.password === undefined ? {} : { password: config.password }),
      connectTimeout: config.connectTimeoutMs,
    });
    lock.on('error', () => undefined);
    const [rows] = (await lock.query('SELECT GET_LOCK(?, 0) AS got', [
      `ferry-binlog-server-id-${this.serverId}`,
    ])) as unknown as [Row[]];
    if (Number(rows[0]?.got) !== 1) {
      await lock.end().catch(() => undefined);
      throw new DatabaseError(
        DatabaseErrorCodes.DB_SERVER_ID_IN_USE,
        `another Ferry pipeline reads the binary log of ${target} as server id ${this.serverId}. Give each ` +
          'pipeline its own source.serverId (or stop the other run). If the other run has just stopped, this ' +
          'clears when the server closes its connection; Ferry retries this with backoff.',
        { retryable: true, details: { serverId: this.serverId, target } },
      );
    }
    this.lockConnection = lock;
  }

  private async releaseServerId(): Promise<void> {
    const lock = this.lockConnection;
    this.lockConnection = undefined;
    // Closing the connection releases its named locks.
    await lock?.end().catch(() => lock.destroy());
  }

  /** Where the read starts: the checkpoint, or (first run, or a purged log with when-needed) a snapshot. */
  private async start(
    ctx: ReadContext<BinlogPosition>,
    dataSource: DataSource,
    tables: CapturedTable[],
  ): Promise<BinlogPosition> {
    const target = this.connection.target;
    const from = ctx.from ?? undefined;
    if (from !== undefined) {
      const purged = await this.purged(dataSource, from);
      if (purged === undefined) return from;
      if (this.config.snapshot !== 'when-needed') throw purgedError(purged, target);
      ctx.log.warn(
        { code: DatabaseErrorCodes.DB_BINLOG_PURGED, from },
        `${purged}; snapshotting every table again (snapshot: when-needed)`,
      );
    }
    // Here `from` is set only when its log was purged and snapshot is when-needed.
    if (this.config.snapshot === 'never' && from === undefined) {
      const end = await coordinates(dataSource);
      return { mode: 'binlog', file: end.file, pos: end.pos, ...(end.gtid ? { gtid: end.gtid } : {}) };
    }
    // The coordinates are taken with the snapshot's transaction (snapshot()); until then, placeholders.
    return {
      mode: 'binlog',
      file: '',
      pos: 4,
      snapshot: { pending: tables.map((t) => t.stream), after: null, startedAt: new Date().toISOString() },
    };
  }

  /** Why the binary log from `from` on can no longer be read, or undefined when it can. */
  private async purged(dataSource: DataSource, from: BinlogPosition): Promise<string | undefined> {
    if (from.snapshot !== undefined && from.file === '') return undefined;
    const logs = ((await dataSource.query('SHOW BINARY LOGS')) as Row[]).map((r) =>
      String(r.Log_name ?? Object.values(r)[0]),
    );
    const oldest = logs[0];
    if (oldest === undefined) return 'the server has no binary log';
    if (from.gtid !== undefined && from.gtid !== '' && (await isMariaDb(dataSource))) {
      const [row] = (await dataSource.query('SELECT BINLOG_GTID_POS(?, 4) AS g', [oldest])) as Row[];
      const first = row?.g == null ? '' : String(row.g);
      // Every transaction before the oldest log must be behind the checkpoint (the same domain's sequence).
      const lost = first
        .split(',')
        .filter((g) => g !== '')
        .filter((g) => {
          const [domain, , seq] = g.split('-');
          const mine = from.gtid
            ?.split(',')
            .find((m) => m.startsWith(`${domain}-`))
            ?.split('-')[2];
          return mine === undefined ? BigInt(seq ?? 0) > 0n : BigInt(mine) < BigInt(seq ?? 0);
        });
      return lost.length === 0
        ? undefined
        : `the checkpoint is at GTID ${from.gtid}, but the oldest binary log ${oldest} starts after ${first}`;
    }
    if (!logs.includes(from.file))
      return `the checkpoint is in binary log ${from.file}, which the server no longer has (oldest: ${oldest})`;
    return undefined;
  }

  private async *snapshot(
    ctx: ReadContext<BinlogPosition>,
    dataSource: DataSource,
    tables: CapturedTable[],
    start: BinlogPosition,
    stop: AbortSignal,
  ): AsyncGenerator<Batch<BinlogPosition>> {
    const dialect = dialectOf(dataSource);
    const runner = dataSource.createQueryRunner();
    const target = this.connection.target;
    let position = start;
    try {
      await runner.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      await runner.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
      // MariaDB reports where the binary log stood when the snapshot was taken; the stream starts there.
      const at = await snapshotCoordinates(runner, dataSource);
      if (position.file === '') {
        position = { ...position, file: at.file, pos: at.pos, ...(at.gtid ? { gtid: at.gtid } : {}) };
      }
      ctx.log.info(
        { file: position.file, pos: position.pos, gtid: position.gtid },
        'binlog snapshot starting',
      );
      const stamp = {
        origin: { snapshot: `${position.file}:${position.pos}` },
        sequence: sequenceOf(fileIndex(position.file), position.pos, 0),
      };
      for await (const batch of snapshotBatches({
        log: ctx.log,
        dataSource,
        dialect,
        tables,
        position: position as BinlogPosition & { snapshot: SnapshotProgress },
        stamp,
        chunkSize: this.config.snapshotChunkSize,
        maxRowsPerSecond: this.config.maxRowsPerSecond,
        clock: this.clock,
        target,
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
    ctx: ReadContext<BinlogPosition>,
    dataSource: DataSource,
    initial: CapturedTable[],
    from: BinlogPosition,
    stop: AbortSignal,
  ): AsyncGenerator<Batch<BinlogPosition>> {
    const target = this.connection.target;
    const [dbRow] = (await dataSource.query('SELECT DATABASE() AS db')) as Row[];
    const defaultSchema = String(dbRow?.db ?? this.config.connection.database);
    const tables = new Map<string, CapturedTable>();
    const keyOfTable = (schema: string, name: string) => JSON.stringify([schema, name]);
    for (const t of initial) tables.set(keyOfTable(t.config.schema ?? defaultSchema, t.config.name), t);
    const include: Record<string, string[]> = {};
    for (const t of initial) {
      const schema = t.config.schema ?? defaultSchema;
      include[schema] = [...(include[schema] ?? []), t.config.name];
    }
    const end = ctx.once ? await coordinates(dataSource) : undefined;

    const connection = this.config.connection;
    if (connection.type === 'better-sqlite3') return;
    const client = new BinlogClient(
      {
        host: connection.host,
        port: connection.port ?? 3306,
        user: connection.username,
        password: connection.password,
        connectTimeout: connection.connectTimeoutMs,
      },
      (schema, name, column) => tables.get(keyOfTable(schema, name))?.kinds.get(column),
      // Read ahead by two batches at most: decoded rows wait in memory until the runtime takes them.
      2 * this.config.batchSize,
    );
    this.client = client;
    const onStop = () => client.interrupt();
    stop.addEventListener('abort', onStop);
    try {
      await client.start({
        serverId: this.serverId,
        gtid: from.gtid,
        file: from.file,
        pos: from.pos,
        include,
      });
      ctx.log.info(
        { serverId: this.serverId, file: from.file, pos: from.pos, gtid: from.gtid },
        'binlog streaming',
      );
      const gtids = new GtidTracker(client.isMariaDb, from.gtid);
      let position: BinlogPosition = { mode: 'binlog', file: from.file, pos: from.pos };
      if (from.gtid !== undefined) position.gtid = from.gtid;
      // Where the last event read ends (any event), to know when --once has read everything.
      let file = from.file;
      let seen = from.pos;
      let records: ChangeRecord[] = [];
      let txn: Transaction | undefined;
      let first = true;
      const caughtUp = () =>
        end !== undefined && compare(file, seen, end.file, end.pos) >= 0 && txn === undefined;
      if (end !== undefined && compare(from.file, from.pos, end.file, end.pos) >= 0) return;
      for (;;) {
        if (client.failure !== undefined)
          throw classifyDatabaseError(client.failure, { operation: 'binlog', target });
        if (stop.aborted) return;
        const event = client.shift();
        if (event === undefined) {
          if (records.length > 0 && txn === undefined) {
            yield { records, position };
            records = [];
            continue;
          }
          if (txn === undefined) ctx.caughtUp();
          if (caughtUp()) {
            if (records.length > 0 || position.pos !== from.pos || position.file !== from.file)
              yield { records, position };
            return;
          }
          await client.wait(250);
          continue;
        }
        const name = event.getEventName();
        if (name === 'rotate') {
          const rotate = event as AnyBinlogEvent & { binlogName: string; position: number };
          if (rotate.binlogName !== file) {
            file = rotate.binlogName;
            seen = rotate.position;
            if (txn === undefined) position = { ...withoutSplit(position), file, pos: rotate.position };
          }
          continue;
        }
        if (event.nextPosition > 0) seen = event.nextPosition;
        switch (name) {
          case 'mariadbgtid':
          case 'gtid':
          case 'anonymousgtid': {
            const gtidEvent = event as AnyBinlogEvent & { gtid?: string; standalone?: boolean };
            txn = this.begin(event, file, gtidEvent.gtid, from, first);
            first = false;
            txn.standalone = gtidEvent.standalone === true;
            break;
          }
          case 'query': {
            const query = String((event as AnyBinlogEvent & { query: string }).query).trim();
            if (/^BEGIN$/i.test(query)) {
              if (txn === undefined) {
                txn = this.begin(event, file, undefined, from, first);
                first = false;
              }
              break;
            }
            if (/^(COMMIT|XA COMMIT)/i.test(query) || txn?.standalone === true || txn === undefined) {
              // A COMMIT of a non-transactional engine, or DDL (its own transaction): the transaction ends.
              if (txn !== undefined && /^(ALTER|CREATE|DROP|RENAME|TRUNCATE)\b/i.test(query))
                await this.schemaChanged(dataSource, tables);
              ({ position, txn } = this.commit(position, txn, file, event.nextPosition, gtids));
              if (records.length > 0 && (client.queued === 0 || records.length >= this.config.batchSize)) {
                yield { records, position };
                records = [];
              }
            }
            break;
          }
          case 'tablemap':
            break;
          case 'writerows':
          case 'updaterows':
          case 'deleterows': {
            if (txn === undefined) txn = this.begin(event, file, undefined, from, first);
            for (const record of this.toRecords(event, name, tables, client, txn)) {
              txn.index += 1;
              if (txn.index <= txn.skip) continue;
              records.push(record);
              if (records.length >= this.config.batchSize) {
                position = { ...withoutSplit(position), txn: txn.id, skip: txn.index };
                yield { records, position };
                records = [];
              }
            }
            break;
          }
          case 'xid': {
            const wasSplit = position.txn !== undefined;
            ({ position, txn } = this.commit(position, txn, file, event.nextPosition, gtids));
            if (
              records.length >= this.config.batchSize ||
              (client.queued === 0 && records.length > 0) ||
              (wasSplit && records.length === 0)
            ) {
              yield { records, position };
              records = [];
            }
            break;
          }
          default:
            // Format descriptions, GTID lists, checkpoints, heartbeats: between transactions they move the
            // resume point forward.
            if (txn === undefined && event.nextPosition > 0 && position.txn === undefined)
              position = { ...position, file, pos: event.nextPosition };
            break;
        }
        if (caughtUp() && records.length === 0 && client.queued === 0) {
          yield { records: [], position };
          return;
        }
      }
    } finally {
      stop.removeEventListener('abort', onStop);
      if (this.client === client) this.client = undefined;
      await client.close();
    }
  }

  /** A transaction starts: its id, where it starts, and how many of its changes a split checkpoint holds. */
  private begin(
    event: AnyBinlogEvent,
    file: string,
    gtid: string | undefined,
    /** Where the read resumed: a split transaction's id and how much of it is done. */
    resumed: BinlogPosition,
    first: boolean,
  ): Transaction {
    const start = event.nextPosition - event.size;
    const id = gtid ?? `${file}:${start}`;
    // Only the first transaction read can be the one a split checkpoint was in.
    const skip = first && resumed.txn === id ? (resumed.skip ?? 0) : 0;
    return {
      id,
      gtid,
      file,
      start,
      index: 0,
      skip,
      occurredAt: new Date(event.timestamp),
      prefix: `${sequenceOf(fileIndex(file), start)}.`,
      standalone: false,
    };
  }

  private commit(
    position: BinlogPosition,
    txn: Transaction | undefined,
    file: string,
    next: number,
    gtids: GtidTracker,
  ): { position: BinlogPosition; txn: undefined } {
    if (txn?.gtid !== undefined) gtids.add(txn.gtid);
    const gtid = gtids.toString();
    const committed: BinlogPosition = { mode: 'binlog', file, pos: next };
    if (gtid !== '') committed.gtid = gtid;
    return { position: next > 0 ? committed : withoutSplit(position), txn: undefined };
  }

  /** DDL on a captured table: its catalogue kinds are read again (table maps carry the new columns). */
  private async schemaChanged(dataSource: DataSource, tables: Map<string, CapturedTable>): Promise<void> {
    const dialect = dialectOf(dataSource);
    for (const [key, table] of tables) {
      const fresh = await describeTable(dataSource, dialect, table.config, this.connection.target).catch(
        () => undefined,
      );
      if (fresh !== undefined) tables.set(key, fresh);
    }
  }

  private toRecords(
    event: AnyBinlogEvent,
    name: 'writerows' | 'updaterows' | 'deleterows',
    tables: Map<string, CapturedTable>,
    client: BinlogClient,
    txn: Transaction,
  ): ChangeRecord[] {
    const rowsEvent = event as AnyBinlogEvent & {
      tableId: number;
      tableMap: Record<number, { parentSchema: string; tableName: string; columns?: object }>;
      rows: Row[] | { before: Row; after: Row }[];
    };
    const entry = rowsEvent.tableMap[rowsEvent.tableId];
    if (entry === undefined) return [];
    // One lookup per table map (zongji builds a column list per table map event), not per rows event.
    let table = entry.columns === undefined ? undefined : this.tableOf.get(entry.columns);
    if (table === undefined) {
      table = tables.get(JSON.stringify([entry.parentSchema, entry.tableName])) ?? null;
      if (entry.columns !== undefined) this.tableOf.set(entry.columns, table);
    }
    if (table === null) return [];
    const decoders = entry.columns === undefined ? undefined : client.decoders.get(entry.columns);
    const decode = (row: Row): Row => {
      const out: Row = {};
      if (decoders === undefined) {
        for (const column in row) out[column] = row[column] ?? null;
        return out;
      }
      const { names, decoders: fns } = decoders;
      for (let i = 0; i < names.length; i += 1) {
        const column = names[i] as string;
        out[column] = (fns[i] as (v: unknown) => unknown)(row[column]);
      }
      return out;
    };
    const out: ChangeRecord[] = [];
    const origin = (index: number): Record<string, unknown> =>
      txn.gtid !== undefined
        ? { gtid: txn.gtid, row: index }
        : { file: txn.file, pos: txn.start, row: index };
    let index = txn.index;
    for (const row of rowsEvent.rows) {
      index += 1;
      let before: Row | undefined;
      let after: Row | undefined;
      let op: ChangeRecord['op'];
      if (name === 'writerows') {
        op = 'create';
        after = decode(row as Row);
      } else if (name === 'updaterows') {
        op = 'update';
        const pair = row as { before: Row; after: Row };
        before = decode(pair.before);
        after = decode(pair.after);
      } else {
        op = 'delete';
        before = decode(row as Row);
      }
      const afterKey = keyOf(after ?? before, table);
      if (op === 'update' && before !== undefined) {
        // A key change is a delete of the old key and a create of the new one, so each key's history is whole.
        const beforeKey = keyOf(before, table);
        if (JSON.stringify(beforeKey) !== JSON.stringify(afterKey)) {
          out.push({
            stream: table.stream,
            op: 'delete',
            key: beforeKey,
            before,
            origin: { ...origin(index), part: 'delete' },
            sequence: `${txn.prefix}${sequenceOf(index)}.${sequenceOf(0)}`,
            occurredAt: txn.occurredAt,
          });
          out.push({
            stream: table.stream,
            op: 'create',
            key: afterKey,
            ...(after === undefined ? {} : { after }),
            origin: { ...origin(index), part: 'create' },
            sequence: `${txn.prefix}${sequenceOf(index)}.${sequenceOf(1)}`,
            occurredAt: txn.occurredAt,
          });
          continue;
        }
      }
      const record: ChangeRecord = {
        stream: table.stream,
        op,
        key: afterKey,
        origin: origin(index),
        sequence: txn.prefix + sequenceOf(index),
        occurredAt: txn.occurredAt,
      };
      if (before !== undefined) record.before = before;
      if (after !== undefined) record.after = after;
      out.push(record);
    }
    return out;
  }
}

interface Transaction {
  /** The GTID, or `file:offset` of its first event where the server has no GTIDs. */
  id: string;
  gtid: string | undefined;
  file: string;
  start: number;
  /** Changes seen so far, and how many of them a resumed checkpoint already holds. */
  index: number;
  skip: number;
  occurredAt: Date;
  /** `sequenceOf(file number, start)` and a dot: every change of the transaction sorts after the ones before. */
  prefix: string;
  /** MariaDB: a transaction of one statement without XID (DDL), ended by its query event. */
  standalone: boolean;
}

function withoutSplit(position: BinlogPosition): BinlogPosition {
  const { txn: _txn, skip: _skip, ...rest } = position;
  return rest;
}

/** The number of a binary log file (`mariadb-bin.000042` → 42). */
export function fileIndex(file: string): number {
  const match = /\.(\d+)$/.exec(file);
  return match === null ? 0 : Number(match[1]);
}

function compare(fileA: string, posA: number, fileB: string, posB: number): number {
  const a = fileIndex(fileA);
  const b = fileIndex(fileB);
  return a !== b ? a - b : posA - posB;
}

async function isMariaDb(dataSource: DataSource): Promise<boolean> {
  const [row] = (await dataSource.query('SELECT VERSION() AS v')) as Row[];
  return /mariadb/i.test(String(row?.v));
}

/** Where the binary log ends now, with the GTID position there. */
async function coordinates(dataSource: DataSource): Promise<Coordinates> {
  // MySQL 8.4 renamed the statement (SHOW BINARY LOG STATUS); MariaDB and older MySQL know the first name.
  const [status] = (await dataSource
    .query('SHOW MASTER STATUS')
    .catch(() => dataSource.query('SHOW BINARY LOG STATUS'))) as Row[];
  if (status === undefined) {
    throw new DatabaseError(
      DatabaseErrorCodes.DB_BINLOG_DISABLED,
      'the server writes no binary log (SHOW MASTER STATUS is empty): set log_bin in its configuration and restart it.',
    );
  }
  const file = String(status.File);
  const pos = Number(status.Position);
  let gtid: string | undefined;
  if (await isMariaDb(dataSource)) {
    const [row] = (await dataSource.query('SELECT BINLOG_GTID_POS(?, ?) AS g', [file, pos])) as Row[];
    gtid = row?.g == null ? undefined : String(row.g);
  } else if (status.Executed_Gtid_Set != null && String(status.Executed_Gtid_Set) !== '') {
    gtid = String(status.Executed_Gtid_Set).replace(/\s+/g, '');
  }
  return { file, pos, gtid };
}

/**
 * The binary log coordinates of the snapshot `runner` has just opened. MariaDB reports them with the
 * transaction (binlog_snapshot_file/position); MySQL has no such report, so the global read lock is taken for
 * the moment of reading them (documented in docs/database.md).
 */
async function snapshotCoordinates(runner: QueryRunner, dataSource: DataSource): Promise<Coordinates> {
  const rows = (await runner.query("SHOW STATUS LIKE 'binlog_snapshot_%'")) as Row[];
  const value = (name: string) =>
    rows.find((r) => String(r.Variable_name).toLowerCase() === name)?.Value as string | undefined;
  const file = value('binlog_snapshot_file');
  const pos = value('binlog_snapshot_position');
  if (file !== undefined && file !== '' && pos !== undefined) {
    const [row] = (await runner.query('SELECT BINLOG_GTID_POS(?, ?) AS g', [file, Number(pos)])) as Row[];
    return { file, pos: Number(pos), gtid: row?.g == null ? undefined : String(row.g) };
  }
  // MySQL: the snapshot transaction is restarted under a short global read lock.
  await runner.query('COMMIT');
  await runner.query('FLUSH TABLES WITH READ LOCK');
  try {
    await runner.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    return await coordinates(dataSource);
  } finally {
    await runner.query('UNLOCK TABLES');
  }
}

function purgedError(reason: string, target: string): DatabaseError {
  return new DatabaseError(
    DatabaseErrorCodes.DB_BINLOG_PURGED,
    `${target}: ${reason}. The changes in between are gone from the server. Start again with a new snapshot ` +
      '(`ferry offsets reset`, snapshot: initial), or set snapshot: when-needed; keep binary logs ' +
      '(binlog_expire_logs_seconds) longer than the pipeline may be stopped.',
    { details: { target, reason } },
  );
}
