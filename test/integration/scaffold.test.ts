// `ferry new source` and `ferry new pipeline` produce packages that build, lint and pass their tests with
// no edit. They are generated outside the repository (a temp dir that borrows the repo's node_modules).
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const bin = (name: string) => join(root, 'node_modules', '.bin', name);
const ferry = join(root, 'packages', 'cli', 'dist', 'bin.js');

async function workspace(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-scaffold-'));
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

async function buildLintTest(dir: string): Promise<string> {
  await run(bin('tsc'), ['-b', dir]);
  await run(bin('biome'), ['check', `--config-path=${root}`, dir]);
  const { stdout } = await run(bin('vitest'), ['run', '--root', dir], {
    env: { ...process.env, CI: 'true' },
  });
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strip terminal colours from the runner's output
  return stdout.replace(/\u001b\[[0-9;]*m/g, '');
}

describe('ferry new', () => {
  it('scaffolds a source package that builds, lints and passes its conformance test unedited', async () => {
    const dir = await workspace();
    const dest = join(dir, 'legacy-crm');
    const { stdout } = await run(process.execPath, [ferry, 'new', 'source', 'legacy-crm', '--dir', dest], {
      stdio: 'pipe',
    } as never);
    expect(stdout).toContain('created source package legacy-crm');
    const index = await readFile(join(dest, 'src', 'index.ts'), 'utf8');
    expect(index).toContain('export function createLegacyCrmSource');
    expect(index).toContain("type: 'legacy-crm'");
    expect(index).not.toMatch(/template/i);
    const output = await buildLintTest(dest);
    expect(output).toMatch(/Tests\s+13 passed/);
    // Its `npm test` filters the repository's runner to its own folder, wherever it was put.
    expect(JSON.parse(await readFile(join(dest, 'package.json'), 'utf8')).scripts.test).toBe(
      `vitest run --root ${relative(dest, root)} ${relative(root, dest)}/`,
    );
  }, 180_000);

  it("gives each package in the repository an `npm test` that runs only that package's tests", async () => {
    for (const group of ['packages', 'templates', 'examples']) {
      for (const name of await readdir(join(root, group))) {
        const manifest = await readFile(join(root, group, name, 'package.json'), 'utf8').catch(() => null);
        if (manifest === null) continue;
        const script: string | undefined = JSON.parse(manifest).scripts?.test;
        if (script?.includes('--root ../..'))
          expect(script).toBe(`vitest run --root ../.. ${group}/${name}/`);
      }
    }
    // The template `ferry new source` copies: its 13 conformance tests, not the repository's suite.
    const { stdout } = await run('npm', ['test'], {
      cwd: join(root, 'templates', 'source'),
      env: { ...process.env, CI: 'true' },
    });
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strip terminal colours from the runner's output
    const plain = stdout.replace(/\u001b\[[0-9;]*m/g, '');
    expect(plain).toMatch(/Test Files\s+1 passed \(1\)/);
    expect(plain).toMatch(/Tests\s+13 passed \(13\)/);
  }, 120_000);

  it('scaffolds a pipeline with a typed mapping against a contract that runs on its sample data', async () => {
    const dir = await workspace();
    const dest = join(dir, 'court-hearings');
    await run(process.execPath, [
      ferry,
      'new',
      'pipeline',
      'court-hearings',
      '--dir',
      dest,
      '--contract',
      'justice.hearing@1.0.0',
      '--repository',
      join(root, 'examples', 'justice-model', 'contracts'),
    ]);
    const output = await buildLintTest(dest);
    expect(output).toMatch(/Tests\s+1 passed/);
  }, 180_000);

  it('makes a project, and inside it a source as a plugin package wired into the project', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-project-'));
    const project = join(dir, 'legacy-integration');
    const made = await run(process.execPath, [ferry, 'new', 'project', project, '--connectors', 'sftp']);
    expect(made.stdout).toContain(`created project in ${project}`);
    const manifest = JSON.parse(await readFile(join(project, 'package.json'), 'utf8'));
    expect(manifest).toMatchObject({
      name: 'legacy-integration',
      workspaces: ['connectors/*'],
      dependencies: { '@ferry/cli': '^0.1.0', '@ferry/database': '^0.1.0', '@ferry/sftp': '^0.1.0' },
      devDependencies: { '@ferry/testkit': '^0.1.0' },
    });
    expect(manifest.dependencies['@ferry/kafka']).toBeUndefined();
    expect(await readFile(join(project, '.gitignore'), 'utf8')).toContain('node_modules/');

    const source = await run(process.execPath, [ferry, 'new', 'source', 'vsam-export'], {
      cwd: join(project, 'pipelines'),
    });
    expect(source.stdout).toContain('created plugin package ferry-source-vsam-export');
    const plugin = join(project, 'connectors', 'vsam-export');
    expect(JSON.parse(await readFile(join(plugin, 'package.json'), 'utf8'))).toMatchObject({
      name: 'ferry-source-vsam-export',
      private: true,
      scripts: { test: 'vitest run' },
      peerDependencies: { '@ferry/core': '^0.1.0' },
    });
    expect(JSON.parse(await readFile(join(plugin, 'tsconfig.json'), 'utf8')).extends).toBe(
      '../../tsconfig.base.json',
    );
    expect(await readFile(join(plugin, 'src', 'index.ts'), 'utf8')).toContain(
      "name: 'ferry-source-vsam-export'",
    );
    expect(JSON.parse(await readFile(join(project, 'tsconfig.json'), 'utf8')).references).toEqual([
      { path: 'connectors/vsam-export' },
    ]);
    const pipeline = await readFile(join(project, 'pipelines', 'vsam-export.yaml'), 'utf8');
    expect(pipeline).toContain('  type: vsam-export\n  plugin: ferry-source-vsam-export\n');

    const again = await run(process.execPath, [ferry, 'new', 'project', project]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(again).toMatchObject({ code: 2, stderr: expect.stringContaining('exists and is not empty') });
  });

  it('refuses a bad name and, without a terminal, a missing name', async () => {
    const bad = await run(process.execPath, [ferry, 'new', 'source', 'Bad Name']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad).toMatchObject({ code: 2 });
    const missing = await run(process.execPath, [ferry, 'new', 'source']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(missing).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('required when not run in a terminal'),
    });
  });
});
