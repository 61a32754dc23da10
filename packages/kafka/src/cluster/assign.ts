// Which worker of a cluster runs which pipeline (issue 17's assignor, run by the group leader at every
// rebalance). Pure and deterministic: the same workers and pipelines, in any order, give the same answer.
// - Each pipeline goes to at most one worker, and only to a worker that has every label it requires.
// - Load is the sum of the weights of a worker's pipelines (weight 1 each by default: balanced by count).
// - Sticky: a pipeline stays where it runs unless that worker is over its fair share, so a rebalance moves
//   as few pipelines as it can (a move costs a flush, a checkpoint and a restart of the source).
// - A draining worker gets nothing; a pipeline no live worker can run is reported, never dropped silently.

export interface WorkerBid {
  id: string;
  /** What the worker offers (`host-x`, `zone=dc1`): a pipeline runs only where all its requirements are. */
  labels: readonly string[];
  /** The pipelines it runs now (from its last assignment), for stickiness. */
  owned: readonly string[];
  /** Being drained (`POST /cluster/workers/{id}/drain`): it keeps nothing and gets nothing. */
  draining?: boolean;
}

export interface PipelineDemand {
  name: string;
  /** Relative cost; a CPU-heavy pipeline can count for several. At least 1. */
  weight: number;
  /** Labels a worker must have to run it. */
  requires: readonly string[];
}

export interface Unassigned {
  name: string;
  reason: string;
}

export interface ClusterAssignment {
  /** Every worker, with the pipelines it runs (sorted by name); a worker without any has an empty list. */
  byWorker: Map<string, string[]>;
  unassigned: Unassigned[];
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function assignPipelines(
  workers: readonly WorkerBid[],
  pipelines: readonly PipelineDemand[],
): ClusterAssignment {
  const sortedWorkers = [...workers].sort((a, b) => byName(a.id, b.id));
  const sortedPipelines = [...pipelines].sort((a, b) => byName(a.name, b.name));
  const live = sortedWorkers.filter((w) => !w.draining);
  const load = new Map(sortedWorkers.map((w) => [w.id, 0]));
  const byWorker = new Map<string, string[]>(sortedWorkers.map((w) => [w.id, []]));
  const owner = new Map<string, string>();
  const unassigned: Unassigned[] = [];

  const eligible = new Map<string, WorkerBid[]>();
  for (const pipeline of sortedPipelines) {
    const candidates = live.filter((w) => pipeline.requires.every((label) => w.labels.includes(label)));
    if (candidates.length > 0) {
      eligible.set(pipeline.name, candidates);
      continue;
    }
    unassigned.push({
      name: pipeline.name,
      reason:
        live.length === 0
          ? 'no live worker (every worker is draining or none has joined)'
          : `no live worker has the labels it requires (${pipeline.requires.join(', ')})`,
    });
  }
  const assignable = sortedPipelines.filter((p) => eligible.has(p.name));
  const weightOf = new Map(assignable.map((p) => [p.name, Math.max(1, p.weight)]));
  const total = assignable.reduce((sum, p) => sum + weightOf.get(p.name)!, 0);
  const heaviest = assignable.reduce((max, p) => Math.max(max, weightOf.get(p.name)!), 0);
  // A fair share: the average rounded up, and never less than the heaviest pipeline (it must fit somewhere).
  const cap = live.length === 0 ? 0 : Math.max(heaviest, Math.ceil(total / live.length));

  const give = (pipeline: string, worker: string) => {
    owner.set(pipeline, worker);
    load.set(worker, load.get(worker)! + weightOf.get(pipeline)!);
  };
  const take = (pipeline: string) => {
    const worker = owner.get(pipeline)!;
    owner.delete(pipeline);
    load.set(worker, load.get(worker)! - weightOf.get(pipeline)!);
  };
  const leastLoaded = (candidates: readonly WorkerBid[]) =>
    candidates.reduce((best, w) => (load.get(w.id)! < load.get(best.id)! ? w : best));

  // 1. Sticky: a pipeline stays with the (first, by id) eligible worker that runs it, within the fair share.
  for (const pipeline of assignable) {
    const current = eligible
      .get(pipeline.name)!
      .find((w) => w.owned.includes(pipeline.name) && load.get(w.id)! + weightOf.get(pipeline.name)! <= cap);
    if (current !== undefined) give(pipeline.name, current.id);
  }
  // 2. The rest, heaviest first, each to the least loaded worker that may run it.
  const rest = assignable
    .filter((p) => !owner.has(p.name))
    .sort((a, b) => weightOf.get(b.name)! - weightOf.get(a.name)! || byName(a.name, b.name));
  for (const pipeline of rest) give(pipeline.name, leastLoaded(eligible.get(pipeline.name)!).id);
  // 3. Labels can crowd pipelines onto few workers: move pipelines off a worker over its share while another
  //    eligible worker stays within it (each move lowers the excess, so this ends).
  for (let moved = true; moved; ) {
    moved = false;
    for (const worker of live) {
      if (load.get(worker.id)! <= cap) continue;
      const mine = assignable.filter((p) => owner.get(p.name) === worker.id);
      for (const pipeline of mine) {
        const w = weightOf.get(pipeline.name)!;
        const target = eligible
          .get(pipeline.name)!
          .filter((c) => c.id !== worker.id && load.get(c.id)! + w <= cap);
        if (target.length === 0) continue;
        take(pipeline.name);
        give(pipeline.name, leastLoaded(target).id);
        moved = true;
        break;
      }
    }
  }
  for (const [pipeline, worker] of owner) byWorker.get(worker)!.push(pipeline);
  for (const list of byWorker.values()) list.sort(byName);
  return { byWorker, unassigned };
}
