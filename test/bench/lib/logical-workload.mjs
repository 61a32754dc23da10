// The PostgreSQL side shared by database-logical.mjs and database-logical-kafka.mjs: one table and its
// publication, N streamed inserts in transactions of 100, and a template slot created before the inserts.
// Each tool run gets a copy of that slot (pg_copy_logical_replication_slot), so every tool in every round
// decodes exactly the same WAL range, and only two slots hold WAL at a time.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMeasured } from './measure.mjs';

const require = createRequire(new URL('../../../packages/database/package.json', import.meta.url));
const pg = require('pg');

export const TXN = 100;
export const pgBin = '/usr/lib/postgresql/15/bin';
export const conn = { host: '127.0.0.1', port: 55432, user: 'ferry', password: 'ferry', database: 'ferry' };

export async function openWorkload(prefix) {
  const tag = `${prefix}_${randomBytes(3).toString('hex')}`;
  const table = `ferry_${tag}`;
  const publication = `ferry_${tag}`;
  const template = `${tag}_template`;
  const slots = new Set();
  const client = new pg.Client(conn);
  await client.connect();
  const q = (sql, params) => client.query(sql, params);
  let runs = 0;

  async function dropSlot(slot) {
    // A walsender may take a moment to let go of a slot after its client exits.
    for (let i = 0; i < 200; i += 1) {
      const { rows } = await q('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      if (rows.length === 0) break;
      if (!rows[0].active) {
        await q('SELECT pg_drop_replication_slot($1)', [slot]);
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    slots.delete(slot);
  }

  return {
    tag,
    table,
    publication,
    q,
    /** Table, publication and the template slot; then `rows` inserts, TXN per transaction. */
    async prepare(rows) {
      await q(
        `CREATE TABLE ${table} (id BIGINT PRIMARY KEY, name TEXT, amount NUMERIC(12,2), updated_at TIMESTAMPTZ)`,
      );
      await q(`CREATE PUBLICATION ${publication} FOR TABLE ${table}`);
      await q(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [template]);
      slots.add(template);
      const started = performance.now();
      for (let from = 1; from <= rows; from += TXN) {
        await q(
          `INSERT INTO ${table} SELECT g, 'name ' || g, g * 1.25, now() FROM generate_series($1::bigint, $2::bigint) AS g`,
          [from, Math.min(rows, from + TXN - 1)],
        );
      }
      const writeSeconds = (performance.now() - started) / 1000;
      const {
        rows: [end],
      } = await q('SELECT pg_current_wal_insert_lsn()::text AS lsn');
      return { writeSeconds, endLsn: end.lsn };
    },
    /** A fresh slot at the template's position: the same changes for every tool run. */
    async slotCopy(tool) {
      runs += 1;
      const slot = `${tag}_${tool.replace(/[^a-z0-9]/g, '')}_${runs}`.slice(0, 63);
      await q('SELECT pg_copy_logical_replication_slot($1, $2)', [template, slot]);
      slots.add(slot);
      return slot;
    },
    dropSlot,
    async close() {
      for (const slot of [...slots]) await dropSlot(slot).catch(() => undefined);
      await q(`DROP PUBLICATION IF EXISTS ${publication}`).catch(() => undefined);
      await q(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
      await client.end();
    },
  };
}

/** pg_recvlogical draining `slot` up to `endLsn` into /dev/null: the transport ceiling. */
export async function recvlogical({ slot, publication, endLsn }) {
  const run = await runMeasured(
    join(pgBin, 'pg_recvlogical'),
    [
      '-h',
      conn.host,
      '-p',
      String(conn.port),
      '-U',
      conn.user,
      '-d',
      conn.database,
      '--slot',
      slot,
      '--start',
      '--no-loop',
      '-E',
      endLsn,
      '-o',
      'proto_version=1',
      '-o',
      `publication_names=${publication}`,
      '-f',
      '/dev/null',
    ],
    { env: { ...process.env, PGPASSWORD: conn.password } },
  );
  if (run.code !== 0) throw new Error(`pg_recvlogical failed (exit ${run.code}): ${run.stderr}`);
  return { seconds: run.wallSeconds, cpuSeconds: run.cpuSeconds, peakRssBytes: run.peakRssBytes };
}

/**
 * Write a pipeline file for Ferry's logical source on `table`/`slot` with `sink` (and optional dead letters
 * and checkpoints) into a fresh folder; returns { file, dir, remove }. The mapping passes the four columns
 * through by name, the least a pipeline file can say.
 */
export function writePipeline({ name, table, slot, publication, sink, deadLetters, checkpoints }) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-pipeline-'));
  const yaml = (value) => JSON.stringify(value);
  const lines = [
    `pipeline: ${name}`,
    'source:',
    '  type: database',
    '  mode: logical',
    '  connection:',
    '    type: postgres',
    `    host: ${conn.host}`,
    `    port: ${conn.port}`,
    `    username: ${conn.user}`,
    // The bench's own variable: a literal password in a pipeline file draws a warning.
    '    password: ${env:FERRY_BENCH_PG_PASSWORD}',
    `    database: ${conn.database}`,
    `  tables: [{ name: ${table}, key: [id] }]`,
    `  slot: ${slot}`,
    `  publication: ${publication}`,
    '  snapshot: never',
    'mapping:',
    '  subject: id',
    '  fields: { id: id, name: name, amount: amount, updatedAt: updated_at }',
    'contract:',
    '  type: bench.row',
    '  version: 1.0.0',
    `sink: ${yaml(sink)}`,
    `deadLetters: ${yaml(deadLetters ?? { type: 'file', dir: join(dir, 'dlq') })}`,
    `checkpoints: ${yaml(checkpoints ?? { type: 'file', dir: join(dir, 'checkpoints') })}`,
  ];
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return { file, dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Run Ferry on a pipeline file in its own measured child process (lib/ferry-run.mjs). `ferry` may name
 * another Node and a copy of this repository installed and built for it ({ node, root }): @platformatic/kafka
 * installs only on Node >= 22.19, so on an older Node that is how its transport gets measured.
 */
export async function runFerry(file, ferry = {}) {
  const root = ferry.root ?? join(import.meta.dirname, '..', '..', '..');
  const run = await runMeasured(
    ferry.node ?? process.execPath,
    [join(root, 'test', 'bench', 'lib', 'ferry-run.mjs'), file],
    { env: { ...process.env, FERRY_BENCH_PG_PASSWORD: conn.password } },
  );
  const line = run.stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{"tool":"ferry"'));
  if (run.code !== 0 || !line)
    throw new Error(`the Ferry run failed (exit ${run.code ?? run.signal}): ${run.stderr.slice(-3000)}`);
  const figures = JSON.parse(line);
  return { ...figures, wall: { seconds: run.wallSeconds, cpuSeconds: run.cpuSeconds } };
}

/**
 * `--ferry-node=<node binary> --ferry-root=<repository copy built for that Node>` from the command line:
 * Ferry's child runs there instead of on this Node and this checkout (see runFerry).
 */
export function ferryRuntimeFromArgs(argv) {
  const value = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const node = value('ferry-node');
  const root = value('ferry-root');
  if ((node === undefined) !== (root === undefined))
    throw new Error(
      '--ferry-node and --ferry-root go together: a Node and a copy of the repository built for it',
    );
  return node === undefined ? {} : { node, root };
}

/** Where Ferry's child runs, as the database benches print it. */
export function ferryRuntimeLine(ferry) {
  return `ferry runs in a child on ${ferry.node ? `${ferry.node} from ${ferry.root}` : `this Node (${process.versions.node})`}`;
}
