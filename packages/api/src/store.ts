// The materialised state behind the read API: per canonical entity (type, major version, subject) the data
// of the latest event, applied idempotently and in per-subject order, with the stream positions consumed so
// far saved in the same transaction. SQLite (the embedded default) and PostgreSQL run the same statements
// through typeorm; only placeholders, the JSON type and the text collation differ.
import { resolve } from 'node:path';
import { type CanonicalEvent, FerryError } from '@ferry/core';
import { DataSource, type EntityManager } from 'typeorm';

export type StoreConfig =
  | { type: 'sqlite'; path: string }
  | {
      type: 'postgres';
      host: string;
      port?: number | undefined;
      username: string;
      password?: string | undefined;
      database: string;
      /** Schema of Ferry's tables (created when missing); default `public`. */
      schema?: string | undefined;
    };

/** An entity as served: its data, or a tombstone when its last event was a delete. */
export interface StoredEntity {
  /** Canonical type (`justice.offender`). */
  type: string;
  major: number;
  id: string;
  /** The canonical object; null for a deleted entity. */
  data: unknown;
  /** The id of the event that produced this state: a strong validator for ETag. */
  eventId: string;
  /** The event's `time` (when the change happened in the legacy system). */
  eventTime: string;
  /** The event's `sequence`, when it had one: what orders a subject's events. */
  sequence: string | null;
  /** When the store applied the event (ISO 8601). */
  appliedAt: string;
  deleted: boolean;
}

/**
 * An entity with its object left as the JSON text the store holds (what `apply` wrote with `JSON.stringify`,
 * so the same bytes a serialisation of the parsed object gives): the API sends it without parsing it.
 */
export type StoredEntityJson = Omit<StoredEntity, 'data'> & {
  /** The object's JSON; null for a deleted entity. */
  json: string | null;
};

/** What one `apply` did. */
export interface ApplyResult {
  /** Events that changed an entity. */
  applied: number;
  /** Events already applied (the same id is the entity's state). */
  duplicates: number;
  /** Events older than the entity's state (a lower sequence): not applied, so they cannot overwrite it. */
  stale: number;
}

/** A condition on a field of the canonical object (`dateOfBirth >= 1980-01-01`). */
export interface Filter {
  /** The field's path in the object (`['location', 'prisonId']`). */
  path: string[];
  op: 'eq' | 'gt' | 'gte' | 'lt' | 'lte';
  /** What the field holds by its contract: strings (dates too) compare as text, numbers as numbers. */
  kind: 'string' | 'number' | 'boolean';
  value: string | number | boolean;
}

const OPERATORS = { eq: '=', gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

/** A page of entities in id order; `next` is the cursor of the following page, if there is one. */
export interface Page {
  items: StoredEntity[];
  next: string | undefined;
}

type Row = Record<string, unknown>;

/** What the store uses of better-sqlite3's connection, which typeorm opens and hands to `prepareDatabase`. */
interface SqliteConnection {
  pragma(sql: string): unknown;
  prepare(sql: string): SqliteStatement;
}

interface SqliteStatement {
  raw(on: boolean): SqliteStatement;
  get(...params: unknown[]): unknown;
}

/** The columns of an entity's state other than its key, in the order `stateOfColumns` reads them. */
const STATE_COLUMNS = 'data, event_id, event_time, sequence, applied_at, deleted';

const ENTITIES = 'ferry_api_entities';
/** Rows per multi-row upsert, and ids per lookup of held states: under SQLite's and PostgreSQL's limits of
 * parameters per statement (9 and 1 per row). */
const UPSERT_ROWS = 100;
const LOOKUP_IDS = 500;

/** One entity's key in a map. */
const keyOf = (type: string, major: number, id: string) => `${type}\u0000${major}\u0000${id}`;
const OFFSETS = 'ferry_api_offsets';

export class EntityStoreError extends FerryError {
  override readonly name = 'EntityStoreError';
}

/** The identity of the entity an event is about: its canonical type, the dataschema's major, its subject. */
export function entityOf(event: CanonicalEvent): { type: string; major: number; id: string } {
  const type = event.type.split('.').slice(0, -1).join('.');
  const major = Number(/(\d+)(?:\.\d+){0,2}(?:\.json)?$/.exec(event.dataschema ?? '')?.[1] ?? '1');
  return { type, major, id: event.subject };
}

function isDelete(event: CanonicalEvent): boolean {
  return event.ferryop === 'delete' || event.type.endsWith('.deleted');
}

export class EntityStore {
  /** Where `get` and `list` read: SQLite's own read-only connection (committed data only), or the pool. */
  private reader: DataSource;
  /**
   * SQLite: the lookup by id (`get`, `getJson`, `getJsonSync`), prepared once on the reader's connection
   * and run on it directly, its row as an array of the state's columns. On the API's hot path typeorm's
   * query layers (awaits, events, logging) cost as much again, and a row object per answer is measurable.
   */
  private sqliteGet: SqliteStatement | undefined;

  private constructor(
    private readonly dataSource: DataSource,
    private readonly postgres: boolean,
    private readonly qualify: (table: string) => string,
  ) {
    this.reader = dataSource;
  }

  /** Open (creating Ferry's tables when missing). `baseDir` resolves a relative SQLite path. */
  static async open(config: StoreConfig, baseDir = process.cwd()): Promise<EntityStore> {
    const common = { logging: false, synchronize: false, entities: [] };
    const dataSource =
      config.type === 'sqlite'
        ? new DataSource({
            ...common,
            type: 'better-sqlite3',
            database: resolve(baseDir, config.path),
            // WAL: readers (the API) do not wait for the writer (the consumer), nor it for them.
            prepareDatabase: (db: { pragma(sql: string): unknown }) => {
              db.pragma('journal_mode = WAL');
              db.pragma('synchronous = NORMAL');
              db.pragma('busy_timeout = 5000');
            },
          })
        : new DataSource({
            ...common,
            type: 'postgres',
            host: config.host,
            port: config.port ?? 5432,
            username: config.username,
            ...(config.password === undefined ? {} : { password: config.password }),
            database: config.database,
            applicationName: 'ferry-api',
          });
    try {
      await dataSource.initialize();
    } catch (error) {
      throw new EntityStoreError(
        'API_STORE_UNAVAILABLE',
        `cannot open the API store (${config.type === 'sqlite' ? config.path : `${config.host}/${config.database}`}): ${(error as Error).message}`,
        { retryable: config.type === 'postgres', cause: error },
      );
    }
    const schema = config.type === 'postgres' ? (config.schema ?? 'public') : undefined;
    const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
    const store = new EntityStore(dataSource, config.type === 'postgres', (table) =>
      schema === undefined ? quote(table) : `${quote(schema)}.${quote(table)}`,
    );
    await store.migrate(schema);
    if (config.type === 'sqlite') {
      // The writer's one connection would show a batch being applied before it commits (or is rolled back):
      // the API reads on a connection of its own, which under WAL sees committed data only, without waiting.
      let connection: SqliteConnection | undefined;
      const reader = new DataSource({
        ...common,
        type: 'better-sqlite3',
        database: resolve(baseDir, config.path),
        readonly: true,
        prepareDatabase: (db: SqliteConnection) => {
          db.pragma('busy_timeout = 5000');
          connection = db;
        },
      });
      await reader.initialize();
      store.reader = reader;
      store.sqliteGet = connection
        ?.prepare(
          `SELECT ${STATE_COLUMNS} FROM ${store.qualify(ENTITIES)} WHERE type = ? AND major = ? AND id = ?`,
        )
        .raw(true);
    }
    return store;
  }

  /** The tail of the SQLite work queue (see `oneAtATime`). */
  private serial: Promise<unknown> = Promise.resolve();

  /**
   * Run `work` after the SQLite work queued before it. SQLite here is one connection, and a transaction's
   * statements are awaited one by one: two consumers applying at once would interleave theirs on it
   * ("cannot start a transaction within a transaction"). PostgreSQL gives each transaction a connection.
   */
  private oneAtATime<T>(work: () => Promise<T>): Promise<T> {
    if (this.postgres) return work();
    const run = this.serial.then(work);
    this.serial = run.catch(() => undefined);
    return run;
  }

  private p(index: number): string {
    return this.postgres ? `$${index + 1}` : '?';
  }

  private async migrate(schema: string | undefined): Promise<void> {
    const text = this.postgres ? 'TEXT COLLATE "C"' : 'TEXT';
    if (schema !== undefined) await this.dataSource.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await this.dataSource.query(
      `CREATE TABLE IF NOT EXISTS ${this.qualify(ENTITIES)} (
         type ${text} NOT NULL,
         major INTEGER NOT NULL,
         id ${text} NOT NULL,
         data TEXT,
         event_id ${text} NOT NULL,
         event_time ${text} NOT NULL,
         sequence ${text},
         applied_at ${text} NOT NULL,
         deleted INTEGER NOT NULL,
         PRIMARY KEY (type, major, id))`,
    );
    await this.dataSource.query(
      `CREATE TABLE IF NOT EXISTS ${this.qualify(OFFSETS)} (
         consumer ${text} NOT NULL,
         stream ${text} NOT NULL,
         position ${text} NOT NULL,
         PRIMARY KEY (consumer, stream))`,
    );
  }

  /**
   * Apply events and save the stream positions they bring the consumer to, in one transaction: after a crash
   * the store holds both or neither. Per entity an event is applied only when it is newer than the state:
   * a higher `sequence`, or (same or no sequence) another event id; an event whose id is the state's is a
   * duplicate, and one with a lower sequence is stale (a dead letter replayed late must not overwrite a
   * newer state). A delete leaves a tombstone that keeps its sequence, so an older event cannot bring the
   * entity back.
   */
  async apply(
    consumer: string,
    events: readonly CanonicalEvent[],
    positions: Readonly<Record<string, string>> = {},
  ): Promise<ApplyResult> {
    const result: ApplyResult = { applied: 0, duplicates: 0, stale: 0 };
    const now = new Date().toISOString();
    const work = async (manager: EntityManager) => {
      const query = (sql: string, params: unknown[]) => manager.query(sql, params) as Promise<Row[]>;
      const keyed = events.map((event) => ({ event, ...entityOf(event) }));
      // What each entity holds, read once for the batch and kept up to date as its events are decided, so
      // that a batch with several events of one entity decides them as one at a time would.
      const held = await this.heldStates(query, keyed);
      const writes = new Map<string, unknown[]>();
      for (const { event, type, major, id } of keyed) {
        const key = keyOf(type, major, id);
        const current = held.get(key);
        const sequence = event.sequence ?? null;
        if (current !== undefined) {
          if (current.eventId === event.id) {
            result.duplicates += 1;
            continue;
          }
          if (current.sequence !== null && sequence !== null && sequence < current.sequence) {
            result.stale += 1;
            continue;
          }
        }
        held.set(key, { eventId: event.id, sequence });
        const deleted = isDelete(event);
        writes.set(key, [
          type,
          major,
          id,
          deleted ? null : JSON.stringify(event.data ?? null),
          event.id,
          event.time,
          sequence,
          now,
          deleted ? 1 : 0,
        ]);
        result.applied += 1;
      }
      // The last state of each entity the batch changed, UPSERT_ROWS rows a statement.
      const rows = [...writes.values()];
      for (let from = 0; from < rows.length; from += UPSERT_ROWS) {
        const chunk = rows.slice(from, from + UPSERT_ROWS);
        const values = chunk
          .map((row, r) => `(${row.map((_, c) => this.p(r * row.length + c)).join(', ')})`)
          .join(', ');
        await query(
          `INSERT INTO ${this.qualify(ENTITIES)}
             (type, major, id, data, event_id, event_time, sequence, applied_at, deleted)
           VALUES ${values}
           ON CONFLICT (type, major, id) DO UPDATE SET data = excluded.data, event_id = excluded.event_id,
             event_time = excluded.event_time, sequence = excluded.sequence, applied_at = excluded.applied_at,
             deleted = excluded.deleted`,
          chunk.flat(),
        );
        // SQLite runs in this thread: between statements, let the API answer the requests waiting.
        if (!this.postgres) await new Promise((next) => setImmediate(next));
      }
      for (const [stream, position] of Object.entries(positions)) {
        await query(
          `INSERT INTO ${this.qualify(OFFSETS)} (consumer, stream, position)
           VALUES (${this.p(0)}, ${this.p(1)}, ${this.p(2)})
           ON CONFLICT (consumer, stream) DO UPDATE SET position = excluded.position`,
          [consumer, stream, position],
        );
      }
    };
    await this.oneAtATime(() => this.dataSource.transaction(work));
    return result;
  }

  /** The event id and sequence each of these entities holds now (those the store has), by `keyOf`. */
  private async heldStates(
    query: (sql: string, params: unknown[]) => Promise<Row[]>,
    entities: readonly { type: string; major: number; id: string }[],
  ): Promise<Map<string, { eventId: string; sequence: string | null }>> {
    const ids = new Map<string, { type: string; major: number; ids: Set<string> }>();
    for (const { type, major, id } of entities) {
      const group = keyOf(type, major, '');
      let known = ids.get(group);
      if (known === undefined) {
        known = { type, major, ids: new Set<string>() };
        ids.set(group, known);
      }
      known.ids.add(id);
    }
    const held = new Map<string, { eventId: string; sequence: string | null }>();
    for (const { type, major, ids: set } of ids.values()) {
      const all = [...set];
      for (let from = 0; from < all.length; from += LOOKUP_IDS) {
        const chunk = all.slice(from, from + LOOKUP_IDS);
        const rows = await query(
          `SELECT id, event_id, sequence FROM ${this.qualify(ENTITIES)}
            WHERE type = ${this.p(0)} AND major = ${this.p(1)}
              AND id IN (${chunk.map((_, i) => this.p(i + 2)).join(', ')})`,
          [type, major, ...chunk],
        );
        for (const row of rows)
          held.set(keyOf(type, major, String(row.id)), {
            eventId: String(row.event_id),
            sequence: row.sequence == null ? null : String(row.sequence),
          });
      }
    }
    return held;
  }

  /** The positions a consumer has saved, by stream: where its next read starts. */
  async positions(consumer: string): Promise<Record<string, string>> {
    // Not in the middle of an apply on SQLite's one connection: it would see that apply's uncommitted state.
    const rows = (await this.oneAtATime(() =>
      this.dataSource.query(
        `SELECT stream, position FROM ${this.qualify(OFFSETS)} WHERE consumer = ${this.p(0)}`,
        [consumer],
      ),
    )) as Row[];
    return Object.fromEntries(rows.map((r) => [String(r.stream), String(r.position)]));
  }

  /** One entity, a tombstone included; undefined when the store has never seen it. */
  async get(type: string, major: number, id: string): Promise<StoredEntity | undefined> {
    const state = await this.getJson(type, major, id);
    if (state === undefined) return undefined;
    const { json, ...rest } = state;
    return { ...rest, data: json === null ? null : JSON.parse(json) };
  }

  /** `get` with the object as the JSON text the store holds, not parsed (see `StoredEntityJson`). */
  async getJson(type: string, major: number, id: string): Promise<StoredEntityJson | undefined> {
    if (this.sqliteGet !== undefined) return this.getJsonSync(type, major, id);
    const [row] = (await this.reader.query(
      `SELECT ${STATE_COLUMNS} FROM ${this.qualify(ENTITIES)}
        WHERE type = ${this.p(0)} AND major = ${this.p(1)} AND id = ${this.p(2)}`,
      [type, major, id],
    )) as Row[];
    if (row === undefined) return undefined;
    const columns = [row.data, row.event_id, row.event_time, row.sequence, row.applied_at, row.deleted];
    return stateOfColumns(type, major, id, columns);
  }

  /** Whether `getJsonSync` can be used: SQLite, whose lookups run in this process without waiting. */
  get readsSynchronously(): boolean {
    return this.sqliteGet !== undefined;
  }

  /** `getJson` without a promise, on SQLite only (see `readsSynchronously`): the API's hot path. */
  getJsonSync(type: string, major: number, id: string): StoredEntityJson | undefined {
    if (this.sqliteGet === undefined)
      throw new EntityStoreError('API_INTERNAL', 'getJsonSync is for a SQLite store', { retryable: false });
    const columns = this.sqliteGet.get(type, major, id) as unknown[] | undefined;
    return columns === undefined ? undefined : stateOfColumns(type, major, id, columns);
  }

  /**
   * Live entities of a type and major in id order, `limit` at a time after the cursor `after` (the last id
   * of the previous page): a page never repeats or skips an entity that exists throughout, whatever is
   * written meanwhile.
   */
  async list(
    type: string,
    major: number,
    options: { after?: string | undefined; limit: number; filters?: readonly Filter[] },
  ): Promise<Page> {
    const params: unknown[] = [type, major];
    let where = `type = ${this.p(0)} AND major = ${this.p(1)} AND deleted = 0`;
    if (options.after !== undefined) {
      params.push(options.after);
      where += ` AND id > ${this.p(params.length - 1)}`;
    }
    for (const filter of options.filters ?? []) where += ` AND ${this.condition(filter, params)}`;
    params.push(options.limit + 1);
    const rows = (await this.reader.query(
      `SELECT * FROM ${this.qualify(ENTITIES)} WHERE ${where} ORDER BY id LIMIT ${this.p(params.length - 1)}`,
      params,
    )) as Row[];
    const items = rows.slice(0, options.limit).map(toEntity);
    return { items, next: rows.length > options.limit ? items.at(-1)?.id : undefined };
  }

  /** SQL for one filter, its parameters appended to `params`: JSON path extraction differs per backend. */
  private condition(filter: Filter, params: unknown[]): string {
    const op = OPERATORS[filter.op];
    if (this.postgres) {
      params.push(filter.path);
      const field = `(data::jsonb #>> ${this.p(params.length - 1)}::text[])`;
      params.push(filter.kind === 'boolean' ? String(filter.value) : filter.value);
      const value = this.p(params.length - 1);
      return filter.kind === 'number'
        ? `(${field})::numeric ${op} ${value}::numeric`
        : `${field} ${op} ${value}`;
    }
    params.push(`$.${filter.path.map((part) => `"${part}"`).join('.')}`);
    const field = `json_extract(data, ${this.p(params.length - 1)})`;
    params.push(filter.kind === 'boolean' ? (filter.value === true ? 1 : 0) : filter.value);
    const value = this.p(params.length - 1);
    return filter.kind === 'number' ? `CAST(${field} AS REAL) ${op} ${value}` : `${field} ${op} ${value}`;
  }

  async close(): Promise<void> {
    if (this.reader !== this.dataSource && this.reader.isInitialized) await this.reader.destroy();
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

function toEntity(row: Row): StoredEntity {
  return { ...stateOf(row), data: row.data == null ? null : JSON.parse(String(row.data)) };
}

/** An entity's state from its key and its `STATE_COLUMNS`, the object left as the JSON text stored. */
function stateOfColumns(type: string, major: number, id: string, columns: unknown[]): StoredEntityJson {
  const [data, eventId, eventTime, sequence, appliedAt, deleted] = columns;
  return {
    type,
    major,
    id,
    eventId: String(eventId),
    eventTime: String(eventTime),
    sequence: sequence == null ? null : String(sequence),
    appliedAt: String(appliedAt),
    deleted: Number(deleted) === 1,
    json: data == null ? null : String(data),
  };
}

function stateOf(row: Row): Omit<StoredEntity, 'data'> {
  return {
    type: String(row.type),
    major: Number(row.major),
    id: String(row.id),
    eventId: String(row.event_id),
    eventTime: String(row.event_time),
    sequence: row.sequence == null ? null : String(row.sequence),
    appliedAt: String(row.applied_at),
    deleted: Number(row.deleted) === 1,
  };
}
