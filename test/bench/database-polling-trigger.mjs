// Benchmark: the polling and trigger modes on PostgreSQL and MariaDB, end-to-end through the Ferry runtime to
// the file sink, for the logical benchmark's workload: 100,000 inserts then 100,000 updates, 100 rows per
// transaction. Polling sees each row's latest version once (the updates overwrite the inserts before the
// poll); trigger mode reads every change from its journal. Baseline in the same run: the database's own
// SELECT of the same rows (all columns) drained by the driver, no Ferry.
//   node test/bench/database-polling-trigger.mjs [rows=100000]
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createFileCheckpointStore,
  createFileDeadLetterSink,
  createFileSink,
  runPipeline,
  silentLogger,
  stableStringify,
} from '../../packages/core/dist/index.js';
import {
  createDatabaseSource,
  installDatabaseTriggers,
  parseDatabaseSourceConfig,
  uninstallDatabaseTriggers,
} from '../../packages/database/dist/index.js';
import { reporter } from './report.mjs';

const require = createRequire(new URL('../../packages/database/package.json', import.meta.url));
const { DataSource } = require('typeorm');
const rows = Number(process.argv[2] ?? 100_000);
const report = reporter(import.meta.url);
const TXN = 100;
const backends = [
  { type: 'postgres', port: 55432, decimal: 'NUMERIC(12,2)', ts: 'TIMESTAMPTZ(6)', now: 'clock_timestamp()' },
  { type: 'mariadb', port: 53306, decimal: 'DECIMAL(12,2)', ts: 'DATETIME(6)', now: 'NOW(6)' },
];

async function ferry(config) {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-db-'));
  const started = performance.now();
  const summary = await runPipeline({
    name: 'bench',
    source: createDatabaseSource(config),
    mapping: {
      canonicalType: 'bench.row',
      map: (r) => ({ subject: stableStringify(r.key), data: r.after ?? r.before }),
    },
    sink: createFileSink({ dir: join(dir, 'events'), topic: 'rows' }),
    deadLetters: createFileDeadLetterSink({ dir: join(dir, 'dlq'), pipeline: 'bench' }),
    checkpoints: createFileCheckpointStore({ dir: join(dir, 'cp') }),
    once: true,
    logger: silentLogger(),
  });
  const seconds = (performance.now() - started) / 1000;
  rmSync(dir, { recursive: true, force: true });
  return { events: summary.eventsWritten, seconds };
}

async function workload(db, b, table) {
  const p = (i) => (b.type === 'postgres' ? `$${i}` : '?');
  for (let from = 1; from <= rows; from += TXN) {
    const values = [];
    for (let id = from; id < from + TXN; id += 1) values.push(`(${id}, 'name ${id}', ${id}.25, ${b.now})`);
    await db.query(`INSERT INTO ${table} VALUES ${values.join(', ')}`);
  }
  for (let from = 1; from <= rows; from += TXN) {
    await db.query(
      `UPDATE ${table} SET amount = amount + 1, updated_at = ${b.now} WHERE id BETWEEN ${p(1)} AND ${p(2)}`,
      [from, from + TXN - 1],
    );
  }
}

for (const b of backends) {
  const connection = {
    type: b.type,
    host: '127.0.0.1',
    port: b.port,
    username: 'ferry',
    password: 'ferry',
    database: 'ferry',
  };
  const db = new DataSource({ ...connection, logging: false });
  await db.initialize();
  const table = `ferry_bench_${process.pid}_${b.type}`;
  const journal = `${table}_journal`;
  const trigger = {
    mode: 'trigger',
    connection,
    tables: [{ name: table, key: ['id'] }],
    journal: { table: journal },
    snapshot: 'never',
    batchSize: 2000,
  };
  try {
    await db.query(
      `CREATE TABLE ${table} (id BIGINT PRIMARY KEY, name VARCHAR(50), amount ${b.decimal}, updated_at ${b.ts})`,
    );
    await db.query(`CREATE INDEX ${table}_ts ON ${table} (updated_at, id)`);
    await installDatabaseTriggers(parseDatabaseSourceConfig(trigger));
    const writeStarted = performance.now();
    await workload(db, b, table);
    const writeSeconds = (performance.now() - writeStarted) / 1000;

    const selectStarted = performance.now();
    const all = await db.query(`SELECT * FROM ${table} ORDER BY updated_at, id`);
    const selectSeconds = (performance.now() - selectStarted) / 1000;

    const polled = await ferry({
      connection,
      tables: [{ name: table, key: ['id'], timestampColumn: 'updated_at', incrementingColumn: 'id' }],
      batchSize: 2000,
    });
    const triggered = await ferry(trigger);
    const selectRate = all.length / selectSeconds;
    console.log(
      `${b.type}: workload ${rows} inserts + ${rows} updates written in ${writeSeconds.toFixed(1)} s`,
    );
    console.log(`  SELECT * drained by the driver: ${selectRate.toFixed(0)} rows/s (${all.length} rows)`);
    console.log(
      `  polling -> file sink: ${(polled.events / polled.seconds).toFixed(0)} events/s (${polled.events} events, ${polled.seconds.toFixed(2)} s); ratio to SELECT ${(polled.events / polled.seconds / selectRate).toFixed(2)}`,
    );
    console.log(
      `  trigger -> file sink: ${(triggered.events / triggered.seconds).toFixed(0)} events/s (${triggered.events} events, ${triggered.seconds.toFixed(2)} s)`,
    );
    const select = { name: 'SELECT * drained', value: selectRate, unit: 'rows/s' };
    report({
      name: `${b.type} polling -> file sink`,
      value: polled.events / polled.seconds,
      unit: 'events/s',
      baseline: select,
    });
    report({
      name: `${b.type} trigger -> file sink`,
      value: triggered.events / triggered.seconds,
      unit: 'events/s',
      baseline: select,
    });
  } finally {
    await uninstallDatabaseTriggers(parseDatabaseSourceConfig(trigger), {}, { dropJournal: true }).catch(
      () => undefined,
    );
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.destroy();
  }
}
