// Ferry outside its repository, as a user gets it: every @ferry package packed with `npm pack`, a project
// made by `ferry new project` in a temporary folder outside the checkout, the tarballs installed there
// (third-party packages from the npm registry through the shared npm cache; no workspace links), then a
// source scaffolded with the installed `ferry new source`, built, tested, and run with `npx ferry run`.
// Runs alone with `npm run test:packed` (vitest project `packed`), e.g. under another Node version.
import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '..', '..');
const repoCli = join(repo, 'packages', 'cli', 'dist', 'bin.js');

/** What a project needs: the CLI and everything it depends on, plus the test kit a plugin's tests use. */
const PACKAGES = [
  'core',
  'contracts',
  'database',
  'sftp',
  'soap',
  'kafka',
  'ops',
  'server',
  'api',
  'webhooks',
  'cli',
  'testkit',
];

// The running Node's own folder first on PATH, so npm, npx and the scripts they start run on the Node
// this test runs on (the CI matrix runs it under 22 and 24 too).
const nodeBin = dirname(process.execPath);
const prefix = dirname(nodeBin);
const env: NodeJS.ProcessEnv = {
  ...process.env,
  PATH: `${nodeBin}${delimiter}${process.env.PATH ?? ''}`,
  CI: 'true',
  FERRY_LOG_LEVEL: 'warn',
  // better-sqlite3 compiles from source here: give node-gyp the running Node's headers, not whatever
  // `nodedir` the machine's npm config names (a Node 20 build loads nowhere else).
  // biome-ignore lint/suspicious/noUndeclaredEnvVars: read by npm in a child process, not by a turbo task
  ...(process.env.npm_config_nodedir === undefined &&
  existsSync(join(prefix, 'include', 'node', 'node_version.h'))
    ? { npm_config_nodedir: prefix }
    : {}),
};
// The variables this vitest sets for its own workers (VITEST, VITEST_POOL_ID, …) are not the project's.
for (const key of Object.keys(env)) if (key.startsWith('VITEST')) delete env[key];

interface Output {
  stdout: string;
  stderr: string;
}

/** Run a command in `cwd`; a failure says which command, where, and the end of what it printed. */
function sh(cwd: string, command: string, args: string[], timeoutMs: number): Promise<Output> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          const tail = `${stdout}\n${stderr}`.trim().split('\n').slice(-40).join('\n');
          reject(new Error(`${command} ${args.join(' ')} (in ${cwd}) failed: ${error.message}\n${tail}`));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

const MINUTE = 60_000;
// biome-ignore lint/suspicious/noControlCharactersInRegex: strip terminal colours from the runners' output
const plain = (text: string): string => text.replace(/\u001b\[[0-9;]*m/g, '');

let base: string;
let project: string;
let tarballs: string[];
let install: Output;

beforeAll(async () => {
  if (!existsSync(repoCli)) throw new Error('the packages are not built: run `npm run build` first');
  base = await mkdtemp(join(tmpdir(), 'ferry-packed-'));
  expect(relative(repo, base).startsWith('..')).toBe(true);

  // `npm pack` of each workspace (the CLI's prepack hook adds the templates `ferry new` copies).
  await sh(
    repo,
    'npm',
    ['pack', '--pack-destination', base, ...PACKAGES.flatMap((p) => ['-w', `@ferry/${p}`])],
    2 * MINUTE,
  );
  tarballs = (await readdir(base)).filter((f) => f.endsWith('.tgz')).map((f) => join(base, f));
  expect(tarballs).toHaveLength(PACKAGES.length);

  await sh(
    base,
    process.execPath,
    [repoCli, 'new', 'project', 'app', '--connectors', 'database,kafka'],
    MINUTE,
  );
  project = join(base, 'app');

  // One install of every tarball together: they depend on each other by version (0.1.0), which only the
  // tarballs can satisfy. better-sqlite3 has no prebuilt binary reachable here and compiles from source:
  // about a minute alone, two to three on a loaded two-core machine; 10 minutes leaves room for a
  // concurrent test run without hiding a hang.
  install = await sh(
    project,
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', ...tarballs],
    10 * MINUTE,
  );
}, 15 * MINUTE);

// The project's node_modules is a few hundred megabytes: never leave it behind.
afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

describe('a project outside the repository, from packed packages', () => {
  it('installs the packages themselves, not links into this checkout', async () => {
    for (const name of PACKAGES) {
      const dir = join(project, 'node_modules', '@ferry', name);
      expect((await lstat(dir)).isSymbolicLink(), `@ferry/${name} is a link`).toBe(false);
      expect(relative(base, realpathSync(dir)).startsWith('..')).toBe(false);
    }
    const manifest = JSON.parse(await readFile(join(project, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(manifest.dependencies['@ferry/cli']).toMatch(/^file:.*ferry-cli-0\.1\.0\.tgz$/);
    expect(manifest.dependencies['@ferry/kafka']).toBeDefined();
  });

  it(`installs on Node ${process.versions.node} without an engine warning`, () => {
    // What a user sees first: every package Ferry pulls in accepts the Node versions Ferry supports.
    expect(plain(`${install.stdout}\n${install.stderr}`)).not.toMatch(/EBADENGINE/);
  });

  it('runs its example pipeline and its test as generated', async () => {
    const start = await sh(project, 'npm', ['start'], 2 * MINUTE);
    expect(start.stdout).toContain('customers: read 3 records, wrote 3 events, 0 dead letters');
    const test = await sh(project, 'npm', ['test'], 3 * MINUTE);
    expect(plain(test.stdout)).toMatch(/Tests\s+1 passed/);
  });

  it('the installed CLI makes the same project as the checkout’s', async () => {
    await sh(project, 'npx', ['--no', 'ferry', 'new', 'project', '../twin'], MINUTE);
    const list = async (dir: string): Promise<string[]> =>
      (await readdir(dir, { recursive: true, withFileTypes: true }))
        .filter(
          (e) => e.isFile() && !e.parentPath.includes('node_modules') && !e.name.startsWith('legacy.db'),
        )
        .map((e) => relative(dir, join(e.parentPath, e.name)))
        .filter((f) => !f.startsWith('pipelines/.ferry') && f !== 'package-lock.json')
        .sort();
    expect(await list(join(base, 'twin'))).toEqual(await list(project));
    expect(await readFile(join(base, 'twin', '.gitignore'), 'utf8')).toContain('node_modules/');
  });

  it(
    'scaffolds a plugin with `ferry new source` that builds, passes its tests and runs with `npx ferry run`',
    async () => {
      const created = await sh(project, 'npx', ['--no', 'ferry', 'new', 'source', 'legacy-crm'], MINUTE);
      expect(created.stdout).toContain('created plugin package ferry-source-legacy-crm');
      expect(created.stdout).toContain('pipelines/legacy-crm.yaml reads its sample data with it');
      const index = await readFile(join(project, 'connectors', 'legacy-crm', 'src', 'index.ts'), 'utf8');
      expect(index).toContain('export const ferryPlugin = definePlugin(');
      expect(index).not.toMatch(/template/i);

      // The new workspace is linked by an install that needs nothing new from anywhere.
      await sh(project, 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], 3 * MINUTE);
      expect((await lstat(join(project, 'node_modules', 'ferry-source-legacy-crm'))).isSymbolicLink()).toBe(
        true,
      );
      await sh(project, 'npm', ['run', 'build'], 3 * MINUTE);
      expect(existsSync(join(project, 'connectors', 'legacy-crm', 'dist', 'index.js'))).toBe(true);
      const tests = await sh(project, 'npm', ['test', '-w', 'ferry-source-legacy-crm'], 3 * MINUTE);
      expect(plain(tests.stdout)).toMatch(/Tests\s+13 passed/);

      const validate = await sh(
        project,
        'npx',
        ['--no', 'ferry', 'validate', 'pipelines/legacy-crm.yaml'],
        MINUTE,
      );
      expect(validate.stdout).toMatch(
        /note: plugin ferry-source-legacy-crm 0\.1\.0 \(plugin API 1\) from .*node_modules\/ferry-source-legacy-crm\/dist\/index\.js: source legacy-crm/,
      );
      const run = await sh(
        project,
        'npx',
        ['--no', 'ferry', 'run', 'pipelines/legacy-crm.yaml', '--once'],
        2 * MINUTE,
      );
      expect(run.stdout).toContain('legacy-crm: read 3 records, wrote 3 events, 0 dead letters');
      const events = (
        await readFile(join(project, 'pipelines', '.ferry', 'events', 'example.customer.v1.jsonl'), 'utf8')
      )
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((event) => event.source === '/ferry/legacy-crm/export');
      expect(events.map((e) => [e.type, e.subject, e.data])).toEqual([
        [
          'example.customer.snapshotted',
          '2001',
          { customerId: '2001', name: 'Grace Hopper', email: 'grace@example.org' },
        ],
        ['example.customer.snapshotted', '2002', { customerId: '2002', name: 'Alan Turing', email: null }],
        [
          'example.customer.snapshotted',
          '2003',
          { customerId: '2003', name: 'Katherine Johnson', email: 'katherine@example.org' },
        ],
      ]);
      expect(events.every((e) => e.dataschema === 'urn:ferry:contract:example.customer:1.0.0')).toBe(true);

      const docs = await sh(project, 'npx', ['--no', 'ferry', 'docs', 'pipelines/legacy-crm.yaml'], MINUTE);
      expect(docs.stdout).toContain('## `source.type: legacy-crm`');
      expect(docs.stdout).toContain('(plugin `ferry-source-legacy-crm`)');
      // Each step above has its own bound; together they stay far below this one.
    },
    15 * MINUTE,
  );
});
