// `ferry serve --cluster` with two worker processes on the real Kafka (issue 17, first slice): the group
// coordinator shares two pipelines between them, a worker that stops (SIGTERM) hands its pipeline over after
// its last checkpoint, one that dies (SIGKILL) loses it after the session timeout, and every row reaches Kafka. Cluster mode refuses what cannot follow a pipeline to
// another worker (a file checkpoint store, a file sink, checkpoints without fencing).
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PipelineStatus } from '@ferry/server';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { services } from '../../../../test/services/endpoints.js';
import { topicIds } from './kafka-topics.js';
import { type Served, sqliteClusterPipeline, startServe } from './serve-helpers.js';

const brokers = [...services.kafka.brokers];
const tag = randomBytes(3).toString('hex');
const group = `ferry-serve-cluster-${tag}`;
const tables = ['cases', 'hearings'];

describe('ferry serve --cluster (two workers, SQLite polling pipelines, real Kafka)', () => {
  let dir: string;
  let db: Database.Database;
  const files: string[] = [];
  const workers: Served[] = [];

  const insert = (from: number, to: number) => {
    for (const table of tables) {
      const stmt = db.prepare(`INSERT INTO ${table} (id, name) VALUES (?, ?)`);
      for (let id = from; id <= to; id += 1) stmt.run(id, `${table} ${id}`);
    }
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-cluster-'));
    db = new Database(join(dir, 'legacy.sqlite'));
    for (const table of tables) db.exec(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, name TEXT)`);
    insert(1, 50);
    for (const table of tables) {
      const file = join(dir, `${table}.yaml`);
      await writeFile(
        file,
        sqliteClusterPipeline({
          name: `${table}-${tag}`,
          table,
          topic: `${table}-${tag}`,
          checkpointTopic: `ferry-cluster-checkpoints-${tag}`,
        }),
      );
      files.push(file);
    }
  });

  afterAll(async () => {
    await Promise.allSettled(workers.map((w) => w.stop()));
    db?.close();
  });

  const serve = (worker: string) =>
    startServe([...files, '--cluster', group, '--worker', worker, '--allow-unauthenticated', '--port', '0']);
  const running = async (w: Served) =>
    ((await (await fetch(`${w.base}/pipelines`)).json()) as { pipelines: PipelineStatus[] }).pipelines
      .filter((p) => p.state === 'running')
      .map((p) => p.name)
      .sort();

  it('shares the pipelines, hands one over on SIGTERM and from a worker killed with SIGKILL, and loses no row', async () => {
    const a = await serve('a');
    workers.push(a);
    await waitFor(async () => (await running(a)).length === 2, 60_000, 'worker a to run both pipelines');
    const b = await serve('b');
    workers.push(b);
    await waitFor(
      async () => (await running(a)).length === 1 && (await running(b)).length === 1,
      90_000,
      'one pipeline on each worker',
    );
    const [onB] = await running(b);
    // /cluster on each worker: what it runs, and the whole cluster from the board: both members and their
    // pipelines with state and lag, on whichever worker is asked.
    type Member = { worker: string; url: string | null; pipelines: { pipeline: string; state: string }[] };
    const clusterOf = async (w: Served) => (await fetch(`${w.base}/cluster`)).json();
    const shape = (view: { members: Member[] | null }) =>
      (view.members ?? [])
        .map((m) => [m.worker, m.pipelines.map((p) => `${p.pipeline}:${p.state}`).join(',')])
        .sort();
    const expected = [
      ['a', `${(await running(a))[0]}:running`],
      ['b', `${onB}:running`],
    ];
    await waitFor(
      async () => {
        const views = await Promise.all([a, b].map(clusterOf));
        return views.every((v) => JSON.stringify(shape(v)) === JSON.stringify(expected));
      },
      30_000,
      'both workers to show both members, each running one pipeline',
    );
    const views = await Promise.all([a, b].map(clusterOf));
    for (const [i, view] of views.entries()) {
      expect(view.assigned.map((x: { pipeline: string }) => x.pipeline)).toEqual(await running([a, b][i]!));
      expect(view.generation).toBeGreaterThan(0);
      expect(view.plan.generation).toBe(view.generation);
      expect(view.members.find((m: Member) => m.worker === 'b').url).toBe(b.base);
    }
    expect(views.filter((v) => v.leader)).toHaveLength(1);
    expect(views[0].plan.leader).toBe(views.find((v) => v.leader).worker);

    // Drained through worker a's API, b gives its pipeline to a and keeps nothing; withdrawn, it takes one back.
    const drained = await fetch(`${a.base}/cluster/workers/b/drain`, { method: 'POST' });
    expect(drained.status).toBe(202);
    expect(await drained.json()).toMatchObject({ worker: 'b', draining: true });
    await waitFor(
      async () => (await running(a)).length === 2 && (await running(b)).length === 0,
      90_000,
      'worker b to hand its pipeline to a',
    );
    await waitFor(
      async () =>
        (await clusterOf(a)).members?.find((m: Member & { draining: boolean }) => m.worker === 'b')?.draining,
      30_000,
      'the plan to show b draining',
    );
    expect((await fetch(`${b.base}/cluster/workers/nobody/drain`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${b.base}/cluster/workers/b/drain`, { method: 'DELETE' })).status).toBe(202);
    await waitFor(
      async () => (await running(a)).length === 1 && (await running(b)).length === 1,
      90_000,
      'worker b to take a pipeline again',
    );
    const handovers = await (await fetch(`${a.base}/metrics`)).text();
    expect(handovers).toMatch(/^ferry_cluster_handover_seconds_count\{pipeline="[^"]+"\} [1-9]/m);
    insert(51, 100);
    // b stops: its pipeline is flushed and checkpointed, then a takes it.
    const result = await b.stop();
    workers.splice(workers.indexOf(b), 1);
    expect(result.code, result.stderr).toBe(0);
    await waitFor(async () => (await running(a)).length === 2, 90_000, `worker a to take ${onB} over`);
    insert(101, 150);
    for (const table of tables) expect((await topicIds(`${table}-${tag}`, 150)).ids.size).toBe(150);

    // A worker that dies (SIGKILL) says nothing: Kafka notices after the session timeout (10 s) and its
    // pipeline moves; the new owner reads from the last checkpoint, so every row still arrives.
    const c = await serve('c');
    workers.push(c);
    await waitFor(
      async () => (await running(a)).length === 1 && (await running(c)).length === 1,
      90_000,
      'one pipeline on each worker again',
    );
    insert(151, 200);
    const killed = await c.kill('SIGKILL');
    workers.splice(workers.indexOf(c), 1);
    expect(killed.signal).toBe('SIGKILL');
    const diedAt = performance.now();
    await waitFor(
      async () => (await running(a)).length === 2,
      90_000,
      'worker a to take over from the dead one',
    );
    // Within the session timeout and a rebalance, not minutes.
    expect(performance.now() - diedAt).toBeLessThan(60_000);
    insert(201, 250);
    for (const table of tables) expect((await topicIds(`${table}-${tag}`, 250)).ids.size).toBe(250);
    // The next test runs the same pipelines in another group: this one's last worker leaves first.
    expect((await a.stop()).code).toBe(0);
    workers.splice(workers.indexOf(a), 1);
  }, 300_000);

  it('runs a pipeline only on a worker with the labels it requires', async () => {
    const labelled = `${group}-labels`;
    const file = join(dir, 'archive.yaml');
    const archive = `archive-${tag}`;
    await writeFile(
      file,
      sqliteClusterPipeline({
        name: archive,
        table: 'cases',
        topic: archive,
        checkpointTopic: `ferry-cluster-checkpoints-${tag}`,
        extra: 'cluster: { requires: [archive-host] }',
      }),
    );
    const both = [file, files[1]!];
    const start = (worker: string, labels: string[]) =>
      startServe([
        ...both,
        '--cluster',
        labelled,
        '--worker',
        worker,
        ...labels.flatMap((l) => ['--label', l]),
        '--allow-unauthenticated',
        '--port',
        '0',
      ]);
    const plain = await start('plain', ['zone-1']);
    workers.push(plain);
    await waitFor(async () => (await running(plain)).length === 1, 60_000, 'the unlabelled pipeline to run');
    // No live worker has archive-host: the pipeline waits, it is not run anywhere, and the leader says why.
    expect(await running(plain)).toEqual([`hearings-${tag}`]);
    // The plan reaches the board a heartbeat after the assignment (kafkajs tells the generation then).
    await waitFor(
      async () => (await (await fetch(`${plain.base}/cluster`)).json()).unassigned !== null,
      30_000,
      'the plan on the board',
    );
    const view = await (await fetch(`${plain.base}/cluster`)).json();
    expect(view.leader).toBe(true);
    expect(view.unassigned).toEqual([
      { name: archive, reason: 'no live worker has the labels it requires (archive-host)' },
    ]);
    // And in the metrics, not dropped silently.
    const metrics = await (await fetch(`${plain.base}/metrics`)).text();
    expect(metrics).toMatch(/^ferry_cluster_unassigned_pipelines 1$/m);
    expect(metrics).toMatch(/^ferry_cluster_pipelines 1$/m);
    expect(metrics).toMatch(/^ferry_cluster_rebalances_total [1-9]/m);
    const archiver = await start('archiver', ['archive-host']);
    workers.push(archiver);
    await waitFor(
      async () => (await running(archiver)).includes(archive),
      90_000,
      'the archive pipeline on the labelled worker',
    );
    expect(await running(plain)).not.toContain(archive);
    for (const w of [archiver, plain]) {
      expect((await w.stop()).code).toBe(0);
      workers.splice(workers.indexOf(w), 1);
    }
  });

  it('a zombie (SIGSTOP past the session timeout, then SIGCONT) stops the pipeline it lost; each row is in Kafka once', async () => {
    const zombieGroup = `${group}-zombie`;
    // Exactly-once pipelines: events, dead letters and checkpoint in one transaction of the pipeline's own
    // transactional id, which the next owner's claim fences.
    const eos: string[] = [];
    for (const file of files) {
      const copy = file.replace('.yaml', '-eos.yaml');
      await writeFile(
        copy,
        (await readFile(file, 'utf8'))
          .replace(/pipeline: (\w+)-/, 'pipeline: $1-eos-')
          .replace(/topic: (\w+)-([0-9a-f]+) \}/, 'topic: $1-eos-$2, delivery: exactly-once }')
          .replace(/topic: (\w+)-([0-9a-f]+)\.dlq \}/, 'topic: $1-eos-$2.dlq }'),
      );
      eos.push(copy);
    }
    const start = (worker: string) =>
      startServe([
        ...eos,
        '--cluster',
        zombieGroup,
        '--worker',
        worker,
        '--allow-unauthenticated',
        '--port',
        '0',
      ]);
    const a = await start('a');
    workers.push(a);
    await waitFor(async () => (await running(a)).length === 2, 60_000, 'a to run both');
    const z = await start('z');
    workers.push(z);
    await waitFor(
      async () => (await running(a)).length === 1 && (await running(z)).length === 1,
      90_000,
      'one pipeline each',
    );
    const [onZ] = await running(z);
    const table = onZ!.split('-eos-')[0]!;
    const topic = `${table}-eos-${tag}`;
    const rows = () => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    process.kill(z.pid, 'SIGSTOP');
    try {
      // Past the session timeout the group drops z and a takes its pipeline (claiming it fences z).
      await waitFor(
        async () => (await running(a)).length === 2,
        90_000,
        'a to take over from the hung worker',
      );
      const max = (db.prepare(`SELECT max(id) AS m FROM ${table}`).get() as { m: number }).m;
      insert(max + 1, max + 50);
      expect((await topicIds(topic, rows())).ids.size).toBe(rows());
    } finally {
      process.kill(z.pid, 'SIGCONT');
    }
    // z wakes up with rows it had not read: whether it learns first from the group (its pipeline was taken
    // away) or from the broker (its commit is fenced), it stops the pipeline, and exactly one worker runs it.
    await waitFor(
      async () => {
        const owners = [await running(a), await running(z)].filter((names) => names.includes(onZ!));
        return owners.length === 1;
      },
      60_000,
      'exactly one worker to run the pipeline the zombie had',
    );
    // ...and nothing it wrote after the fence is visible: read_committed, each row is in the topic once.
    const messages = await topicIds(topic, rows(), { quietMs: 3000 });
    expect(messages.total).toBe(messages.ids.size);
    expect(messages.ids.size).toBe(rows());
    for (const w of [z, a]) {
      expect((await w.stop()).code).toBe(0);
      workers.splice(workers.indexOf(w), 1);
    }
  });

  it('refuses a pipeline whose checkpoints or events cannot follow it to another worker', async () => {
    const file = join(dir, 'local.yaml');
    await writeFile(
      file,
      `pipeline: local-${tag}
source:
  type: database
  mode: polling
  connection: { type: better-sqlite3, database: ./legacy.sqlite }
  tables:
    - { name: cases, key: [id], incrementingColumn: id }
mapping:
  subject: id
  fields:
    id: id
contract: { type: test.cases, version: 1.0.0 }
sink: { type: file, dir: ./events }
checkpoints: { type: kafka, brokers: [${brokers.join(', ')}] }
`,
    );
    const result = await runCli([
      'serve',
      file,
      '--cluster',
      group,
      '--allow-unauthenticated',
      '--port',
      '0',
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/local\.yaml.*checkpoints\.fencing: cluster mode needs fencing: true/s);
    expect(result.stderr).toMatch(
      /sink\.type: cluster mode moves pipelines between workers, and a file sink/,
    );
  });
});
