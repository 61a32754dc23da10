// The cluster assignor: balanced by weight, sticky across rebalances, labels respected, deterministic, and
// every pipeline either on exactly one live worker or reported as unassigned with the reason.
import { describe, expect, it } from 'vitest';
import {
  assignPipelines,
  type ClusterAssignment,
  type PipelineDemand,
  type WorkerBid,
} from '../../src/cluster/assign.js';

const worker = (id: string, owned: string[] = [], labels: string[] = [], draining = false): WorkerBid => ({
  id,
  owned,
  labels,
  draining,
});
const pipeline = (name: string, weight = 1, requires: string[] = []): PipelineDemand => ({
  name,
  weight,
  requires,
});
const six = ['pg-logical', 'pg-polling', 'sqlite', 'sftp', 'soap', 'maria'].map((n) => pipeline(n));

const loads = (result: ClusterAssignment, pipelines: readonly PipelineDemand[]) =>
  [...result.byWorker.values()].map((names) =>
    names.reduce((sum, n) => sum + (pipelines.find((p) => p.name === n)?.weight ?? 0), 0),
  );

function owners(result: ClusterAssignment): Map<string, string> {
  const out = new Map<string, string>();
  for (const [w, names] of result.byWorker) {
    for (const n of names) {
      expect(out.has(n), `${n} is on two workers`).toBe(false);
      out.set(n, w);
    }
  }
  return out;
}

describe('assignPipelines', () => {
  it('never leaves a worker idle while another has two pipelines it could give', () => {
    const result = assignPipelines(
      [worker('a', ['p1', 'p2', 'p3']), worker('b')],
      [pipeline('p1'), pipeline('p2'), pipeline('p3')],
    );
    expect(loads(result, [pipeline('p1'), pipeline('p2'), pipeline('p3')]).sort()).toEqual([1, 2]);
  });

  it('balances by count: 6 pipelines on 3 workers are 2 each', () => {
    const result = assignPipelines([worker('a'), worker('b'), worker('c')], six);
    expect(loads(result, six)).toEqual([2, 2, 2]);
    expect(owners(result).size).toBe(6);
    expect(result.unassigned).toEqual([]);
  });

  it('balances by weight: a pipeline of weight 3 has a worker to itself', () => {
    const pipelines = [pipeline('heavy', 3), pipeline('p1'), pipeline('p2'), pipeline('p3')];
    const result = assignPipelines([worker('a'), worker('b')], pipelines);
    expect(loads(result, pipelines).sort()).toEqual([3, 3]);
    const heavy = owners(result).get('heavy')!;
    expect(result.byWorker.get(heavy)).toEqual(['heavy']);
  });

  it('is sticky: a balanced assignment is kept as it is', () => {
    const first = assignPipelines([worker('a'), worker('b'), worker('c')], six);
    const again = assignPipelines(
      [...first.byWorker].map(([id, owned]) => worker(id, owned)),
      six,
    );
    expect(again.byWorker).toEqual(first.byWorker);
  });

  it('a worker that joins takes its share and nothing more moves; one that leaves hands over only its own', () => {
    const two = assignPipelines([worker('a'), worker('b')], six);
    const withC = assignPipelines(
      [...[...two.byWorker].map(([id, owned]) => worker(id, owned)), worker('c')],
      six,
    );
    expect(loads(withC, six)).toEqual([2, 2, 2]);
    const before = owners(two);
    const after = owners(withC);
    const moved = [...after].filter(([n, w]) => before.get(n) !== w);
    // Exactly the two pipelines the new worker took moved.
    expect(moved.map(([, w]) => w)).toEqual(['c', 'c']);

    const withoutB = assignPipelines(
      [...withC.byWorker].filter(([id]) => id !== 'b').map(([id, owned]) => worker(id, owned)),
      six,
    );
    const left = owners(withoutB);
    for (const [n, w] of after) if (w !== 'b') expect(left.get(n)).toBe(w);
    expect(loads(withoutB, six)).toEqual([3, 3]);
  });

  it('respects labels, and reports a pipeline no live worker can run instead of dropping it', () => {
    const pipelines = [
      pipeline('needs-x', 1, ['host-x']),
      pipeline('needs-x-dc1', 1, ['host-x', 'zone=dc1']),
      pipeline('needs-y', 1, ['host-y']),
      pipeline('any'),
    ];
    const result = assignPipelines(
      [worker('a', [], ['host-x']), worker('b', [], ['host-x', 'zone=dc1']), worker('c')],
      pipelines,
    );
    const o = owners(result);
    expect(['a', 'b']).toContain(o.get('needs-x'));
    expect(o.get('needs-x-dc1')).toBe('b');
    expect(o.has('needs-y')).toBe(false);
    expect(result.unassigned).toEqual([
      { name: 'needs-y', reason: 'no live worker has the labels it requires (host-y)' },
    ]);
  });

  it('a pipeline two workers claim (a stale assignment) stays with one of them only', () => {
    const result = assignPipelines([worker('a', ['sftp']), worker('b', ['sftp'])], [pipeline('sftp')]);
    expect(owners(result).get('sftp')).toBe('a');
  });

  it('a draining worker keeps nothing and gets nothing; with every worker draining all are unassigned', () => {
    const result = assignPipelines([worker('a', ['sftp', 'soap'], [], true), worker('b')], six);
    expect(result.byWorker.get('a')).toEqual([]);
    expect(result.byWorker.get('b')).toHaveLength(6);
    const none = assignPipelines([worker('a', ['sftp'], [], true)], six);
    expect(none.unassigned.map((u) => u.reason)).toEqual(
      six.map(() => 'no live worker (every worker is draining or none has joined)'),
    );
  });

  it('over random clusters: deterministic whatever the order, each pipeline once, loads within the fair share', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
    for (let round = 0; round < 300; round += 1) {
      const labels = ['x', 'y', 'z'];
      const pipelines = Array.from({ length: 1 + Math.floor(random() * 12) }, (_, i) =>
        pipeline(`p${i}`, 1 + Math.floor(random() * 3), random() < 0.2 ? [pick(labels)] : []),
      );
      const workers = Array.from({ length: 1 + Math.floor(random() * 5) }, (_, i) =>
        worker(
          `w${i}`,
          pipelines.filter(() => random() < 0.3).map((p) => p.name),
          labels.filter(() => random() < 0.5),
          random() < 0.1,
        ),
      );
      const result = assignPipelines(workers, pipelines);
      const shuffled = assignPipelines([...workers].reverse(), [...pipelines].reverse());
      expect(shuffled).toEqual(result);
      const o = owners(result);
      expect(o.size + result.unassigned.length).toBe(pipelines.length);
      for (const [name, w] of o) {
        const bid = workers.find((x) => x.id === w)!;
        expect(bid.draining).toBe(false);
        for (const label of pipelines.find((p) => p.name === name)!.requires)
          expect(bid.labels).toContain(label);
      }
      // Without labels in play, no worker carries more than the average plus one pipeline (weights do not
      // always split evenly: 3+3+3 on two workers).
      if (pipelines.every((p) => p.requires.length === 0)) {
        const live = workers.filter((w) => !w.draining).length;
        if (live > 0) {
          const total = pipelines.reduce((s, p) => s + p.weight, 0);
          const heaviest = Math.max(...pipelines.map((p) => p.weight));
          for (const l of loads(result, pipelines))
            expect(l).toBeLessThanOrEqual(Math.ceil(total / live) + heaviest);
        }
      }
    }
  });
});
