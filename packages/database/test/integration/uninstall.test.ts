// `ferry database uninstall` leaves the legacy database as it was before Ferry's set-up (issue 16): the
// catalogue of the schema (tables, columns, indexes, sequences, triggers, functions, replica identities) and
// the server's slots and publications are compared before install and after uninstall, on the real
// PostgreSQL (logical and trigger modes) and MariaDB (trigger mode).
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import {
  createDatabaseSlot,
  type DatabaseSourceConfigInput,
  installDatabaseTriggers,
  parseDatabaseSourceConfig,
  uninstallDatabase,
} from '../../src/index.js';

const suffix = randomBytes(4).toString('hex');

describe('database uninstall on PostgreSQL', () => {
  const { host, port, user, password, database } = services.postgres;
  const connection = { type: 'postgres' as const, host, port, username: user, password, database };
  const schema = `b_un_${suffix}`;
  const name = `b_un_${suffix}`;
  let admin: DataSource;

  beforeAll(async () => {
    admin = new DataSource({ ...connection, logging: false });
    await admin.initialize();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.query(`CREATE TABLE ${schema}."OFFENDERS" (id INTEGER PRIMARY KEY, name TEXT)`);
    await admin.query(`CREATE TABLE ${schema}."MOVEMENTS_LOG" (id INTEGER NOT NULL, status TEXT)`);
  });

  afterAll(async () => {
    await admin.query(`DROP PUBLICATION IF EXISTS ${name}`);
    await admin.query(
      'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active',
      [name],
    );
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.destroy();
  });

  /** What Ferry could have touched: the schema's catalogue rows, and this test's slot and publication. */
  async function catalogue(): Promise<unknown> {
    const [row] = (await admin.query(
      `SELECT json_build_object(
         'classes', (SELECT json_agg(json_build_object('name', c.relname, 'kind', c.relkind,
                       'replident', c.relreplident, 'comment', obj_description(c.oid, 'pg_class')) ORDER BY c.relname)
                       FROM pg_class c WHERE c.relnamespace = $1::regnamespace),
         'columns', (SELECT json_agg(json_build_object('table', table_name, 'column', column_name,
                       'type', data_type) ORDER BY table_name, ordinal_position)
                       FROM information_schema.columns WHERE table_schema = $2),
         'triggers', (SELECT json_agg(t.tgname ORDER BY t.tgname) FROM pg_trigger t
                       JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = $1::regnamespace),
         'functions', (SELECT json_agg(p.proname ORDER BY p.proname) FROM pg_proc p
                       WHERE p.pronamespace = $1::regnamespace),
         'slots', (SELECT json_agg(slot_name) FROM pg_replication_slots WHERE slot_name = $3),
         'publications', (SELECT json_agg(pubname) FROM pg_publication WHERE pubname = $3)
       )::text AS c`,
      [schema, schema, name],
    )) as { c: string }[];
    return JSON.parse(String(row?.c));
  }

  it('logical: slot, publication and the replica identity it set are removed', async () => {
    const config = parseDatabaseSourceConfig({
      mode: 'logical',
      connection,
      tables: [
        { name: 'OFFENDERS', schema, key: ['id'] },
        { name: 'MOVEMENTS_LOG', schema, key: ['id'], replicaIdentity: 'full' },
      ],
      slot: name,
      publication: name,
    } as DatabaseSourceConfigInput);
    const before = await catalogue();
    await createDatabaseSlot(config);
    const installed = (await catalogue()) as { slots: unknown; publications: unknown };
    expect(installed.slots).toEqual([name]);
    expect(installed.publications).toEqual([name]);
    expect(installed).not.toEqual(before);
    await uninstallDatabase(config);
    expect(await catalogue()).toEqual(before);
    // Nothing left to remove: a second uninstall does nothing.
    expect(await uninstallDatabase(config)).toEqual([]);
  });

  it('trigger: triggers, trigger function, journal and its sequence are removed', async () => {
    const config = parseDatabaseSourceConfig({
      mode: 'trigger',
      connection,
      tables: [{ name: 'OFFENDERS', schema, key: ['id'] }],
      journal: { table: 'ferry_journal', schema },
    } as DatabaseSourceConfigInput);
    const before = await catalogue();
    await installDatabaseTriggers(config);
    await admin.query(`INSERT INTO ${schema}."OFFENDERS" VALUES (1, 'one')`);
    const installed = (await catalogue()) as { triggers: unknown[]; functions: unknown[] };
    expect(installed.triggers).toHaveLength(2);
    expect(installed.functions).toHaveLength(1);
    await uninstallDatabase(config);
    expect(await catalogue()).toEqual(before);
  });
});

describe('database uninstall on MariaDB', () => {
  const { host, port, user, password, database } = services.mariadb;
  const connection = { type: 'mariadb' as const, host, port, username: user, password, database };
  const table = `b_un_${suffix}`;
  const journal = `b_un_journal_${suffix}`;
  let admin: DataSource;

  beforeAll(async () => {
    admin = new DataSource({ ...connection, logging: false });
    await admin.initialize();
    await admin.query(`CREATE TABLE ${table} (id BIGINT PRIMARY KEY, name VARCHAR(20))`);
  });

  afterAll(async () => {
    await admin.query(`DROP TABLE IF EXISTS ${table}, ${journal}`);
    await admin.destroy();
  });

  async function catalogue(): Promise<unknown> {
    const tables = await admin.query(
      `SELECT TABLE_NAME AS t, ENGINE AS e FROM information_schema.TABLES
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?, ?) ORDER BY TABLE_NAME`,
      [table, journal],
    );
    const columns = await admin.query(
      `SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLUMN_TYPE AS ty FROM information_schema.COLUMNS
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?, ?) ORDER BY TABLE_NAME, ORDINAL_POSITION`,
      [table, journal],
    );
    const triggers = await admin.query(
      `SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS
        WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ? ORDER BY TRIGGER_NAME`,
      [table],
    );
    return { tables, columns, triggers };
  }

  it('trigger: the three triggers and the journal are removed', async () => {
    const config = parseDatabaseSourceConfig({
      mode: 'trigger',
      connection,
      tables: [{ name: table, key: ['id'] }],
      journal: { table: journal },
    } as DatabaseSourceConfigInput);
    const before = await catalogue();
    await installDatabaseTriggers(config);
    const installed = (await catalogue()) as { triggers: unknown[]; tables: unknown[] };
    expect(installed.triggers).toHaveLength(3);
    expect(installed.tables).toHaveLength(2);
    await uninstallDatabase(config);
    expect(await catalogue()).toEqual(before);
  });
});
