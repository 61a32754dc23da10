// Plugins named by a pipeline file: resolved from the file's own project (a node_modules folder written
// here, outside the repository), checked, and refused with one code per kind of mistake.
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  ConfigError,
  createRegistry,
  defineFactory,
  definePlugin,
  PLUGIN_API_VERSION,
  parsePipelineConfig,
  type Registry,
  registerPlugin,
  type Sink,
  type Source,
} from '@ferry/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const repo = join(import.meta.dirname, '..', '..', '..', '..');

/** A plugin module: a source factory of `type`, written as a plugin author would in plain JavaScript. */
const sourcePlugin = (name: string, type: string, apiVersion = 'PLUGIN_API_VERSION') => `
import { defineFactory, definePlugin, PLUGIN_API_VERSION } from '@ferry/core/sdk';
import { z } from 'zod';
export const ferryPlugin = definePlugin({
  apiVersion: ${apiVersion},
  name: '${name}',
  sources: [
    defineFactory({
      type: '${type}',
      description: 'Lines of a legacy export.',
      configSchema: z.object({ path: z.string().min(1).describe('The export.'), count: z.number().int().default(3) }).strict(),
      create: () => { throw new Error('not used'); },
      notes: (config) => ['reads ' + config.count + ' lines'],
    }),
  ],
});
`;

interface FixturePackage {
  name: string;
  index: string;
  packageJson?: Record<string, unknown>;
}

/**
 * A pipeline project in a temporary folder: node_modules holds the given packages, plus @ferry/core and
 * zod linked from this repository (what `npm install` would put there). The pipeline file sits one folder
 * down, so resolution has to walk up as Node does.
 */
async function project(packages: FixturePackage[]): Promise<{ dir: string; pipeline: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-plugins-'));
  await mkdir(join(dir, 'node_modules', '@ferry'), { recursive: true });
  await symlink(join(repo, 'packages', 'core'), join(dir, 'node_modules', '@ferry', 'core'));
  await symlink(join(repo, 'node_modules', 'zod'), join(dir, 'node_modules', 'zod'));
  for (const pkg of packages) {
    const folder = join(dir, 'node_modules', pkg.name);
    await mkdir(folder, { recursive: true });
    await writeFile(
      join(folder, 'package.json'),
      JSON.stringify(
        pkg.packageJson ?? {
          name: pkg.name,
          version: '1.2.3',
          type: 'module',
          exports: { '.': { types: './index.d.ts', import: './index.js' } },
        },
      ),
    );
    await writeFile(join(folder, 'index.js'), pkg.index);
  }
  await mkdir(join(dir, 'pipelines'));
  return { dir, pipeline: join(dir, 'pipelines', 'lines.yaml') };
}

const pipelineText = (source: string, top = '') => `pipeline: lines
${top}source:
${source}
mapping:
  subject: id
  fields:
    id: id
contract:
  type: test.row
  version: 1.0.0
`;

async function load(file: string, text: string, registry: Registry = createRegistry()) {
  return parsePipelineConfig(text, file, registry);
}

async function failure(file: string, text: string, registry?: Registry): Promise<ConfigError> {
  const error = await load(file, text, registry).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe('plugins in a pipeline file', () => {
  it('loads a source named per component from the pipeline project, and validates its options', async () => {
    const { pipeline } = await project([
      { name: '@acme/ferry-source-lines', index: sourcePlugin('@acme/ferry-source-lines', 'lines') },
    ]);
    const text = pipelineText('  type: lines\n  plugin: "@acme/ferry-source-lines"\n  path: ./export.txt');
    const loaded = await load(pipeline, text);
    // `plugin` is the file's business, not the connector's: it is not among the options.
    expect(loaded.source).toEqual({ type: 'lines', options: { path: './export.txt', count: 3 } });
    expect(loaded.plugins.map((p) => [p.name, p.version])).toEqual([['@acme/ferry-source-lines', '1.2.3']]);
    expect(loaded.notes[0]).toMatch(
      /^plugin @acme\/ferry-source-lines 1\.2\.3 \(plugin API 1\) from .*node_modules\/@acme\/ferry-source-lines\/index\.js: source lines$/,
    );
    expect(loaded.notes).toContain('source (lines): reads 3 lines');

    const bad = await failure(
      pipeline,
      pipelineText('  type: lines\n  plugin: "@acme/ferry-source-lines"\n  path: ./export.txt\n  batch: 5'),
    );
    expect(bad.code).toBe('CONFIG_INVALID');
    expect(bad.issues).toHaveLength(1);
    expect(bad.issues[0]!.path).toMatch(/^source/);
    expect(bad.issues[0]!.message).toContain("'batch'");
  });

  it('loads the packages of a top-level plugins list, and a plugin given as a path', async () => {
    const { dir, pipeline } = await project([
      { name: 'ferry-source-lines', index: sourcePlugin('ferry-source-lines', 'lines') },
    ]);
    const listed = await load(
      pipeline,
      pipelineText('  type: lines\n  path: x', 'plugins: [ferry-source-lines]\n'),
    );
    expect(listed.plugins.map((p) => p.name)).toEqual(['ferry-source-lines']);

    await mkdir(join(dir, 'connectors', 'local'), { recursive: true });
    await writeFile(join(dir, 'connectors', 'local', 'plugin.js'), sourcePlugin('local', 'local-lines'));
    const byPath = await load(
      pipeline,
      pipelineText('  type: local-lines\n  plugin: ../connectors/local/plugin.js\n  path: x'),
    );
    expect(byPath.plugins[0]!.path).toBe(join(dir, 'connectors', 'local', 'plugin.js'));
  });

  it('PLUGIN_NOT_FOUND names the package, the line and every folder searched, never Ferry’s own', async () => {
    const { dir, pipeline } = await project([]);
    const error = await failure(pipeline, pipelineText('  type: vsam\n  plugin: "@acme/ferry-source-vsam"'));
    expect(error.code).toBe('PLUGIN_NOT_FOUND');
    expect(error.issues).toEqual([expect.objectContaining({ path: 'source.plugin', line: 4 })]);
    expect(error.message).toContain("cannot find plugin package '@acme/ferry-source-vsam'");
    expect(error.message).toContain(
      `${join(dir, 'pipelines', 'node_modules')}, ${join(dir, 'node_modules')}`,
    );
    expect(error.message).toContain(`${dirname(pipeline)}`);

    // p-retry is installed where Ferry is (a dependency of core), but not in this project.
    const notOurs = await failure(pipeline, pipelineText('  type: vsam\n  path: x', 'plugins: [p-retry]\n'));
    expect(notOurs.code).toBe('PLUGIN_NOT_FOUND');
    expect(notOurs.issues[0]!.path).toBe('plugins[0]');
    expect(notOurs.message).not.toContain(repo);

    const byPath = await failure(pipeline, pipelineText('  type: vsam\n  plugin: ./missing.js'));
    expect(byPath.code).toBe('PLUGIN_NOT_FOUND');
    expect(byPath.message).toContain(join(dir, 'pipelines', 'missing.js'));
  });

  it('PLUGIN_API_MISMATCH names both API versions', async () => {
    const { pipeline } = await project([
      {
        name: 'ferry-source-future',
        index: sourcePlugin('ferry-source-future', 'future', 'PLUGIN_API_VERSION + 1'),
      },
    ]);
    const error = await failure(pipeline, pipelineText('  type: future\n  plugin: ferry-source-future'));
    expect(error.code).toBe('PLUGIN_API_MISMATCH');
    expect(error.message).toContain(
      `'ferry-source-future' was built for plugin API ${PLUGIN_API_VERSION + 1}, but this Ferry speaks plugin API ${PLUGIN_API_VERSION}`,
    );
    expect(error.message).toContain('upgrade @ferry/cli and @ferry/core');
    expect(error.issues[0]!.path).toBe('source.plugin');
  });

  describe('PLUGIN_INVALID', () => {
    const cases: [string, string, RegExp][] = [
      [
        'a default export instead of ferryPlugin',
        `export default { apiVersion: 1, name: 'x', sources: [] };`,
        /has no named export `ferryPlugin` \(it exports: default\)/,
      ],
      ['a manifest that is not an object', 'export const ferryPlugin = 42;', /ferryPlugin is not an object/],
      [
        'a manifest without an API version',
        `export const ferryPlugin = { name: 'x', sources: [] };`,
        /plugin 'x': ferryPlugin\.apiVersion must be the PLUGIN_API_VERSION it was built with \(an integer\); it is missing/,
      ],
      [
        'a factory without a type',
        `export const ferryPlugin = { apiVersion: 1, name: 'x', sources: [{ description: 'd', create() {} }] };`,
        /ferryPlugin\.sources\[0\] has no `type`/,
      ],
      [
        'a factory without a configSchema',
        `export const ferryPlugin = { apiVersion: 1, name: 'x', sources: [{ type: 'x', description: 'd', create() {} }] };`,
        /sources\[0\] \(type 'x'\) has no `configSchema`/,
      ],
      [
        'a factory without create',
        `import { z } from 'zod';
export const ferryPlugin = { apiVersion: 1, name: 'x', sinks: [{ type: 'x', description: 'd', configSchema: z.object({}) }] };`,
        /sinks\[0\] \(type 'x'\) has no `create` function/,
      ],
      [
        'a module that cannot be imported',
        `import { nothing } from 'no-such-dependency';\nexport const ferryPlugin = nothing;`,
        /cannot import plugin 'ferry-broken'/,
      ],
    ];
    for (const [name, index, message] of cases) {
      it(`refuses ${name}`, async () => {
        const { pipeline } = await project([{ name: 'ferry-broken', index }]);
        const error = await failure(
          pipeline,
          pipelineText('  type: x\n  path: p', 'plugins: [ferry-broken]\n'),
        );
        expect(error.code).toBe('PLUGIN_INVALID');
        expect(error.message).toMatch(message);
        expect(error.issues[0]).toMatchObject({ path: 'plugins[0]', line: 2 });
      });
    }

    it('refuses two plugins that claim the same type, naming both', async () => {
      const { pipeline } = await project([
        { name: 'ferry-source-a', index: sourcePlugin('ferry-source-a', 'lines') },
        { name: 'ferry-source-b', index: sourcePlugin('ferry-source-b', 'lines') },
      ]);
      const error = await failure(
        pipeline,
        pipelineText('  type: lines\n  path: p', 'plugins: [ferry-source-a, ferry-source-b]\n'),
      );
      expect(error.code).toBe('PLUGIN_INVALID');
      expect(error.message).toMatch(
        /'ferry-source-b' 1\.2\.3 \(.*\) and 'ferry-source-a' 1\.2\.3 \(.*\) both provide source type 'lines'/,
      );
      expect(error.issues[0]!.path).toBe('plugins[1]');
    });

    it('refuses a plugin that claims a built-in type', async () => {
      const sink = `import { z } from 'zod';
export const ferryPlugin = { apiVersion: 1, name: 'ferry-sink-file', sinks: [{ type: 'file', description: 'd', configSchema: z.object({}), create() {} }] };`;
      const { pipeline } = await project([{ name: 'ferry-sink-file', index: sink }]);
      const error = await failure(pipeline, pipelineText('  type: x', 'plugins: [ferry-sink-file]\n'));
      expect(error.code).toBe('PLUGIN_INVALID');
      expect(error.message).toContain("and '@ferry/core' (built in) both provide sink type 'file'");
    });

    it('refuses a package without an entry point Node can import', async () => {
      const { pipeline } = await project([
        {
          name: 'ferry-require-only',
          index: '',
          packageJson: { name: 'ferry-require-only', exports: { '.': { require: './index.cjs' } } },
        },
      ]);
      const error = await failure(pipeline, pipelineText('  type: x', 'plugins: [ferry-require-only]\n'));
      expect(error.code).toBe('PLUGIN_INVALID');
      expect(error.message).toContain("has no entry point for '.'");
    });
  });

  it('refuses a component whose named plugin does not provide its type', async () => {
    const { pipeline } = await project([
      { name: 'ferry-source-lines', index: sourcePlugin('ferry-source-lines', 'lines') },
      { name: 'ferry-source-other', index: sourcePlugin('ferry-source-other', 'other') },
    ]);
    for (const type of ['other', 'unknown']) {
      const error = await failure(
        pipeline,
        pipelineText(`  type: ${type}\n  plugin: ferry-source-lines`, 'plugins: [ferry-source-other]\n'),
      );
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.issues[0]!.path).toBe('source.type');
      expect(error.message).toContain("plugin 'ferry-source-lines' 1.2.3");
      expect(error.message).toContain(`provides no source type '${type}' (its source types: lines)`);
    }
  });

  it('a type from a plugin must be named by the file that uses it, even in a registry another file filled', async () => {
    const { pipeline } = await project([
      { name: 'ferry-source-lines', index: sourcePlugin('ferry-source-lines', 'lines') },
    ]);
    const shared = createRegistry();
    await load(pipeline, pipelineText('  type: lines\n  plugin: ferry-source-lines\n  path: x'), shared);
    const error = await failure(pipeline, pipelineText('  type: lines\n  path: x'), shared);
    expect(error.message).toContain("source type 'lines' comes from plugin 'ferry-source-lines' 1.2.3 (");
    expect(error.message).toContain('which this file does not name');
  });
});

describe('registerPlugin', () => {
  const factory = defineFactory({
    type: 'memory',
    description: 'test',
    configSchema: z.object({}).strict(),
    create: (): Source => {
      throw new Error('not used');
    },
  });
  const plugin = definePlugin({ apiVersion: PLUGIN_API_VERSION, name: 'memory', sources: [factory] });

  it('registers a manifest once, however often it is given', () => {
    const registry = createRegistry();
    const first = registerPlugin(registry, plugin);
    expect(registerPlugin(registry, plugin)).toBe(first);
    expect(registry.sources.get('memory')).toBe(factory);
    expect(registry.plugins?.map((p) => p.name)).toEqual(['@ferry/core', 'memory']);
  });

  it('adds nothing from a manifest it refuses', () => {
    const registry = createRegistry();
    const clash = definePlugin({
      apiVersion: PLUGIN_API_VERSION,
      name: 'clash',
      sources: [factory],
      sinks: [
        defineFactory({
          type: 'file',
          description: 'test',
          configSchema: z.object({}).strict(),
          create: (): Sink => {
            throw new Error('not used');
          },
        }),
      ],
    });
    expect(() => registerPlugin(registry, clash)).toThrow(/both provide sink type 'file'/);
    expect(registry.sources.has('memory')).toBe(false);
  });
});
