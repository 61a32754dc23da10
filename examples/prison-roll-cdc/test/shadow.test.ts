// The prison roll in shadow mode (`node shadow.mjs`) against the real PostgreSQL and Kafka: the legacy
// nightly load's reporting table is compared with the Offender events as of the load's cut-off, so the
// changes streamed after it are held back rather than counted as differences; the ledger is in PostgreSQL
// and the inventory finds the dashboard's consumer group on the broker. A second run, whose change before
// the cut-off is never streamed, must find the difference.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../test/services/endpoints.js';
import { type CliResult, runScript } from '../../quickstart/test/cli.js';
import { nomsNumber } from '../legacy-schema.mjs';

const example = join(import.meta.dirname, '..');
const OFFENDERS = 300;
/** applyChanges after the cut-off: 3 receptions, 5 updates, 2 deletes, one event each. */
const LATER_EVENTS = 10;
const kafka = new Kafka({
  brokers: [...services.kafka.brokers],
  clientId: 'prison-roll-shadow-test',
  logLevel: logLevel.NOTHING,
});

interface Run {
  slot: string;
  cutoff: string;
  status: string;
  trigger?: string;
  parity: number;
  keys: number;
  matching: number;
  missing: number;
  extra: number;
  differing: number;
  afterCutoff: number;
  clean: boolean;
}
interface Status {
  migration: string;
  runs: Run[];
  topFields: { field: string; samples: { key: string; reference: string | null; stream: string | null }[] }[];
}
interface GateFile {
  gate: { open: boolean; cleanRuns: number; reasons: string[] };
}
interface Inventory {
  migrations: {
    pipelines: string[];
    topics: string[];
    contracts: string[];
    consumers: {
      group: string;
      state: string;
      members: number;
      topics: { topic: string; lag: number | null }[];
    }[];
  }[];
}

interface Variant {
  suffix: string;
  dir: string;
  topic: string;
  group: string;
  result: CliResult;
}

function variant(): Omit<Variant, 'dir' | 'result'> {
  const suffix = `t${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  return { suffix, topic: `prison-roll.offenders.${suffix}`, group: `prison-roll-dashboard-${suffix}` };
}

const readJson = async <T>(v: Variant, file: string): Promise<T> =>
  JSON.parse(await readFile(join(v.dir, file), 'utf8')) as T;

/** Only what is true of the shared test server may be on stderr (see prison-roll.test.ts). */
function unexpectedStderr(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((line) => line !== '')
    .filter(
      (line) =>
        !(
          line.includes('"path":"source.connection.password"') &&
          line.includes('the secret is too short to hide everywhere')
        ) &&
        !(
          line.includes('"level":"warn"') &&
          (line.includes('"code":"DB_PRIVILEGES_EXCESSIVE"') ||
            line.includes('"code":"DB_SLOT_WAL_UNBOUNDED"'))
        ),
    );
}

/** Every event's CloudEvents time on a topic, read to its end by a group of the test's own. */
async function eventTimes(topic: string, expected: number, timeoutMs = 30_000): Promise<string[]> {
  const groupId = `prison-roll-shadow-test-${randomBytes(4).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200 });
  const times: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let done!: () => void;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        times.push(String(message.headers!.ce_time));
        if (times.length >= expected) done();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([finished, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    return times;
  } finally {
    await consumer.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.disconnect();
  }
}

let clean: Variant;
let unstreamed: Variant;
const db = new pg.Client({ connectionString: services.postgres.url });

beforeAll(async () => {
  await db.connect();
  const run = async (v: Omit<Variant, 'dir' | 'result'>, extra: string[]): Promise<Variant> => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-prison-roll-shadow-'));
    const args = ['--offenders', String(OFFENDERS), '--suffix', v.suffix, '--work-dir', dir, ...extra];
    return { ...v, dir, result: await runScript(join(example, 'shadow.mjs'), args) };
  };
  // --keep: the ledger, the reporting table and the dashboard's offsets stay for the checks below.
  [clean, unstreamed] = await Promise.all([run(variant(), ['--keep']), run(variant(), ['--unstreamed'])]);
});

afterAll(async () => {
  const variants = [clean, unstreamed].filter((v) => v !== undefined);
  for (const v of variants) {
    await db.query(`DROP SCHEMA IF EXISTS nomis_${v.suffix} CASCADE`);
    await db.query(`DROP SCHEMA IF EXISTS shadow_${v.suffix} CASCADE`);
    await rm(v.dir, { recursive: true, force: true });
  }
  await db.end();
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => variants.some((v) => t.includes(v.suffix)));
    if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => {});
    await admin.deleteGroups(variants.map((v) => v.group)).catch(() => {});
  } finally {
    await admin.disconnect();
  }
});

describe('examples/prison-roll-cdc shadow run', () => {
  it('compares the nightly load with the stream as of its cut-off: 100% parity, later events held back', async () => {
    expect(unexpectedStderr(clean.result.stderr)).toEqual([]);
    expect(clean.result.code).toBe(0);
    expect(clean.result.stdout).toContain(
      `parity 100.00% (${OFFENDERS} of ${OFFENDERS} keys), missing 0, extra 0, differing 0, unexplained 0, ${LATER_EVENTS} events after the cut-off: clean`,
    );

    // The cut-off is the reporting table's LOADED_AT, and the slot the 00:00 UTC it belongs to.
    const loaded = await db.query<{ loaded_at: Date; rows: number }>(
      `SELECT max(loaded_at) AS loaded_at, count(*)::int AS rows FROM nomis_${clean.suffix}.rpt_prison_roll`,
    );
    const cutoff = loaded.rows[0]!.loaded_at.toISOString();
    expect(loaded.rows[0]!.rows).toBe(OFFENDERS);
    const status = await readJson<Status>(clean, 'status.json');
    expect(status.runs).toHaveLength(1);
    expect(status.runs[0]).toMatchObject({
      slot: `${cutoff.slice(0, 10)}T00:00:00.000Z`,
      cutoff,
      status: 'complete',
      trigger: 'freshness',
      parity: 1,
      keys: OFFENDERS,
      matching: OFFENDERS,
      missing: 0,
      extra: 0,
      differing: 0,
      afterCutoff: LATER_EVENTS,
      clean: true,
    });
    // Independently of Ferry: the topic holds the snapshot up to the cut-off and the later changes after it.
    const times = await eventTimes(clean.topic, OFFENDERS + LATER_EVENTS);
    expect(times).toHaveLength(OFFENDERS + LATER_EVENTS);
    expect(times.filter((t) => Date.parse(t) > Date.parse(cutoff))).toHaveLength(LATER_EVENTS);

    // The ledger is in PostgreSQL, in the run's own schema.
    const ledger = await db.query(
      `SELECT migration, slot, cutoff, status, parity, after_cutoff FROM shadow_${clean.suffix}.ferry_shadow_runs`,
    );
    expect(ledger.rows).toEqual([
      {
        migration: 'prison-roll',
        slot: status.runs[0]!.slot,
        cutoff,
        status: 'complete',
        parity: 1,
        after_cutoff: String(LATER_EVENTS),
      },
    ]);

    const gate = await readJson<GateFile>(clean, 'gate.json');
    expect(gate.gate).toMatchObject({ open: true, cleanRuns: 1, reasons: [] });
    const report = await readFile(join(clean.dir, 'report.html'), 'utf8');
    expect(report).toContain('RPT_PRISON_ROLL nightly load');
  });

  it('lists the pipeline, topic, contract and the dashboard consumer group with its lag from the broker', async () => {
    const inventory = await readJson<Inventory>(clean, 'inventory.json');
    expect(inventory.migrations).toHaveLength(1);
    const entry = inventory.migrations[0]!;
    expect(entry.pipelines).toEqual([`prison-roll-${clean.suffix}`]);
    expect(entry.topics).toEqual([clean.topic]);
    expect(entry.contracts).toEqual(['justice.offender@1.0.0']);
    const dashboard = entry.consumers.find((c) => c.group === clean.group);
    expect(dashboard).toMatchObject({ state: 'Stable', members: 1 });
    // The lag is the broker's: end offsets less the group's commits (kept by --keep). The dashboard read
    // everything; kafkajs commits the offset after the last record it handed over, and the commit marker
    // of the last transaction on each partition stays behind it.
    const admin = kafka.admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(clean.topic);
      const [committed] = await admin.fetchOffsets({ groupId: clean.group, topics: [clean.topic] });
      const lag = ends.reduce((sum, end) => {
        const at = committed!.partitions.find((p) => p.partition === end.partition)!.offset;
        return sum + Number(end.high) - Number(at);
      }, 0);
      expect(dashboard!.topics).toEqual([{ topic: clean.topic, lag }]);
      expect(lag).toBeLessThanOrEqual(ends.length);
    } finally {
      await admin.disconnect();
    }
  });

  it('finds a change made before the cut-off that the stream has not delivered', async () => {
    expect(unexpectedStderr(unstreamed.result.stderr)).toEqual([]);
    expect(unstreamed.result.code).toBe(1);
    expect(unstreamed.result.stdout).toContain('NOT CLEAN');
    const status = await readJson<Status>(unstreamed, 'status.json');
    expect(status.runs).toHaveLength(1);
    expect(status.runs[0]).toMatchObject({
      status: 'complete',
      parity: (OFFENDERS - 1) / OFFENDERS,
      missing: 0,
      extra: 0,
      differing: 1,
      afterCutoff: 0,
      clean: false,
    });
    expect(status.topFields).toMatchObject([
      { field: 'location.prisonId', samples: [{ key: nomsNumber(3), reference: 'LEI', stream: 'WWI' }] },
    ]);
    const gate = await readJson<GateFile>(unstreamed, 'gate.json');
    expect(gate.gate.open).toBe(false);

    // Without --keep nothing is left behind: no slot, no schemas, no consumer group.
    const left = await db.query(
      `SELECT (SELECT count(*)::int FROM pg_replication_slots WHERE slot_name = $1) AS slots,
              (SELECT count(*)::int FROM pg_namespace WHERE nspname IN ($2, $3)) AS schemas`,
      [`ferry_prison_roll_${unstreamed.suffix}`, `nomis_${unstreamed.suffix}`, `shadow_${unstreamed.suffix}`],
    );
    expect(left.rows[0]).toEqual({ slots: 0, schemas: 0 });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { groups } = await admin.listGroups();
      expect(groups.map((g) => g.groupId)).not.toContain(unstreamed.group);
    } finally {
      await admin.disconnect();
    }
  });
});
