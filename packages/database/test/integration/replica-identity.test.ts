// First, do no harm (issue 16): publishing a table without a primary key or replica identity makes PostgreSQL
// refuse the legacy application's own UPDATE and DELETE on it. create-slot and a run's start must refuse such
// a table before the publication exists, unless the pipeline says how (`replicaIdentity`), and uninstall puts
// back what Ferry changed. On the real PostgreSQL, in a schema of its own with an Oracle-style table name.
import { randomBytes } from 'node:crypto';
import { isFerryError } from '@ferry/core/sdk';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import {
  createDatabaseSlot,
  createDatabaseSource,
  type DatabaseSourceConfigInput,
  parseDatabaseSourceConfig,
  uninstallDatabase,
} from '../../src/index.js';
import { readOnce } from '../helpers.js';

const { host, port, user, password, database } = services.postgres;
const connection = { type: 'postgres' as const, host, port, username: user, password, database };
const suffix = randomBytes(4).toString('hex');
const schema = `b_ri_${suffix}`;
const TABLE = 'MOVEMENTS_LOG';
const qualified = `"${schema}"."${TABLE}"`;
let admin: DataSource;
let round = 0;
let name = '';

beforeAll(async () => {
  admin = new DataSource({ ...connection, logging: false });
  await admin.initialize();
  await admin.query(`CREATE SCHEMA "${schema}"`);
});

afterAll(async () => {
  const slots = (await admin.query(
    "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'b_ri_%' AND NOT active",
  )) as { slot_name: string }[];
  for (const { slot_name } of slots.filter((s) => s.slot_name.endsWith(suffix)))
    await admin.query('SELECT pg_drop_replication_slot($1)', [slot_name]);
  const pubs = (await admin.query('SELECT pubname FROM pg_publication WHERE pubname LIKE $1', [
    `b_ri_%${suffix}`,
  ])) as { pubname: string }[];
  for (const { pubname } of pubs) await admin.query(`DROP PUBLICATION "${pubname}"`);
  await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
  await admin.destroy();
});

beforeEach(async () => {
  round += 1;
  name = `b_ri_${round}_${suffix}`;
  await admin.query(`DROP TABLE IF EXISTS ${qualified}`);
  // A legacy log table: no primary key, a key the pipeline names.
  await admin.query(
    `CREATE TABLE ${qualified} ("MOVEMENT_ID" INTEGER NOT NULL, "STATUS" VARCHAR(10) NOT NULL)`,
  );
  await admin.query(`INSERT INTO ${qualified} VALUES (1, 'OUT'), (2, 'OUT')`);
});

function config(table: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return parseDatabaseSourceConfig({
    mode: 'logical',
    connection,
    tables: [{ name: TABLE, schema, key: ['MOVEMENT_ID'], ...table }],
    slot: name,
    publication: name,
    snapshot: 'never',
    ...extra,
  } as DatabaseSourceConfigInput);
}

async function publicationExists(): Promise<boolean> {
  const rows = (await admin.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [name])) as unknown[];
  return rows.length > 0;
}

async function replident(): Promise<string> {
  const [row] = (await admin.query('SELECT relreplident AS r FROM pg_class WHERE oid = to_regclass($1)', [
    qualified,
  ])) as { r: string }[];
  return String(row?.r);
}

/** The legacy application's own write. */
const legacyUpdate = () => admin.query(`UPDATE ${qualified} SET "STATUS" = 'IN' WHERE "MOVEMENT_ID" = 1`);

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return isFerryError(error) ? error.code : String(error);
  }
  return 'resolved';
}

describe('logical mode and a table without a primary key', () => {
  it('create-slot refuses it before the publication exists, so the legacy UPDATE keeps working', async () => {
    const code = await codeOf(createDatabaseSlot(config()));
    expect(code).toBe('DB_REPLICA_IDENTITY_MISSING');
    expect(await publicationExists()).toBe(false);
    await expect(legacyUpdate()).resolves.toBeDefined();
    const error = await createDatabaseSlot(config()).catch((e: Error) => e);
    // The message names the table and the exact fix.
    expect(String(error)).toContain(`${schema}.${TABLE}`);
    expect(String(error)).toContain('replicaIdentity: full');
  });

  it('a run that creates the slot refuses it too, before publishing', async () => {
    const source = createDatabaseSource(config({}, { createSlot: true }) as DatabaseSourceConfigInput);
    try {
      expect(await codeOf(readOnce(source))).toBe('DB_REPLICA_IDENTITY_MISSING');
    } finally {
      await source.close();
    }
    expect(await publicationExists()).toBe(false);
    await expect(legacyUpdate()).resolves.toBeDefined();
  });

  it('a run with createSlot: true and replicaIdentity: full sets it before publishing, then captures', async () => {
    const cfg = config({ replicaIdentity: 'full' }, { createSlot: true });
    const source = createDatabaseSource(cfg as DatabaseSourceConfigInput);
    try {
      await readOnce(source);
      expect(await replident()).toBe('f');
      expect(await publicationExists()).toBe(true);
    } finally {
      await source.close();
    }
    await legacyUpdate();
    const again = createDatabaseSource(cfg as DatabaseSourceConfigInput);
    try {
      const { records } = await readOnce(again);
      expect(records.map((r) => [r.op, r.before?.STATUS, r.after?.STATUS])).toEqual([
        ['update', 'OUT', 'IN'],
      ]);
    } finally {
      await again.close();
    }
    await uninstallDatabase(cfg);
    expect(await replident()).toBe('d');
  });

  it('replicaIdentity: full: create-slot sets it, the legacy UPDATE succeeds and is captured; uninstall puts it back', async () => {
    const cfg = config({ replicaIdentity: 'full' });
    const done = await createDatabaseSlot(cfg);
    expect(done).toContain(`ALTER TABLE ${qualified} REPLICA IDENTITY FULL`);
    expect(await replident()).toBe('f');
    await legacyUpdate();
    const source = createDatabaseSource(cfg as DatabaseSourceConfigInput);
    try {
      const { records } = await readOnce(source);
      expect(records.map((r) => [r.op, r.key, r.before?.STATUS, r.after?.STATUS])).toEqual([
        ['update', { MOVEMENT_ID: 1 }, 'OUT', 'IN'],
      ]);
    } finally {
      await source.close();
    }
    const removed = await uninstallDatabase(cfg);
    expect(removed).toEqual([
      `pg_drop_replication_slot('${name}')`,
      `DROP PUBLICATION "${name}"`,
      `ALTER TABLE IF EXISTS ${qualified} REPLICA IDENTITY DEFAULT`,
    ]);
    expect(await replident()).toBe('d');
    expect(await publicationExists()).toBe(false);
    await expect(legacyUpdate()).resolves.toBeDefined();
  });

  it('replicaIdentity: {index}: REPLICA IDENTITY USING INDEX, the legacy DELETE succeeds and is captured', async () => {
    const index = `MOVEMENTS_LOG_UK_${round}`;
    await admin.query(`CREATE UNIQUE INDEX "${index}" ON ${qualified} ("MOVEMENT_ID")`);
    const cfg = config({ replicaIdentity: { index } });
    await createDatabaseSlot(cfg);
    expect(await replident()).toBe('i');
    await admin.query(`DELETE FROM ${qualified} WHERE "MOVEMENT_ID" = 2`);
    const source = createDatabaseSource(cfg as DatabaseSourceConfigInput);
    try {
      const { records } = await readOnce(source);
      expect(records.map((r) => [r.op, r.key])).toEqual([['delete', { MOVEMENT_ID: 2 }]]);
    } finally {
      await source.close();
    }
    await uninstallDatabase(cfg);
    expect(await replident()).toBe('d');
  });

  it('an index that is not unique is refused with the fix', async () => {
    await admin.query(`CREATE INDEX "MOVEMENTS_LOG_IX_${round}" ON ${qualified} ("STATUS")`);
    const error = await createDatabaseSlot(
      config({ replicaIdentity: { index: `MOVEMENTS_LOG_IX_${round}` } }),
    ).catch((e: Error) => e);
    expect(isFerryError(error) && error.code).toBe('DB_REPLICA_IDENTITY_MISSING');
    expect(String(error)).toContain('CREATE UNIQUE INDEX');
    expect(await publicationExists()).toBe(false);
  });

  it('an existing publication that lacks the table is refused; one that also covers other tables is a warning', async () => {
    await admin.query(`CREATE TABLE "${schema}"."OTHER_${round}" (id INTEGER PRIMARY KEY)`);
    await admin.query(`CREATE PUBLICATION "${name}" FOR TABLE "${schema}"."OTHER_${round}"`);
    const cfg = config({ replicaIdentity: 'full' });
    expect(await codeOf(createDatabaseSlot(cfg))).toBe('DB_PUBLICATION_MISMATCH');
    // The refusal came before anything changed.
    expect(await replident()).toBe('d');
    await admin.query(`ALTER PUBLICATION "${name}" ADD TABLE ${qualified}`);
    await admin.query(`ALTER TABLE ${qualified} REPLICA IDENTITY FULL`);
    const done = await createDatabaseSlot(cfg);
    expect(done.filter((line) => line.includes('DB_PUBLICATION_MISMATCH'))).toEqual([
      expect.stringMatching(/DB_PUBLICATION_MISMATCH: the publication .* also publishes .*OTHER_/),
    ]);
    await admin.query(`ALTER TABLE ${qualified} REPLICA IDENTITY DEFAULT`);
    await admin.query(`DROP PUBLICATION "${name}"`);
    await admin.query(`SELECT pg_drop_replication_slot($1)`, [name]);
  });
});
