// `npm start`: the prison roll moves from a legacy PostgreSQL schema to Kafka by change data capture.
// 1. a legacy schema (cryptic columns, CHAR dates, code tables) with a roll of offenders;
// 2. `ferry run --once`: the slot is created with an exported snapshot, every offender is snapshotted;
// 3. tonight's changes (receptions, transfers, a name correction, releases, deleted records);
// 4. `ferry run --once` again: exactly those changes, streamed from the slot;
// 5. `ferry reconcile`: the table (codes decoded through REFERENCE_CODES) against the topic;
// 6. the slot and publication are dropped (an abandoned slot keeps WAL forever), the schema too unless --keep.
// Exit code: reconcile's (0 at 100% parity).
//
//   node run.mjs [--offenders N] [--suffix S] [--work-dir DIR] [--keep]
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { main } from '@ferry/cli';
import pg from 'pg';
import { applyChanges, createLegacySchema, seedOffenders } from './legacy-schema.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const { values: args } = parseArgs({
  options: {
    offenders: { type: 'string', default: '500' },
    suffix: { type: 'string', default: `${Date.now().toString(36)}${randomBytes(2).toString('hex')}` },
    'work-dir': { type: 'string', default: join(here, '.run') },
    keep: { type: 'boolean', default: false },
  },
});
const suffix = args.suffix.toLowerCase().replace(/[^a-z0-9_]/g, '_');
const schema = `nomis_${suffix}`;
const slot = `ferry_prison_roll_${suffix}`;
const topic = `prison-roll.offenders.${suffix}`;
const brokers = '127.0.0.1:59092';
const pg_ = { host: '127.0.0.1', port: 55432, user: 'ferry', database: 'ferry' };
// The test services' password; a real deployment reads it from its secret store into the environment.
process.env.PRISON_ROLL_PG_PASSWORD ??= 'ferry';
const workDir = resolve(args['work-dir']);
rmSync(workDir, { recursive: true, force: true });
mkdirSync(workDir, { recursive: true });

const pipeline = join(workDir, 'pipeline.yaml');
writeFileSync(
  pipeline,
  readFileSync(join(here, 'pipeline.yaml'), 'utf8')
    .replace('pipeline: prison-roll', `pipeline: prison-roll-${suffix}`)
    .replace('schema: nomis', `schema: ${schema}`)
    .replace('slot: ferry_prison_roll', `slot: ${slot}`)
    .replace('publication: ferry_prison_roll', `publication: ${slot}`)
    .replace('topic: prison-roll.offenders', `topic: ${topic}`)
    .replace('topic: prison-roll.checkpoints', `topic: prison-roll.checkpoints.${suffix}`)
    .replace('../justice-model/contracts', join(repoRoot, 'examples', 'justice-model', 'contracts')),
);

const client = new pg.Client({ ...pg_, password: process.env.PRISON_ROLL_PG_PASSWORD });
await client.connect();
const logLevel = process.env.FERRY_LOG_LEVEL ?? 'warn';
let code = 1;
try {
  const count = Number(args.offenders);
  await createLegacySchema(client, schema);
  await seedOffenders(client, schema, count);
  console.log(`prison-roll: legacy schema ${schema} with ${count} offenders`);

  let ran = await main(['run', pipeline, '--once', '--log-level', logLevel]);
  if (ran !== 0) throw new Error(`the first run failed (exit ${ran})`);
  const changes = await applyChanges(client, schema, count + 1);
  console.log(
    `prison-roll: changes on the wing: ${changes.created} receptions, ${changes.updated} updates, ${changes.deleted} records deleted`,
  );
  ran = await main(['run', pipeline, '--once', '--log-level', logLevel]);
  if (ran !== 0) throw new Error(`the second run failed (exit ${ran})`);
  console.log(`prison-roll: events on Kafka topic ${topic}`);

  // The reference in canonical terms: codes decoded by the legacy code table, CHAR dates reformatted.
  const reference = `SELECT o.off_disp_id, o.lst_nm, o.fst_nm,
      to_char(to_date(o.brth_dt, 'YYYYMMDD'), 'YYYY-MM-DD') AS dob,
      replace(lower(sx.description), ' ', '-') AS gender, o.agy_loc_id,
      CASE o.act_flg WHEN 'Y' THEN 'true' ELSE 'false' END AS active
    FROM ${schema}.offenders o
    LEFT JOIN ${schema}.reference_codes sx ON sx.domain = 'SEX' AND sx.code = o.sex_cd`;
  console.log('prison-roll: ferry reconcile (OFFENDERS vs the topic):');
  process.env.FERRY_RECONCILE_PASSWORD ??= process.env.PRISON_ROLL_PG_PASSWORD;
  code = await main([
    'reconcile',
    '--reference',
    `postgres://${pg_.user}@${pg_.host}:${pg_.port}/${pg_.database}`,
    '--query',
    reference,
    '--key',
    'off_disp_id',
    '--field',
    'name.family=lst_nm',
    '--field',
    'name.given=fst_nm',
    '--field',
    'dateOfBirth=dob',
    '--field',
    'gender=gender',
    '--field',
    'location.prisonId=agy_loc_id',
    '--field',
    'active=active',
    '--kafka-topic',
    topic,
    '--brokers',
    brokers,
    '--type',
    'justice.offender',
    '--out',
    join(workDir, 'parity-report.json'),
  ]);
} finally {
  await main(['database', 'drop-slot', pipeline, '--drop-publication']).catch(() => 1);
  if (!args.keep) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
}
process.exit(code);
