// `ferry check` on a PostgreSQL server that is not set up for logical replication: wal_level replica, every
// replication slot taken and every WAL sender busy. A private server (test/services/private.ts), since these
// are server-wide settings the shared one must keep.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SqlEndpoint } from '@ferry/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PrivateServer, startPrivatePostgres } from '../../../../test/services/private.js';
import { main } from '../../../cli/src/program.js';
import { checkDatabaseSource, parseDatabaseSourceConfig } from '../../src/index.js';

/** pg_receivewal of the server's own version, as the private server picks it. */
function receivewal(): string {
  const base = '/usr/lib/postgresql';
  const version = readdirSync(base)
    .filter((v) => /^\d+$/.test(v) && existsSync(join(base, v, 'bin', 'pg_receivewal')))
    .sort((a, b) => Number(b) - Number(a))[0];
  if (version === undefined) throw new Error('no pg_receivewal under /usr/lib/postgresql/*/bin');
  return join(base, version, 'bin', 'pg_receivewal');
}

describe('ferry check on a server not set up for logical replication (private postgres)', () => {
  let server: PrivateServer<SqlEndpoint>;
  let dir: string;
  let receiver: ReturnType<typeof spawn> | undefined;

  beforeAll(async () => {
    server = await startPrivatePostgres({
      wal_level: 'replica',
      max_replication_slots: '1',
      max_wal_senders: '1',
    });
    dir = await mkdtemp(join(tmpdir(), 'ferry-check-server-'));
    const { host, port, user, password, database } = server.endpoint;
    const client = new pg.Client({ host, port, user, password, database });
    await client.connect();
    try {
      await client.query('CREATE TABLE cases (id INT PRIMARY KEY, name TEXT)');
      // Another consumer holds the only slot, and streams from it on the only WAL sender.
      await client.query("SELECT pg_create_physical_replication_slot('other_consumer', true)");
      receiver = spawn(
        receivewal(),
        ['-h', host, '-p', String(port), '-U', user, '-S', 'other_consumer', '-D', dir, '--no-password'],
        { env: { ...process.env, PGPASSWORD: password }, stdio: 'ignore' },
      );
      // Wait (bounded) until the server counts its WAL sender.
      for (let i = 0; i < 100; i += 1) {
        const { rows } = await client.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'walsender'",
        );
        if (rows[0].n > 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await client.end();
    }
  }, 120_000);

  afterAll(async () => {
    receiver?.kill('SIGKILL');
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const source = () => {
    const { host, port, user, password, database } = server.endpoint;
    return {
      type: 'database',
      mode: 'logical',
      connection: { type: 'postgres', host, port, username: user, password, database },
      tables: [{ name: 'cases', key: ['id'] }],
      slot: 'ferry_cases',
      publication: 'ferry_cases',
      createSlot: true,
    };
  };

  it('finds wal_level, no free slot and no free WAL sender, each with its fix', async () => {
    const { type: _type, ...config } = source();
    const findings = await checkDatabaseSource(parseDatabaseSourceConfig(config));
    const errors = findings.filter((f) => f.severity === 'error');
    expect(errors.map((f) => f.code).sort()).toEqual([
      'DB_LOGICAL_DISABLED',
      'DB_REPLICATION_CAPACITY',
      'DB_REPLICATION_CAPACITY',
    ]);
    const text = errors.map((f) => `${f.message} ${f.fix}`).join('\n');
    expect(text).toMatch(/wal_level = replica.*ALTER SYSTEM SET wal_level = logical/);
    expect(text).toMatch(/every replication slot .* is taken \(1 of max_replication_slots = 1\)/);
    expect(text).toMatch(/every WAL sender .* is busy \(1 of max_wal_senders = 1\)/);
  });

  it('the CLI prints one line per problem and exits 1; create-slot refuses before changing anything', async () => {
    const file = join(dir, 'pipeline.yaml');
    await writeFile(
      file,
      JSON.stringify({
        pipeline: 'check-server',
        source: source(),
        mapping: { subject: 'id', fields: { id: 'id' } },
        contract: { type: 'test.thing', version: '1.0.0' },
      }),
    );
    const out: string[] = [];
    const code = await main(['check', file], { out: (t) => out.push(t), err: (t) => out.push(t) });
    expect(code).toBe(1);
    const lines = out.join('').split('\n');
    for (const problem of ['DB_LOGICAL_DISABLED', 'DB_REPLICATION_CAPACITY'])
      expect(lines.some((line) => line.includes(problem))).toBe(true);
    const refused: string[] = [];
    const setUp = await main(['database', 'create-slot', file], {
      out: (t) => refused.push(t),
      err: (t) => refused.push(t),
    });
    expect(setUp).not.toBe(0);
    expect(refused.join('')).toMatch(/DB_LOGICAL_DISABLED/);
    const { host, port, user, password, database } = server.endpoint;
    const client = new pg.Client({ host, port, user, password, database });
    await client.connect();
    try {
      const { rows } = await client.query(
        "SELECT count(*)::int AS n FROM pg_publication WHERE pubname = 'ferry_cases'",
      );
      expect(rows[0].n).toBe(0);
    } finally {
      await client.end();
    }
  });
});
