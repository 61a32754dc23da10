// The SFTP position schema the runtime checks a loaded checkpoint against (CHECKPOINT_INVALID).
import { describe, expect, it } from 'vitest';
import { sftpPositionSchema, sftpSourceFactory } from '../../src/index.js';

const sha256 = 'a'.repeat(64);
const position = {
  v: 1,
  file: '/upload/a.csv',
  size: 12,
  mtime: 1_780_000_000_000,
  sha256,
  line: 3,
  state: 'reading',
  rows: 2,
  rejectedRows: 0,
  finishedFiles: 4,
};

describe('sftp positions', () => {
  it('the factory declares the schema, so hosts check checkpoints before a read', () => {
    expect(sftpSourceFactory.positionSchema).toBe(sftpPositionSchema);
    expect(sftpPositionSchema.safeParse(position).success).toBe(true);
  });

  it('accepts a checkpoint of the previous version (a finished list, no finishedFiles)', () => {
    const { finishedFiles: _, ...older } = position;
    const result = sftpPositionSchema.safeParse({ ...older, state: 'done', finished: [older] });
    expect(result.success).toBe(true);
  });

  it.each([
    ['another source', { lsn: '0/16B3748' }, 'v'],
    ['a negative line', { ...position, line: -1 }, 'line'],
    ['an unknown state', { ...position, state: 'archived' }, 'state'],
    ['a sha256 that is not one', { ...position, sha256: 'xyz' }, 'sha256'],
  ])('refuses %s, naming the path', (_name, value, path) => {
    const result = sftpPositionSchema.safeParse(value);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path.join('.'))).toContain(path);
  });
});
