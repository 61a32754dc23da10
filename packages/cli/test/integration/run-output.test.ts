// What `ferry run` prints, as a person or a log collector gets it from the real process: the exit code of a
// bare `ferry`, a database that cannot be reached at start (retries visible, a bounded start-up, a last line
// naming the retryable cause), third-party console noise kept out, and progress lines off a terminal.
import { writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { seedLegacyDatabase } from '../../../../examples/quickstart/seed.mjs';
import {
  quickstartCopy,
  runCli,
  startCli,
  startNode,
  waitFor,
} from '../../../../examples/quickstart/test/cli.js';

const noisyRun = join(import.meta.dirname, '..', 'child', 'noisy-run.mjs');

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((r) => server.close(r));
});

/** A loopback port with no listener (connection refused). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A loopback server that accepts each connection and closes it at once, as a refusing SSH server does. */
async function acceptAndClose(): Promise<number> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.destroy();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('ferry run output', () => {
  it('`ferry` without a command prints help on stderr and exits 2', async () => {
    const result = await runCli([]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Usage: ferry [options] [command]');
    expect(result.stdout).toBe('');
  });

  it('an unreachable database: retries are logged, start-up is bounded, the last line names the retryable cause', async () => {
    const q = await quickstartCopy();
    const port = await closedPort();
    await writeFile(
      q.pipeline,
      `pipeline: unreachable
source:
  type: database
  connection: { type: postgres, host: 127.0.0.1, port: ${port}, database: ferry, username: ferry }
  tables:
    - { name: T, key: [ID], incrementingColumn: ID }
mapping:
  subject: id
  fields:
    id: ID
contract:
  type: test.thing
  version: 1.0.0
runtime:
  # The long policy a database that flaps mid-run gets; the start-up budget cuts it short before the first answer.
  retry: { retries: 50, minTimeoutMs: 100, maxTimeoutMs: 400, maxRetryTimeMs: 300000, startupMaxRetryTimeMs: 2000 }
`,
    );
    const started = performance.now();
    // The default log level, as at a terminal: every retry is a warn line.
    const result = await runCli(['run', q.pipeline, '--once'], { FERRY_LOG_LEVEL: 'info' });
    const seconds = (performance.now() - started) / 1000;
    expect(result.code).toBe(1);
    const retries = jsonLines(result.stderr).filter((l) => l.level === 'warn');
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect(retries[0]).toMatchObject({
      code: 'DB_CONNECTION_FAILED',
      msg: expect.stringMatching(/reading again/),
    });
    const last = result.stderr.trimEnd().split('\n').at(-1)!;
    expect(last).toMatch(/^ferry: RETRIES_EXHAUSTED: source\.read has not succeeded since its first try/);
    expect(last).toContain('startupMaxRetryTimeMs: 2000 ms');
    expect(last).toContain(`ECONNREFUSED 127.0.0.1:${port}`);
    expect(last).toMatch(
      /\(last cause DB_CONNECTION_FAILED, which is retryable: running again later can succeed once it has cleared\)$/,
    );
    // 2 s of start-up budget plus process start-up, far from the minutes the long policy would take.
    expect(seconds).toBeLessThan(30);
  });

  it('keeps a refusing SSH server’s library chatter out of stdout and stderr', async () => {
    const q = await quickstartCopy();
    const port = await acceptAndClose();
    await writeFile(
      q.pipeline,
      `pipeline: refused
source:
  type: sftp
  connection:
    host: 127.0.0.1
    port: ${port}
    username: nobody
    password: nothing
    hostKeyFingerprint: SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
    connectTimeoutMs: 2000
  paths: [/upload/*.csv]
  format: { type: csv }
  key: [id]
mapping:
  subject: id
  fields:
    id: id
contract:
  type: test.thing
  version: 1.0.0
runtime:
  retry: { retries: 2, minTimeoutMs: 10, maxTimeoutMs: 20 }
`,
    );
    const result = await runCli(['run', q.pipeline, '--once'], { FERRY_LOG_LEVEL: 'info' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('SFTP_CONNECTION_FAILED');
    // ssh2-sftp-client's default listeners print "Global end listener: end event raised" and "Global close
    // listener: close event raised" with console.log on exactly this.
    expect(result.stdout).not.toContain('Global');
    expect(result.stderr).not.toContain('Global');
    for (const line of result.stderr.trimEnd().split('\n')) expect(line).toMatch(/^(\{|ferry: )/);
  });

  it('turns any library’s console output into debug log lines: never raw text on stdout or stderr', async () => {
    const q = await quickstartCopy();
    await writeFile(
      q.pipeline,
      'pipeline: noisy\nsource:\n  type: noisy\nmapping:\n  subject: id\n  fields:\n    id: ID\ncontract:\n  type: test.thing\n  version: 1.0.0\n',
    );
    const quiet = await startNode(noisyRun, ['run', q.pipeline, '--once'], { FERRY_LOG_LEVEL: 'info' }).done;
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout).toMatch(/^noisy: read 0 records/);
    expect(quiet.stdout + quiet.stderr).not.toContain('Global');
    const debug = await startNode(noisyRun, ['run', q.pipeline, '--once', '--log-level', 'debug']).done;
    expect(debug.code, debug.stderr).toBe(0);
    const lines = debug.stderr.trimEnd().split('\n');
    for (const line of lines) expect(line.startsWith('{'), line).toBe(true);
    expect(jsonLines(debug.stderr).filter((l) => l.console !== undefined)).toEqual([
      expect.objectContaining({
        level: 'debug',
        console: 'log',
        msg: 'Global end listener: end event raised',
      }),
      expect.objectContaining({ console: 'error', msg: 'Global error listener: read ECONNRESET' }),
      expect.objectContaining({ console: 'warn', msg: 'Global close listener: close event raised' }),
    ]);
  });

  it('off a terminal, logs a progress line every --progress-interval while a continuous run goes on', async () => {
    const q = await quickstartCopy();
    seedLegacyDatabase(q.db, { rows: 1000, badEvery: 250 });
    const run = startCli(['run', q.pipeline, '--progress-interval', '0.2'], { FERRY_LOG_LEVEL: 'info' });
    let stderr = '';
    run.child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const progress = () =>
      jsonLines(stderr).filter((l) => typeof l.msg === 'string' && l.msg.startsWith('progress: '));
    try {
      // Everything read, then at least two more lines while the run keeps polling.
      await waitFor(
        () => progress().filter((l) => (l.progress as { events: number }).events === 996).length >= 2,
        60_000,
        'two progress lines after the 1000 rows',
      );
    } finally {
      run.child.kill('SIGTERM');
    }
    const result = await run.done;
    expect(result.code).toBe(0);
    const last = progress().at(-1)!;
    expect(last).toMatchObject({
      pipeline: 'quickstart',
      progress: {
        records: 1000,
        events: 996,
        deadLetters: 4,
        retries: 0,
        lagSeconds: 0,
        position: { tables: { OFFENDERS: expect.any(Object) } },
      },
    });
    expect(last.msg).toMatch(
      /^progress: 1,000 records read \(\d[\d,]* records\/s\), 996 events written, 4 dead letters, lag 0\.0 s, caught up, at \{/,
    );
  });
});
