// One SFTP connection with strict host-key checking and a timeout on every call. It never retries: a
// retryable SftpError goes back to the runtime, which reopens the connection through a fresh read.
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as connectSocket, type Socket } from 'node:net';
import { resolve } from 'node:path';
import type { Logger } from '@ferry/core/sdk';
import SftpClient from 'ssh2-sftp-client';
import type { SftpConnectionConfig } from '../config.js';
import { classifySftpError, SftpError, SftpErrorCodes } from '../errors.js';
import { SessionHold } from './sessions.js';

/** Longest a probe waits for its one stat once logged in. */
const PROBE_STAT_MS = 5000;

export interface RemoteEntry {
  name: string;
  path: string;
  size: number;
  mtime: number;
  isFile: boolean;
}

interface KnownKey {
  hosts: string;
  keyType: string;
  key: Buffer;
}

export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

function parseKnownHosts(text: string): KnownKey[] {
  const keys: KnownKey[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const parts = line.split(/\s+/);
    // Markers (@revoked, @cert-authority) are not supported: such lines are ignored, never trusted.
    if (parts[0]?.startsWith('@') || parts.length < 3) continue;
    keys.push({ hosts: parts[0]!, keyType: parts[1]!, key: Buffer.from(parts[2]!, 'base64') });
  }
  return keys;
}

function hostMatches(patterns: string, host: string, port: number): boolean {
  const name = port === 22 ? host : `[${host}]:${port}`;
  for (const pattern of patterns.split(',')) {
    if (pattern.startsWith('|1|')) {
      const [, , salt, hash] = pattern.split('|');
      const mac = createHmac('sha1', Buffer.from(salt ?? '', 'base64'))
        .update(name)
        .digest('base64');
      if (mac === hash) return true;
    } else if (pattern === name) {
      return true;
    }
  }
  return false;
}

/** The key type name inside an SSH public-key blob (its first length-prefixed string). */
function blobKeyType(key: Buffer): string {
  if (key.length < 4) return '';
  const length = key.readUInt32BE(0);
  return key.subarray(4, 4 + length).toString('latin1');
}

export class SftpConnection {
  // No global listeners of its own: ssh2-sftp-client's defaults print to the console on every disconnect.
  private readonly client = new SftpClient('ferry', {});
  /** Opened here, not by ssh2, so a stopped handshake can be cut at once and a dropped one is seen. */
  private socket: Socket | undefined;
  private ready = false;
  private hostKeyFailure: SftpError | undefined;
  /** This connection's share of the host's `maxSessions`, held from before the socket opens until it closes. */
  private readonly session: SessionHold;
  readonly target: string;

  constructor(
    private readonly config: SftpConnectionConfig,
    private readonly baseDir: string,
    private readonly log: Logger,
  ) {
    this.target = `${config.username}@${config.host}:${config.port}`;
    this.session = new SessionHold(config.host, config.port, config.maxSessions);
  }

  /** Logged in, with the SFTP channel open, and the connection has not dropped since. */
  get connected(): boolean {
    return this.ready && this.socket !== undefined && !this.socket.destroyed;
  }

  /**
   * Log in and open the SFTP channel, once one of the host's `maxSessions` is free (waiting, in arrival
   * order, while this process has that many connections open to it). Resolves false, opening nothing, when
   * `signal` stops the wait.
   */
  async connect(signal?: AbortSignal): Promise<boolean> {
    const c = this.config;
    if (this.session.wouldWait)
      this.log.info(
        { target: this.target, maxSessions: c.maxSessions, open: this.session.inUse },
        `waiting for one of the ${c.maxSessions} SFTP sessions this process may have open to ${c.host}:${c.port} (connection.maxSessions)`,
      );
    if (!(await this.session.take(signal))) return false;
    try {
      const options = this.connectOptions();
      await this.withTimeout('connect', undefined, c.connectTimeoutMs + 1000, () => {
        this.socket = connectSocket({ host: c.host, port: c.port });
        return this.client.connect({ ...options, sock: this.socket });
      });
      this.ready = true;
      return true;
    } catch (error) {
      this.drop();
      // Reading the key or known_hosts file fails before any SFTP call could classify it.
      throw this.hostKeyFailure ?? classifySftpError(error, { operation: 'connect', target: this.target });
    }
  }

  private connectOptions(): SftpClient.ConnectOptions {
    const c = this.config;
    const options: SftpClient.ConnectOptions = {
      host: c.host,
      port: c.port,
      username: c.username,
      readyTimeout: c.connectTimeoutMs,
      keepaliveInterval: c.keepaliveIntervalMs,
      keepaliveCountMax: 3,
      hostVerifier: this.hostVerifier(),
    };
    if (c.password !== undefined) options.password = c.password;
    if (c.privateKey !== undefined) options.privateKey = c.privateKey;
    else if (c.privateKeyPath !== undefined)
      options.privateKey = readFileSync(resolve(this.baseDir, c.privateKeyPath));
    if (c.passphrase !== undefined) options.passphrase = c.passphrase;
    if (c.legacyAlgorithms !== undefined) {
      const algorithms: Record<string, { append: string[] }> = {};
      for (const [kind, list] of Object.entries(c.legacyAlgorithms)) {
        if (list && list.length > 0) algorithms[kind] = { append: list };
      }
      this.log.warn(
        { target: this.target, legacyAlgorithms: c.legacyAlgorithms },
        'legacy SSH algorithms enabled by configuration',
      );
      options.algorithms = algorithms as NonNullable<SftpClient.ConnectOptions['algorithms']>;
    }
    return options;
  }

  private hostVerifier(): (key: Buffer) => boolean {
    const c = this.config;
    const known = c.knownHosts
      ? parseKnownHosts(readFileSync(resolve(this.baseDir, c.knownHosts), 'utf8'))
      : [];
    return (key: Buffer) => {
      const seen = fingerprint(key);
      const keyType = blobKeyType(key);
      if (c.hostKeyFingerprint !== undefined) {
        if (seen === c.hostKeyFingerprint) return true;
        this.hostKeyFailure = new SftpError(
          SftpErrorCodes.SFTP_HOST_KEY_MISMATCH,
          `${this.target} presented host key ${keyType} ${seen}, not the pinned ${c.hostKeyFingerprint}: ` +
            'refusing to connect. If the server key really changed, update hostKeyFingerprint.',
          { details: { target: this.target, presented: seen, expected: c.hostKeyFingerprint } },
        );
        return false;
      }
      const forHost = known.filter((k) => hostMatches(k.hosts, c.host, c.port));
      if (forHost.some((k) => k.key.equals(key))) return true;
      const sameType = forHost.filter((k) => k.keyType === keyType);
      this.hostKeyFailure =
        forHost.length === 0
          ? new SftpError(
              SftpErrorCodes.SFTP_HOST_KEY_UNKNOWN,
              `${this.target} is not in ${c.knownHosts}: refusing to connect (no trust on first use). ` +
                `Its ${keyType} key is ${seen}; add it with ssh-keyscan after checking it out of band.`,
              { details: { target: this.target, presented: seen, keyType } },
            )
          : new SftpError(
              SftpErrorCodes.SFTP_HOST_KEY_MISMATCH,
              `${this.target} presented ${keyType} host key ${seen}, which differs from ${c.knownHosts}` +
                `${sameType.length === 0 ? ' (no key of that type is known)' : ''}: refusing to connect. ` +
                'It may be an attack, or the server was reinstalled; confirm out of band, then update known_hosts.',
              { details: { target: this.target, presented: seen, keyType } },
            );
      return false;
    };
  }

  /** Runs one call with a deadline; on timeout the connection is dropped, since the call may never return. */
  async withTimeout<T>(
    operation: string,
    path: string | undefined,
    ms: number,
    call: () => Promise<T>,
  ): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new SftpError(
            SftpErrorCodes.SFTP_TIMEOUT,
            `${[operation, path, `on ${this.target}`].filter(Boolean).join(' ')} timed out after ${ms} ms`,
            {
              retryable: true,
              details: { operation, path, target: this.target },
            },
          ),
        );
        this.drop();
      }, ms);
    });
    try {
      return await Promise.race([call(), deadline]);
    } catch (error) {
      throw classifySftpError(error, {
        operation,
        ...(path === undefined ? {} : { path }),
        target: this.target,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  private op<T>(operation: string, path: string, call: () => Promise<T>): Promise<T> {
    return this.withTimeout(operation, path, this.config.operationTimeoutMs, call);
  }

  async list(dir: string): Promise<RemoteEntry[]> {
    const entries = await this.op('list', dir, () => this.client.list(dir));
    return entries.map((e) => ({
      name: e.name,
      path: `${dir.replace(/\/$/, '')}/${e.name}`,
      size: e.size,
      mtime: e.modifyTime,
      isFile: e.type === '-',
    }));
  }

  async stat(path: string): Promise<{ size: number; mtime: number }> {
    const s = await this.op('stat', path, () => this.client.stat(path));
    return { size: s.size, mtime: s.modifyTime };
  }

  async exists(path: string): Promise<boolean> {
    return (await this.op('exists', path, () => this.client.exists(path))) !== false;
  }

  async download(remote: string, local: string, concurrency: number): Promise<void> {
    await this.op('download', remote, () =>
      this.client.fastGet(remote, local, { concurrency, chunkSize: 65_536 }),
    );
  }

  async rename(from: string, to: string): Promise<void> {
    await this.op('rename', from, () => this.client.rename(from, to));
  }

  async mkdir(dir: string): Promise<void> {
    await this.op('mkdir', dir, () => this.client.mkdir(dir, true));
  }

  async delete(path: string): Promise<void> {
    await this.op('delete', path, () => this.client.delete(path));
  }

  /**
   * Connect and stat `dir`: proof that the server answers and lets this user in, changing nothing. Bounded
   * by the connect timeout plus PROBE_STAT_MS, and by `signal` (a stopped probe is an SFTP_TIMEOUT). The
   * caller ends the connection.
   */
  async probe(dir: string, signal: AbortSignal): Promise<void> {
    let onAbort: (() => void) | undefined;
    const stopped = new Promise<never>((_, reject) => {
      onAbort = () => {
        reject(
          new SftpError(
            SftpErrorCodes.SFTP_TIMEOUT,
            `probe of ${this.target} was stopped before it answered`,
            {
              retryable: true,
              details: { operation: 'probe', path: dir, target: this.target },
            },
          ),
        );
        this.drop();
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    const check = async () => {
      if (signal.aborted) return; // already stopped: do not open a connection nobody would close
      // A stopped wait for a session rejects through `stopped`.
      if (!(await this.connect(signal))) return;
      await this.withTimeout('stat', dir, Math.min(this.config.operationTimeoutMs, PROBE_STAT_MS), () =>
        this.client.stat(dir),
      );
    };
    try {
      await Promise.race([check(), stopped]);
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Close now, even mid-handshake: ssh2-sftp-client's end() does nothing until the SFTP channel is open,
   * which would leave a stopped connect's socket open until readyTimeout.
   */
  private drop(): void {
    this.ready = false;
    void this.client.end().catch(() => undefined);
    this.socket?.destroy();
    this.session.give();
  }

  async end(): Promise<void> {
    this.ready = false;
    await this.client.end().catch(() => undefined);
    this.socket?.destroy();
    this.session.give();
  }
}
