// Private, throw-away servers for tests that stop or restart a server, or change its global state. Each one
// has its own loopback port(s) and data directory, is started by the test file and torn down by it, so the
// shared services of up.sh (which other test files, and another clone's `npm test`, use at the same moment)
// are never stopped or reconfigured under anyone. Same binaries and caches as up.sh: lib/postgres.sh,
// lib/mariadb.sh, lib/kafka.sh and lib/spyne.sh say how those are installed and configured; up.sh installs
// them. A private server that cannot start throws, naming why and the tail of its log: never a skip.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, closeSync, existsSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KafkaEndpoint, SoapEndpoint, SqlEndpoint } from '@ferry/testkit';
import { Kafka, logLevel } from 'kafkajs';
import mysql from 'mysql2/promise';
import pg from 'pg';

const repoRoot = join(import.meta.dirname, '..', '..');
/** The environment as up.sh reads it (lib/common.sh, lib/kafka.sh). */
const setting = (name: string): string | undefined => process.env[name] || undefined;
const cacheDir = join(setting('XDG_CACHE_HOME') ?? join(homedir(), '.cache'), 'ferry');
const isRoot = process.getuid?.() === 0;

/** A server of a test's own. */
export interface PrivateServer<E> {
  /** What it is and where, for messages: `private postgres on 127.0.0.1:23456`. */
  readonly name: string;
  readonly endpoint: E;
  /** Its data, config and log live here; close() deletes it. */
  readonly dir: string;
  /** Its stdout and stderr, with a marker line per start. */
  readonly log: string;
  /** Stop it as an operator would (a clean shutdown), keeping its data; resolves once the process is gone. */
  stop(): Promise<void>;
  /** Start it again on the same port(s) with the same data; resolves once it answers. */
  start(): Promise<void>;
  /** Stop it if it runs and delete its directory. Safe to call twice. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// processes

interface Running {
  child: ChildProcess;
  /** Resolves when the process has exited (or could not be started). */
  exited: Promise<string>;
  /** Kills `child` when this test process dies without closing it (see spawnServer). */
  reaper: ChildProcess | undefined;
}

/** Run `command` as the OS user `user` when the tests run as root (PostgreSQL and MariaDB refuse root). */
function asUser(user: string | undefined, command: string, args: string[]): [string, string[]] {
  if (user === undefined || !isRoot) return [command, args];
  return ['setpriv', [`--reuid=${user}`, `--regid=${user}`, '--init-groups', command, ...args]];
}

/** Waits for EOF on stdin, then kills the server ($1) and, once it is gone, deletes its directory ($2). */
const REAPER =
  'cat >/dev/null; kill -KILL "$1" 2>/dev/null; ' +
  'for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done; rm -rf -- "$2"';

function spawnServer(command: string, args: string[], log: string, dir: string, env = process.env): Running {
  if (!dir.startsWith(join(tmpdir(), 'ferry-private-')))
    throw new Error(`not a private server's dir: ${dir}`);
  const fd = openSync(log, 'a');
  writeSync(fd, `\n===== ${new Date().toISOString()} starting: ${command} ${args.join(' ')} =====\n`);
  // setpriv execs the server, so the pid (and every signal sent to it) is the server's own.
  const child = spawn(command, args, { cwd: dir, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => resolve(`could not be started: ${error.message}`));
    child.once('exit', (code, signal) => resolve(signal ? `was killed by ${signal}` : `exited with ${code}`));
  });
  // A worker that is killed (a timeout, Ctrl-C) never runs its afterAll: the server would outlive it and
  // hold its port, memory and directory. The reaper, in a session of its own so the same Ctrl-C does not
  // take it first, reads a pipe from this process; the pipe closes when this process dies, however it dies,
  // and the reaper then kills the server and deletes its directory. A parent-death signal would not do: it
  // is cleared when setpriv changes the user.
  const reaper =
    child.pid === undefined
      ? undefined
      : spawn('bash', ['-c', REAPER, 'ferry-private-reaper', String(child.pid), dir], {
          stdio: ['pipe', 'ignore', 'ignore'],
          detached: true,
        });
  // Neither keeps a worker alive once its tests are done.
  if (reaper) {
    reaper.on('error', () => undefined);
    reaper.stdin?.on('error', () => undefined);
    reaper.unref();
    if (reaper.stdin instanceof Socket) reaper.stdin.unref();
  }
  child.unref();
  return { child, exited, reaper };
}

/** Signal the server, wait (bounded) for it to exit, SIGKILL after `timeoutMs`. */
async function stopProcess(running: Running, signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
  running.reaper?.kill('SIGKILL');
  if (running.child.exitCode !== null || running.child.signalCode !== null) return;
  running.child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), timeoutMs);
  });
  const outcome = await Promise.race([running.exited, late]);
  clearTimeout(timer);
  if (outcome === 'late') {
    running.child.kill('SIGKILL');
    await running.exited;
  }
}

function logTail(log: string, lines = 30): string {
  try {
    const text = readFileSync(log, 'utf8').trimEnd().split('\n');
    return `---- last ${Math.min(lines, text.length)} lines of ${log} ----\n${text.slice(-lines).join('\n')}`;
  } catch {
    return `(no log at ${log})`;
  }
}

/**
 * Try `probe` until it resolves true; fail when the process exits first or `timeoutMs` passes, with the
 * log's tail in the message.
 */
async function waitReady(
  name: string,
  running: Running,
  log: string,
  timeoutMs: number,
  probe: () => Promise<boolean>,
): Promise<void> {
  let gone: string | undefined;
  void running.exited.then((how) => {
    gone = how;
  });
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = (error as Error).message;
    }
    if (gone !== undefined) throw new Error(`${name} ${gone} while starting\n${logTail(log)}`);
    if (Date.now() >= deadline) {
      await stopProcess(running, 'SIGKILL', 5_000);
      throw new Error(
        `${name} did not answer within ${timeoutMs / 1000} s (last probe: ${lastError || 'not ready'})\n${logTail(log)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function run(command: string, args: string[], options: { cwd: string; timeoutMs: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, timeout: options.timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error)
          reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stderr}${stdout}`));
        else resolve(stdout);
      },
    );
  });
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A loopback port nothing listens on, below the kernel's ephemeral range (32768-60999 here): ports in that
 * range are handed to outgoing connections, and one could take ours while a test holds its server down.
 */
async function freePort(avoid: number[] = []): Promise<number> {
  for (let i = 0; i < 100; i += 1) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (!avoid.includes(port) && (await canListen(port))) return port;
  }
  throw new Error('no free loopback port between 20000 and 32000 after 100 tries');
}

/** Whether the last start (its log after its marker line) failed because its port was taken. */
function failedOnPort(log: string): boolean {
  const text = readFileSync(log, 'utf8');
  const last = text.slice(text.lastIndexOf('===== '));
  return /address already in use|could not bind|bind on tcp\/ip port|do you already have another/i.test(last);
}

interface Spec<E> {
  kind: string;
  dir: string;
  log: string;
  /** Ports for the server: the first start may ask again when a port was taken in between. */
  ports: () => Promise<number[]>;
  /** Writes config for the ports (every start) and returns the command line. */
  command: (
    ports: number[],
  ) => Promise<{ command: string; args: string[]; user?: string; env?: NodeJS.ProcessEnv }>;
  ready: (ports: number[]) => Promise<boolean>;
  readyTimeoutMs: number;
  /** One-time set-up once it first answers (users, databases). */
  provision?: (ports: number[]) => Promise<void>;
  endpoint: (ports: number[]) => E;
  stopSignal: NodeJS.Signals;
  stopTimeoutMs: number;
}

async function startServer<E>(spec: Spec<E>): Promise<PrivateServer<E>> {
  let ports: number[] = [];
  let running: Running | undefined;
  const label = () => `private ${spec.kind} on 127.0.0.1:${ports.join('/')}`;
  const launch = async () => {
    const { command, args, user, env } = await spec.command(ports);
    const [cmd, argv] = asUser(user, command, args);
    running = spawnServer(cmd, argv, spec.log, spec.dir, env ?? process.env);
    await waitReady(label(), running, spec.log, spec.readyTimeoutMs, () => spec.ready(ports));
  };
  // A port found free can be taken before the server binds it (another test file, another clone): try
  // fresh ports a few times, on the first start only (a restart must keep the address clients know).
  for (let attempt = 1; ; attempt += 1) {
    ports = await spec.ports();
    try {
      await launch();
      break;
    } catch (error) {
      if (attempt < 3 && failedOnPort(spec.log)) continue;
      await rm(spec.dir, { recursive: true, force: true }).catch(() => undefined);
      throw error;
    }
  }
  try {
    await spec.provision?.(ports);
  } catch (error) {
    if (running) await stopProcess(running, 'SIGKILL', 5_000);
    const message = `${label()}: provisioning failed: ${(error as Error).message}\n${logTail(spec.log)}`;
    await rm(spec.dir, { recursive: true, force: true }).catch(() => undefined);
    throw new Error(message);
  }
  let closed = false;
  return {
    name: label(),
    endpoint: spec.endpoint(ports),
    dir: spec.dir,
    log: spec.log,
    stop: async () => {
      if (running) await stopProcess(running, spec.stopSignal, spec.stopTimeoutMs);
    },
    start: async () => {
      if (closed) throw new Error(`${label()} was closed`);
      if (running && running.child.exitCode === null && running.child.signalCode === null) {
        throw new Error(`${label()} is already running`);
      }
      await launch();
    },
    close: async () => {
      if (closed) return;
      closed = true;
      if (running) await stopProcess(running, 'SIGKILL', 5_000);
      await rm(spec.dir, { recursive: true, force: true });
    },
  };
}

/** A directory of our own that `owner` (an OS user) may use; root keeps full access. */
async function serverDir(kind: string, owner?: string): Promise<{ dir: string; log: string }> {
  const dir = await mkdtemp(join(tmpdir(), `ferry-private-${kind}-`));
  if (owner !== undefined && isRoot) {
    const { uid, gid } = osUser(owner, kind);
    chownSync(dir, uid, gid);
  }
  const log = join(dir, `${kind}.log`);
  await writeFile(log, '');
  return { dir, log };
}

function osUser(user: string, kind: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  if (line === undefined) {
    throw new Error(
      `private ${kind}: the OS user '${user}' is missing (bash test/services/up.sh installs the server that creates it)`,
    );
  }
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

async function own(path: string, user: string, kind: string): Promise<void> {
  if (!isRoot) return;
  const { uid, gid } = osUser(user, kind);
  chownSync(path, uid, gid);
}

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL

/** The newest Debian server binaries, /usr/lib/postgresql/<version>/bin (as lib/postgres.sh picks them). */
function postgresBindir(): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => /^\d+$/.test(v) && existsSync(join(base, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(
      'private postgres: no server under /usr/lib/postgresql/*/bin; run `bash test/services/up.sh postgres` once to install it',
    );
  }
  return join(base, versions[0]!, 'bin');
}

const SQL_USER = 'ferry';
const SQL_PASSWORD = 'ferry';
const SQL_DATABASE = 'ferry';

function sqlEndpoint(scheme: string, port: number): SqlEndpoint {
  return {
    host: '127.0.0.1',
    port,
    user: SQL_USER,
    password: SQL_PASSWORD,
    database: SQL_DATABASE,
    url: `${scheme}://${SQL_USER}:${SQL_PASSWORD}@127.0.0.1:${port}/${SQL_DATABASE}`,
  };
}

/**
 * A PostgreSQL cluster of the test's own (initdb into a temp dir), configured like the shared one: the
 * `ferry`/`ferry` superuser with REPLICATION, database `ferry`, `wal_level=logical`, TCP on 127.0.0.1 only.
 */
/**
 * `settings` override the server's settings (`-c name=value`), e.g. `{ wal_level: 'replica' }` for a test of
 * what Ferry says on a server that is not set up for it.
 */
export async function startPrivatePostgres(
  settings: Record<string, string> = {},
): Promise<PrivateServer<SqlEndpoint>> {
  const bindir = postgresBindir();
  const { dir, log } = await serverDir('postgres', 'postgres');
  const data = join(dir, 'data');
  const pwfile = join(dir, 'pwfile');
  await writeFile(pwfile, `${SQL_PASSWORD}\n`, { mode: 0o600 });
  await own(pwfile, 'postgres', 'postgres');
  // initdb makes `ferry` the bootstrap superuser (so no second connection is needed to create it); the
  // default pg_hba already lets it in over 127.0.0.1, replication connections included.
  const [initdb, initArgs] = asUser('postgres', join(bindir, 'initdb'), [
    '-D',
    data,
    '-U',
    SQL_USER,
    `--pwfile=${pwfile}`,
    '--auth=scram-sha-256',
    '--encoding=UTF8',
    '--no-locale',
    '--no-sync',
  ]);
  try {
    await run(initdb, initArgs, { cwd: dir, timeoutMs: 120_000 });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`private postgres: initdb failed: ${(error as Error).message}`);
  }
  const query = async (port: number, database: string, sql: string) => {
    const client = new pg.Client({
      host: '127.0.0.1',
      port,
      user: SQL_USER,
      password: SQL_PASSWORD,
      database,
      connectionTimeoutMillis: 3_000,
    });
    client.on('error', () => undefined);
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  return startServer({
    kind: 'postgres',
    dir,
    log,
    ports: async () => [await freePort()],
    command: async ([port]) => ({
      command: join(bindir, 'postgres'),
      args: [
        '-D',
        data,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        // TCP only: no socket file to place or to clash.
        '-c',
        'unix_socket_directories=',
        ...Object.entries({
          wal_level: 'logical',
          max_replication_slots: '10',
          max_wal_senders: '10',
          ...settings,
        }).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
        '-c',
        'max_connections=60',
        '-c',
        'shared_buffers=32MB',
        // Throw-away data: speed over durability.
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'logging_collector=off',
        '-c',
        'log_min_messages=warning',
      ],
      user: 'postgres',
      env: { ...process.env, HOME: dir },
    }),
    ready: async ([port]) => {
      await query(port!, 'postgres', 'SELECT 1');
      return true;
    },
    readyTimeoutMs: 60_000,
    provision: async ([port]) => query(port!, 'postgres', `CREATE DATABASE ${SQL_DATABASE}`),
    endpoint: ([port]) => sqlEndpoint('postgres', port!),
    // SIGINT is PostgreSQL's "fast" shutdown (SIGTERM would wait for every client to leave).
    stopSignal: 'SIGINT',
    stopTimeoutMs: 30_000,
  });
}

// ---------------------------------------------------------------------------------------------------------
// MariaDB

/**
 * A MariaDB server of the test's own (mariadb-install-db into a temp dir; /etc/mysql never read), with the
 * `ferry`/`ferry` user (ALL, WITH GRANT OPTION) and database `ferry`, as on the shared one, and its binary
 * log configured as the shared one's (ROW, FULL images and metadata); `settings` can change that.
 */
export async function startPrivateMariadb(
  /** More `[mysqld]` lines, after the defaults (a later line wins): `binlog_format = STATEMENT`. */
  settings: readonly string[] = [],
): Promise<PrivateServer<SqlEndpoint>> {
  for (const binary of ['/usr/sbin/mariadbd', '/usr/bin/mariadb-install-db']) {
    if (!existsSync(binary)) {
      throw new Error(
        `private mariadb: ${binary} is missing; run \`bash test/services/up.sh mariadb\` once to install it`,
      );
    }
  }
  const { dir, log } = await serverDir('mariadb', 'mysql');
  const data = join(dir, 'data');
  const cnf = join(dir, 'my.cnf');
  const init = join(dir, 'init.sql');
  for (const sub of ['run', 'tmp']) {
    await mkdir(join(dir, sub));
    await own(join(dir, sub), 'mysql', 'mariadb');
  }
  // Run by the server at every start before it accepts connections, so "ferry can log in" means provisioned.
  await writeFile(
    init,
    [
      `CREATE USER IF NOT EXISTS '${SQL_USER}'@'127.0.0.1' IDENTIFIED BY '${SQL_PASSWORD}';`,
      `CREATE USER IF NOT EXISTS '${SQL_USER}'@'localhost' IDENTIFIED BY '${SQL_PASSWORD}';`,
      `GRANT ALL PRIVILEGES ON *.* TO '${SQL_USER}'@'127.0.0.1' WITH GRANT OPTION;`,
      `GRANT ALL PRIVILEGES ON *.* TO '${SQL_USER}'@'localhost' WITH GRANT OPTION;`,
      `CREATE DATABASE IF NOT EXISTS \`${SQL_DATABASE}\`;`,
      '',
    ].join('\n'),
  );
  await chmod(init, 0o644);
  const writeConfig = (port: number) =>
    writeFile(
      cnf,
      [
        '[mysqld]',
        `datadir = ${data}`,
        `socket = ${join(dir, 'run', 'mariadbd.sock')}`,
        `pid-file = ${join(dir, 'run', 'mariadbd.pid')}`,
        `tmpdir = ${join(dir, 'tmp')}`,
        `port = ${port}`,
        'bind-address = 127.0.0.1',
        'skip-name-resolve',
        `init-file = ${init}`,
        'character_set_server = utf8mb4',
        'collation_server = utf8mb4_unicode_ci',
        'max_connections = 100',
        // Throw-away data: small and fast rather than durable.
        'innodb_buffer_pool_size = 32M',
        'innodb_log_file_size = 16M',
        'innodb_flush_log_at_trx_commit = 2',
        'innodb_doublewrite = 0',
        'log_warnings = 1',
        // The binary log as the shared server writes it (lib/mariadb.sh), for the binlog mode.
        'log_bin = mariadb-bin',
        'binlog_format = ROW',
        'binlog_row_image = FULL',
        'binlog_row_metadata = FULL',
        'server_id = 1',
        ...settings,
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
  await writeConfig(0);
  try {
    await run(
      '/usr/bin/mariadb-install-db',
      [
        `--defaults-file=${cnf}`,
        ...(isRoot ? ['--user=mysql'] : []),
        `--datadir=${data}`,
        '--auth-root-authentication-method=socket',
        '--skip-test-db',
      ],
      { cwd: dir, timeoutMs: 120_000 },
    );
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`private mariadb: mariadb-install-db failed: ${(error as Error).message}`);
  }
  return startServer({
    kind: 'mariadb',
    dir,
    log,
    ports: async () => [await freePort()],
    command: async ([port]) => {
      await writeConfig(port!);
      return { command: '/usr/sbin/mariadbd', args: [`--defaults-file=${cnf}`], user: 'mysql' };
    },
    ready: async ([port]) => {
      const connection = await mysql.createConnection({
        host: '127.0.0.1',
        port: port!,
        user: SQL_USER,
        password: SQL_PASSWORD,
        database: SQL_DATABASE,
        connectTimeout: 3_000,
      });
      await connection.end();
      return true;
    },
    readyTimeoutMs: 60_000,
    endpoint: ([port]) => sqlEndpoint('mysql', port!),
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 60_000,
  });
}

// ---------------------------------------------------------------------------------------------------------
// Kafka

/**
 * A single-node KRaft broker of the test's own from the jars up.sh cached (lib/kafka.sh): own broker and
 * controller ports, own log dir, the shared broker's settings (no topic auto-creation, replication 1).
 * KRaft start-up takes several seconds, more under load: start one per test file, in beforeAll.
 */
export async function startPrivateKafka(): Promise<PrivateServer<KafkaEndpoint>> {
  const version = setting('FERRY_KAFKA_VERSION') ?? '3.9.2';
  const libs = join(cacheDir, `kafka-${version}`, 'libs');
  if (!existsSync(join(libs, '.complete'))) {
    throw new Error(
      `private kafka: no Kafka ${version} jars in ${libs}; run \`bash test/services/up.sh kafka\` once to fetch them`,
    );
  }
  const { dir, log } = await serverDir('kafka');
  const props = join(dir, 'server.properties');
  const log4j = join(dir, 'log4j.properties');
  await writeFile(
    log4j,
    [
      'log4j.rootLogger=WARN, stdout',
      'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
      'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.kafka.server.KafkaRaftServer=INFO',
      '',
    ].join('\n'),
  );
  const java = (main: string, args: string[]) => [
    '-Xms128m',
    '-Xmx512m',
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
    '-Djava.net.preferIPv4Stack=true',
    `-Dlog4j.configuration=file:${log4j}`,
    `-Dkafka.logs.dir=${join(dir, 'app-logs')}`,
    '-cp',
    `${libs}/*`,
    main,
    ...args,
  ];
  const writeConfig = ([broker, controller]: number[]) =>
    writeFile(
      props,
      [
        'process.roles=broker,controller',
        'node.id=1',
        `controller.quorum.voters=1@127.0.0.1:${controller}`,
        `listeners=PLAINTEXT://127.0.0.1:${broker},CONTROLLER://127.0.0.1:${controller}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${broker}`,
        'controller.listener.names=CONTROLLER',
        'inter.broker.listener.name=PLAINTEXT',
        'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
        `log.dirs=${join(dir, 'data')}`,
        'num.partitions=1',
        'default.replication.factor=1',
        'auto.create.topics.enable=false',
        'delete.topic.enable=true',
        'offsets.topic.replication.factor=1',
        'offsets.topic.num.partitions=4',
        'transaction.state.log.replication.factor=1',
        'transaction.state.log.min.isr=1',
        'transaction.state.log.num.partitions=4',
        'min.insync.replicas=1',
        'group.initial.rebalance.delay.ms=0',
        'num.network.threads=2',
        'num.io.threads=2',
        'num.recovery.threads.per.data.dir=1',
        'log.cleaner.dedupe.buffer.size=16777216',
        '',
      ].join('\n'),
    );
  let formatted = false;
  const probe = async ([broker]: number[]) => {
    const admin = new Kafka({
      clientId: 'ferry-private-kafka-probe',
      brokers: [`127.0.0.1:${broker}`],
      connectionTimeout: 1_500,
      requestTimeout: 3_000,
      retry: { retries: 0 },
      logLevel: logLevel.NOTHING,
    }).admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      await admin.listTopics();
      return cluster.brokers.length > 0 && cluster.controller !== null && cluster.controller >= 0;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  };
  return startServer({
    kind: 'kafka',
    dir,
    log,
    ports: async () => {
      const broker = await freePort();
      return [broker, await freePort([broker])];
    },
    command: async (ports) => {
      await writeConfig(ports);
      if (!formatted) {
        // KRaft storage is formatted once, with a cluster id (a base64url 16-byte UUID) that does not start
        // with '-': the format command would read it as an option (Kafka's own random ids avoid it too).
        let clusterId = '-';
        while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url');
        await run('java', java('kafka.tools.StorageTool', ['format', '-t', clusterId, '-c', props]), {
          cwd: dir,
          timeoutMs: 120_000,
        }).catch((error: Error) => {
          throw new Error(`private kafka: formatting the storage failed: ${error.message}`);
        });
        formatted = true;
      }
      return { command: 'java', args: java('kafka.Kafka', [props]) };
    },
    ready: probe,
    readyTimeoutMs: 120_000,
    endpoint: ([broker]) => ({ brokers: [`127.0.0.1:${broker}`], autoCreateTopics: false }),
    // SIGTERM: a controlled shutdown, as down.sh does it.
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 45_000,
  });
}

// ---------------------------------------------------------------------------------------------------------
// spyne

/**
 * The spyne case service (packages/soap/test/servers/spyne_cases.py) of the test's own. Its cases, faults
 * and flaky mode are global to the process, set through POST /control: a test that sets them must not share
 * the process with any other test run.
 */
export async function startPrivateSpyne(): Promise<PrivateServer<SoapEndpoint>> {
  const python = join(cacheDir, 'spyne-2.14.0-venv', 'bin', 'python');
  if (!existsSync(join(cacheDir, 'spyne-2.14.0-venv', '.ferry-installed'))) {
    throw new Error(
      `private spyne: no virtualenv at ${join(cacheDir, 'spyne-2.14.0-venv')}; run \`bash test/services/up.sh spyne\` once to build it`,
    );
  }
  const script = join(repoRoot, 'packages', 'soap', 'test', 'servers', 'spyne_cases.py');
  const { dir, log } = await serverDir('spyne');
  return startServer({
    kind: 'spyne',
    dir,
    log,
    ports: async () => [await freePort()],
    command: async ([port]) => ({
      command: python,
      args: [script, '--host', '127.0.0.1', '--port', String(port)],
    }),
    ready: async ([port]) => (await fetch(`http://127.0.0.1:${port}/health`)).ok,
    readyTimeoutMs: 30_000,
    endpoint: ([port]) => ({
      soap11: `http://127.0.0.1:${port}/soap11`,
      soap12: `http://127.0.0.1:${port}/soap12`,
      control: `http://127.0.0.1:${port}/control`,
    }),
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 10_000,
  });
}
