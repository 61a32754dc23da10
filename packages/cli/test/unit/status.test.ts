// `ferry status` in its two modes: from the local files of a quickstart pipeline (SQLite, file event log,
// file checkpoints and dead letters), and from an admin API served by node:http on 127.0.0.1.
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { seedLegacyDatabase } from '../../../../examples/quickstart/seed.mjs';
import { quickstartCopy } from '../../../../examples/quickstart/test/cli.js';
import { clusterTable, type StatusRow, statusTable } from '../../src/commands/status.js';
import { type CliIo, main } from '../../src/program.js';

function capture(): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t) };
}

async function ferry(args: string[]) {
  const io = capture();
  const code = await main(args, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

describe('ferry status (local files)', () => {
  it('reads checkpoint, run lock and pending dead letters of each pipeline file', async () => {
    const q = await quickstartCopy();
    seedLegacyDatabase(q.db, { rows: 100, badEvery: 25 });

    const before = await ferry(['status', q.pipeline, '--json']);
    expect(before.code).toBe(0);
    const fresh = JSON.parse(before.out) as { pipelines: StatusRow[] };
    expect(fresh.pipelines).toEqual([
      expect.objectContaining({
        name: 'quickstart',
        state: 'stopped',
        source: 'database',
        sink: 'file',
        lastCheckpoint: null,
        lagSeconds: null,
        counts: { recordsRead: null, eventsWritten: null, deadLetters: null, retries: null },
        pid: null,
        deadLettersPending: 0,
      }),
    ]);

    const run = await ferry(['run', q.pipeline, '--once', '--log-level', 'silent']);
    expect(run.code).toBe(0);
    const after = JSON.parse((await ferry(['status', q.pipeline, '--json'])).out) as {
      pipelines: StatusRow[];
    };
    const row = after.pipelines[0]!;
    expect(row.deadLettersPending).toBe(4);
    expect(row.lastCheckpoint?.position).toMatchObject({ tables: { OFFENDERS: expect.any(Object) } });
    expect(Date.now() - Date.parse(row.lastCheckpoint!.at!)).toBeLessThan(60_000);

    // A live process holding the run lock (this one) makes it running.
    await mkdir(join(q.dir, '.ferry', 'run'), { recursive: true });
    await writeFile(join(q.dir, '.ferry', 'run', 'quickstart.pid'), `${process.pid}\n`);
    const table = await ferry(['status', q.pipeline]);
    expect(table.code).toBe(0);
    const [header, line] = table.out.split('\n');
    expect(header).toMatch(
      /^NAME\s+STATE\s+ERROR\s+LAST CHECKPOINT\s+LAG\s+RECORDS\s+EVENTS\s+DEAD LETTERS$/,
    );
    expect(line).toMatch(
      new RegExp(
        `^quickstart\\s+running \\(pid ${process.pid}\\)\\s+-\\s+\\S+Z \\(\\d+ s ago\\)\\s+-\\s+-\\s+-\\s+4$`,
      ),
    );
  });

  it('refuses to run without pipeline files or with a token but no --url (usage, exit 2)', async () => {
    expect((await ferry(['status'])).code).toBe(2);
    const q = await quickstartCopy();
    const withToken = await ferry(['status', q.pipeline, '--token', 'x']);
    expect(withToken.code).toBe(2);
    expect(withToken.err).toContain('--url');
  });
});

const statuses = [
  {
    name: 'court-lists',
    state: 'failed',
    source: 'sftp',
    sink: 'kafka',
    error: { code: 'SFTP_AUTH_FAILED', message: 'denied', retryable: false, at: '2026-01-05T10:00:00.000Z' },
    lastCheckpoint: { position: { file: '/upload/a.csv' }, at: '2026-01-05T09:59:00.000Z' },
    lagSeconds: 5400,
    counts: { recordsRead: 1200, eventsWritten: 1190, deadLetters: 10, retries: 3 },
    scheduled: true,
    expectations: [],
  },
  {
    name: 'prison-roll',
    state: 'running',
    source: 'database',
    sink: 'kafka',
    lagSeconds: 2,
    counts: { recordsRead: 50, eventsWritten: 50, deadLetters: 0, retries: 0 },
    scheduled: false,
    progress: { label: 'snapshot OFFENDERS', done: 10, total: 100, unit: 'rows' },
    expectations: [],
  },
];

describe('ferry status --url (admin API)', () => {
  let server: Server | undefined;
  const seen: (string | undefined)[] = [];
  afterEach(async () => {
    await new Promise((r) => server?.close(r) ?? r(undefined));
    server = undefined;
    seen.length = 0;
  });

  async function serve(): Promise<string> {
    server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      if (req.headers.authorization !== 'Bearer s3cret-token') {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
        return;
      }
      if (req.url !== '/pipelines') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ pipelines: statuses }));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
  }

  it('prints the table and the JSON, with the token from --token, a file or FERRY_ADMIN_TOKEN', async () => {
    const url = await serve();
    const table = await ferry(['status', '--url', `${url}/`, '--token', 's3cret-token']);
    expect(table.code).toBe(0);
    const lines = table.out.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(
      /^court-lists\s+failed\s+SFTP_AUTH_FAILED\s+2026-01-05T09:59:00.000Z \(\d+ d ago\)\s+90 min\s+1200\s+1190\s+10$/,
    );
    expect(lines[2]).toMatch(/^prison-roll\s+running\s+-\s+never\s+2 s\s+50\s+50\s+0$/);

    const file = join(await quickstartCopy().then((q) => q.dir), 'token');
    await writeFile(file, 's3cret-token\n');
    const json = await ferry(['status', 'prison-roll', '--url', url, '--token-file', file, '--json']);
    expect(json.code).toBe(0);
    const body = JSON.parse(json.out) as { pipelines: StatusRow[] };
    expect(body.pipelines).toEqual([
      expect.objectContaining({
        name: 'prison-roll',
        error: null,
        lastCheckpoint: null,
        progress: statuses[1]!.progress,
      }),
    ]);

    process.env.FERRY_ADMIN_TOKEN = 's3cret-token';
    try {
      const fromEnv = await ferry(['status', '--url', url, '--json', 'nope']);
      expect(fromEnv.code).toBe(1);
      expect(fromEnv.err).toContain('no pipeline named nope');
    } finally {
      delete process.env.FERRY_ADMIN_TOKEN;
    }
    // The pipelines and, for the table, the webhook subscriptions (GET /webhooks) and migrations (GET /migrations).
    expect(seen).toEqual(Array(5).fill('Bearer s3cret-token'));
  });

  it('says so when the token is refused (exit 1), never printing the token', async () => {
    const url = await serve();
    const wrong = await ferry(['status', '--url', url, '--token', 'wrong-token-value']);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain('PIPELINE_STATUS_UNAUTHORIZED');
    expect(wrong.err).toContain('HTTP 401');
    expect(wrong.err).not.toContain('wrong-token-value');
    const none = await ferry(['status', '--url', url]);
    expect(none.code).toBe(1);
    expect(none.err).toContain('it needs a token');
  });

  it('says serve is not reachable when nothing listens at the URL (exit 1)', async () => {
    const url = await serve();
    await new Promise((r) => server!.close(r));
    server = undefined;
    const result = await ferry(['status', '--url', url, '--token', 't']);
    expect(result.code).toBe(1);
    expect(result.err).toContain('PIPELINE_STATUS_UNREACHABLE');
    expect(result.err).toContain(`ferry serve is not reachable at ${url} (ECONNREFUSED)`);
  });
});

describe('statusTable', () => {
  it('shows unknown values as - and ages relative to now', () => {
    const [, line] = statusTable(
      [{ ...(statuses[0] as unknown as StatusRow), lagSeconds: null, error: null }],
      Date.parse('2026-01-05T10:00:00.000Z'),
    );
    expect(line).toMatch(/^court-lists\s+failed\s+-\s+2026-01-05T09:59:00.000Z \(60 s ago\)\s+-\s+1200/);
  });
});

describe('ferry status --cluster', () => {
  const now = Date.parse('2026-12-05T03:01:00.000Z');
  const view = {
    mode: 'cluster' as const,
    group: 'hub',
    worker: 'w2',
    memberId: 'm-2',
    leader: false,
    generation: 4,
    assigned: [],
    plan: { generation: 4, leader: 'w1', at: '2026-12-05T03:00:00.000Z' },
    members: [
      {
        memberId: 'm-1',
        worker: 'w1',
        labels: [],
        draining: false,
        url: 'http://127.0.0.1:8080',
        pipelines: [
          {
            pipeline: 'orders',
            since: '2026-12-05T03:00:00.000Z',
            state: 'running',
            lagSeconds: 3,
            lastCommitAt: '2026-12-05T03:00:58.000Z',
          },
        ],
      },
      { memberId: 'm-2', worker: 'w2', labels: ['zone-2'], draining: true, url: null, pipelines: [] },
    ],
    unassigned: [{ name: 'archive', reason: 'no live worker has the labels it requires (archive-host)' }],
  };

  it('prints the plan, a line per pipeline by worker, labels, draining workers and what waits', () => {
    const lines = clusterTable(view, now);
    expect(lines[0]).toBe(
      'cluster hub: worker w2 answering; plan of generation 4 by w1, 2026-12-05T03:00:00.000Z (60 s ago)',
    );
    expect(lines[1]).toMatch(/^WORKER\s+PIPELINE\s+STATE\s+SINCE\s+LAG\s+LAST COMMIT$/);
    expect(lines[2]).toMatch(
      /^w1\s+orders\s+running\s+2026-12-05T03:00:00.000Z \(60 s ago\)\s+3 s\s+2026-12-05T03:00:58.000Z \(2 s ago\)$/,
    );
    expect(lines[3]).toMatch(/^w2 \[zone-2\] \(draining\)\s+-\s+-\s+-\s+-\s+-$/);
    expect(lines[4]).toBe('unassigned: archive: no live worker has the labels it requires (archive-host)');
  });

  it('says so for a serve without --cluster, and refuses --cluster without --url', async () => {
    expect(clusterTable({ ...view, mode: 'single' })).toEqual([
      'not a cluster: this ferry serve was started without --cluster',
    ]);
    const result = await ferry(['status', '--cluster']);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/--cluster asks a running worker: give its admin address with --url/);
  });
});
