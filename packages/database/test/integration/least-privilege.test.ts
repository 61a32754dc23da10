// Each mode run by a user holding only the privileges docs/database.md lists for it, on the real PostgreSQL
// and MariaDB: the user is created here and dropped afterwards; set-up (install-triggers, the publication)
// is done by the admin user, as the docs say an owner would.
import { randomBytes } from 'node:crypto';
import type { ChangeRecord } from '@ferry/core/sdk';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import { dropSlotWhenIdle } from '../../../../test/services/slots.js';
import {
  checkDatabaseSource,
  createDatabaseSlot,
  createDatabaseSource,
  type DatabaseSourceConfigInput,
  type DatabaseSourcePosition,
  installDatabaseTriggers,
  parseDatabaseSourceConfig,
  uninstallDatabase,
  uninstallDatabaseTriggers,
} from '../../src/index.js';
import { readOnce } from '../helpers.js';

const backends = [{ type: 'postgres' as const }, { type: 'mariadb' as const }];

describe.each(backends)('database least privilege: $type', ({ type }) => {
  const { host, port, user, password, database } = services[type];
  const adminConnection = { type, host, port, username: user, password, database } as const;
  const suffix = randomBytes(4).toString('hex');
  const table = `ferry_lp_${suffix}`;
  const journal = `ferry_lp_journal_${suffix}`;
  const limitedPassword = `lp-${randomBytes(8).toString('hex')}`;
  let admin: DataSource;
  const created: string[] = [];

  beforeAll(async () => {
    admin = new DataSource({ ...adminConnection, logging: false });
    await admin.initialize();
    await admin.query(`CREATE TABLE ${table} (id BIGINT PRIMARY KEY, name VARCHAR(50) NOT NULL)`);
    await admin.query(`INSERT INTO ${table} VALUES (1, 'one'), (2, 'two')`);
  });

  afterAll(async () => {
    for (const name of created) {
      if (type === 'postgres') {
        await admin.query(`DROP OWNED BY ${name}`).catch(() => undefined);
        await admin.query(`DROP ROLE IF EXISTS ${name}`);
      } else await admin.query(`DROP USER IF EXISTS '${name}'@'127.0.0.1'`);
    }
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await admin.destroy();
  });

  /** A user with only `grants` (each a GRANT statement's privilege part, `… ON …`), plus LOGIN. */
  async function limitedUser(mode: string, grants: string[], attributes = ''): Promise<string> {
    const name = `ferry_lp_${mode}_${suffix}`;
    if (type === 'postgres') {
      await admin.query(`CREATE ROLE ${name} LOGIN ${attributes} PASSWORD '${limitedPassword}'`);
    } else {
      await admin.query(`CREATE USER '${name}'@'127.0.0.1' IDENTIFIED BY '${limitedPassword}'`);
    }
    created.push(name);
    for (const grant of grants) {
      await admin.query(
        type === 'postgres' ? `GRANT ${grant} TO ${name}` : `GRANT ${grant} TO '${name}'@'127.0.0.1'`,
      );
    }
    return name;
  }

  const on = (name: string) => (type === 'postgres' ? name : `${database}.${name}`);
  const connectionFor = (username: string) => ({ ...adminConnection, username, password: limitedPassword });

  async function read(
    config: DatabaseSourceConfigInput,
    from?: unknown,
  ): Promise<{ records: ChangeRecord[]; position: unknown }> {
    const source = createDatabaseSource(config);
    try {
      const result = await readOnce(source, from as DatabaseSourcePosition | undefined);
      const last = result.batches.at(-1)?.position;
      if (last !== undefined && source.acknowledge) await source.acknowledge([last]);
      return { records: result.records, position: result.position };
    } finally {
      await source.close();
    }
  }

  it('polling needs only SELECT on the table', async () => {
    const name = await limitedUser('poll', [`SELECT ON ${on(table)}`]);
    const { records } = await read({
      connection: connectionFor(name),
      tables: [{ name: table, key: ['id'], incrementingColumn: 'id' }],
    } as DatabaseSourceConfigInput);
    expect(records.map((r) => r.after)).toEqual([
      { id: '1', name: 'one' },
      { id: '2', name: 'two' },
    ]);
  });

  it('trigger mode runs with SELECT on the table and SELECT, DELETE on the journal', async () => {
    const base = {
      mode: 'trigger' as const,
      tables: [{ name: table, key: ['id'] }],
      journal: { table: journal },
    };
    await installDatabaseTriggers(parseDatabaseSourceConfig({ ...base, connection: adminConnection }));
    try {
      const name = await limitedUser('trg', [`SELECT ON ${on(table)}`, `SELECT, DELETE ON ${on(journal)}`]);
      const config = { ...base, connection: connectionFor(name) } as DatabaseSourceConfigInput;
      const first = await read(config);
      expect(first.records.map((r) => [r.op, r.key.id])).toEqual([
        ['read', '1'],
        ['read', '2'],
      ]);
      await admin.query(`UPDATE ${table} SET name = 'uno' WHERE id = 1`);
      await admin.query(`DELETE FROM ${table} WHERE id = 2`);
      const second = await read(config, first.position);
      expect(second.records.map((r) => [r.op, r.key.id])).toEqual([
        ['update', '1'],
        ['delete', '2'],
      ]);
      // Acknowledging purged the journal with the user's DELETE privilege.
      const [row] = (await admin.query(`SELECT COUNT(*) AS n FROM ${journal}`)) as { n: unknown }[];
      expect(Number(row?.n)).toBe(0);
    } finally {
      await uninstallDatabaseTriggers(
        parseDatabaseSourceConfig({ ...base, connection: adminConnection }),
        {},
        {
          dropJournal: true,
        },
      );
    }
  });

  // Logical replication is PostgreSQL only.
  if (type === 'postgres')
    it('logical mode runs with REPLICATION and SELECT, the publication created by the owner', async () => {
      const slot = `ferry_lp_${suffix}`;
      await admin.query(`CREATE PUBLICATION ${slot} FOR TABLE ${table}`);
      try {
        const name = await limitedUser('lr', [`SELECT ON ${table}`], 'REPLICATION');
        const config = {
          mode: 'logical',
          connection: connectionFor(name),
          tables: [{ name: table, key: ['id'] }],
          slot,
          publication: slot,
          createSlot: true,
        } as DatabaseSourceConfigInput;
        const ids = (
          (await admin.query(`SELECT id::text AS id FROM ${table} ORDER BY id`)) as { id: string }[]
        ).map((r) => r.id);
        const first = await read(config);
        expect(first.records.filter((r) => r.op === 'read').map((r) => r.key.id)).toEqual(ids);
        await admin.query(`INSERT INTO ${table} VALUES (3, 'three')`);
        const second = await read(config, first.position);
        expect(second.records.map((r) => [r.op, r.key.id])).toEqual([['create', '3']]);
      } finally {
        await dropSlotWhenIdle((sql, params) => admin.query(sql, params), slot);
        await admin.query(`DROP PUBLICATION IF EXISTS ${slot}`);
      }
    });
});

// Issue 16: the documented privileges were not enough outside the default schema (USAGE on the schema was
// missing from the docs). A table in a schema (PostgreSQL) or database (MariaDB) of its own, with the names
// of the issue ("NOMIS LEGACY"."Agency Locations"), read by users holding exactly what docs/database.md lists, in every mode;
// `ferry check` is clean for each of them (warnings about the server aside).
describe.each(backends)('database least privilege outside the default schema: $type', ({ type }) => {
  const { host, port, user, password, database } = services[type];
  const adminConnection = { type, host, port, username: user, password, database } as const;
  const suffix = randomBytes(4).toString('hex');
  // Names a legacy system really has: a space, upper and mixed case (quoted in every statement).
  const schema = `NOMIS LEGACY ${suffix}`;
  const table = 'Agency Locations';
  const journal = `FERRY_JOURNAL_${suffix}`;
  const limitedPassword = `lp-${randomBytes(8).toString('hex')}`;
  const q = (name: string) => (type === 'postgres' ? `"${name}"` : `\`${name}\``);
  const qualified = `${q(schema)}.${q(table)}`;
  let admin: DataSource;
  const created: string[] = [];

  beforeAll(async () => {
    admin = new DataSource({ ...adminConnection, logging: false });
    await admin.initialize();
    await admin.query(type === 'postgres' ? `CREATE SCHEMA ${q(schema)}` : `CREATE DATABASE ${q(schema)}`);
    await admin.query(
      `CREATE TABLE ${qualified} (${q('AGY_LOC_ID')} INTEGER PRIMARY KEY, ${q('DESCRIPTION')} VARCHAR(40) NOT NULL)`,
    );
    await admin.query(`INSERT INTO ${qualified} VALUES (1, 'Leeds'), (2, 'Hull')`);
  });

  afterAll(async () => {
    for (const name of created) {
      if (type === 'postgres') {
        await admin.query(`DROP OWNED BY ${name}`).catch(() => undefined);
        await admin.query(`DROP ROLE IF EXISTS ${name}`);
      } else await admin.query(`DROP USER IF EXISTS '${name}'@'127.0.0.1'`);
    }
    await admin.query(
      type === 'postgres' ? `DROP SCHEMA ${q(schema)} CASCADE` : `DROP DATABASE IF EXISTS ${q(schema)}`,
    );
    await admin.destroy();
  });

  async function limitedUser(mode: string, grants: string[], attributes = ''): Promise<string> {
    const name = `ferry_lps_${mode}_${suffix}`;
    if (type === 'postgres') {
      await admin.query(`CREATE ROLE ${name} LOGIN ${attributes} PASSWORD '${limitedPassword}'`);
    } else {
      await admin.query(`CREATE USER '${name}'@'127.0.0.1' IDENTIFIED BY '${limitedPassword}'`);
    }
    created.push(name);
    for (const grant of grants) {
      await admin.query(
        type === 'postgres' ? `GRANT ${grant} TO ${name}` : `GRANT ${grant} TO '${name}'@'127.0.0.1'`,
      );
    }
    return name;
  }

  // PostgreSQL: USAGE on the schema as well as SELECT on the table. MariaDB has no such level.
  const usage = type === 'postgres' ? [`USAGE ON SCHEMA ${q(schema)}`] : [];
  // MariaDB refuses a connection to a database where the user holds nothing: it connects to the tables' own.
  const connectionFor = (username: string) => ({
    ...adminConnection,
    username,
    password: limitedPassword,
    ...(type === 'postgres' ? {} : { database: schema }),
  });
  const errorsOf = async (config: DatabaseSourceConfigInput) =>
    (await checkDatabaseSource(parseDatabaseSourceConfig(config)))
      .filter((f) => f.severity === 'error')
      .map((f) => `${f.code}: ${f.fix}`);

  async function read(config: DatabaseSourceConfigInput, from?: unknown) {
    const source = createDatabaseSource(config);
    try {
      const result = await readOnce(source, from as DatabaseSourcePosition | undefined);
      const last = result.batches.at(-1)?.position;
      if (last !== undefined && source.acknowledge) await source.acknowledge([last]);
      return result;
    } finally {
      await source.close();
    }
  }

  it('polling: USAGE on the schema and SELECT on the table', async () => {
    const name = await limitedUser('poll', [...usage, `SELECT ON ${qualified}`]);
    const config = {
      connection: connectionFor(name),
      tables: [{ name: table, schema, key: ['AGY_LOC_ID'], incrementingColumn: 'AGY_LOC_ID' }],
    } as DatabaseSourceConfigInput;
    expect(await errorsOf(config)).toEqual([]);
    const { records } = await read(config);
    expect(records.map((r) => r.key.AGY_LOC_ID)).toEqual([1, 2]);
  });

  it('trigger: SELECT on the table, SELECT and DELETE on the journal (USAGE on their schema)', async () => {
    const base = {
      mode: 'trigger' as const,
      tables: [{ name: table, schema, key: ['AGY_LOC_ID'] }],
      journal: { table: journal, schema },
    };
    const owner = parseDatabaseSourceConfig({ ...base, connection: adminConnection });
    await installDatabaseTriggers(owner);
    try {
      const name = await limitedUser('trg', [
        ...usage,
        `SELECT ON ${qualified}`,
        `SELECT, DELETE ON ${q(schema)}.${q(journal)}`,
      ]);
      const config = { ...base, connection: connectionFor(name) } as DatabaseSourceConfigInput;
      expect(await errorsOf(config)).toEqual([]);
      const first = await read(config);
      expect(first.records.map((r) => r.op)).toEqual(['read', 'read']);
      await admin.query(`UPDATE ${qualified} SET ${q('DESCRIPTION')} = 'York' WHERE ${q('AGY_LOC_ID')} = 1`);
      const second = await read(config, first.position);
      expect(second.records.map((r) => [r.op, r.after?.DESCRIPTION])).toEqual([['update', 'York']]);
    } finally {
      await uninstallDatabase(owner);
    }
  });

  if (type === 'postgres')
    it('logical: REPLICATION, USAGE on the schema and SELECT; create-slot run by the owner', async () => {
      const slot = `ferry_lps_${suffix}`;
      const base = {
        mode: 'logical' as const,
        tables: [{ name: table, schema, key: ['AGY_LOC_ID'] }],
        slot,
        publication: slot,
      };
      const owner = parseDatabaseSourceConfig({ ...base, connection: adminConnection });
      await createDatabaseSlot(owner);
      try {
        const name = await limitedUser('lr', [...usage, `SELECT ON ${qualified}`], 'REPLICATION');
        const config = { ...base, connection: connectionFor(name) } as DatabaseSourceConfigInput;
        expect(await errorsOf(config)).toEqual([]);
        const first = await read(config);
        expect(first.records.map((r) => [r.op, r.key.AGY_LOC_ID])).toEqual([
          ['read', 1],
          ['read', 2],
        ]);
        await admin.query(`INSERT INTO ${qualified} VALUES (3, 'Wakefield')`);
        const second = await read(config, first.position);
        expect(second.records.map((r) => [r.op, r.key.AGY_LOC_ID])).toEqual([['create', 3]]);
      } finally {
        await uninstallDatabase(owner);
      }
    });
});
