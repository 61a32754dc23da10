// The snapshot-diff engine over an embedded SQLite store: first snapshot reads, then creates, updates and
// deletes; re-observing after a crash is harmless.
import { describe, expect, it } from 'vitest';
import { openStateDatabase, SnapshotDiff } from '../../src/index.js';

const rows = (o: Record<string, string>) =>
  Object.entries(o).map(([key, name]) => ({ key, row: { id: key, name } }));

describe('SnapshotDiff', () => {
  it('diffs three snapshots', () => {
    const db = openStateDatabase(':memory:');
    const diff = new SnapshotDiff(db, 's');
    diff.begin('g1');
    expect(diff.observeMany('g1', rows({ a: '1', b: '2', c: '3' })).map((o) => o.op)).toEqual([
      'read',
      'read',
      'read',
    ]);
    expect(diff.deletions('g1', undefined, 10)).toEqual([]);
    diff.commit('g1');
    diff.begin('g2');
    const ops = diff.observeMany('g2', rows({ a: '1', b: 'two', d: '4' }));
    expect(ops.map((o) => o.op)).toEqual(['unchanged', 'update', 'create']);
    expect(ops[1]!.before).toEqual({ id: 'b', name: '2' });
    // Observing again (a resumed file) gives the same answers.
    expect(diff.observeMany('g2', rows({ a: '1' })).map((o) => o.op)).toEqual(['unchanged']);
    expect(diff.deletions('g2', undefined, 10)).toEqual([{ key: 'c', before: { id: 'c', name: '3' } }]);
    diff.commit('g2');
    diff.commit('g2');
    diff.begin('g3');
    diff.observeMany('g3', rows({ d: '4' }));
    expect(diff.deletions('g3', undefined, 1).map((d) => d.key)).toEqual(['a']);
    expect(diff.deletions('g3', 'a', 10).map((d) => d.key)).toEqual(['b']);
    db.close();
  });
});
