// The SFTP source against the real OpenSSH sshd from test/services: transport, discovery, formats,
// positions, archive/error moves, the processed-file registry and full-extract diffing.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFileCheckpointStore } from '@ferry/core';
import { type Batch, type Source, sequenceOf, silentLogger } from '@ferry/core/sdk';
import { describe, expect, it } from 'vitest';
import { createSftpSource, type SftpPosition } from '../../src/index.js';
import { connection, drop, list, remoteDir, runOnce, sftp, workDir } from '../helpers.js';

const csv = { type: 'csv' as const };

/** One pass read directly, without a runtime (so nothing is committed or acknowledged). */
async function readPass(
  source: Source<SftpPosition>,
  from: SftpPosition | undefined,
): Promise<Batch<SftpPosition>[]> {
  const batches: Batch<SftpPosition>[] = [];
  const ctx = { from, signal: new AbortController().signal, once: false, log: silentLogger() };
  for await (const batch of source.read({ ...ctx, caughtUp: () => undefined })) batches.push(batch);
  return batches;
}

/** A position as a checkpoint store gives it back (JSON). */
function checkpoint(position: SftpPosition): SftpPosition {
  return JSON.parse(JSON.stringify(position)) as SftpPosition;
}

describe('sftp transport', () => {
  it('rejects an unknown host key (no trust on first use)', async () => {
    const dir = await workDir();
    const known = join(dir, 'known_hosts');
    writeFileSync(
      known,
      '[10.9.9.9]:22 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n',
    );
    const source = createSftpSource(
      {
        connection: { ...connection(), knownHosts: known },
        paths: ['/upload/*.csv'],
        format: csv,
        key: ['id'],
      },
      { baseDir: dir },
    );
    await expect(source.discover!()).rejects.toMatchObject({
      code: 'SFTP_HOST_KEY_UNKNOWN',
      retryable: false,
    });
  });

  it('rejects a changed host key in known_hosts and a wrong pinned fingerprint', async () => {
    const dir = await workDir();
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'other')]);
    const other = readFileSync(join(dir, 'other.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
    const known = join(dir, 'known_hosts');
    writeFileSync(known, `[127.0.0.1]:${sftp.port} ${other}\n`);
    const changed = createSftpSource(
      {
        connection: { ...connection(), knownHosts: known },
        paths: ['/upload/*.csv'],
        format: csv,
        key: ['id'],
      },
      { baseDir: dir },
    );
    await expect(changed.discover!()).rejects.toMatchObject({
      code: 'SFTP_HOST_KEY_MISMATCH',
      retryable: false,
    });
    const { knownHosts: _, ...rest } = connection();
    const pinned = createSftpSource(
      {
        connection: { ...rest, hostKeyFingerprint: `SHA256:${'A'.repeat(43)}` },
        paths: ['/upload/*.csv'],
        format: csv,
        key: ['id'],
      },
      { baseDir: dir },
    );
    await expect(pinned.discover!()).rejects.toMatchObject({ code: 'SFTP_HOST_KEY_MISMATCH' });
  });

  it('accepts the right pinned fingerprint and refuses a wrong key as SFTP_AUTH_FAILED', async () => {
    const dir = await workDir();
    const pub = readFileSync(sftp.hostPublicKeyPaths[0]!, 'utf8');
    const fp = execFileSync('ssh-keygen', ['-lf', '-'], { input: pub }).toString().split(' ')[1]!;
    const { knownHosts: _, ...rest } = connection();
    const { remote, local } = remoteDir('pinned');
    drop(local, 'a.csv', 'id,name\n1,x\n');
    const ok = createSftpSource(
      {
        connection: { ...rest, hostKeyFingerprint: fp },
        paths: [`${remote}/*.csv`],
        format: csv,
        key: ['id'],
      },
      { baseDir: dir },
    );
    const found = await ok.discover!();
    expect(found.map((f) => f.name)).toEqual([`${remote}/a.csv`]);
    expect(found[0]!.details).toMatchObject({ size: 12, stable: true });
    await ok.close();
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'stranger')]);
    const bad = createSftpSource(
      {
        connection: { ...connection(), privateKeyPath: join(dir, 'stranger') },
        paths: [`${remote}/*.csv`],
        format: csv,
        key: ['id'],
      },
      { baseDir: dir },
    );
    await expect(bad.discover!()).rejects.toMatchObject({ code: 'SFTP_AUTH_FAILED', retryable: false });
  });
});

describe('sftp files to events', () => {
  it('reads CSV rows with file/line origins, rejects bad rows, archives, and skips a re-delivered file', async () => {
    const dir = await workDir();
    const { remote, local } = remoteDir('csv');
    drop(local, 'b-2024.csv', 'id,name\r\n3,c\r\n4,d,extra\r\n');
    drop(local, 'a-2024.csv', 'id,name\n1,a\n2,b\n');
    drop(local, 'ignored.csv.part', 'id,name\n9,z\n');
    const first = await runOnce(dir, { paths: [`${remote}/*.csv`], format: csv, key: ['id'] });
    expect(first.events.map((e) => (e.data as { name: string }).name)).toEqual(['a', 'b', 'c']);
    expect(JSON.parse(first.events[0]!.ferryorigin)).toMatchObject({
      file: `${remote}/a-2024.csv`,
      line: 2,
      byteOffset: 8,
    });
    expect(first.letters).toHaveLength(1);
    expect(first.letters[0]).toMatchObject({
      code: 'CSV_COLUMN_COUNT',
      origin: { file: `${remote}/b-2024.csv`, line: 3 },
    });
    expect(list(join(local, 'archive'))).toEqual(['a-2024.csv', 'b-2024.csv']);
    expect(list(local)).toEqual(['archive', 'ignored.csv.part']);
    // File-level events beside the rows: started before a file's rows, completed with its counts after them.
    const bSha = createHash('sha256').update('id,name\r\n3,c\r\n4,d,extra\r\n').digest('hex');
    expect(first.notices.map((n) => `${n.type} ${n.subject}`)).toEqual([
      `ferry.file.started ${remote}/a-2024.csv`,
      `ferry.file.completed ${remote}/a-2024.csv`,
      `ferry.file.started ${remote}/b-2024.csv`,
      `ferry.file.completed ${remote}/b-2024.csv`,
    ]);
    expect(first.notices[3]!.data).toMatchObject({
      file: `${remote}/b-2024.csv`,
      sha256: bSha,
      rowsRead: 1,
      rowsRejected: 1,
      // What the rows became, counted by the runtime: one event, the ragged row a dead letter.
      events: 1,
      deadLetters: 1,
      skipped: 0,
      size: 25,
    });
    expect(new Set(first.notices.map((n) => n.id)).size).toBe(4);
    // The same file delivered again is skipped (and archived under another name); nothing new is emitted.
    drop(local, 'a-2024.csv', 'id,name\n1,a\n2,b\n', 10_000);
    const second = await runOnce(dir, { paths: [`${remote}/*.csv`], format: csv, key: ['id'] });
    expect(second.events).toHaveLength(3);
    expect(second.notices).toHaveLength(4);
    expect(list(join(local, 'archive'))).toHaveLength(3);
    // Same name, new content: a new file.
    drop(local, 'a-2024.csv', 'id,name\n1,a2\n', 5_000);
    const third = await runOnce(dir, { paths: [`${remote}/*.csv`], format: csv, key: ['id'] });
    expect(third.events.map((e) => (e.data as { name: string }).name)).toEqual(['a', 'b', 'c', 'a2']);
  });

  it('leaves files in place with afterProcessing leave, and the registry keeps them from being read again', async () => {
    const dir = await workDir();
    const { remote, local } = remoteDir('leave');
    drop(local, 'x.csv', 'id,name\n1,a\n');
    const options = {
      paths: [`${remote}/*.csv`],
      format: csv,
      key: ['id'],
      afterProcessing: 'leave' as const,
    };
    await runOnce(dir, options);
    const again = await runOnce(dir, options);
    expect(again.events).toHaveLength(1);
    expect(list(local)).toEqual(['x.csv']);
  });

  it('rejects a fixed-width file whose trailer count is wrong, whole, into error/', async () => {
    const dir = await workDir();
    const { remote, local } = remoteDir('fixed');
    const format = {
      type: 'fixed-width' as const,
      records: [
        { prefix: 'H', role: 'header' as const, fields: [{ name: 'date', start: 2, length: 8 }] },
        {
          prefix: 'T',
          role: 'trailer' as const,
          fields: [{ name: 'count', start: 2, length: 6, type: 'integer' as const }],
        },
        {
          prefix: 'D',
          fields: [
            { name: 'id', start: 2, length: 4 },
            { name: 'name', start: 6, length: 10 },
            { name: 'amount', start: 16, length: 8, type: 'decimal' as const, decimals: 2 },
          ],
        },
      ],
      trailerCountField: 'count',
    };
    const good = 'H20240105\nD0001Smith     00012345\nD0002Jones     -0000050\nT000002\n';
    const bad = 'H20240106\nD0003Brown     00000100\nT000005\n';
    drop(local, 'a.dat', good);
    drop(local, 'b.dat', bad);
    const result = await runOnce(dir, { paths: [`${remote}/*.dat`], format, key: ['id'] });
    expect(result.events.map((e) => e.data)).toEqual([
      { id: '0001', name: 'Smith', amount: '123.45' },
      { id: '0002', name: 'Jones', amount: '-0.50' },
    ]);
    expect(result.letters).toHaveLength(1);
    expect(result.letters[0]).toMatchObject({ code: 'SFTP_FILE_REJECTED' });
    expect(result.letters[0]!.message).toMatch(/trailer says 5 detail records, the file has 1/);
    expect(list(join(local, 'error'))).toEqual(['b.dat']);
    expect(list(join(local, 'archive'))).toEqual(['a.dat']);
    expect(result.notices.map((n) => n.type)).toEqual([
      'ferry.file.started',
      'ferry.file.completed',
      'ferry.file.rejected',
    ]);
    expect(result.notices[2]!.data).toMatchObject({
      code: 'SFTP_FILE_REJECTED',
      rowsRead: 1,
      // The file is rejected whole: no events, one dead letter (the file).
      events: 0,
      deadLetters: 1,
      skipped: 0,
    });
  });

  it('rejects a file over the rejection threshold as a whole', async () => {
    const dir = await workDir();
    const { remote, local } = remoteDir('threshold');
    drop(local, 'bad.csv', 'id,name\n1,a\n2\n3\n4,d\n');
    const result = await runOnce(dir, {
      paths: [`${remote}/*.csv`],
      format: csv,
      key: ['id'],
      rejectThreshold: { maxRatio: 0.25 },
    });
    expect(result.events).toHaveLength(0);
    expect(result.letters.map((l) => l.code)).toEqual(['SFTP_FILE_REJECTED']);
    expect(list(join(local, 'error'))).toEqual(['bad.csv']);
  });

  it('reads JSON Lines and gzip files', async () => {
    const dir = await workDir();
    const { remote, local } = remoteDir('jsonl');
    const { gzipSync } = await import('node:zlib');
    drop(local, 'a.jsonl.gz', gzipSync('{"id":1,"v":"x"}\n\nnot json\n{"id":2,"v":"y"}'));
    const result = await runOnce(dir, {
      paths: [`${remote}/*.jsonl.gz`],
      format: { type: 'jsonl' },
      key: ['id'],
    });
    expect(result.events.map((e) => e.data)).toEqual([
      { id: 1, v: 'x' },
      { id: 2, v: 'y' },
    ]);
    expect(result.letters).toMatchObject([{ code: 'JSONL_INVALID', origin: { line: 3 } }]);
  });

  it('waits for a file written slowly to be stable before reading it', async () => {
    const dir = await workDir();
    const { remote, local } = remoteDir('slow');
    const path = drop(local, 'slow.csv', 'id,name\n', 0);
    let n = 0;
    const writer = setInterval(() => {
      n += 1;
      if (n <= 8) writeFileSync(path, `${n},row${n}\n`, { flag: 'a' });
    }, 150);
    try {
      const result = await runOnce(dir, {
        paths: [`${remote}/*.csv`],
        format: csv,
        key: ['id'],
        stability: { mode: 'quiet', quietMs: 1500 },
      });
      expect(result.events).toHaveLength(8);
    } finally {
      clearInterval(writer);
    }
  });

  it('reads a file only once its done-marker exists (marker mode) and removes the marker', async () => {
    const dir = await workDir();
    const { remote, local } = remoteDir('marker');
    drop(local, 'm.csv', 'id,name\n1,a\n', 0);
    const options = {
      paths: [`${remote}/*.csv`],
      format: csv,
      key: ['id'],
      stability: { mode: 'marker' as const },
    };
    const before = await runOnce(dir, options);
    expect(before.events).toHaveLength(0);
    drop(local, 'm.csv.done', '', 0);
    const after = await runOnce(dir, options);
    expect(after.events).toHaveLength(1);
    expect(list(local)).toEqual(['archive']);
  });

  it('full-extract: three days of files give read, then create/update/delete', async () => {
    const dir = await workDir();
    const { remote, local } = remoteDir('extract');
    const options = { paths: [`${remote}/*.csv`], format: csv, key: ['id'], mode: 'full-extract' as const };
    drop(local, 'day1.csv', 'id,name\n1,a\n2,b\n3,c\n');
    const day1 = await runOnce(dir, options);
    expect(day1.events.map((e) => e.ferryop)).toEqual(['read', 'read', 'read']);
    drop(local, 'day2.csv', 'id,name\n1,a\n2,B\n4,d\n');
    const day2 = await runOnce(dir, options);
    expect(day2.events.slice(3).map((e) => [e.ferryop, e.subject])).toEqual([
      ['update', '{"id":"2"}'],
      ['create', '{"id":"4"}'],
      ['delete', '{"id":"3"}'],
    ]);
    drop(local, 'day3.csv', 'id,name\n4,d\n');
    const day3 = await runOnce(dir, options);
    expect(day3.events.slice(6).map((e) => [e.ferryop, e.subject])).toEqual([
      ['delete', '{"id":"1"}'],
      ['delete', '{"id":"2"}'],
    ]);
    expect(list(join(local, 'archive'))).toEqual(['day1.csv', 'day2.csv', 'day3.csv']);
  });

  it('finishing batches are boundaries; a restart never re-reads a committed file; acknowledge moves exactly the files given, idempotently', async () => {
    const dir = await workDir();
    const { remote, local } = remoteDir('ack');
    for (const name of ['a', 'b', 'c']) drop(local, `${name}.csv`, `id\n${name}1\n${name}2\n`);
    const source = createSftpSource(
      { connection: connection(), paths: [`${remote}/*.csv`], format: csv, key: ['id'], stateDir: 'state' },
      { baseDir: dir },
    );
    try {
      const first = await readPass(source, undefined);
      // Each file: its rows, then the empty batch that finishes it and ends its commit group.
      expect(first.map((b) => [b.position.state, b.records.length, b.boundary ?? false])).toEqual([
        ['reading', 2, false],
        ['done', 0, true],
        ['reading', 2, false],
        ['done', 0, true],
        ['reading', 2, false],
        ['done', 0, true],
      ]);
      expect(first.map((b) => b.position.finishedFiles)).toEqual([0, 1, 1, 2, 2, 3]);
      const done = first.filter((b) => b.position.state === 'done').map((b) => checkpoint(b.position));
      // The process dies before any acknowledgement: from the last checkpoint nothing is read again...
      expect(await readPass(source, done[2])).toEqual([]);
      // ...and from the first one, exactly the two files whose batches were never committed.
      const again = await readPass(source, done[0]);
      expect(again.flatMap((b) => b.records.map((r) => r.key.id))).toEqual(['b1', 'b2', 'c1', 'c2']);
      expect(list(local)).toEqual(['a.csv', 'b.csv', 'c.csv']);
      // Acknowledging moves the files finished by the positions given, and only those.
      await source.acknowledge!([checkpoint(first[0]!.position), done[0]!]);
      expect(list(local)).toEqual(['archive', 'b.csv', 'c.csv']);
      await source.acknowledge!(done);
      await source.acknowledge!(done.slice(-1));
      expect(list(local)).toEqual(['archive']);
      expect(list(join(local, 'archive'))).toEqual(['a.csv', 'b.csv', 'c.csv']);
      // Registered now: a pass from no checkpoint at all finds nothing to read.
      drop(local, 'd.csv', 'id\nd1\n');
      const later = await readPass(source, undefined);
      expect(later.flatMap((b) => b.records.map((r) => r.key.id))).toEqual(['d1']);
    } finally {
      await source.close();
    }
  });

  it("every record carries a sequence: file mtime, then line; an extract's deletions after all its rows", async () => {
    const dir = await workDir();
    const { remote, local } = remoteDir('sequence');
    const options = { paths: [`${remote}/*.csv`], format: csv, key: ['id'], mode: 'full-extract' as const };
    drop(local, 'day1.csv', 'id,name\n1,a\n2,b\n3,c\n', 120_000);
    await runOnce(dir, options);
    // The server lists mtimes in whole seconds.
    const mtime =
      Math.floor(statSync(drop(local, 'day2.csv', 'id,name\n2,B\n4,d\n', 60_000)).mtimeMs / 1000) * 1000;
    const { events } = await runOnce(dir, options);
    expect(events.slice(3).map((e) => [e.ferryop, e.subject, e.sequence])).toEqual([
      ['update', '{"id":"2"}', sequenceOf(mtime, 2)],
      ['create', '{"id":"4"}', sequenceOf(mtime, 3)],
      ['delete', '{"id":"1"}', sequenceOf(mtime, Number.MAX_SAFE_INTEGER)],
      ['delete', '{"id":"3"}', sequenceOf(mtime, Number.MAX_SAFE_INTEGER)],
    ]);
    // Day 1's rows come before every change of day 2.
    expect(events[2]!.sequence! < events[3]!.sequence!).toBe(true);
  });

  it('refuses a checkpoint the sftp source could not have written (CHECKPOINT_INVALID, before any read)', async () => {
    const dir = await workDir();
    const { remote, local } = remoteDir('badcheckpoint');
    drop(local, 'a.csv', 'id\n1\n');
    await createFileCheckpointStore({ dir: join(dir, 'checkpoints') }).save('sftp-test', {
      lsn: '0/16B3748',
    });
    await expect(
      runOnce(dir, { paths: [`${remote}/*.csv`], format: csv, key: ['id'] }),
    ).rejects.toMatchObject({
      code: 'CHECKPOINT_INVALID',
    });
    expect(list(local)).toEqual(['a.csv']);
  });

  it('each batch says how far through its file the read is (bytes) and how old the file is', async () => {
    const dir = await workDir();
    const { remote, local } = remoteDir('progress');
    const content = `id,name\n${Array.from({ length: 50 }, (_, i) => `${i},n${i}`).join('\n')}\n`;
    const path = drop(local, 'p.csv', content, 120_000);
    const mtime = statSync(path).mtime;
    const source = createSftpSource(
      {
        connection: connection(),
        paths: [`${remote}/*.csv`],
        format: csv,
        key: ['id'],
        stateDir: 'state',
        batchSize: 10,
      },
      { baseDir: dir },
    );
    let batches: Batch<SftpPosition>[];
    try {
      batches = await readPass(source, undefined);
    } finally {
      await source.close();
    }
    const done = batches.map((b) => b.progress!.done);
    expect(batches.length).toBeGreaterThanOrEqual(5);
    for (const b of batches) {
      expect(b.progress).toMatchObject({ label: `${remote}/p.csv`, total: content.length, unit: 'bytes' });
      expect(b.progress!.done).toBeLessThanOrEqual(content.length);
      expect(Math.floor(b.sourceTime!.getTime() / 1000)).toBe(Math.floor(mtime.getTime() / 1000));
    }
    expect(done).toEqual([...done].sort((a, b) => a - b));
    expect(done[0]).toBeGreaterThan(0);
    expect(done[0]).toBeLessThan(content.length);
    expect(done.at(-1)).toBe(content.length);
  });

  it('corrected files: a file with the business key of an earlier one emits only the differences', async () => {
    const dir = await workDir();
    const { remote, local } = remoteDir('corrected');
    const options = {
      paths: [`${remote}/*.csv`],
      format: csv,
      key: ['case'],
      order: 'mtime' as const,
      businessKey: { pattern: '^(?<court>[A-Z]+)_(?<date>\\d{8})' },
    };
    drop(
      local,
      'LEEDS_20261123.csv',
      'case,defendant,time\nC1,Smith,10:00\nC2,Jones,10:30\nC3,Brown,11:00\n',
      90_000,
    );
    drop(local, 'YORK_20261123.csv', 'case,defendant,time\nY1,Green,10:00\n', 80_000);
    const first = await runOnce(dir, options);
    expect(first.events.map((e) => [e.ferryop, e.subject])).toEqual([
      ['read', '{"case":"C1"}'],
      ['read', '{"case":"C2"}'],
      ['read', '{"case":"C3"}'],
      ['read', '{"case":"Y1"}'],
    ]);
    // The corrected Leeds list for the same sitting: C2 moved, C3 withdrawn, C4 added. York is untouched.
    drop(
      local,
      'LEEDS_20261123_v2.csv',
      'case,defendant,time\nC1,Smith,10:00\nC2,Jones,14:00\nC4,White,15:00\n',
      20_000,
    );
    // Another sitting day of the same court is a new list, not a correction.
    drop(local, 'LEEDS_20261124.csv', 'case,defendant,time\nC9,Black,09:30\n', 10_000);
    const second = await runOnce(dir, options);
    expect(second.events.slice(4).map((e) => [e.ferryop, e.subject])).toEqual([
      ['update', '{"case":"C2"}'],
      ['create', '{"case":"C4"}'],
      ['delete', '{"case":"C3"}'],
      ['read', '{"case":"C9"}'],
    ]);
    const completed = second.notices.filter((n) => n.type === 'ferry.file.completed');
    expect(completed[2]!.data).toMatchObject({
      file: `${remote}/LEEDS_20261123_v2.csv`,
      businessKey: { court: 'LEEDS', date: '20261123' },
      supersedes: { file: `${remote}/LEEDS_20261123.csv` },
    });
    expect(completed[3]!.data).toMatchObject({ supersedes: null });
    // A name without the business key cannot be placed: rejected whole.
    drop(local, 'notes.csv', 'case,defendant,time\nX,Y,Z\n', 5_000);
    const third = await runOnce(dir, options);
    expect(third.letters.at(-1)).toMatchObject({ code: 'SFTP_FILE_REJECTED' });
    expect(list(join(local, 'error'))).toEqual(['notes.csv']);
  });
});
