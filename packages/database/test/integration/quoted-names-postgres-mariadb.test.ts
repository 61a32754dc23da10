// Names as legacy systems have them, on the real PostgreSQL 15 and MariaDB: a pipeline over
// "NOMIS LEGACY"."Agency Locations" (columns "Agency Id", "Description", "order", "Bücher", "Modified At")
// captures with every mode the server has (polling, trigger, and logical on PostgreSQL); a table and a column
// whose names carry the quote character, `;` and `--` are captured and nothing else happens; a table that
// is not there is named as typed, at start, with the variant whose case differs.
import { randomBytes } from 'node:crypto';
import type { ChangeRecord } from '@ferry/core/sdk';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import {
  createDatabaseSource,
  type DatabaseSourceConfigInput,
  dropDatabaseSlot,
  installDatabaseTriggers,
  parseDatabaseSourceConfig,
  readDatabaseRows,
  uninstallDatabaseTriggers,
} from '../../src/index.js';
import { readOnce } from '../helpers.js';

const TABLE = 'Agency Locations';

const backends = [
  {
    type: 'postgres' as const,
    modes: ['polling', 'trigger', 'logical'] as const,
    timestamp: 'TIMESTAMP(6)',
    // PostgreSQL's quote is ", MariaDB's is `: each hostile name carries its server's own.
    hostileTable: `x"'; DROP TABLE victim; --`,
  },
  {
    type: 'mariadb' as const,
    modes: ['polling', 'trigger'] as const,
    timestamp: 'DATETIME(6)',
    hostileTable: "x`'; DROP TABLE victim; --",
  },
];
const HOSTILE_COLUMN = 'c"`\'); DELETE FROM victim; --';

type Mode = 'polling' | 'trigger' | 'logical';
type Row = Record<string, unknown>;

describe.each(backends)('database source: quoted names on $type', (backend) => {
  const { host, port, user, password, database } = services[backend.type];
  const server = { type: backend.type, host, port, username: user, password } as const;
  let admin: DataSource;
  const cleanup: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    admin = new DataSource({ ...server, database, logging: false });
    await admin.initialize();
  });

  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    if (admin?.isInitialized) await admin.destroy();
  });

  const q = (name: string) => admin.driver.escape(name);

  /**
   * A schema (PostgreSQL) or database (MariaDB: the pipeline connects to it) named with a space and capitals,
   * unique per test; the `c` keeps it apart from the other engineers' runs on the shared servers.
   */
  async function legacySchema() {
    const schema = `NOMIS LEGACY c${randomBytes(3).toString('hex')}`;
    if (backend.type === 'postgres') {
      await admin.query(`CREATE SCHEMA ${q(schema)}`);
      cleanup.push(() => admin.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`));
    } else {
      await admin.query(`CREATE DATABASE ${q(schema)} CHARACTER SET utf8mb4`);
      cleanup.push(() => admin.query(`DROP DATABASE IF EXISTS ${q(schema)}`));
    }
    const connection = { ...server, database: backend.type === 'postgres' ? database : schema };
    const at = (table: string) => `${q(schema)}.${q(table)}`;
    return { schema, connection, at };
  }

  async function agencyLocations() {
    const legacy = await legacySchema();
    const table = legacy.at(TABLE);
    await admin.query(
      `CREATE TABLE ${table} (${q('Agency Id')} INT PRIMARY KEY, ${q('Description')} VARCHAR(100) NOT NULL,
        ${q('order')} INT, ${q('Bücher')} VARCHAR(20), ${q('Modified At')} ${backend.timestamp} NOT NULL)`,
    );
    const cols = ['Agency Id', 'Description', 'order', 'Bücher', 'Modified At'].map(q).join(', ');
    const insert = (id: number, description: string, ts: string) =>
      admin.query(`INSERT INTO ${table} (${cols}) VALUES (${id}, '${description}', ${id}, 'Zoë', '${ts}')`);
    return { ...legacy, table, insert };
  }

  function config(
    mode: Mode,
    legacy: { schema: string; connection: typeof server & { database: string } },
    name: string,
    suffix: string,
  ): DatabaseSourceConfigInput {
    const table = { name, schema: legacy.schema, key: ['Agency Id'] };
    if (mode === 'polling') {
      return {
        connection: legacy.connection,
        tables: [{ ...table, timestampColumn: 'Modified At', incrementingColumn: 'Agency Id' }],
      };
    }
    if (mode === 'trigger') {
      return {
        mode,
        connection: legacy.connection,
        tables: [table],
        journal: { table: `Ferry Journal ${suffix}`, schema: legacy.schema },
      };
    }
    return {
      mode,
      connection: legacy.connection,
      tables: [table],
      // Mixed case and a space: pgoutput folds an unquoted publication name to lower case.
      publication: `Ferry Pub ${suffix}`,
      slot: `ferry_c_${suffix}`,
      createSlot: true,
    };
  }

  async function install(mode: Mode, options: DatabaseSourceConfigInput): Promise<void> {
    const parsed = parseDatabaseSourceConfig(options);
    if (mode === 'trigger') {
      await installDatabaseTriggers(parsed);
      cleanup.push(() => uninstallDatabaseTriggers(parsed, {}, { dropJournal: true }));
    }
    if (mode === 'logical') cleanup.push(() => dropDatabaseSlot(parsed, {}, { dropPublication: true }));
  }

  async function read(options: DatabaseSourceConfigInput, from?: unknown) {
    const source = createDatabaseSource(options);
    try {
      return await readOnce(source, from);
    } finally {
      await source.close();
    }
  }

  const summary = (records: ChangeRecord[]) => records.map((r) => `${r.op}:${String(r.key['Agency Id'])}`);

  it.each(backend.modes)(
    'captures "NOMIS LEGACY"."Agency Locations" with mode %s: inserts, updates and (but for polling) deletes',
    async (mode) => {
      const legacy = await agencyLocations();
      const suffix = randomBytes(3).toString('hex');
      await legacy.insert(1, 'Leeds', '2024-01-01 10:00:00');
      const options = config(mode, legacy, TABLE, suffix);
      await install(mode, options);

      const first = await read(options);
      expect(first.records).toHaveLength(1);
      expect(first.records[0]).toMatchObject({
        stream: `${legacy.schema}.${TABLE}`,
        op: mode === 'polling' ? 'update' : 'read',
      });
      expect(first.records[0]?.after).toMatchObject({
        Description: 'Leeds',
        order: 1,
        Bücher: 'Zoë',
      });
      expect(String(first.records[0]?.key['Agency Id'])).toBe('1');

      await legacy.insert(2, 'York', '2024-01-01 10:00:01');
      await admin.query(
        `UPDATE ${legacy.table} SET ${q('order')} = 4, ${q('Modified At')} = '2024-01-01 10:00:05' WHERE ${q('Agency Id')} = 1`,
      );
      if (mode !== 'polling') await admin.query(`DELETE FROM ${legacy.table} WHERE ${q('Agency Id')} = 2`);

      const second = await read(options, first.position);
      expect(summary(second.records)).toEqual(
        // Polling sees the latest state of each row, in timestamp order, and no delete.
        mode === 'polling' ? ['update:2', 'update:1'] : ['create:2', 'update:1', 'delete:2'],
      );
      const update = second.records.find((r) => String(r.key['Agency Id']) === '1');
      expect(update?.after).toMatchObject({ order: 4, Description: 'Leeds' });
      if (mode === 'trigger') expect(update?.before).toMatchObject({ order: 1 });
    },
  );

  it('keeps names carrying the quote character, ; and -- inside their quotes: captured, nothing else happens', async () => {
    const legacy = await legacySchema();
    const victim = legacy.at('victim');
    await admin.query(`CREATE TABLE ${victim} (id INT PRIMARY KEY)`);
    await admin.query(`INSERT INTO ${victim} VALUES (1), (2)`);
    const hostile = legacy.at(backend.hostileTable);
    await admin.query(
      `CREATE TABLE ${hostile} (${q('Agency Id')} INT PRIMARY KEY, ${q(HOSTILE_COLUMN)} VARCHAR(20),
        ${q('Modified At')} ${backend.timestamp} NOT NULL)`,
    );
    await admin.query(`INSERT INTO ${hostile} VALUES (1, 'it''s', '2024-01-01 10:00:00')`);
    const tablesNow = async () =>
      (
        (await admin.query(
          backend.type === 'postgres'
            ? 'SELECT tablename AS name FROM pg_tables WHERE schemaname = $1 ORDER BY 1'
            : 'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1',
          [legacy.schema],
        )) as Row[]
      ).map((r) => String(r.name));
    const before = await tablesNow();

    const journals: string[] = [];
    let current = "it's";
    for (const mode of backend.modes) {
      const suffix = randomBytes(3).toString('hex');
      const options = config(mode, legacy, backend.hostileTable, suffix);
      if (mode === 'trigger') {
        // The journal's own name is hostile too.
        const journal = `j${backend.type === 'postgres' ? '"' : '`'}; DROP TABLE victim; -- ${suffix}`;
        journals.push(journal);
        Object.assign(options, { journal: { table: journal, schema: legacy.schema } });
      }
      // The publication's too: it is quoted in CREATE PUBLICATION and inside pgoutput's publication_names.
      if (mode === 'logical') Object.assign(options, { publication: `p"'; DROP TABLE victim; -- ${suffix}` });
      await install(mode, options);
      const described = createDatabaseSource(options);
      try {
        const [stream] = (await described.discover?.()) ?? [];
        expect(
          stream?.fields?.map((f) => f.name),
          mode,
        ).toContain(HOSTILE_COLUMN);
        expect(stream?.key, mode).toEqual(['Agency Id']);
      } finally {
        await described.close();
      }
      const first = await read(options);
      expect(
        first.records.map((r) => r.after?.[HOSTILE_COLUMN]),
        mode,
      ).toEqual([current]);
      expect(first.records[0]?.stream, mode).toBe(`${legacy.schema}.${backend.hostileTable}`);
      await admin.query(
        `UPDATE ${hostile} SET ${q(HOSTILE_COLUMN)} = '-- ${mode}', ${q('Modified At')} = '2024-01-0${backend.modes.indexOf(mode) + 2} 10:00:00'`,
      );
      const second = await read(options, first.position);
      expect(
        second.records.map((r) => [r.op, r.after?.[HOSTILE_COLUMN]]),
        mode,
      ).toEqual([['update', `-- ${mode}`]]);
      current = `-- ${mode}`;
    }

    const rows: Row[] = [];
    for await (const page of readDatabaseRows({
      connection: legacy.connection,
      table: backend.hostileTable,
      schema: legacy.schema,
      key: [HOSTILE_COLUMN],
    }))
      rows.push(...page);
    expect(rows.map((r) => r[HOSTILE_COLUMN])).toEqual([`-- ${backend.modes.at(-1)}`]);

    // The victim kept its rows; the only new table is the journal.
    const [count] = (await admin.query(`SELECT COUNT(*) AS n FROM ${victim}`)) as Row[];
    expect(Number(count?.n)).toBe(2);
    expect((await tablesNow()).sort()).toEqual([...before, ...journals].sort());
  });

  it('names a table that is not there as typed, at start, with the variant whose case differs', async () => {
    const legacy = await legacySchema();
    await admin.query(`CREATE TABLE ${legacy.at('MOVEMENTS_LOG')} (${q('Agency Id')} INT PRIMARY KEY)`);
    for (const mode of backend.modes) {
      const options = config(mode, legacy, 'movements_log', randomBytes(3).toString('hex'));
      if (mode === 'logical') Object.assign(options, { createSlot: false });
      const source = createDatabaseSource(options);
      try {
        const error = await readOnce(source).catch((e: unknown) => e);
        expect(error, mode).toMatchObject({
          code: 'DB_TABLE_NOT_FOUND',
          retryable: false,
          details: {
            table: 'movements_log',
            schema: legacy.schema,
            similar: [`"${legacy.schema}"."MOVEMENTS_LOG"`],
          },
        });
        expect((error as Error).message).toContain(`table "${legacy.schema}"."movements_log" does not exist`);
        expect((error as Error).message).toContain(`"${legacy.schema}"."MOVEMENTS_LOG" exists`);
      } finally {
        await source.close();
      }
    }
  });

  it("names a configured column whose case differs from the table's, at start", async () => {
    const legacy = await agencyLocations();
    const options = config('polling', legacy, TABLE, 'x');
    const source = createDatabaseSource({
      ...options,
      tables: [{ name: TABLE, schema: legacy.schema, key: ['Agency Id'], timestampColumn: 'modified at' }],
    } as DatabaseSourceConfigInput);
    try {
      const error = await readOnce(source).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'DB_COLUMN_NOT_FOUND', retryable: false });
      expect((error as Error).message).toContain('"modified at" is "Modified At"');
    } finally {
      await source.close();
    }
  });
});
