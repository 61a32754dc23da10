// Cluster membership on the real Kafka (issue 17, groundwork): workers of one group share the pipelines
// through the group coordinator and Ferry's assignor. Each member here is an in-process kafkajs consumer of
// its own, as a worker process would have: joins, a clean leave, labels, draining and a worker started with
// another pipeline set.
import { silentLogger } from '@ferry/core/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import type { PipelineDemand } from '../../src/cluster/assign.js';
import { ClusterMembership, type ClusterView } from '../../src/cluster/membership.js';
import { brokers, unique } from '../helpers.js';

const connection = {
  brokers,
  clientId: 'ferry-cluster-test',
  ssl: false as const,
  connectionTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  transport: 'kafkajs' as const,
};

const six: PipelineDemand[] = ['pg-logical', 'pg-polling', 'sqlite', 'sftp', 'soap', 'maria'].map((name) => ({
  name,
  weight: 1,
  requires: name === 'sftp' ? ['sftp-host'] : [],
}));

interface Member {
  membership: ClusterMembership;
  /** The latest view, and a wait for the next one that satisfies a condition. */
  last(): ClusterView | undefined;
  next(ok: (view: ClusterView) => boolean, what: string): Promise<ClusterView>;
}

const started: ClusterMembership[] = [];
afterEach(async () => {
  await Promise.allSettled(started.splice(0).map((m) => m.stop()));
});

function member(group: string, worker: string, labels: string[] = [], pipelines = six): Member {
  const membership = new ClusterMembership({
    connection,
    group,
    worker,
    labels,
    pipelines,
    // The broker's minimum: a dead member is noticed within seconds in these tests.
    sessionTimeoutMs: 6_000,
    rebalanceTimeoutMs: 10_000,
    heartbeatIntervalMs: 500,
    logger: silentLogger(),
  });
  let latest: ClusterView | undefined;
  const waiters: { ok: (v: ClusterView) => boolean; resolve: (v: ClusterView) => void }[] = [];
  membership.onAssignment((view) => {
    latest = view;
    for (const w of [...waiters]) {
      if (w.ok(view)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(view);
      }
    }
  });
  started.push(membership);
  return {
    membership,
    last: () => latest,
    next: (ok, what) =>
      new Promise((resolve, reject) => {
        if (latest !== undefined && ok(latest)) return resolve(latest);
        const timer = setTimeout(() => reject(new Error(`${worker}: timed out waiting for ${what}`)), 60_000);
        waiters.push({
          ok,
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v);
          },
        });
      }),
  };
}

/** Each pipeline exactly once across the members' latest views. */
function expectPartition(members: Member[], expected: string[]): void {
  const all = members.flatMap((m) => m.last()?.pipelines ?? []);
  expect([...all].sort()).toEqual([...expected].sort());
}

describe('cluster membership through the Kafka group coordinator', () => {
  it('shares six pipelines among three workers, moves a leaver’s pipelines, respects labels', async () => {
    const group = unique('ferry-cluster');
    const a = member(group, 'a', ['sftp-host']);
    const b = member(group, 'b');
    const c = member(group, 'c');
    await a.membership.start();
    await a.next((v) => v.pipelines.length === 6, 'a alone to run all six');
    await Promise.all([b.membership.start(), c.membership.start()]);
    const settled = (m: Member) => m.next((v) => v.pipelines.length === 2, 'two pipelines each');
    await Promise.all([settled(a), settled(b), settled(c)]);
    expectPartition(
      [a, b, c],
      six.map((p) => p.name),
    );
    // Only a has the label sftp needs.
    expect(a.last()?.pipelines).toContain('sftp');
    const bBefore = b.last()!.pipelines;

    // c leaves cleanly: its two pipelines go to a and b; b keeps what it had (sticky).
    await c.membership.stop();
    started.splice(started.indexOf(c.membership), 1);
    await Promise.all([
      a.next((v) => v.pipelines.length === 3, 'a to take one of c’s'),
      b.next((v) => v.pipelines.length === 3, 'b to take one of c’s'),
    ]);
    expectPartition(
      [a, b],
      six.map((p) => p.name),
    );
    for (const name of bBefore) expect(b.last()?.pipelines).toContain(name);
  });

  it('a draining worker gives its pipelines away; a pipeline no worker can run is reported by the leader', async () => {
    const group = unique('ferry-cluster');
    const a = member(group, 'a');
    const b = member(group, 'b');
    await a.membership.start();
    await a.next((v) => v.pipelines.length === 5, 'a to run all but sftp');
    await b.membership.start();
    await Promise.all([
      a.next((v) => v.pipelines.length >= 2, 'a to share'),
      b.next((v) => v.pipelines.length >= 2, 'b to share'),
    ]);
    const leader = [a, b].find((m) => m.last()?.isLeader)!;
    expect(leader.membership.plan?.unassigned).toEqual([
      { name: 'sftp', reason: 'no live worker has the labels it requires (sftp-host)' },
    ]);

    await b.membership.drain();
    await Promise.all([
      a.next((v) => v.pipelines.length === 5, 'a to take everything back'),
      b.next((v) => v.pipelines.length === 0, 'b to have nothing'),
    ]);
  });

  it('a worker started with another set of pipelines than the others is given none', async () => {
    const group = unique('ferry-cluster');
    const a = member(group, 'a', ['sftp-host']);
    const b = member(group, 'b', ['sftp-host']);
    const odd = member(group, 'odd', ['sftp-host'], [...six, { name: 'extra', weight: 1, requires: [] }]);
    await Promise.all([a.membership.start(), b.membership.start()]);
    await Promise.all([
      a.next((v) => v.pipelines.length === 3, 'a to run three'),
      b.next((v) => v.pipelines.length === 3, 'b to run three'),
    ]);
    await odd.membership.start();
    // Whoever leads, the odd one out runs nothing and a and b keep the six between them.
    await odd.next((v) => v.pipelines.length === 0, 'odd to be given nothing');
    await Promise.all([
      a.next((v) => v.pipelines.length === 3, 'a to keep three'),
      b.next((v) => v.pipelines.length === 3, 'b to keep three'),
    ]);
    expectPartition(
      [a, b, odd],
      six.map((p) => p.name),
    );
  });
});
