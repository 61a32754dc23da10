// The pgoutput replication connection (pg-logical-replication) behind a narrow interface: a queue of
// messages, keepalives and heartbeat ticks with its own flow control, and standby status sent only for what
// is committed. The library's auto-acknowledge and periodic status are off: they confirm what was received.
import { Socket } from 'node:net';
import pg from 'pg';
import { LogicalReplicationService, type Pgoutput, PgoutputPlugin } from 'pg-logical-replication';
import type { DatabaseLogicalConfig } from '../config.js';
import { bigIntToLsn, lsnToBigInt } from '../positions.js';

/**
 * Messages buffered ahead of the reader before the replication socket is paused: about one batch. More only
 * holds parsed messages long enough for the garbage collector to promote them, which grows the heap without
 * reading any faster (issue 18: 10,000 measured no faster than 2,000).
 */
const HIGH_WATER = 2_000;

/** pgoutput with every column left as PostgreSQL text: Ferry decodes it (exact numbers, ISO timestamps). */
class TextPgoutputPlugin extends PgoutputPlugin {
  override parse(buffer: Buffer): Pgoutput.Message {
    const message = super.parse(buffer);
    // The parser keeps this very object for the relation's later tuples.
    if (message.tag === 'relation') for (const column of message.columns) column.parser = (raw) => raw;
    return message;
  }
}

export function replicationClientConfig({ connection: c, slot }: DatabaseLogicalConfig): pg.ClientConfig {
  if (c.type === 'better-sqlite3') throw new Error('logical mode needs PostgreSQL');
  return {
    host: c.host,
    port: c.port ?? 5432,
    user: c.username,
    ...(c.password === undefined ? {} : { password: c.password }),
    database: c.database,
    connectionTimeoutMillis: c.connectTimeoutMs,
    application_name: `ferry:${slot}`,
    // pgoutput renders values with the session's settings: UTC timestamps take the decoder's fast path.
    options: '-c TimeZone=UTC -c DateStyle=ISO',
  };
}

export function normaliseLsn(lsn: string): string {
  return bigIntToLsn(lsnToBigInt(lsn));
}

/**
 * Create the slot on a replication connection. With a snapshot the connection is returned open: the
 * exported snapshot stays importable only until that connection runs its next command.
 */
export async function createSlot(
  config: pg.ClientConfig,
  slot: string,
  exportSnapshot: boolean,
): Promise<{ lsn: string; snapshotName?: string; exporter?: pg.Client }> {
  // pg's ClientConfig type does not list `replication`, which its protocol code honours.
  const replication = { ...config, replication: 'database' };
  const client = new pg.Client(replication);
  client.on('error', () => undefined);
  await client.connect();
  try {
    const result = await client.query<{ consistent_point: string; snapshot_name: string | null }>(
      `CREATE_REPLICATION_SLOT "${slot}" LOGICAL pgoutput ${exportSnapshot ? 'EXPORT_SNAPSHOT' : 'NOEXPORT_SNAPSHOT'}`,
    );
    const row = result.rows[0];
    const lsn = normaliseLsn(String(row?.consistent_point));
    if (!exportSnapshot || row?.snapshot_name == null) {
      await client.end();
      return { lsn };
    }
    return { lsn, snapshotName: row.snapshot_name, exporter: client };
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
}

/**
 * The publication as pgoutput's `publication_names` option wants it. The library writes the option into a
 * string literal, and pgoutput reads it as a list of identifiers that are folded to lower case unless
 * double-quoted: quoted as an identifier, then as a literal, any name arrives exactly.
 */
export function publicationOption(publication: string): string {
  return `"${publication.replaceAll('"', '""')}"`.replaceAll("'", "''");
}

/** A change message, a server keepalive (its `lsn` is where the WAL ends) or a heartbeat tick of our own. */
export interface ReplicationItem {
  lsn: string;
  message?: Pgoutput.Message;
  keepalive?: boolean;
  tick?: boolean;
}

export class ReplicationStream {
  /** The first error of the connection; the reader rethrows it. */
  failure: unknown;
  private readonly queue: ReplicationItem[] = [];
  private wake: (() => void) | undefined;
  private paused = false;
  private readonly service: LogicalReplicationService;
  private readonly subscribed: Promise<void>;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    config: DatabaseLogicalConfig,
    from: string,
    tickMs: number,
    /** The end LSN of what is committed (undefined: nothing yet): the only LSN ever confirmed. */
    private readonly committed: () => bigint | undefined,
  ) {
    this.service = new LogicalReplicationService(replicationClientConfig(config), {
      acknowledge: { auto: false, timeoutSeconds: 0 },
      // The library's flow control lets keepalives overtake the data it queues; the socket is paused instead.
      flowControl: { enabled: false },
    });
    this.service.on('data', (lsn: string, message: Pgoutput.Message) => {
      this.push({ lsn, message });
      if (this.queue.length < HIGH_WATER || this.paused) return;
      this.paused = true;
      this.socket()?.pause();
    });
    this.service.on('heartbeat', (lsn: string, _timestamp: number, shouldRespond: boolean) => {
      this.push({ lsn, keepalive: true });
      if (shouldRespond) this.status(false);
    });
    // Ask for a keepalive at once: it tells where the WAL ends, so --once knows when it has caught up.
    this.service.on('start', () => this.status(true));
    this.service.on('error', (error: unknown) => this.fail(error));
    const plugin = new TextPgoutputPlugin({
      protoVersion: 1,
      publicationNames: [publicationOption(config.publication)],
    });
    this.subscribed = this.service.subscribe(plugin, config.slot, from).then(
      () => undefined,
      (error: unknown) => this.fail(error),
    );
    this.heartbeat = setInterval(() => {
      this.status(true);
      this.push({ lsn: '', tick: true });
    }, tickMs);
  }

  get stopped(): boolean {
    return this.service.isStop();
  }

  get queued(): number {
    return this.queue.length;
  }

  /** The next item, or undefined when none is waiting. */
  shift(): ReplicationItem | undefined {
    const item = this.queue.shift();
    if (this.paused && this.queue.length < HIGH_WATER / 2) {
      this.paused = false;
      this.socket()?.resume();
    }
    return item;
  }

  /** Resolves when an item arrives, the connection fails or `interrupt()` is called. */
  wait(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  interrupt(): void {
    this.wake?.();
    this.wake = undefined;
  }

  /** Confirm the committed LSN to the server (the library adds one to what it is given). */
  status(ping: boolean): void {
    const lsn = this.committed();
    if (lsn === undefined || this.service.isStop()) return;
    void this.service.acknowledge(bigIntToLsn(lsn > 0n ? lsn - 1n : 0n), ping).catch(() => undefined);
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    await this.service.destroy().catch(() => undefined);
    await this.subscribed;
  }

  private push(item: ReplicationItem): void {
    this.queue.push(item);
    this.interrupt();
  }

  private fail(error: unknown): void {
    this.failure ??= error;
    this.interrupt();
  }

  /** The library has no way to pause its socket: reach its private connection's socket, checked at run time. */
  private socket(): Socket | undefined {
    const connection: unknown = Reflect.get(this.service, '_connection');
    const stream: unknown =
      typeof connection === 'object' && connection !== null ? Reflect.get(connection, 'stream') : undefined;
    return stream instanceof Socket ? stream : undefined;
  }
}
