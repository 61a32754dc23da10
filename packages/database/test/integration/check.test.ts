// `ferry check` and the preflight behind it (issue 16), on the real PostgreSQL and MariaDB: each check finds
// its problem with the fix, a correct least-privileged set-up is clean, the CLI prints one line per problem
// and exits 1 (0 with warnings alone), and set-up commands and runs refuse on the same errors.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Clock, isFerryError, type PreflightFinding, systemClock } from '@ferry/core/sdk';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../../test/services/endpoints.js';
import { main } from '../../../cli/src/program.js';
import {
  checkDatabaseSource,
  createDatabaseSlot,
  createDatabaseSource,
  type DatabaseSourceConfigInput,
  installDatabaseTriggers,
  parseDatabaseSourceConfig,
  uninstallDatabase,
} from '../../src/index.js';
import { readOnce } from '../helpers.js';

const suffix = randomBytes(4).toString('hex');
const password = `ck-${randomBytes(8).toString('hex')}`;

const codes = (findings: PreflightFinding[], severity: PreflightFinding['severity']) =>
  findings.filter((f) => f.severity === severity).map((f) => f.code);

async function cli(args: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const code = await main(args, { out: (t) => out.push(t), err: (t) => out.push(t) });
  return { code, out };
}

async function pipelineFile(dir: string, source: Record<string, unknown>): Promise<string> {
  const file = join(dir, `pipeline-${randomBytes(3).toString('hex')}.yaml`);
  const yaml = JSON.stringify({
    pipeline: 'b-check',
    source: { type: 'database', ...source },
    mapping: { subject: 'id', fields: { id: 'id' } },
    contract: { type: 'test.thing', version: '1.0.0' },
  });
  // JSON is YAML.
  await writeFile(file, yaml);
  return file;
}

describe('ferry check on PostgreSQL', () => {
  const { host, port, user, password: adminPassword, database } = services.postgres;
  const adminConnection = {
    type: 'postgres' as const,
    host,
    port,
    username: user,
    password: adminPassword,
    database,
  };
  const schema = `B_CK_${suffix}`;
  const keyed = 'AGENCY_LOCATIONS';
  const keyless = 'MOVEMENTS_LOG';
  const roles: string[] = [];
  let admin: DataSource;
  let dir: string;

  const on = (table: string) => `"${schema}"."${table}"`;
  const as = (username: string) => ({ ...adminConnection, username, password });

  async function role(name: string, attributes: string, grants: string[]): Promise<string> {
    const full = `b_ck_${name}_${suffix}`;
    await admin.query(`CREATE ROLE ${full} LOGIN ${attributes} PASSWORD '${password}'`);
    roles.push(full);
    for (const grant of grants) await admin.query(`GRANT ${grant} TO ${full}`);
    return full;
  }

  beforeAll(async () => {
    admin = new DataSource({ ...adminConnection, logging: false });
    await admin.initialize();
    dir = await mkdtemp(join(tmpdir(), 'ferry-b-check-'));
    await admin.query(`CREATE SCHEMA "${schema}"`);
    await admin.query(
      `CREATE TABLE ${on(keyed)} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, modified TIMESTAMPTZ NOT NULL DEFAULT now())`,
    );
    await admin.query(`CREATE TABLE ${on(keyless)} (id INTEGER NOT NULL, status TEXT)`);
    await admin.query(`INSERT INTO ${on(keyed)} (id, name) VALUES (1, 'one')`);
  });

  afterAll(async () => {
    for (const name of roles) {
      await admin.query(`DROP OWNED BY ${name}`).catch(() => undefined);
      await admin.query(`DROP ROLE IF EXISTS ${name}`);
    }
    await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
    await admin.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  const logical = (
    username: string,
    tables: string[],
    name: string,
    extra: Record<string, unknown> = {},
  ) => ({
    mode: 'logical',
    connection: as(username),
    tables: tables.map((t) => ({ name: t, schema, key: ['id'] })),
    slot: name,
    publication: name,
    ...extra,
  });

  it('a correct least-privileged logical set-up is clean: exit 0, warnings only about the server', async () => {
    const name = `b_ck_ok_${suffix}`;
    const reader = await role('lr', 'REPLICATION', [`USAGE ON SCHEMA "${schema}"`, `SELECT ON ${on(keyed)}`]);
    const ownerConfig = parseDatabaseSourceConfig({
      ...logical(user, [keyed], name),
      connection: adminConnection,
    } as DatabaseSourceConfigInput);
    await createDatabaseSlot(ownerConfig);
    try {
      const findings = await checkDatabaseSource(
        parseDatabaseSourceConfig(logical(reader, [keyed], name) as DatabaseSourceConfigInput),
      );
      expect(codes(findings, 'error')).toEqual([]);
      const [keep] = (await admin.query("SELECT current_setting('max_slot_wal_keep_size') AS v")) as {
        v: string;
      }[];
      // The shared test server leaves max_slot_wal_keep_size unset: the warning is what a legacy owner must see.
      expect(codes(findings, 'warning')).toEqual(keep?.v === '-1' ? ['DB_SLOT_WAL_UNBOUNDED'] : []);
      const file = await pipelineFile(dir, logical(reader, [keyed], name));
      const { code, out } = await cli(['check', file]);
      expect(code).toBe(0);
      expect(out.at(-1)).toMatch(/: ready \(0 errors/);
      expect(out).toContain('sink file: no checks');
    } finally {
      await uninstallDatabase(ownerConfig);
    }
  });

  it('reports each logical problem on one line with its code and fix: exit 1', async () => {
    const name = `b_ck_bad_${suffix}`;
    // No REPLICATION, no USAGE on the schema (SELECT alone), a keyless table, no publication or slot.
    const reader = await role('bad', '', [`SELECT ON ${on(keyed)}`, `SELECT ON ${on(keyless)}`]);
    const config = logical(reader, [keyed, keyless], name);
    const findings = await checkDatabaseSource(
      parseDatabaseSourceConfig(config as DatabaseSourceConfigInput),
    );
    expect(new Set(codes(findings, 'error'))).toEqual(
      new Set([
        'DB_REPLICATION_DENIED',
        'DB_PERMISSION_DENIED',
        'DB_SLOT_MISSING',
        'DB_REPLICA_IDENTITY_MISSING',
      ]),
    );
    const usage = findings.find((f) => f.code === 'DB_PERMISSION_DENIED');
    expect(usage?.fix).toBe(`GRANT USAGE ON SCHEMA "${schema}" TO "${reader}";`);
    expect(findings.find((f) => f.code === 'DB_REPLICA_IDENTITY_MISSING')).toMatchObject({
      stream: `${schema}.${keyless}`,
      fix: expect.stringContaining('replicaIdentity: full'),
    });
    expect(findings.find((f) => f.code === 'DB_REPLICATION_DENIED')?.fix).toContain('WITH REPLICATION');
    const file = await pipelineFile(dir, config);
    const { code, out } = await cli(['check', file]);
    expect(code).toBe(1);
    const lines = out.filter((l) => l.startsWith('error '));
    expect(lines.length).toBe(findings.filter((f) => f.severity === 'error').length);
    for (const line of lines) expect(line).toMatch(/^error source:database \S+ DB_[A-Z_]+: .+ Fix: .+/);
  });

  it('warns about a superuser and a publication shared with other tables, refuses one that lacks a table', async () => {
    const name = `b_ck_pub_${suffix}`;
    await admin.query(`CREATE TABLE ${on(`OTHER_${suffix}`)} (id INTEGER PRIMARY KEY)`);
    await admin.query(`CREATE PUBLICATION ${name} FOR TABLE ${on(`OTHER_${suffix}`)}`);
    try {
      const config = { ...logical(user, [keyed], name), connection: adminConnection, createSlot: true };
      let findings = await checkDatabaseSource(
        parseDatabaseSourceConfig(config as DatabaseSourceConfigInput),
      );
      expect(codes(findings, 'warning')).toContain('DB_PRIVILEGES_EXCESSIVE');
      expect(codes(findings, 'error')).toEqual(['DB_PUBLICATION_MISMATCH']);
      expect(findings.find((f) => f.severity === 'error')?.fix).toBe(
        `ALTER PUBLICATION "${name}" ADD TABLE ${on(keyed)}; (as the table's owner), or use a publication of the pipeline's own`,
      );
      await admin.query(`ALTER PUBLICATION ${name} ADD TABLE ${on(keyed)}`);
      findings = await checkDatabaseSource(parseDatabaseSourceConfig(config as DatabaseSourceConfigInput));
      expect(codes(findings, 'error')).toEqual([]);
      expect(findings.find((f) => f.code === 'DB_PUBLICATION_MISMATCH')).toMatchObject({
        severity: 'warning',
      });
    } finally {
      await admin.query(`DROP PUBLICATION ${name}`);
    }
  });

  it('the CLI: create-slot refuses a keyless table (exit 1, nothing created); uninstall removes what it made', async () => {
    const name = `b_ck_cli_${suffix}`;
    const source = { ...logical(user, [keyed, keyless], name), connection: adminConnection };
    const refused = await cli(['database', 'create-slot', await pipelineFile(dir, source)]);
    expect(refused.code).toBe(1);
    expect(refused.out.join('\n')).toMatch(/DB_REPLICA_IDENTITY_MISSING: .*MOVEMENTS_LOG has no primary key/);
    const [pub] = (await admin.query('SELECT count(*)::int AS n FROM pg_publication WHERE pubname = $1', [
      name,
    ])) as { n: number }[];
    expect(pub?.n).toBe(0);
    const fixed = {
      ...source,
      tables: [
        { name: keyed, schema, key: ['id'] },
        { name: keyless, schema, key: ['id'], replicaIdentity: 'full' },
      ],
    };
    const file = await pipelineFile(dir, fixed);
    const created = await cli(['database', 'create-slot', file]);
    expect(created.code).toBe(0);
    expect(created.out).toContain(`ALTER TABLE ${on(keyless)} REPLICA IDENTITY FULL`);
    const removed = await cli(['database', 'uninstall', file]);
    expect(removed.code).toBe(0);
    expect(removed.out).toEqual([
      `pg_drop_replication_slot('${name}')`,
      `DROP PUBLICATION "${name}"`,
      `ALTER TABLE IF EXISTS ${on(keyless)} REPLICA IDENTITY DEFAULT`,
      'uninstall: done',
    ]);
  });

  it('polling: warns when no index serves the poll, with the CREATE INDEX that fixes it', async () => {
    const reader = await role('poll', '', [`USAGE ON SCHEMA "${schema}"`, `SELECT ON ${on(keyed)}`]);
    const config = parseDatabaseSourceConfig({
      connection: as(reader),
      tables: [{ name: keyed, schema, key: ['id'], timestampColumn: 'modified', incrementingColumn: 'id' }],
      delayMs: 5000,
    } as DatabaseSourceConfigInput);
    const before = await checkDatabaseSource(config);
    expect(before).toEqual([
      {
        severity: 'warning',
        code: 'DB_INDEX_MISSING',
        stream: `${schema}.${keyed}`,
        message: expect.stringContaining('every poll reads the whole table'),
        fix: `CREATE INDEX "ferry_poll_${keyed}" ON ${on(keyed)} ("modified", "id");`,
      },
    ]);
    await admin.query(before[0]!.fix);
    try {
      expect(await checkDatabaseSource(config)).toEqual([]);
    } finally {
      await admin.query(`DROP INDEX "${schema}"."ferry_poll_${keyed}"`);
    }
  });

  it('polling: warns when the clocks differ by more than delayMs allows', async () => {
    const reader = await role('skew', '', [`USAGE ON SCHEMA "${schema}"`, `SELECT ON ${on(keyed)}`]);
    await admin.query(`CREATE INDEX "b_ck_skew_${suffix}" ON ${on(keyed)} (modified, id)`);
    try {
      const config = parseDatabaseSourceConfig({
        connection: as(reader),
        tables: [{ name: keyed, schema, key: ['id'], timestampColumn: 'modified', incrementingColumn: 'id' }],
        delayMs: 5000,
      } as DatabaseSourceConfigInput);
      // Ferry's clock an hour behind the database's.
      const behind: Clock = { now: () => Date.now() - 3_600_000, sleep: systemClock.sleep };
      const skewed = await checkDatabaseSource(config, { clock: behind });
      expect(codes(skewed, 'warning')).toEqual(['DB_CLOCK_SKEW']);
      expect(skewed[0]?.message).toMatch(/clock is 36\d{5} ms ahead of Ferry's/);
      expect(await checkDatabaseSource(config)).toEqual([]);
    } finally {
      await admin.query(`DROP INDEX "${schema}"."b_ck_skew_${suffix}"`);
    }
  });

  it('a run refuses a schema the user may not use, saying USAGE (not SELECT)', async () => {
    const reader = await role('nousage', '', [`SELECT ON ${on(keyed)}`]);
    const source = createDatabaseSource({
      connection: as(reader),
      tables: [{ name: keyed, schema, key: ['id'], incrementingColumn: 'id' }],
    } as DatabaseSourceConfigInput);
    try {
      const error = await readOnce(source).catch((e: Error) => e);
      expect(isFerryError(error) && error.code).toBe('DB_PERMISSION_DENIED');
      expect(String(error)).toContain(`GRANT USAGE ON SCHEMA "${schema}"`);
      expect(String(error)).not.toContain('Grant it SELECT');
    } finally {
      await source.close();
    }
  });

  it('trigger mode: missing capture, a journal the user may not purge, and install-triggers by a non-owner', async () => {
    const journal = `b_ck_journal_${suffix}`;
    const base = {
      mode: 'trigger',
      tables: [{ name: keyed, schema, key: ['id'] }],
      journal: { table: journal, schema },
    };
    const reader = await role('trg', '', [`USAGE ON SCHEMA "${schema}"`, `SELECT ON ${on(keyed)}`]);
    const readerConfig = parseDatabaseSourceConfig({
      ...base,
      connection: as(reader),
    } as DatabaseSourceConfigInput);
    expect(codes(await checkDatabaseSource(readerConfig), 'error')).toEqual(['DB_TRIGGERS_MISSING']);
    // install-triggers as a user who owns nothing is refused before anything is created.
    const refused = await installDatabaseTriggers(readerConfig).catch((e: Error) => e);
    expect(isFerryError(refused) && refused.code).toBe('DB_PERMISSION_DENIED');
    const [journalRow] = (await admin.query('SELECT to_regclass($1) AS t', [`"${schema}"."${journal}"`])) as {
      t: unknown;
    }[];
    expect(journalRow?.t).toBeNull();
    const ownerConfig = parseDatabaseSourceConfig({
      ...base,
      connection: adminConnection,
    } as DatabaseSourceConfigInput);
    await installDatabaseTriggers(ownerConfig);
    try {
      await admin.query(`GRANT SELECT ON ${on(journal)} TO ${reader}`);
      const findings = await checkDatabaseSource(readerConfig);
      expect(codes(findings, 'error')).toEqual(['DB_PERMISSION_DENIED']);
      expect(findings[0]?.fix).toBe(`GRANT SELECT, DELETE ON ${on(journal)} TO "${reader}";`);
      await admin.query(`GRANT DELETE ON ${on(journal)} TO ${reader}`);
      expect(await checkDatabaseSource(readerConfig)).toEqual([]);
    } finally {
      await uninstallDatabase(ownerConfig);
    }
  });
});

describe('ferry check on MariaDB', () => {
  const { host, port, user, password: adminPassword, database } = services.mariadb;
  const adminConnection = {
    type: 'mariadb' as const,
    host,
    port,
    username: user,
    password: adminPassword,
    database,
  };
  const table = `b_ck_${suffix}`;
  const users: string[] = [];
  let admin: DataSource;

  async function limited(name: string, grants: string[]): Promise<string> {
    const full = `b_ck_${name}_${suffix}`;
    await admin.query(`CREATE USER '${full}'@'127.0.0.1' IDENTIFIED BY '${password}'`);
    users.push(full);
    for (const grant of grants) await admin.query(`GRANT ${grant} TO '${full}'@'127.0.0.1'`);
    return full;
  }

  beforeAll(async () => {
    admin = new DataSource({ ...adminConnection, logging: false });
    await admin.initialize();
    await admin.query(
      `CREATE TABLE ${table} (id BIGINT PRIMARY KEY, name VARCHAR(20), modified DATETIME(6) NOT NULL)`,
    );
  });

  afterAll(async () => {
    for (const name of users) await admin.query(`DROP USER IF EXISTS '${name}'@'127.0.0.1'`);
    await admin.query(`DROP TABLE IF EXISTS ${table}, ${table}_other`);
    await admin.destroy();
  });

  it('polling: a missing SELECT is an error with its GRANT; no index a warning with its CREATE INDEX', async () => {
    // Allowed into the database (a privilege on another table), but not on the captured one.
    await admin.query(`CREATE TABLE ${table}_other (id INT PRIMARY KEY)`);
    const nothing = await limited('none', [`SELECT ON ${database}.${table}_other`]);
    const config = (username: string) =>
      parseDatabaseSourceConfig({
        connection: { ...adminConnection, username, password: username === user ? adminPassword : password },
        tables: [{ name: table, key: ['id'], timestampColumn: 'modified', incrementingColumn: 'id' }],
      } as DatabaseSourceConfigInput);
    const denied = await checkDatabaseSource(config(nothing));
    expect(codes(denied, 'error')).toEqual(['DB_TABLE_NOT_FOUND']);
    expect(denied[0]?.fix).toContain(
      `GRANT SELECT ON \`${database}\`.\`${table}\` TO '${nothing}'@'127.0.0.1';`,
    );
    const reader = await limited('poll', [`SELECT ON ${database}.${table}`]);
    const findings = await checkDatabaseSource(config(reader));
    expect(findings).toEqual([
      expect.objectContaining({
        code: 'DB_INDEX_MISSING',
        fix: `CREATE INDEX \`ferry_poll_${table}\` ON \`${table}\` (\`modified\`, \`id\`);`,
      }),
    ]);
    await admin.query(findings[0]!.fix);
    expect(await checkDatabaseSource(config(reader))).toEqual([]);
    // The admin holds every privilege everywhere: more than capture needs.
    expect(codes(await checkDatabaseSource(config(user)), 'warning')).toEqual(['DB_PRIVILEGES_EXCESSIVE']);
  });

  it('SELECT granted through a role counts (information_schema does not show it)', async () => {
    const role = `b_ck_role_${suffix}`;
    await admin.query(`CREATE ROLE ${role}`);
    try {
      await admin.query(`GRANT SELECT ON ${database}.${table} TO ${role}`);
      const member = await limited('member', []);
      await admin.query(`GRANT ${role} TO '${member}'@'127.0.0.1'`);
      await admin.query(`SET DEFAULT ROLE ${role} FOR '${member}'@'127.0.0.1'`);
      const findings = await checkDatabaseSource(
        parseDatabaseSourceConfig({
          connection: { ...adminConnection, username: member, password },
          tables: [{ name: table, key: ['id'], incrementingColumn: 'id' }],
        } as DatabaseSourceConfigInput),
      );
      expect(codes(findings, 'error')).toEqual([]);
    } finally {
      await admin.query(`DROP ROLE ${role}`);
    }
  });

  it('trigger mode: missing journal, then a journal the user may not purge', async () => {
    const journal = `b_ck_journal_${suffix}`;
    const base = { mode: 'trigger', tables: [{ name: table, key: ['id'] }], journal: { table: journal } };
    const reader = await limited('trg', [`SELECT ON ${database}.${table}`]);
    const readerConfig = parseDatabaseSourceConfig({
      ...base,
      connection: { ...adminConnection, username: reader, password },
    } as DatabaseSourceConfigInput);
    expect(codes(await checkDatabaseSource(readerConfig), 'error')).toEqual(['DB_TRIGGERS_MISSING']);
    const ownerConfig = parseDatabaseSourceConfig({
      ...base,
      connection: adminConnection,
    } as DatabaseSourceConfigInput);
    await installDatabaseTriggers(ownerConfig);
    try {
      await admin.query(`GRANT SELECT ON ${database}.${journal} TO '${reader}'@'127.0.0.1'`);
      const findings = await checkDatabaseSource(readerConfig);
      expect(findings.map((f) => [f.code, f.fix])).toEqual([
        [
          'DB_PERMISSION_DENIED',
          `GRANT DELETE ON \`${database}\`.\`${journal}\` TO '${reader}'@'127.0.0.1';`,
        ],
      ]);
      await admin.query(`GRANT DELETE ON ${database}.${journal} TO '${reader}'@'127.0.0.1'`);
      expect(await checkDatabaseSource(readerConfig)).toEqual([]);
    } finally {
      await uninstallDatabase(ownerConfig);
    }
  });
});
