// Binlog mode against MariaDB servers of this file's own (test/services/private.ts), because what is tested
// changes a server's global state: binary logs purged while the pipeline is stopped (DB_BINLOG_PURGED, or a
// new snapshot with snapshot: when-needed), and a server whose binary log Ferry cannot decode exactly
// (binlog_format, binlog_row_image, binlog_row_metadata), found by `ferry check` and at start.
import type { SqlEndpoint } from '@ferry/testkit';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PrivateServer, startPrivateMariadb } from '../../../../test/services/private.js';
import {
  type BinlogPosition,
  checkDatabaseSource,
  createDatabaseSource,
  DatabaseErrorCodes,
  parseDatabaseSourceConfig,
} from '../../src/index.js';
import { readOnce } from '../helpers.js';

function connectionOf(endpoint: SqlEndpoint) {
  return {
    type: 'mariadb' as const,
    host: endpoint.host,
    port: endpoint.port,
    username: endpoint.user,
    password: endpoint.password,
    database: endpoint.database,
  };
}

describe('binlog mode: purged binary logs (private MariaDB)', () => {
  let server: PrivateServer<SqlEndpoint>;
  let admin: DataSource;
  const config = (snapshot: 'initial' | 'when-needed') => ({
    mode: 'binlog' as const,
    connection: connectionOf(server.endpoint),
    tables: [{ name: 'purged', key: ['id'] }],
    serverId: 4242,
    snapshot,
  });

  beforeAll(async () => {
    server = await startPrivateMariadb();
    admin = new DataSource({ ...connectionOf(server.endpoint), logging: false });
    await admin.initialize();
    await admin.query('CREATE TABLE purged (id INT PRIMARY KEY, v INT)');
    await admin.query('INSERT INTO purged VALUES (1, 1), (2, 2)');
  }, 180_000);

  afterAll(async () => {
    await admin?.destroy();
    await server?.close();
  }, 120_000);

  it('says DB_BINLOG_PURGED when the log it must resume from is gone, or snapshots again when allowed', async () => {
    const source = createDatabaseSource(config('initial'));
    let stopped: BinlogPosition | undefined;
    try {
      stopped = (await readOnce(source)).position;
      expect(stopped?.gtid).toBeDefined();
    } finally {
      await source.close();
    }
    // While the pipeline is stopped: more changes, the log rotated and purged past its position.
    await admin.query('INSERT INTO purged VALUES (3, 3)');
    await admin.query('DELETE FROM purged WHERE id = 1');
    await admin.query('FLUSH BINARY LOGS');
    await admin.query('FLUSH BINARY LOGS');
    const [status] = (await admin.query('SHOW MASTER STATUS')) as { File: string }[];
    // The server leaves a log alone while a dump thread still reads it (the closed reader's, until the server
    // notices the connection is gone): purge until only the newest log is left.
    const deadline = Date.now() + 30_000;
    for (;;) {
      await admin.query(`PURGE BINARY LOGS TO '${status?.File}'`);
      const logs = (await admin.query('SHOW BINARY LOGS')) as { Log_name: string }[];
      if (logs[0]?.Log_name === status?.File) break;
      if (Date.now() > deadline) throw new Error(`binary logs not purged: ${JSON.stringify(logs)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    const again = createDatabaseSource(config('initial'));
    try {
      const error = await readOnce(again, stopped).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: DatabaseErrorCodes.DB_BINLOG_PURGED, retryable: false });
      expect((error as Error).message).toMatch(/snapshot/);
    } finally {
      await again.close();
    }

    const renewed = createDatabaseSource(config('when-needed'));
    try {
      const read = await readOnce(renewed, stopped);
      expect(read.records.map((r) => [r.op, r.key.id])).toEqual([
        ['read', 2],
        ['read', 3],
      ]);
      await admin.query('UPDATE purged SET v = 30 WHERE id = 3');
      const next = await readOnce(renewed, read.position);
      expect(next.records.map((r) => [r.op, r.key.id, r.after?.v])).toEqual([['update', 3, 30]]);
    } finally {
      await renewed.close();
    }
  }, 120_000);
});

describe('binlog mode: a binary log Ferry cannot decode exactly (private MariaDB)', () => {
  let server: PrivateServer<SqlEndpoint>;
  let admin: DataSource;

  beforeAll(async () => {
    server = await startPrivateMariadb([
      'binlog_format = MIXED',
      'binlog_row_image = MINIMAL',
      'binlog_row_metadata = MINIMAL',
    ]);
    admin = new DataSource({ ...connectionOf(server.endpoint), logging: false });
    await admin.initialize();
    await admin.query('CREATE TABLE settings (id INT PRIMARY KEY)');
  }, 180_000);

  afterAll(async () => {
    await admin?.destroy();
    await server?.close();
  }, 120_000);

  it('ferry check and the start name each setting to change', async () => {
    const settings = {
      mode: 'binlog' as const,
      connection: connectionOf(server.endpoint),
      tables: [{ name: 'settings', key: ['id'] }],
      serverId: 4343,
    };
    const findings = await checkDatabaseSource(parseDatabaseSourceConfig(settings));
    const errors = findings.filter((f) => f.code === DatabaseErrorCodes.DB_BINLOG_DISABLED);
    expect(errors.map((f) => [f.severity, f.fix])).toEqual([
      [
        'error',
        "set binlog_format = ROW under [mysqld] in the server configuration (and SET GLOBAL binlog_format = 'ROW' to apply it to new sessions without a restart)",
      ],
      [
        'error',
        "set binlog_row_image = FULL under [mysqld] in the server configuration (and SET GLOBAL binlog_row_image = 'FULL' to apply it to new sessions without a restart)",
      ],
      [
        'error',
        "set binlog_row_metadata = FULL under [mysqld] in the server configuration (and SET GLOBAL binlog_row_metadata = 'FULL' to apply it to new sessions without a restart)",
      ],
    ]);
    expect(errors[0]?.message).toMatch(/binlog_format = MIXED/);
    const source = createDatabaseSource(settings);
    try {
      await expect(readOnce(source)).rejects.toMatchObject({
        code: DatabaseErrorCodes.DB_BINLOG_DISABLED,
        retryable: false,
      });
    } finally {
      await source.close();
    }
  }, 60_000);
});
