// Benchmark: what Ferry's capture triggers add to the legacy application's own write. p50/p99 latency of a
// single-row INSERT (autocommit, one session, as a legacy application does it) into a table with Ferry's
// triggers installed, against the same INSERT into an identical table without triggers, on PostgreSQL and
// MariaDB. Rounds alternate between the two tables (and which goes first) so machine noise hits both alike;
// the ratio is to the no-trigger baseline measured in the same run.
//   node test/bench/trigger-overhead.mjs [rounds=20] [insertsPerRound=250]
import { createRequire } from 'node:module';
import {
  installDatabaseTriggers,
  parseDatabaseSourceConfig,
  uninstallDatabaseTriggers,
} from '../../packages/database/dist/index.js';
import { reporter } from './report.mjs';

const require = createRequire(new URL('../../packages/database/package.json', import.meta.url));
const { DataSource } = require('typeorm');
const rounds = Number(process.argv[2] ?? 20);
const perRound = Number(process.argv[3] ?? 250);
const report = reporter(import.meta.url);
// A row like a legacy application's, with the types whose journal encoding costs something: text with
// non-ASCII letters, a decimal, a timestamp, and a BIT (MariaDB) or bytea (PostgreSQL) column.
const backends = [
  {
    type: 'postgres',
    port: 55432,
    columns:
      'id BIGINT PRIMARY KEY, name VARCHAR(100), amount NUMERIC(12,2), note TEXT, flags BYTEA, updated_at TIMESTAMPTZ(6)',
    row: (id) =>
      `(${id}, 'Zoë Ørsted ${id}', ${id}.25, 'a note of some length for row ${id}', '\\x0a0b', clock_timestamp())`,
  },
  {
    type: 'mariadb',
    port: 53306,
    columns:
      'id BIGINT PRIMARY KEY, name VARCHAR(100), amount DECIMAL(12,2), note TEXT, flags BIT(8), updated_at DATETIME(6)',
    row: (id) =>
      `(${id}, 'Zoë Ørsted ${id}', ${id}.25, 'a note of some length for row ${id}', b'101', NOW(6))`,
    suffix: ' DEFAULT CHARSET=utf8mb4',
  },
];

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const ms = (v) => `${v.toFixed(3)} ms`;

for (const b of backends) {
  const connection = {
    type: b.type,
    host: '127.0.0.1',
    port: b.port,
    username: 'ferry',
    password: 'ferry',
    database: 'ferry',
  };
  const db = new DataSource({ ...connection, logging: false, poolSize: 1 });
  await db.initialize();
  const plain = `ferry_bench_plain_${process.pid}`;
  const captured = `ferry_bench_trg_${process.pid}`;
  const trigger = {
    mode: 'trigger',
    connection,
    tables: [{ name: captured, key: ['id'] }],
    journal: { table: `ferry_bench_journal_${process.pid}` },
    snapshot: 'never',
  };
  // One session for every insert, as a legacy application holds its connection.
  const runner = db.createQueryRunner();
  try {
    for (const table of [plain, captured])
      await db.query(`CREATE TABLE ${table} (${b.columns})${b.suffix ?? ''}`);
    await installDatabaseTriggers(parseDatabaseSourceConfig(trigger));
    await runner.connect();
    const [setting] = await runner.query(
      b.type === 'postgres' ? 'SHOW synchronous_commit' : 'SELECT @@innodb_flush_log_at_trx_commit AS v',
    );
    const times = { [plain]: [], [captured]: [] };
    let id = 0;
    const insertRound = async (table) => {
      for (let i = 0; i < perRound; i += 1) {
        id += 1;
        const started = performance.now();
        await runner.query(`INSERT INTO ${table} VALUES ${b.row(id)}`);
        times[table].push(performance.now() - started);
      }
    };
    // A warm-up round of each, not counted: plans, caches and the journal's first pages.
    await insertRound(plain);
    await insertRound(captured);
    times[plain].length = 0;
    times[captured].length = 0;
    for (let round = 0; round < rounds; round += 1) {
      const order = round % 2 === 0 ? [plain, captured] : [captured, plain];
      for (const table of order) await insertRound(table);
    }
    const without = times[plain].sort((x, y) => x - y);
    const withTriggers = times[captured].sort((x, y) => x - y);
    const figures = {
      p50: [percentile(without, 50), percentile(withTriggers, 50)],
      p99: [percentile(without, 99), percentile(withTriggers, 99)],
    };
    const settingName = b.type === 'postgres' ? 'synchronous_commit' : 'innodb_flush_log_at_trx_commit';
    console.log(
      `${b.type}: ${rounds} interleaved rounds of ${perRound} single-row INSERTs per table (${settingName} = ${Object.values(setting)[0]})`,
    );
    for (const [name, [base, trig]] of Object.entries(figures)) {
      console.log(
        `  ${name}: without triggers ${ms(base)}, with triggers ${ms(trig)}; ratio ${(trig / base).toFixed(2)} (+${ms(trig - base)})`,
      );
      report({
        name: `${b.type} single-row INSERT ${name} with triggers`,
        value: trig,
        unit: 'ms',
        baseline: { name: 'without triggers', value: base, unit: 'ms' },
      });
    }
  } finally {
    await runner.release();
    await uninstallDatabaseTriggers(parseDatabaseSourceConfig(trigger), {}, { dropJournal: true }).catch(
      () => undefined,
    );
    for (const table of [plain, captured]) await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.destroy();
  }
}
