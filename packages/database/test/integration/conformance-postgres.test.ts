// The @ferry/testkit Source conformance suite against the real PostgreSQL on loopback: trigger mode (a pass
// source) reading its journal, logical mode taking its snapshot through a slot it creates, and logical mode streaming
// inserts, updates, deletes, a multi-row transaction and a truncate from an existing slot. Retryable case:
// a port nothing listens on (ECONNREFUSED); fatal: the table or the slot dropped.
import { randomBytes } from 'node:crypto';
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
  createDatabaseSource,
  type DatabaseSourceConfigInput,
  installDatabaseTriggers,
  parseDatabaseSourceConfig,
  uninstallDatabaseTriggers,
} from '../../src/index.js';

const { host, port, user, password, database } = services.postgres;
/** A loopback port nothing listens on: connecting is refused, which is retryable. */
const DEAD_PORT = 1;

let admin: DataSource | undefined;
async function sql(query: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  if (admin === undefined) {
    admin = new DataSource({
      type: 'postgres',
      host,
      port,
      username: user,
      password,
      database,
      logging: false,
    });
    await admin.initialize();
  }
  return (await admin.query(query, params)) as Record<string, unknown>[];
}

afterAll(async () => {
  if (admin?.isInitialized) await admin.destroy();
});

async function dropSlot(slot: string): Promise<void> {
  // A walsender may hold the slot for a moment after a source closed.
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const [row] = await sql('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    if (row === undefined) return;
    if (row.active !== true) {
      await sql('SELECT pg_drop_replication_slot($1)', [slot]);
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`slot ${slot} stayed active`);
}

/** One table, slot, publication and journal name per fixture, and a switch to point sources at a dead port. */
function names(prefix: string) {
  const suffix = randomBytes(4).toString('hex');
  return {
    table: `${prefix}_${suffix}`,
    slot: `${prefix}_${suffix}`,
    journal: `${prefix}_journal_${suffix}`,
    port,
  };
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
  await sql(`CREATE TABLE ${table} (id BIGINT PRIMARY KEY, name TEXT NOT NULL, amount NUMERIC(14,2))`);
  await sql(`ALTER TABLE ${table} REPLICA IDENTITY FULL`);
  if (rows > 0)
    await sql(`INSERT INTO ${table} SELECT g, 'row ' || g, g + 0.5 FROM generate_series(1, ${rows}) AS g`);
}

// ---------------------------------------------------------------------------------------------------------
// trigger: the journal of 12 single-row transactions, a 15-row transaction, updates and deletes.

const trg = names('ferry_conf_trg');
const triggerConfig = (): DatabaseSourceConfigInput => ({
  mode: 'trigger',
  connection: { type: 'postgres', host, port: trg.port, username: user, password, database },
  tables: [{ name: trg.table, key: ['id'] }],
  journal: { table: trg.journal },
  snapshot: 'never',
  batchSize: 6,
  pollIntervalMs: 200,
});

const triggerFixture: SourceFixture = {
  async seed() {
    await sql(`DROP TABLE IF EXISTS ${trg.journal}`);
    await createTable(trg.table, 0);
    await installDatabaseTriggers(parseDatabaseSourceConfig(triggerConfig()));
    for (let id = 1; id <= 12; id += 1) await sql(`INSERT INTO ${trg.table} VALUES (${id}, 'r${id}', 1.5)`);
    await sql(`INSERT INTO ${trg.table} SELECT g, 'r' || g, 2.25 FROM generate_series(13, 27) AS g`);
    await sql(`UPDATE ${trg.table} SET amount = amount + 1 WHERE id <= 5`);
    await sql(`DELETE FROM ${trg.table} WHERE id > 24`);
    return { expected: 12 + 15 + 5 + 3 };
  },
  failRetryable: wrongPort(trg),
  failFatal: {
    async break() {
      await sql(`DROP TABLE ${trg.table}`);
    },
    async repair() {},
  },
  async acknowledgedUpstream() {
    // Acknowledging purges the journal up to the position: what is left starts right after it.
    const [row] = await sql(`SELECT MIN(seq) AS seq FROM ${trg.journal}`);
    return { mode: 'trigger', seq: Number(row?.seq) - 1, gaps: [] };
  },
  async cleanup() {
    trg.port = port;
    await uninstallDatabaseTriggers(
      parseDatabaseSourceConfig(triggerConfig()),
      {},
      { dropJournal: true },
    ).catch(() => undefined);
    await sql(`DROP TABLE IF EXISTS ${trg.table}`);
    await sql(`DROP TABLE IF EXISTS ${trg.journal}`);
  },
};

describeSourceConformance(
  'database trigger (PostgreSQL)',
  () => createDatabaseSource(triggerConfig()),
  triggerFixture,
);

// ---------------------------------------------------------------------------------------------------------
// logical, snapshot: the source creates the slot and reads the table in its exported snapshot.

const snap = names('ferry_conf_lsnap');
const snapshotConfig = (): DatabaseSourceConfigInput => ({
  mode: 'logical',
  connection: { type: 'postgres', host, port: snap.port, username: user, password, database },
  tables: [{ name: snap.table, key: ['id'] }],
  slot: snap.slot,
  publication: snap.slot,
  createSlot: true,
  snapshotChunkSize: 5,
  heartbeatIntervalMs: 1000,
});

async function dropLogical(n: { slot: string; table: string }): Promise<void> {
  await dropSlot(n.slot);
  await sql(`DROP PUBLICATION IF EXISTS ${n.slot}`);
  await sql(`DROP TABLE IF EXISTS ${n.table}`);
}

describeSourceConformance(
  'database logical snapshot (PostgreSQL)',
  () => createDatabaseSource(snapshotConfig()),
  {
    async seed() {
      await dropLogical(snap);
      await createTable(snap.table, 23);
      return { expected: 23 };
    },
    lacks: {
      upstreamPosition:
        'every snapshot position carries the slot’s starting LSN, which is all the slot can show; the streaming fixture checks the confirmed flush LSN',
    },
    failRetryable: wrongPort(snap),
    failFatal: {
      async break() {
        await sql(`DROP TABLE ${snap.table}`);
      },
      async repair() {},
    },
    async cleanup() {
      snap.port = port;
      await dropLogical(snap);
    },
  },
);

// ---------------------------------------------------------------------------------------------------------
// logical, streaming from an existing slot.

const lst = names('ferry_conf_lstr');
const streamConfig = (batchSize: number) => (): DatabaseSourceConfigInput => ({
  mode: 'logical',
  connection: { type: 'postgres', host, port: lst.port, username: user, password, database },
  tables: [{ name: lst.table, key: ['id'] }],
  slot: lst.slot,
  publication: lst.slot,
  snapshot: 'never',
  batchSize,
  heartbeatIntervalMs: 1000,
});

const streamFixture: SourceFixture = {
  async seed() {
    await dropLogical(lst);
    await createTable(lst.table, 0);
    await sql(`CREATE PUBLICATION ${lst.slot} FOR TABLE ${lst.table}`);
    await sql(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [lst.slot]);
    for (let id = 1; id <= 12; id += 1) await sql(`INSERT INTO ${lst.table} VALUES (${id}, 'r${id}', 1.5)`);
    await sql(`INSERT INTO ${lst.table} SELECT g, 'r' || g, 2.25 FROM generate_series(13, 27) AS g`);
    await sql(`UPDATE ${lst.table} SET amount = amount + 1 WHERE id <= 5`);
    await sql(`DELETE FROM ${lst.table} WHERE id > 24`);
    await sql(`TRUNCATE ${lst.table}`);
    return { expected: 12 + 15 + 5 + 3 + 1 };
  },
  failRetryable: wrongPort(lst),
  failFatal: {
    async break() {
      await dropSlot(lst.slot);
    },
    async repair() {},
  },
  async cleanup() {
    lst.port = port;
    await dropLogical(lst);
  },
};

describeSourceConformance(
  'database logical streaming (PostgreSQL)',
  () => createDatabaseSource(streamConfig(1000)()),
  {
    ...streamFixture,
    async acknowledgedUpstream() {
      // Transactions are never split at this batch size, so a position is the end LSN of a transaction.
      const [row] = await sql(
        'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
        [lst.slot],
      );
      return { mode: 'logical', lsn: String(row?.lsn) };
    },
  },
);

// Small batches split the 15-row transaction: resuming inside it must skip exactly what was delivered.
describeSourceConformance(
  'database logical streaming, transactions split across batches (PostgreSQL)',
  () => createDatabaseSource(streamConfig(4)()),
  streamFixture,
  {
    checks: [readsEverything, resumesFromEveryPosition, deterministic],
  },
);
