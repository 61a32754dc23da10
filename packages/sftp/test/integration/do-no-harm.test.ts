// The SFTP source on a legacy server's real folder tree (the real sshd): it reads, moves and deletes only the
// files its paths match, and only after their batches are committed; everything else is left exactly as it
// was (content, size, mtime), even with afterProcessing: delete.
import { createHash } from 'node:crypto';
import { chownSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { drop, remoteDir, runOnce, workDir } from '../helpers.js';

/** Every file under `root`, by relative path, with what would show it was touched. */
function tree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else {
        const stat = statSync(path);
        const sha = createHash('sha256').update(readFileSync(path)).digest('hex');
        out.set(relative(root, path), `${stat.size} ${stat.mtimeMs} ${stat.mode} ${sha}`);
      }
    }
  };
  walk(root);
  return out;
}

describe('sftp: do no harm to the legacy folder tree', () => {
  it('deletes exactly the matched files it committed; every other file is untouched', async () => {
    const dir = await workDir();
    const { remote, local } = remoteDir('harm');
    const inbox = join(local, 'in');
    // Folders owned by the SFTP user, as remoteDir's own.
    const { uid, gid } = statSync(local);
    for (const folder of [inbox, join(inbox, 'sub'), join(local, 'other')]) {
      mkdirSync(folder, { recursive: true });
      chownSync(folder, uid, gid);
    }
    drop(inbox, 'a.csv', 'id,name\n1,a\n2,b\n');
    // Not matched by in/*.csv: another extension, upper case, a dot file, a subfolder, a sibling folder,
    // and an upload in progress under the ignore pattern.
    drop(inbox, 'notes.txt', 'keep me\n');
    drop(inbox, 'B.CSV', 'id,name\n9,z\n');
    drop(inbox, '.hidden.csv', 'id,name\n8,y\n');
    drop(join(inbox, 'sub'), 'c.csv', 'id,name\n7,x\n');
    drop(join(local, 'other'), 'd.csv', 'id,name\n6,w\n');
    drop(inbox, 'e.csv.part', 'id,name\n5,v\n');
    const before = tree(local);

    const result = await runOnce(dir, {
      paths: [`${remote}/in/*.csv`],
      format: { type: 'csv' },
      key: ['id'],
      afterProcessing: 'delete',
      ignore: ['*.part'],
    });

    expect(result.events.map((e) => e.data)).toEqual([
      { id: '1', name: 'a' },
      { id: '2', name: 'b' },
    ]);
    const after = tree(local);
    const expected = new Map(before);
    expected.delete('in/a.csv');
    expect(after).toEqual(expected);
  });

  it('archives only into its configured folder, and a file it rejects only into the error folder', async () => {
    const dir = await workDir();
    const { remote, local } = remoteDir('harm-archive');
    drop(local, 'good.csv', 'id,name\n1,a\n');
    drop(local, 'bad.csv', 'id,name\n1\n2\n3\n');
    drop(local, 'keep.txt', 'not mine\n');
    const before = tree(local);

    await runOnce(dir, {
      paths: [`${remote}/*.csv`],
      format: { type: 'csv' },
      key: ['id'],
      rejectThreshold: { maxRows: 1 },
    });

    const after = tree(local);
    expect([...after.keys()].sort()).toEqual(['archive/good.csv', 'error/bad.csv', 'keep.txt']);
    expect(after.get('keep.txt')).toBe(before.get('keep.txt'));
    // Moved, not rewritten: the same bytes under the new name.
    expect(after.get('archive/good.csv')?.split(' ').at(-1)).toBe(before.get('good.csv')?.split(' ').at(-1));
    expect(after.get('error/bad.csv')?.split(' ').at(-1)).toBe(before.get('bad.csv')?.split(' ').at(-1));
  });
});
