// `npx ferry` at the repository root: npm links the `ferry` bin at install time, before the build, so the
// bin is a committed, executable shim that loads dist/bin.js and says what to do when it is not built yet.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const cli = join(import.meta.dirname, '..', '..');
const manifest = JSON.parse(readFileSync(join(cli, 'package.json'), 'utf8'));

describe('the ferry bin', () => {
  it('is a committed, executable file that the published package includes', () => {
    const bin: string = manifest.bin.ferry;
    expect(bin).toBe('./bin/ferry.js');
    // A checkout gives the file git's mode, so this fails on a fresh clone if the commit lost the bit.
    expect(statSync(join(cli, bin)).mode & 0o111).not.toBe(0);
    expect(manifest.files).toContain('bin');
  });

  it('says to build first, and exits 1, when dist/bin.js does not exist', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-bin-'));
    try {
      mkdirSync(join(dir, 'bin'));
      copyFileSync(join(cli, 'bin', 'ferry.js'), join(dir, 'bin', 'ferry.js'));
      const run = spawnSync(process.execPath, [join(dir, 'bin', 'ferry.js'), '--help'], { encoding: 'utf8' });
      expect(run.status).toBe(1);
      expect(run.stderr).toContain('the CLI is not built yet');
      expect(run.stderr).toContain('npm run build');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs the built CLI', () => {
    const run = spawnSync(process.execPath, [join(cli, 'bin', 'ferry.js'), '--help'], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('Usage: ferry');
  });
});
