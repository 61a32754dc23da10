// The @ferry/testkit Source conformance suite against the real MariaDB on loopback, binlog mode: the snapshot
// (with the binlog coordinates MariaDB reports for it), and streaming inserts, updates, deletes and a
// multi-row transaction, whole and split across batches. Retryable case: a port nothing listens on
// (ECONNREFUSED); fatal: the table dropped.
import { randomBytes } from 'node:crypto';
import type { Source } from '@ferry/core/sdk';
import {
  describeSourceConformance,
  deterministic,
  readsEverything,
  resumesFromEveryPosition,
  type SourceFixture,
} from '@ferry/testkit';
import { DataSource } from 'typeorm';
import { afterAll } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import {
  type BinlogPosition,
  createDatabaseSource,
  type DatabaseSourceConfigInput,
} from '../../src/index.js';

const { host, port, user, password, database } = services.mariadb;
/** A loopback port nothing listens on: connecting is refused, which is retryable. */
const DEAD_PORT = 1;

let admin: DataSource | undefined;
async function sql(query: string): Promise<Record<string, unknown>[]> {
  if (admin === undefined) {
    admin = new DataSource({
      type: 'mariadb',
      host,
      port,
      username: user,
      password,
      database,
      logging: false,
    });
    await admin.initialize();
  }
  return (await admin.query(query)) as Record<string, unknown>[];
}

afterAll(async () => {
  if (admin?.isInitialized) await admin.destroy();
});

function names(prefix: string) {
  const suffix = randomBytes(4).toString('hex');
  return { table: `${prefix}_${suffix}`, port, serverId: 600_000 + Number.parseInt(suffix.slice(0, 5), 16) };
}

const wrongPort = (n: { port: number }) => ({
  async break() {
    n.port = DEAD_PORT;
  },
  async repair() {
    n.port = port;
  },
});

async function createTable(table: string, rows: number): Promise<void> {
  await sql(`DROP TABLE IF EXISTS ${table}`);
  await sql(`CREATE TABLE ${table} (id BIGINT PRIMARY KEY, name TEXT NOT NULL, amount DECIMAL(14,2))`);
  for (let id = 1; id <= rows; id += 1)
    await sql(`INSERT INTO ${table} VALUES (${id}, 'row ${id}', ${id}.5)`);
}

const lacksAcknowledge =
  'the binary log keeps no reader position on the server: there is nothing to acknowledge upstream';

// ---------------------------------------------------------------------------------------------------------
// snapshot: every row as op read, then the stream from the snapshot's coordinates (nothing after it).

const snap = names('ferry_conf_bsnap');
describeSourceConformance(
  'database binlog snapshot (MariaDB)',
  () =>
    createDatabaseSource({
      mode: 'binlog',
      connection: { type: 'mariadb', host, port: snap.port, username: user, password, database },
      tables: [{ name: snap.table, key: ['id'] }],
      serverId: snap.serverId,
      snapshotChunkSize: 5,
    }),
  {
    async seed() {
      await createTable(snap.table, 23);
      return { expected: 23 };
    },
    lacks: { acknowledge: lacksAcknowledge, upstreamPosition: lacksAcknowledge },
    failRetryable: wrongPort(snap),
    failFatal: {
      async break() {
        await sql(`DROP TABLE ${snap.table}`);
      },
      async repair() {},
    },
    async cleanup() {
      snap.port = port;
      await sql(`DROP TABLE IF EXISTS ${snap.table}`);
    },
  },
);

// ---------------------------------------------------------------------------------------------------------
// streaming: the changes written after a position taken before the seed (as a checkpoint would hold it).

const str = names('ferry_conf_bstr');
let before: BinlogPosition | undefined;

const streamConfig = (batchSize: number): DatabaseSourceConfigInput => ({
  mode: 'binlog',
  connection: { type: 'mariadb', host, port: str.port, username: user, password, database },
  tables: [{ name: str.table, key: ['id'] }],
  serverId: str.serverId,
  snapshot: 'never',
  batchSize,
});

/** The source, reading from the position taken before the seed when the suite starts from nothing. */
function fromSeed(batchSize: number): Source<BinlogPosition> {
  const source = createDatabaseSource(streamConfig(batchSize)) as Source<BinlogPosition>;
  const read = source.read.bind(source);
  source.read = (ctx) => read({ ...ctx, from: ctx.from ?? before });
  return source;
}

const streamFixture: SourceFixture = {
  async seed() {
    await createTable(str.table, 0);
    const [status] = await sql('SHOW MASTER STATUS');
    const [gtid] = await sql(`SELECT BINLOG_GTID_POS('${status?.File}', ${status?.Position}) AS g`);
    before = {
      mode: 'binlog',
      file: String(status?.File),
      pos: Number(status?.Position),
      gtid: String(gtid?.g),
    };
    for (let id = 1; id <= 12; id += 1) await sql(`INSERT INTO ${str.table} VALUES (${id}, 'r${id}', 1.5)`);
    await sql('START TRANSACTION');
    for (let id = 13; id <= 27; id += 1) await sql(`INSERT INTO ${str.table} VALUES (${id}, 'r${id}', 2.25)`);
    await sql('COMMIT');
    await sql(`UPDATE ${str.table} SET amount = amount + 1 WHERE id <= 5`);
    await sql(`DELETE FROM ${str.table} WHERE id > 24`);
    return { expected: 12 + 15 + 5 + 3 };
  },
  lacks: { acknowledge: lacksAcknowledge, upstreamPosition: lacksAcknowledge },
  failRetryable: wrongPort(str),
  failFatal: {
    async break() {
      await sql(`DROP TABLE ${str.table}`);
    },
    async repair() {},
  },
  async cleanup() {
    str.port = port;
    await sql(`DROP TABLE IF EXISTS ${str.table}`);
  },
};

describeSourceConformance('database binlog streaming (MariaDB)', () => fromSeed(1000), streamFixture);

// Small batches split the 15-row transaction: resuming inside it must skip exactly what was delivered.
describeSourceConformance(
  'database binlog streaming, transactions split across batches (MariaDB)',
  () => fromSeed(4),
  streamFixture,
  { checks: [readsEverything, resumesFromEveryPosition, deterministic] },
);
