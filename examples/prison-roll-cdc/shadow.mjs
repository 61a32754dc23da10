// `npm run shadow`: the prison roll in shadow mode (docs/migration.md). The legacy RPT_PRISON_ROLL nightly
// load is the reference, the Offender events on Kafka the stream that is to replace it.
// 1. the legacy schema with a roll of offenders; `ferry run --once` snapshots it to Kafka;
// 2. the nightly load reloads RPT_PRISON_ROLL in one transaction; its LOADED_AT is the cut-off;
// 3. the wing goes on after the cut-off (receptions, transfers, releases, deletes) and `ferry run --once`
//    streams it: those events carry their commit time, later than the cut-off;
// 4. a downstream consumer (the roll dashboard, group prison-roll-dashboard-<suffix>) reads the topic, commits;
// 5. `ferry shadow run --once` on the real clock compares the table with the stream as of the cut-off (the
//    later events are counted after it, not as differences); `ferry cutover check`; `ferry inventory` (the
//    dashboard's group, from the broker); `ferry shadow report`. The work dir gets migration.yaml,
//    status.json, gate.json, inventory.json and report.html;
// 6. the slot and publication are dropped; the legacy and ledger schemas and the group too unless --keep.
// With --unstreamed a transfer is made before the load and not streamed before the comparison (no second
// `ferry run`): the shadow run must report it as a difference.
//
// The schedule is daily at 00:00 UTC and `start` is the slot of the load's own cut-off, so the load always
// falls in the slot the run compares, even just before midnight; a comparison that starts after midnight
// still compares that slot (the new day's slot waits for its own load).
// Exit code: 0 when the run is clean and the inventory found the dashboard's consumer group, else 1.
//
//   node shadow.mjs [--offenders N] [--suffix S] [--work-dir DIR] [--keep] [--unstreamed]
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { main } from '@ferry/cli';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { applyChanges, createLegacySchema, runNightlyLoad, seedOffenders } from './legacy-schema.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const { values: args } = parseArgs({
  options: {
    offenders: { type: 'string', default: '500' },
    suffix: { type: 'string', default: `${Date.now().toString(36)}${randomBytes(2).toString('hex')}` },
    'work-dir': { type: 'string', default: join(here, '.shadow') },
    keep: { type: 'boolean', default: false },
    unstreamed: { type: 'boolean', default: false },
  },
});
const suffix = args.suffix.toLowerCase().replace(/[^a-z0-9_]/g, '_');
const schema = `nomis_${suffix}`;
const ledgerSchema = `shadow_${suffix}`;
const slot = `ferry_prison_roll_${suffix}`;
const topic = `prison-roll.offenders.${suffix}`;
const group = `prison-roll-dashboard-${suffix}`;
const brokers = ['127.0.0.1:59092'];
const pg_ = { host: '127.0.0.1', port: 55432, user: 'ferry', database: 'ferry' };
// The test services' password; a real deployment reads it from its secret store into the environment.
process.env.PRISON_ROLL_PG_PASSWORD ??= 'ferry';
const workDir = resolve(args['work-dir']);
rmSync(workDir, { recursive: true, force: true });
mkdirSync(workDir, { recursive: true });
const say = (text) => console.log(`prison-roll: ${text}`);

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
const migration = join(workDir, 'migration.yaml');

const client = new pg.Client({ ...pg_, password: process.env.PRISON_ROLL_PG_PASSWORD });
const logs = process.env.FERRY_LOG_LEVEL ?? 'warn';
const kafka = new Kafka({ brokers, clientId: group, logLevel: logLevel.NOTHING });

/** A ferry command; with `capture` its stdout is returned instead of printed (the --json outputs). */
async function ferry(argv, capture = false) {
  const out = [];
  const code = await main(argv, {
    out: (text) => (capture ? out.push(text) : console.log(text)),
    err: (text) => console.error(text),
  });
  return { code, out: out.join('\n') };
}

async function ferryRun(what) {
  const { code } = await ferry(['run', pipeline, '--once', '--log-level', logs]);
  if (code !== 0) throw new Error(`ferry run (${what}) failed (exit ${code})`);
}

/**
 * Commit times carry microseconds, event times milliseconds: a change in the cut-off's own millisecond would
 * look as old as the cut-off. Wait until PostgreSQL's clock has passed that millisecond.
 */
async function pastCutoff(cutoff) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const { rows } = await client.query(
      `SELECT clock_timestamp() >= $1::timestamptz + interval '1 millisecond' AS past`,
      [cutoff],
    );
    if (rows[0].past) return;
    if (Date.now() > deadline) throw new Error(`PostgreSQL's clock did not pass ${cutoff.toISOString()}`);
  }
}

/** The roll dashboard: who is in custody where, kept from the events; it commits what it has read. */
async function startDashboard(expected, timeoutMs = 30_000) {
  const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 200 });
  const roll = new Map();
  let read = 0;
  let caughtUp;
  const done = new Promise((resolve_) => {
    caughtUp = resolve_;
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      for (const message of batch.messages) {
        const key = message.key.toString();
        const data = message.value === null ? undefined : JSON.parse(message.value.toString());
        if (String(message.headers.ce_type).endsWith('.deleted') || data?.active === false) roll.delete(key);
        else roll.set(key, data?.location?.prisonId ?? '?');
      }
      const last = batch.messages.at(-1);
      if (last === undefined) return;
      await consumer.commitOffsets([
        { topic, partition: batch.partition, offset: String(Number(last.offset) + 1) },
      ]);
      read += batch.messages.length;
      if (read >= expected) caughtUp();
    },
  });
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the dashboard read ${read} of ${expected} events in ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([done, late]);
  } finally {
    clearTimeout(timer);
  }
  const perPrison = new Map();
  for (const prison of roll.values()) perPrison.set(prison, (perPrison.get(prison) ?? 0) + 1);
  const counts = [...perPrison].sort(([a], [b]) => a.localeCompare(b)).map(([p, n]) => `${p} ${n}`);
  say(`dashboard (group ${group}) read ${read} events and committed; in custody: ${counts.join(', ')}`);
  return consumer;
}

await client.connect();
let dashboard;
let code = 1;
try {
  const count = Number(args.offenders);
  await createLegacySchema(client, schema);
  await seedOffenders(client, schema, count);
  say(`legacy schema ${schema} with ${count} offenders`);
  await ferryRun('snapshot');

  if (args.unstreamed) {
    await client.query(
      `UPDATE ${schema}.offenders SET agy_loc_id = 'LEI', mod_dtm = '20240102080000' WHERE off_id = 3`,
    );
    say('a transfer before the nightly load, not streamed before the shadow run');
  }
  const load = await runNightlyLoad(client, schema);
  say(`RPT_PRISON_ROLL nightly load: ${load.rows} rows, cut-off ${load.cutoff.toISOString()}`);
  let later = 0;
  if (!args.unstreamed) {
    await pastCutoff(load.cutoff);
    const changes = await applyChanges(client, schema, count + 1);
    later = changes.created + changes.updated + changes.deleted;
    await ferryRun('the changes after the cut-off');
    say(
      `after the cut-off: ${changes.created} receptions, ${changes.updated} updates, ${changes.deleted} records deleted, streamed to ${topic}`,
    );
  }
  dashboard = await startDashboard(count + later);

  // Today's slot: the 00:00 UTC before the load's cut-off.
  const at = load.cutoff;
  const start = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate())).toISOString();
  writeFileSync(
    migration,
    readFileSync(join(here, 'migration.yaml'), 'utf8')
      .replaceAll('nomis.rpt_prison_roll', `${schema}.rpt_prison_roll`)
      .replace('topic: prison-roll.offenders', `topic: ${topic}`)
      .replace('schema: prison_roll_shadow', `schema: ${ledgerSchema}`)
      .replace(/^start: .*$/m, `start: '${start}'`),
  );

  say(`ferry shadow run (the ${start} slot, ledger in schema ${ledgerSchema}):`);
  const shadowed = await ferry(['shadow', 'run', migration, '--once', '--log-level', logs]);
  if (shadowed.code !== 0) throw new Error(`ferry shadow run failed (exit ${shadowed.code})`);
  const status = await ferry(['shadow', 'status', migration, '--json'], true);
  writeFileSync(join(workDir, 'status.json'), `${status.out}\n`);
  const gate = await ferry(['cutover', 'check', migration, '--json'], true);
  writeFileSync(join(workDir, 'gate.json'), `${gate.out}\n`);
  const { gate: g } = JSON.parse(gate.out);
  say(
    `cut-over gate ${g.open ? 'OPEN' : 'CLOSED'} (exit ${gate.code})${g.reasons.map((r) => `; ${r}`).join('')}`,
  );

  say('ferry inventory:');
  await ferry(['inventory', migration]);
  const inventory = await ferry(['inventory', migration, '--json'], true);
  writeFileSync(join(workDir, 'inventory.json'), `${inventory.out}\n`);
  await ferry(['shadow', 'report', migration, '--out', join(workDir, 'report.html')]);

  const run = JSON.parse(status.out).runs.find((r) => r.slot === start);
  const found = JSON.parse(inventory.out).migrations[0].consumers.some((c) => c.group === group);
  if (!found) say(`the inventory did not find the consumer group ${group}`);
  code = run?.clean === true && found ? 0 : 1;
} finally {
  await dashboard?.disconnect().catch(() => {});
  await main(['database', 'drop-slot', pipeline, '--drop-publication']).catch(() => 1);
  if (!args.keep) {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.query(`DROP SCHEMA IF EXISTS ${ledgerSchema} CASCADE`);
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteGroups([group]).catch(() => {});
    await admin.disconnect();
  }
  await client.end();
}
process.exit(code);
