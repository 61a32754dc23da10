// The snapshot-diff engine over an embedded SQLite store: first snapshot reads, then creates, updates and
// deletes; re-observing after a crash is harmless.
import { describe, expect, it } from 'vitest';
import { openStateDatabase, SnapshotDiff } from '../../src/sdk.js';

const rows = (o: Record<string, string>) =>
  Object.entries(o).map(([key, name]) => ({ key, row: { id: key, name } }));

describe('SnapshotDiff', () => {
  it('diffs three snapshots', () => {
    const db = openStateDatabase(':memory:');
    const diff = new SnapshotDiff(db, 's', undefined);
    const commit = (generation: string) => diff.handoff(generation).promote();
    diff.begin('g1');
    expect(diff.observeMany('g1', rows({ a: '1', b: '2', c: '3' })).map((o) => o.op)).toEqual([
      'read',
      'read',
      'read',
    ]);
    expect(diff.deletions('g1', undefined, 10)).toEqual([]);
    commit('g1');
    diff.begin('g2');
    const ops = diff.observeMany('g2', rows({ a: '1', b: 'two', d: '4' }));
    expect(ops.map((o) => o.op)).toEqual(['unchanged', 'update', 'create']);
    expect(ops[1]!.before).toEqual({ id: 'b', name: '2' });
    // Observing again (a resumed file) gives the same answers.
    expect(diff.observeMany('g2', rows({ a: '1' })).map((o) => o.op)).toEqual(['unchanged']);
    expect(diff.deletions('g2', undefined, 10)).toEqual([{ key: 'c', before: { id: 'c', name: '3' } }]);
    commit('g2');
    commit('g2');
    diff.begin('g3');
    diff.observeMany('g3', rows({ d: '4' }));
    expect(diff.deletions('g3', undefined, 1).map((d) => d.key)).toEqual(['a']);
    expect(diff.deletions('g3', 'a', 10).map((d) => d.key)).toEqual(['b']);
    db.close();
  });

  it('a staged baseline is promoted only after its checkpoint: settled against the checkpoint a read starts from', () => {
    const db = openStateDatabase(':memory:');
    const first = new SnapshotDiff(db, 's', undefined);
    first.begin('g1');
    first.observeMany('g1', rows({ a: '1' }));
    first.handoff('g1').promote();
    first.begin('g2');
    first.observeMany('g2', rows({ b: '2' }));
    // Staged for checkpoint P2, then the process died before the checkpoint was saved: the read starts from
    // P1, so g1 stays the baseline and g2 is compared with it again.
    first.handoff('g2').stage('"P2"');
    const notSaved = new SnapshotDiff(db, 's', 'P1');
    expect(notSaved.baseline()).toBe('g1');
    expect(notSaved.deletions('g2', undefined, 10).map((d) => d.key)).toEqual(['a']);
    // Staged again, and this time the checkpoint was saved before the crash: the read starts from P2.
    notSaved.handoff('g2').stage('"P2"');
    const saved = new SnapshotDiff(db, 'other-scope', 'P2');
    expect(new SnapshotDiff(db, 's', 'P2').baseline()).toBe('g2');
    expect(saved.baseline()).toBeUndefined();
    db.close();
  });
});
