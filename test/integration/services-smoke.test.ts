// Smoke tests for the real services that test/services/up.sh runs on loopback: each one must really
// answer. A service that is down makes its test FAIL (never skip), with a hint naming its log file.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigResourceTypes, type Consumer, Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import pg from 'pg';
import SftpClient from 'ssh2-sftp-client';
import { describe, expect, it } from 'vitest';
import { serviceLogs, services } from '../services/endpoints.js';

/** Reject if `promise` has not settled within `ms` (every network call gets a bound). */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Run `fn`; on failure, say which service and where its log is. */
async function withHint<T>(service: keyof typeof serviceLogs, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(
      `${service} smoke test failed: ${msg}\n(is it up? run: bash test/services/up.sh ${service}; log: ${serviceLogs[service]})`,
      { cause: err },
    );
  }
}

const unique = (prefix: string) => `${prefix}-${Date.now()}-${randomBytes(4).toString('hex')}`;

/** Host key blobs for `[host]:port` from an OpenSSH known_hosts file. */
async function knownHostKeys(path: string, host: string, port: number): Promise<Buffer[]> {
  const wanted = port === 22 ? host : `[${host}]:${port}`;
  const text = await readFile(path, 'utf8');
  const keys: Buffer[] = [];
  for (const line of text.split('\n')) {
    const [hosts, , blob] = line.trim().split(/\s+/);
    if (!hosts || !blob || hosts.startsWith('#')) continue;
    if (hosts.split(',').includes(wanted)) keys.push(Buffer.from(blob, 'base64'));
  }
  return keys;
}

describe('real services on loopback', () => {
  it('PostgreSQL answers and has logical decoding on', { timeout: 30_000 }, async () => {
    const { host, port, user, password, database } = services.postgres;
    const client = new pg.Client({ host, port, user, password, database, connectionTimeoutMillis: 5_000 });
    try {
      await withHint('postgres', async () => {
        await within(10_000, 'connect', client.connect());
        const sum = await within(10_000, 'select', client.query<{ two: number }>('SELECT 1 + 1 AS two'));
        expect(sum.rows[0]?.two).toBe(2);
        const wal = await within(10_000, 'show', client.query<{ wal_level: string }>('SHOW wal_level'));
        expect(wal.rows[0]?.wal_level).toBe('logical');
        const role = await within(
          10_000,
          'role',
          client.query<{ rolreplication: boolean }>(
            'SELECT rolreplication FROM pg_roles WHERE rolname = current_user',
          ),
        );
        expect(role.rows[0]?.rolreplication).toBe(true);
      });
    } finally {
      await within(10_000, 'end', client.end()).catch(() => {});
    }
  });

  it('MariaDB answers and has a ROW binlog', { timeout: 30_000 }, async () => {
    const { host, port, user, password, database } = services.mariadb;
    let conn: Connection | undefined;
    try {
      await withHint('mariadb', async () => {
        conn = await within(
          10_000,
          'connect',
          mysql.createConnection({ host, port, user, password, database, connectTimeout: 5_000 }),
        );
        const [rows] = await within(
          10_000,
          'select',
          conn.query<RowDataPacket[]>(
            'SELECT 1 + 1 AS two, DATABASE() AS db, @@log_bin AS log_bin, @@binlog_format AS fmt',
          ),
        );
        expect(rows[0]).toMatchObject({ two: 2, db: 'ferry', log_bin: 1, fmt: 'ROW' });
      });
    } finally {
      if (conn) await within(10_000, 'end', conn.end()).catch(() => {});
    }
  });

  it('sshd serves SFTP: put then get under /upload, host key checked', { timeout: 30_000 }, async () => {
    const ep = services.sftp;
    const trusted = await withHint('sshd', () => knownHostKeys(ep.knownHostsPath, ep.host, ep.port));
    expect(trusted.length).toBeGreaterThanOrEqual(2); // ed25519 + rsa
    const privateKey = await readFile(ep.privateKeyPath);
    const base = { host: ep.host, port: ep.port, username: ep.username, privateKey, readyTimeout: 10_000 };

    // A verifier that trusts nothing must make the connection fail: keys are really checked.
    const refusing = new SftpClient('ferry-smoke-refuse');
    try {
      await expect(
        within(15_000, 'connect (refusing)', refusing.connect({ ...base, hostVerifier: () => false })),
      ).rejects.toThrow();
    } finally {
      await within(10_000, 'end', refusing.end()).catch(() => {});
    }

    const sftp = new SftpClient('ferry-smoke');
    const name = `${unique('smoke')}.bin`;
    const remote = `${ep.uploadDir}/${name}`;
    const payload = Buffer.concat([Buffer.from('ferry sftp smoke\n'), randomBytes(4096)]);
    try {
      await withHint('sshd', async () => {
        await within(
          15_000,
          'connect',
          sftp.connect({ ...base, hostVerifier: (key: Buffer) => trusted.some((k) => k.equals(key)) }),
        );
        await within(10_000, 'put', sftp.put(payload, remote));
        const back = await within(10_000, 'get', sftp.get(remote));
        expect(Buffer.isBuffer(back)).toBe(true);
        expect((back as Buffer).equals(payload)).toBe(true);
        // The file really is in the chroot on disk.
        const onDisk = await readFile(join(ep.rootDir, ep.uploadDir, name));
        expect(onDisk.equals(payload)).toBe(true);
        await within(10_000, 'delete', sftp.delete(remote));
      });
    } finally {
      await within(10_000, 'end', sftp.end()).catch(() => {});
    }
  });

  it('Kafka: create a topic, produce, consume the same message', { timeout: 60_000 }, async () => {
    const kafka = new Kafka({
      clientId: 'ferry-smoke',
      brokers: [...services.kafka.brokers],
      connectionTimeout: 3_000,
      requestTimeout: 10_000,
      retry: { retries: 3, initialRetryTime: 200 },
      logLevel: logLevel.ERROR,
    });
    const topic = unique('ferry-smoke');
    const admin = kafka.admin();
    let producer: Producer | undefined;
    let consumer: Consumer | undefined;
    try {
      await withHint('kafka', async () => {
        await within(15_000, 'admin connect', admin.connect());
        const [broker] = (await within(10_000, 'describeCluster', admin.describeCluster())).brokers;
        const config = await within(
          10_000,
          'describeConfigs',
          admin.describeConfigs({
            includeSynonyms: false,
            resources: [
              {
                type: ConfigResourceTypes.BROKER,
                name: String(broker?.nodeId),
                configNames: ['auto.create.topics.enable'],
              },
            ],
          }),
        );
        expect(config.resources[0]?.configEntries[0]?.configValue).toBe('false');
        const created = await within(
          20_000,
          'createTopics',
          admin.createTopics({
            topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
            waitForLeaders: true,
          }),
        );
        expect(created).toBe(true);

        producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
        await within(10_000, 'producer connect', producer.connect());
        const value = `hello ${topic}`;
        await within(15_000, 'send', producer.send({ topic, messages: [{ key: 'k1', value }] }));

        consumer = kafka.consumer({
          groupId: `${topic}-group`,
          sessionTimeout: 10_000,
          heartbeatInterval: 1_000,
        });
        await within(10_000, 'consumer connect', consumer.connect());
        await within(10_000, 'subscribe', consumer.subscribe({ topic, fromBeginning: true }));
        const received = new Promise<{ key: string; value: string }>((resolve) => {
          void consumer?.run({
            eachMessage: async ({ message }) => {
              resolve({ key: message.key?.toString() ?? '', value: message.value?.toString() ?? '' });
            },
          });
        });
        expect(await within(40_000, 'consume', received)).toEqual({ key: 'k1', value });
      });
    } finally {
      if (consumer) await within(10_000, 'consumer disconnect', consumer.disconnect()).catch(() => {});
      if (producer) await within(10_000, 'producer disconnect', producer.disconnect()).catch(() => {});
      await within(10_000, 'deleteTopics', admin.deleteTopics({ topics: [topic], timeout: 5_000 })).catch(
        () => {},
      );
      await within(10_000, 'admin disconnect', admin.disconnect()).catch(() => {});
    }
  });
});
