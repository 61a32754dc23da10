// The SFTP source on a legacy server's real folder tree (the real sshd): it reads, moves and deletes only the
// files its paths match, and only after their batches are committed; everything else is left exactly as it
// was (content, size, mtime), even with afterProcessing: delete. And it never opens more connections to a
// host than `connection.maxSessions`, however many pipelines the process runs on it.
import { createHash } from 'node:crypto';
import { chownSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { silentLogger } from '@ferry/core/sdk';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../../examples/quickstart/test/cli.js';
import { sftpSessionStats, sftpSourceConfigSchema } from '../../src/index.js';
import { SftpConnection } from '../../src/internal/transport.js';
import { connection, drop, remoteDir, runOnce, sftp, workDir } from '../helpers.js';

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

describe('sftp: sessions per host (connection.maxSessions)', () => {
  const host = `${sftp.host}:${sftp.port}`;

  /** A pipeline over a fresh folder of `files` small files, archiving them. */
  async function pipeline(name: string, files: number, maxSessions: number) {
    const dir = await workDir();
    const { remote, local } = remoteDir(name);
    for (let i = 0; i < files; i += 1) drop(local, `f${i}.csv`, `id,name\n${i},n${i}\n`);
    const options = {
      paths: [`${remote}/*.csv`],
      format: { type: 'csv' as const },
      key: ['id'],
      connection: { ...connection(), maxSessions },
    };
    return { dir, local, options };
  }

  it('three pipelines on one host with maxSessions 1 take turns: never two connections, nothing lost', async () => {
    const pipelines = await Promise.all([1, 2, 3].map((n) => pipeline(`sessions-one-${n}`, 3, 1)));
    sftpSessionStats();
    const results = await Promise.all(pipelines.map((p) => runOnce(p.dir, p.options)));
    expect(sftpSessionStats()[host]).toEqual({ inUse: 0, peak: 1, waiting: 0 });
    for (const [i, result] of results.entries()) {
      // Each read all its files and moved them (on its pass's connection: a cap of 1 cannot deadlock).
      expect(result.events).toHaveLength(3);
      expect(readdirSync(pipelines[i]!.local)).toEqual(['archive']);
    }
  });

  it('with the default of 2, three pipelines never have more than two connections open', async () => {
    const pipelines = await Promise.all([1, 2, 3].map((n) => pipeline(`sessions-two-${n}`, 3, 2)));
    sftpSessionStats();
    const results = await Promise.all(pipelines.map((p) => runOnce(p.dir, p.options)));
    expect(sftpSessionStats()[host]?.peak).toBeLessThanOrEqual(2);
    for (const result of results) expect(result.events).toHaveLength(3);
  });

  it('a pass waiting for a free session ends at once when the run stops, having opened nothing', async () => {
    const { dir, options } = await pipeline('sessions-wait', 1, 1);
    // Another holder of the only session (as another pipeline's long pass would be).
    const config = sftpSourceConfigSchema.parse(options).connection;
    const holder = new SftpConnection(config, dir, silentLogger());
    expect(await holder.connect()).toBe(true);
    try {
      const stop = new AbortController();
      const run = runOnce(dir, options, { signal: stop.signal, once: false });
      await waitFor(() => sftpSessionStats()[host]?.waiting === 1, 10_000, 'the pass to wait for a session');
      stop.abort();
      const result = await run;
      expect(result.events).toHaveLength(0);
      expect(sftpSessionStats()[host]?.inUse).toBe(1);
    } finally {
      await holder.end();
    }
    expect(sftpSessionStats()[host]?.inUse).toBe(0);
  });
});
