// Shadow runs through the built CLI: legacy runs compared with the stream as of their cut-off (events after
// it held back for the next run), the ledger in SQLite and in the real PostgreSQL, operators' notes, the
// gate's verdicts, missed runs, the freshness trigger of a cut-off query, and a SIGKILL in the middle of a
// run's ledger write leaving no half-written run.
import { randomBytes } from 'node:crypto';
import { existsSync, statSync, utimesSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { runCli, startCli } from '../../../../examples/quickstart/test/cli.js';
import { services } from '../../../../test/services/endpoints.js';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3') as typeof import('better-sqlite3');

interface Thing {
  id: string;
  name: string;
  amount: number;
}

function event(thing: Thing, time: string, op: 'create' | 'update' | 'delete' = 'create') {
  const action = { create: 'created', update: 'updated', delete: 'deleted' }[op];
  return {
    specversion: '1.0',
    id: `${thing.id}-${op}-${time}`,
    source: '/ferry/test/THINGS',
    type: `test.thing.${action}`,
    subject: thing.id,
    time,
    datacontenttype: 'application/json',
    data: op === 'delete' ? null : { name: thing.name, amount: thing.amount },
    ferryop: op,
  };
}

const lines = (events: unknown[]) => `${events.map((e) => JSON.stringify(e)).join('\n')}\n`;

/** A legacy reporting table in SQLite, reloaded by its "batch job". */
function reload(db: string, things: Thing[], loadedAt: string): void {
  const sqlite = new Database(db);
  try {
    sqlite.exec('CREATE TABLE IF NOT EXISTS RPT (ID TEXT PRIMARY KEY, NAME TEXT, AMT REAL, LOADED_AT TEXT)');
    sqlite.transaction(() => {
      sqlite.exec('DELETE FROM RPT');
      const insert = sqlite.prepare('INSERT INTO RPT VALUES (?, ?, ?, ?)');
      for (const t of things) insert.run(t.id, t.name, t.amount, loadedAt);
    })();
  } finally {
    sqlite.close();
  }
}

async function migration(dir: string, extra = ''): Promise<string> {
  const file = join(dir, 'migration.yaml');
  await writeFile(
    file,
    `migration: things
legacy:
  job: RPT nightly load
  schedule: { cron: '0 3 * * *', timezone: Europe/London }
  graceMs: 1800000
  output:
    reference: sqlite:reporting.db
    query: SELECT ID, NAME, AMT FROM RPT
    key: [ID]
stream:
  type: test.thing
  events: { file: events.jsonl }
fields: { name: NAME, amount: AMT }
gate: { runs: 2, threshold: 0.9 }
start: '2026-11-02T03:00:00Z'
${extra}`,
  );
  return file;
}

const json = async (args: string[]) => {
  const result = await runCli(args);
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as {
    runs: {
      slot: string;
      status: string;
      parity: number;
      missing: number;
      extra: number;
      differing: number;
      unexplained: number;
      afterCutoff: number;
      clean: boolean;
      reason?: string;
    }[];
    gate: { open: boolean; reasons: string[]; cleanRuns: number };
    notes: { author: string; key?: string }[];
  };
};

const things = (n: number): Thing[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `T${String(i).padStart(4, '0')}`,
    name: `thing ${i}`,
    amount: i,
  }));

describe('ferry shadow', () => {
  it('compares as of the cut-off: late events count in the next run if the legacy output still lacks them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-shadow-'));
    const file = await migration(dir);
    const base = things(50);
    const late: Thing = { id: 'T9000', name: 'late arrival', amount: 9 };
    const changed: Thing = { ...base[7]!, name: 'renamed after the cut-off' };
    // Day 1: the legacy job loads at 03:00; the stream has the same 50 things from 02:00, plus two changes
    // at 03:10 (after the cut-off): a new thing and a rename.
    reload(join(dir, 'reporting.db'), base, '2026-11-02 03:00:00');
    await writeFile(
      join(dir, 'events.jsonl'),
      lines([
        ...base.map((t) => event(t, '2026-11-02T02:00:00.000Z')),
        event(late, '2026-11-02T03:10:00.000Z'),
        event(changed, '2026-11-02T03:10:00.000Z', 'update'),
      ]),
    );
    let result = await runCli(['shadow', 'run', file, '--now', '2026-11-02T03:30:00Z']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('parity 100.00% (50 of 50 keys)');
    expect(result.stdout).toContain('2 events after the cut-off: clean');

    // Day 2: the legacy job picks up the rename but never the new thing: now it counts, as extra.
    reload(
      join(dir, 'reporting.db'),
      base.map((t) => (t.id === changed.id ? changed : t)),
      '2026-11-03 03:00:00',
    );
    result = await runCli(['shadow', 'run', file, '--now', '2026-11-03T03:30:00Z']);
    expect(result.code, result.stderr).toBe(0);
    let status = await json(['shadow', 'status', file, '--json', '--now', '2026-11-03T03:31:00Z']);
    expect(status.runs.map((r) => [r.afterCutoff, r.extra, r.differing, r.clean])).toEqual([
      [2, 0, 0, true],
      [0, 1, 0, false],
    ]);
    const check = await runCli(['cutover', 'check', file, '--now', '2026-11-03T03:31:00Z']);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('2026-11-03T03:00:00.000Z: 1 difference not explained');

    // The operator explains the extra key; the gate opens (two clean runs of two, parity 98% >= 90%).
    result = await runCli([
      'shadow',
      'explain',
      file,
      '--key',
      late.id,
      '--kind',
      'extra',
      '--reason',
      'created in the stream by a test upload; the legacy job filters it out',
      '--by',
      'sam.operator',
    ]);
    expect(result.code, result.stderr).toBe(0);
    status = await json(['shadow', 'status', file, '--json', '--now', '2026-11-03T03:31:00Z']);
    expect(status.runs.map((r) => [r.unexplained, r.clean])).toEqual([
      [0, true],
      [0, true],
    ]);
    expect(status.notes).toMatchObject([{ author: 'sam.operator', key: late.id }]);
    expect((await runCli(['cutover', 'check', file, '--now', '2026-11-03T03:31:00Z'])).code).toBe(0);

    // No run on day 3 (the runner was down until after day 4's legacy run): day 3 is recorded missed and
    // the gate closes again, naming it.
    reload(
      join(dir, 'reporting.db'),
      base.map((t) => (t.id === changed.id ? changed : t)),
      '2026-11-05 03:00:00',
    );
    result = await runCli(['shadow', 'run', file, '--now', '2026-11-05T03:45:00Z']);
    expect(result.stdout).toContain('2026-11-04T03:00:00.000Z: MISSED');
    status = await json(['shadow', 'status', file, '--json', '--now', '2026-11-05T03:46:00Z']);
    expect(status.runs.map((r) => r.status)).toEqual(['complete', 'complete', 'missed', 'complete']);
    expect(status.gate.open).toBe(false);
    expect(status.gate.reasons.join('\n')).toContain('2026-11-04T03:00:00.000Z: missed');
    // Confirming a cut-over with the gate closed records nothing.
    const confirm = await runCli([
      'cutover',
      'confirm',
      file,
      '--by',
      'sam.operator',
      '--now',
      '2026-11-05T04:00:00Z',
    ]);
    expect(confirm.code).toBe(1);
    expect(confirm.stderr).toContain('the gate is closed');
    // A second pass at the same moment records nothing twice.
    result = await runCli(['shadow', 'run', file, '--now', '2026-11-05T03:45:00Z']);
    expect(result.stdout).toBe('');
  });

  it('tolerances, a window, and the freshness trigger of a cut-off query', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-shadow-'));
    const file = await migration(
      dir,
      `tolerances: { numeric: { amount: 0.5 } }
window: { field: name, column: NAME, fromCutoffDays: 0 }
`,
    );
    // The window compares names at or after the cut-off's date as text: use names that are dates.
    const text = (await import('node:fs/promises')).readFile;
    const yaml = (await text(file, 'utf8'))
      .replace(
        'job: RPT nightly load',
        "job: RPT nightly load\n  cutoff: { query: 'SELECT max(LOADED_AT) AS cutoff FROM RPT' }",
      )
      .replace("start: '2026-11-02T03:00:00Z'", "start: '2026-11-02T03:00:00Z'");
    await writeFile(file, yaml);
    const rows: Thing[] = [
      { id: 'A', name: '2026-11-01', amount: 1 }, // before the window: its difference does not count
      { id: 'B', name: '2026-11-02', amount: 2 },
      { id: 'C', name: '2026-11-03', amount: 3.2 }, // within the amount's tolerance
    ];
    await writeFile(
      join(dir, 'events.jsonl'),
      lines([
        event({ ...rows[0]!, amount: 100 }, '2026-11-02T01:00:00.000Z'),
        event(rows[1]!, '2026-11-02T01:00:00.000Z'),
        event({ ...rows[2]!, amount: 3 }, '2026-11-02T01:00:00.000Z'),
      ]),
    );
    // Before the legacy job has run: nothing is compared, however late it is.
    reload(join(dir, 'reporting.db'), rows, '2026-11-01 03:05:00');
    let result = await runCli([
      'shadow',
      'run',
      file,
      '--now',
      '2026-11-02T04:00:00Z',
      '--log-level',
      'debug',
    ]);
    expect(result.stdout).toBe('');
    // Waiting is not a failure: it is logged at debug level and the pass exits 0.
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('waiting: the legacy output');
    // The legacy run lands at 03:12 (its own cut-off): compared right away, as of 03:12.
    reload(join(dir, 'reporting.db'), rows, '2026-11-02 03:12:00');
    result = await runCli(['shadow', 'run', file, '--now', '2026-11-02T04:01:00Z']);
    expect(result.stdout).toContain('parity 100.00% (2 of 2 keys)');
    const status = await json(['shadow', 'status', file, '--json', '--now', '2026-11-02T04:02:00Z']);
    expect(status.runs).toMatchObject([{ status: 'complete', clean: true }]);
    const full = JSON.parse(
      (await runCli(['shadow', 'status', file, '--json', '--now', '2026-11-02T04:02:00Z'])).stdout,
    ) as {
      runs: { cutoff: string; trigger: string }[];
    };
    expect(full.runs[0]).toMatchObject({ cutoff: '2026-11-02T03:12:00.000Z', trigger: 'freshness' });
  });

  it('takes a file output’s modification time as its cut-off (freshness)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-shadow-'));
    const file = join(dir, 'migration.yaml');
    await writeFile(
      file,
      `migration: extract
legacy:
  job: nightly extract
  schedule: { cron: '0 3 * * *', timezone: UTC }
  cutoff: { fileModified: true }
  output: { reference: extract.csv, key: [ID] }
stream: { type: test.thing, events: { file: events.jsonl } }
fields: { name: NAME }
gate: { runs: 1 }
start: '2026-11-02T03:00:00Z'
`,
    );
    await writeFile(
      join(dir, 'events.jsonl'),
      lines([
        event({ id: 'A', name: 'before', amount: 0 }, '2026-11-02T02:00:00.000Z'),
        event({ id: 'A', name: 'after the extract', amount: 0 }, '2026-11-02T03:20:00.000Z', 'update'),
      ]),
    );
    // No extract yet: nothing to compare.
    let result = await runCli(['shadow', 'run', file, '--now', '2026-11-02T03:10:00Z']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    // The extract is written at 03:14; the event of 03:20 is after it and held back.
    await writeFile(join(dir, 'extract.csv'), 'ID,NAME\nA,before\n');
    const written = new Date('2026-11-02T03:14:00Z');
    utimesSync(join(dir, 'extract.csv'), written, written);
    result = await runCli(['shadow', 'run', file, '--now', '2026-11-02T03:25:00Z']);
    expect(result.stdout).toContain('parity 100.00% (1 of 1 keys)');
    expect(result.stdout).toContain('1 events after the cut-off: clean');
    const status = JSON.parse(
      (await runCli(['shadow', 'status', file, '--json', '--now', '2026-11-02T03:26:00Z'])).stdout,
    ) as {
      runs: { cutoff: string; trigger: string }[];
      gate: { open: boolean };
    };
    expect(status.runs).toMatchObject([{ cutoff: '2026-11-02T03:14:00.000Z', trigger: 'freshness' }]);
    expect(status.gate.open).toBe(true);
  });

  it('keeps the ledger in PostgreSQL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-shadow-'));
    const schema = `shadow_${randomBytes(4).toString('hex')}`;
    const file = await migration(
      dir,
      `ledger:
  type: postgres
  host: ${services.postgres.host}
  port: ${services.postgres.port}
  username: ${services.postgres.user}
  password: \${env:SHADOW_PG_PASSWORD}
  database: ${services.postgres.database}
  schema: ${schema}
`,
    );
    const base = things(20);
    reload(join(dir, 'reporting.db'), base, '2026-11-02 03:00:00');
    await writeFile(
      join(dir, 'events.jsonl'),
      lines(base.map((t, i) => event(i === 3 ? { ...t, name: 'wrong' } : t, '2026-11-02T02:00:00.000Z'))),
    );
    const env = { SHADOW_PG_PASSWORD: services.postgres.password };
    const result = await startCli(['shadow', 'run', file, '--now', '2026-11-02T03:30:00Z'], env).done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('differing 1');
    const client = new pg.Client({ ...services.postgres, user: services.postgres.user });
    await client.connect();
    try {
      const runs = await client.query(`SELECT slot, differing, parity FROM ${schema}.ferry_shadow_runs`);
      expect(runs.rows).toEqual([{ slot: '2026-11-02T03:00:00.000Z', differing: '1', parity: 0.95 }]);
      const mismatches = await client.query(
        `SELECT key, kind, fields FROM ${schema}.ferry_shadow_mismatches`,
      );
      expect(mismatches.rows).toHaveLength(1);
      expect(mismatches.rows[0]).toMatchObject({ key: 'T0003', kind: 'differs' });
      expect(JSON.parse(mismatches.rows[0].fields)).toEqual([
        { field: 'name', column: 'NAME', reference: 'thing 3', stream: 'wrong' },
      ]);
    } finally {
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  });

  it('SIGKILL while a run is written leaves no half-written run; the run is redone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-shadow-'));
    const file = await migration(dir, 'mismatchLimit: 1000000\n');
    // 150,000 keys that all differ: the run's mismatches take a while to write.
    const n = 150_000;
    const sqlite = new Database(join(dir, 'reporting.db'));
    sqlite.exec('CREATE TABLE RPT (ID TEXT PRIMARY KEY, NAME TEXT, AMT REAL, LOADED_AT TEXT)');
    sqlite.transaction(() => {
      const insert = sqlite.prepare('INSERT INTO RPT VALUES (?, ?, ?, ?)');
      for (let i = 0; i < n; i += 1)
        insert.run(`K${String(i).padStart(7, '0')}`, `legacy ${i}`, i, '2026-11-02');
    })();
    sqlite.close();
    const events: string[] = [];
    for (let i = 0; i < n; i += 1)
      events.push(
        JSON.stringify(
          event(
            { id: `K${String(i).padStart(7, '0')}`, name: `stream ${i}`, amount: i },
            '2026-11-02T02:00:00.000Z',
          ),
        ),
      );
    await writeFile(join(dir, 'events.jsonl'), `${events.join('\n')}\n`);
    const ledgerFile = join(dir, '.ferry', 'migration', 'ledger.db');
    const wal = `${ledgerFile}-wal`;
    const ledger = () => {
      const db = new Database(ledgerFile, { readonly: true });
      try {
        return {
          runs: (db.prepare('SELECT count(*) AS n FROM ferry_shadow_runs').get() as { n: number }).n,
          mismatches: (db.prepare('SELECT count(*) AS n FROM ferry_shadow_mismatches').get() as { n: number })
            .n,
        };
      } finally {
        db.close();
      }
    };
    // Kill it while its write transaction is open: the ledger's write-ahead log grows past 1 MiB (the
    // mismatches spill out of the page cache) before the run row exists.
    const { child, done } = startCli(['shadow', 'run', file, '--now', '2026-11-02T03:30:00Z']);
    let killedMidWrite = false;
    const deadline = Date.now() + 100_000;
    while (Date.now() < deadline && child.exitCode === null) {
      if (existsSync(wal) && statSync(wal).size > 1024 * 1024) {
        child.kill('SIGKILL');
        killedMidWrite = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    const killed = await done;
    expect(killedMidWrite, `the run ended before its write could be interrupted: ${killed.stdout}`).toBe(
      true,
    );
    expect(killed.signal).toBe('SIGKILL');
    expect(ledger()).toEqual({ runs: 0, mismatches: 0 });
    // The next pass redoes the run, whole.
    const again = await runCli(['shadow', 'run', file, '--now', '2026-11-02T03:40:00Z']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`differing ${n}`);
    expect(ledger()).toEqual({ runs: 1, mismatches: n });
  }, 240_000);
});
