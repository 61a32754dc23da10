// SftpSource.probe (readiness) against the real sshd: it logs in on its own connection with the same host-key
// checking, fails fast and classified when the server is not there, honours its signal, and leaves a running
// read alone.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '@ferry/core/sdk';
import { closedPort, type SilentServer, silentServer } from '@ferry/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createSftpSource, type SftpSourceConfigInput } from '../../src/index.js';
import { connection, drop, remoteDir, sftp, workDir } from '../helpers.js';

const format = { type: 'csv' as const };

function source(dir: string, paths: string[], conn: Partial<SftpSourceConfigInput['connection']> = {}) {
  return createSftpSource(
    { connection: { ...connection(), ...conn }, paths, format, key: ['id'], stateDir: join(dir, 'state') },
    { baseDir: dir, pipeline: 'probe' },
  );
}

const servers: SilentServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

/** Accepts TCP and never speaks SSH: a connect hangs until its timeout. */
async function hungServer(): Promise<SilentServer> {
  const server = await silentServer();
  servers.push(server);
  return server;
}

describe('sftp probe', () => {
  it('resolves against the live server and rejects a missing directory as SFTP_NO_SUCH_FILE', async () => {
    const dir = await workDir();
    const { remote } = remoteDir('probe-ok');
    const ok = source(dir, [`${remote}/*.csv`]);
    await expect(ok.probe!(AbortSignal.timeout(10_000))).resolves.toBeUndefined();
    await ok.close();
    const missing = source(dir, [`${remote}/nope/*.csv`]);
    await expect(missing.probe!(AbortSignal.timeout(10_000))).rejects.toMatchObject({
      code: 'SFTP_NO_SUCH_FILE',
      retryable: false,
    });
    await missing.close();
  });

  it('rejects a closed port quickly as a retryable SFTP_CONNECTION_FAILED', async () => {
    const dir = await workDir();
    const probe = source(dir, ['/upload/*.csv'], { port: await closedPort() });
    const started = Date.now();
    await expect(probe.probe!(AbortSignal.timeout(10_000))).rejects.toMatchObject({
      code: 'SFTP_CONNECTION_FAILED',
      retryable: true,
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    await probe.close();
  });

  it('never weakens host-key checking: a wrong pin or a changed known_hosts key is SFTP_HOST_KEY_MISMATCH', async () => {
    const dir = await workDir();
    const { knownHosts: _, ...rest } = connection();
    const pinned = createSftpSource(
      {
        connection: { ...rest, hostKeyFingerprint: `SHA256:${'A'.repeat(43)}` },
        paths: ['/upload/*.csv'],
        format,
        key: ['id'],
        stateDir: join(dir, 'state'),
      },
      { baseDir: dir },
    );
    await expect(pinned.probe!(AbortSignal.timeout(10_000))).rejects.toMatchObject({
      code: 'SFTP_HOST_KEY_MISMATCH',
      retryable: false,
    });
    await pinned.close();
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'other')]);
    const other = readFileSync(join(dir, 'other.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
    writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${sftp.port} ${other}\n`);
    const changed = source(dir, ['/upload/*.csv'], { knownHosts: join(dir, 'known_hosts') });
    await expect(changed.probe!(AbortSignal.timeout(10_000))).rejects.toMatchObject({
      code: 'SFTP_HOST_KEY_MISMATCH',
    });
    await changed.close();
  });

  it('is bounded by the connect timeout against a server that never answers', async () => {
    const dir = await workDir();
    const silent = await hungServer();
    const probe = source(dir, ['/upload/*.csv'], { port: silent.port, connectTimeoutMs: 1000 });
    const started = Date.now();
    await expect(probe.probe!(new AbortController().signal)).rejects.toMatchObject({
      code: 'SFTP_TIMEOUT',
      retryable: true,
    });
    expect(Date.now() - started).toBeLessThan(5000);
    await probe.close();
  });

  it('stops at its signal and closes the half-open connection', async () => {
    const dir = await workDir();
    const silent = await hungServer();
    const probe = source(dir, ['/upload/*.csv'], { port: silent.port, connectTimeoutMs: 30_000 });
    const started = Date.now();
    await expect(probe.probe!(AbortSignal.timeout(300))).rejects.toMatchObject({
      code: 'SFTP_TIMEOUT',
      retryable: true,
    });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(silent.sockets.length).toBe(1);
    const deadline = Date.now() + 3000;
    while (silent.closed() < 1 && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 20));
    expect(silent.closed()).toBe(1);
    await probe.close();
  });

  it('does not disturb a running read: every row of every file arrives', async () => {
    const dir = await workDir();
    const { remote, local } = remoteDir('probe-read');
    const rows = 5000;
    const csv = (file: number) =>
      `id,name\n${Array.from({ length: rows }, (_, i) => `${file * rows + i},row ${i}`).join('\n')}\n`;
    drop(local, 'a.csv', csv(0));
    drop(local, 'b.csv', csv(1));
    const src = createSftpSource(
      {
        connection: connection(),
        paths: [`${remote}/*.csv`],
        format,
        key: ['id'],
        batchSize: 500,
        afterProcessing: 'leave',
        stateDir: join(dir, 'state'),
      },
      { baseDir: dir, pipeline: 'probe-read' },
    );
    const ids = new Set<unknown>();
    const probes: Promise<void>[] = [];
    let reading = true;
    // Probes keep running beside the read, on their own connections, until it ends.
    const background = (async () => {
      let count = 0;
      while (reading && count < 50) {
        await src.probe!(AbortSignal.timeout(10_000));
        count += 1;
      }
      return count;
    })();
    for await (const batch of src.read({
      from: undefined,
      signal: new AbortController().signal,
      once: true,
      log: silentLogger(),
      caughtUp: () => undefined,
    })) {
      for (const record of batch.records) ids.add(record.key.id);
      // Mid-file, with the read's connection open and used again for b.csv afterwards.
      if (probes.length === 0)
        for (let i = 0; i < 3; i++) probes.push(src.probe!(AbortSignal.timeout(10_000)));
      if (probes.length === 3 && batch.position.file.endsWith('a.csv')) await Promise.all(probes);
    }
    reading = false;
    await Promise.all(probes);
    expect(await background).toBeGreaterThan(0);
    expect(ids.size).toBe(2 * rows);
    await src.close();
  });
});
