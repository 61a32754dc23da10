// Connector plugins: npm packages that export a versioned manifest of factories as `ferryPlugin`. The
// built-in connectors are plugins the host registers in code; a pipeline file names any other one
// (`plugins:` or a component's `plugin:`), and it is imported from the pipeline's own project (the
// node_modules folders above the pipeline file), never from wherever Ferry itself is installed.
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue, FerryError } from './errors.js';
import type { Factory, Registry } from './registry.js';
import type { CheckpointStore, DeadLetterSink, Sink, Source } from './types.js';

/**
 * The version of the contract between core and plugins: the manifest's shape and the `Factory`,
 * `Source`, `Sink`, `DeadLetterSink` and `CheckpointStore` interfaces. It changes only when a plugin built
 * for the previous one could break; a plugin built for another version is refused with
 * `PLUGIN_API_MISMATCH` instead of failing somewhere in a run.
 */
export const PLUGIN_API_VERSION = 1;

/** What a plugin package exports as `ferryPlugin`: its API version, its name and its factories by kind. */
export interface FerryPlugin {
  /** The `PLUGIN_API_VERSION` the plugin was built against. */
  apiVersion: number;
  /** The package name, for messages (`@acme/ferry-source-vsam`). */
  name: string;
  sources?: readonly Factory<z.ZodType, Source>[];
  sinks?: readonly Factory<z.ZodType, Sink>[];
  deadLetters?: readonly Factory<z.ZodType, DeadLetterSink>[];
  checkpoints?: readonly Factory<z.ZodType, CheckpointStore>[];
}

/** A plugin manifest, typed: `export const ferryPlugin = definePlugin({ apiVersion: PLUGIN_API_VERSION, … })`. */
export function definePlugin(plugin: FerryPlugin): FerryPlugin {
  return plugin;
}

/** A plugin as registered: its manifest and where it came from. */
export interface RegisteredPlugin {
  name: string;
  plugin: FerryPlugin;
  /** The package version, when it was imported from a package. */
  version?: string;
  /** The file it was imported from; absent for a plugin the host registered in code (the built-ins). */
  path?: string;
}

export type PluginKind = 'sources' | 'sinks' | 'deadLetters' | 'checkpoints';
export const PLUGIN_KINDS: readonly PluginKind[] = ['sources', 'sinks', 'deadLetters', 'checkpoints'];

const NOUN: Record<PluginKind, string> = {
  sources: 'source',
  sinks: 'sink',
  deadLetters: 'dead-letter store',
  checkpoints: 'checkpoint store',
};

const describePlugin = (entry: { name: string; version?: string; path?: string }): string =>
  `'${entry.name}'${entry.version ? ` ${entry.version}` : ''}${entry.path ? ` (${entry.path})` : ' (built in)'}`;

/**
 * Check a manifest and add its factories to the registry: `PLUGIN_API_MISMATCH` for another API version,
 * `PLUGIN_INVALID` for a malformed manifest or a type another plugin already provides. Registering the same
 * manifest twice is a no-op; nothing is added unless everything fits.
 */
export function registerPlugin(
  registry: Registry,
  manifest: unknown,
  origin: { version?: string; path?: string } = {},
): RegisteredPlugin {
  checkManifest(manifest, origin.path ?? 'the manifest');
  const plugin = manifest;
  registry.plugins ??= [];
  const known = registry.plugins.find((p) => p.plugin === plugin);
  if (known) return known;
  const entry: RegisteredPlugin = {
    name: plugin.name,
    plugin,
    ...(origin.version ? { version: origin.version } : {}),
    ...(origin.path ? { path: origin.path } : {}),
  };
  for (const kind of PLUGIN_KINDS) {
    const seen = new Set<string>();
    for (const factory of plugin[kind] ?? []) {
      if (seen.has(factory.type)) {
        throw invalid(`${describePlugin(entry)} lists ${NOUN[kind]} type '${factory.type}' twice`, {
          plugin: entry.name,
        });
      }
      seen.add(factory.type);
      const existing = registry[kind].get(factory.type);
      if (existing !== undefined && existing !== factory) {
        const owner = pluginOwning(registry, kind, existing);
        throw invalid(
          `${describePlugin(entry)} and ${owner ? describePlugin(owner) : 'the host'} both provide ${NOUN[kind]} type '${factory.type}'; ` +
            'a pipeline can use only one of them: remove one of the plugins or rename the type in yours',
          { plugin: entry.name, type: factory.type, ...(owner ? { provider: owner.name } : {}) },
        );
      }
    }
  }
  for (const f of plugin.sources ?? []) registry.sources.set(f.type, f);
  for (const f of plugin.sinks ?? []) registry.sinks.set(f.type, f);
  for (const f of plugin.deadLetters ?? []) registry.deadLetters.set(f.type, f);
  for (const f of plugin.checkpoints ?? []) registry.checkpoints.set(f.type, f);
  registry.plugins.push(entry);
  return entry;
}

/** The registered plugin that provides this factory, if any. */
export function pluginOwning(
  registry: Registry,
  kind: PluginKind,
  factory: Factory<z.ZodType, unknown>,
): RegisteredPlugin | undefined {
  return registry.plugins?.find((p) => (p.plugin[kind] as readonly unknown[] | undefined)?.includes(factory));
}

function invalid(message: string, details: Record<string, unknown> = {}): FerryError {
  return new FerryError('PLUGIN_INVALID', message, { details });
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** A manifest passes, or PLUGIN_API_MISMATCH / PLUGIN_INVALID says what is wrong with it. */
function checkManifest(manifest: unknown, where: string): asserts manifest is FerryPlugin {
  if (!isRecord(manifest)) {
    throw invalid(`${where}: ferryPlugin is not an object (it is ${describeValue(manifest)})`, { where });
  }
  const { apiVersion, name } = manifest;
  const label = typeof name === 'string' && name !== '' ? `plugin '${name}'` : where;
  if (typeof apiVersion !== 'number' || !Number.isInteger(apiVersion)) {
    throw invalid(
      `${label}: ferryPlugin.apiVersion must be the PLUGIN_API_VERSION it was built with (an integer); it is ${describeValue(apiVersion)}`,
      { where },
    );
  }
  if (apiVersion !== PLUGIN_API_VERSION) {
    const advice =
      apiVersion > PLUGIN_API_VERSION
        ? 'upgrade @ferry/cli and @ferry/core in this project, or install a version of the plugin built for'
        : 'upgrade the plugin to a version built for';
    throw new FerryError(
      'PLUGIN_API_MISMATCH',
      `${label} was built for plugin API ${apiVersion}, but this Ferry speaks plugin API ${PLUGIN_API_VERSION}: ` +
        `${advice} API ${PLUGIN_API_VERSION}`,
      { details: { where, pluginApiVersion: apiVersion, ferryApiVersion: PLUGIN_API_VERSION } },
    );
  }
  if (typeof name !== 'string' || name === '') {
    throw invalid(`${where}: ferryPlugin.name must be the plugin's package name`, { where });
  }
  let factories = 0;
  for (const kind of PLUGIN_KINDS) {
    const list = manifest[kind];
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      throw invalid(`${label}: ferryPlugin.${kind} must be a list of factories`, { where });
    }
    list.forEach((factory, index) => {
      const problem = factoryProblem(factory);
      if (problem) throw invalid(`${label}: ferryPlugin.${kind}[${index}] ${problem}`, { where });
    });
    factories += list.length;
  }
  if (factories === 0) {
    throw invalid(`${label}: ferryPlugin provides no factories (sources, sinks, deadLetters, checkpoints)`, {
      where,
    });
  }
}

function factoryProblem(factory: unknown): string | undefined {
  if (!isRecord(factory))
    return `is not a factory (it is ${describeValue(factory)}); build it with defineFactory`;
  const type = typeof factory.type === 'string' && factory.type !== '' ? factory.type : undefined;
  if (!type) return 'has no `type` (the name pipeline files use)';
  const named = `(type '${type}')`;
  if (!/^[a-z][a-z0-9-]*$/.test(type)) return `${named}: a type is lower-case words joined by dashes`;
  if (typeof factory.description !== 'string') return `${named} has no \`description\``;
  const schema = factory.configSchema;
  if (!isRecord(schema) || typeof schema.safeParse !== 'function' || !('_zod' in schema)) {
    return `${named} has no \`configSchema\` (a zod 4 schema of its options)`;
  }
  if (typeof factory.create !== 'function') return `${named} has no \`create\` function`;
  return undefined;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

// ---------------------------------------------------------------------------------------------------------
// Finding and importing a plugin package

/** A plugin package imported from disk: its module namespace and where it was found. */
export interface ImportedPlugin {
  module: Record<string, unknown>;
  path: string;
  version?: string;
}

/**
 * Import a plugin the way Node would from a module in `fromDir`: a package name is looked up in each
 * node_modules folder from `fromDir` up to the file-system root (its `exports` entry for import, else
 * `main`); a relative or absolute path names a package folder or a module file. `PLUGIN_NOT_FOUND` names
 * every folder searched; a package that cannot be imported is `PLUGIN_INVALID`.
 */
export async function importPlugin(specifier: string, fromDir: string): Promise<ImportedPlugin> {
  const located = await locate(specifier, fromDir);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(located.path).href)) as Record<string, unknown>;
  } catch (error) {
    throw new FerryError(
      'PLUGIN_INVALID',
      `cannot import plugin '${specifier}' from ${located.path}: ${(error as Error).message}`,
      { cause: error, details: { plugin: specifier, path: located.path } },
    );
  }
  return { module, ...located };
}

/** The `ferryPlugin` export of an imported plugin package, or PLUGIN_INVALID naming what it does export. */
export function pluginExport(specifier: string, imported: ImportedPlugin): unknown {
  if (!('ferryPlugin' in imported.module) || imported.module.ferryPlugin === undefined) {
    const names = Object.keys(imported.module).sort();
    throw new FerryError(
      'PLUGIN_INVALID',
      `'${specifier}' (${imported.path}) has no named export \`ferryPlugin\` ` +
        `(it exports: ${names.length > 0 ? names.join(', ') : 'nothing'}); ` +
        'a plugin exports its manifest as `export const ferryPlugin = definePlugin({ … })`',
      { details: { plugin: specifier, path: imported.path, exports: names } },
    );
  }
  return imported.module.ferryPlugin;
}

const BARE = /^(@[^/]+\/[^/]+|[^@./][^/]*)(\/.*)?$/;

async function locate(specifier: string, fromDir: string): Promise<{ path: string; version?: string }> {
  const relativeOrAbsolute = specifier.startsWith('.') || isAbsolute(specifier);
  const match = relativeOrAbsolute ? undefined : BARE.exec(specifier);
  if (relativeOrAbsolute || !match) {
    const target = resolve(fromDir, specifier);
    const found = await packageEntry(target, '.', specifier);
    if (found) return found;
    if (await isFile(target)) return { path: target };
    throw new FerryError('PLUGIN_NOT_FOUND', `cannot find plugin '${specifier}': ${target} does not exist`, {
      details: { plugin: specifier, searched: [target] },
    });
  }
  const name = match[1]!;
  const subpath = match[2];
  const searched = nodeModulesChain(fromDir);
  for (const folder of searched) {
    const found = await packageEntry(join(folder, name), subpath ? `.${subpath}` : '.', specifier);
    if (found) return found;
  }
  throw new FerryError(
    'PLUGIN_NOT_FOUND',
    `cannot find plugin package '${name}'; looked in ${searched.join(', ')}. ` +
      `Install it in the pipeline's project (npm install ${name}); plugins are never loaded from Ferry's own installation`,
    { details: { plugin: specifier, searched } },
  );
}

/** Every node_modules folder a module in `dir` would search, nearest first. */
export function nodeModulesChain(dir: string): string[] {
  const out: string[] = [];
  let current = resolve(dir);
  for (;;) {
    if (basename(current) !== 'node_modules') out.push(join(current, 'node_modules'));
    const parent = dirname(current);
    if (parent === current) return out;
    current = parent;
  }
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** The entry module of the package in `dir` for `subpath`, or undefined when `dir` holds no package. */
async function packageEntry(
  dir: string,
  subpath: string,
  specifier: string,
): Promise<{ path: string; version?: string } | undefined> {
  let manifest: Record<string, unknown>;
  try {
    manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  } catch (error) {
    if (
      (error as NodeJS.ErrnoException).code === 'ENOENT' ||
      (error as NodeJS.ErrnoException).code === 'ENOTDIR'
    )
      return undefined;
    throw new FerryError(
      'PLUGIN_INVALID',
      `cannot read ${join(dir, 'package.json')}: ${(error as Error).message}`,
      {
        cause: error,
        details: { plugin: specifier },
      },
    );
  }
  const version = typeof manifest.version === 'string' ? manifest.version : undefined;
  const target = entryOf(manifest, subpath);
  if (target === undefined) {
    throw new FerryError(
      'PLUGIN_INVALID',
      `'${specifier}' (${dir}) has no entry point for '${subpath}' that Node can import ` +
        '(package.json `exports` with an "import" or "default" condition, or `main`)',
      { details: { plugin: specifier, path: dir } },
    );
  }
  const path = resolve(dir, target);
  if (!(await isFile(path))) {
    throw new FerryError(
      'PLUGIN_INVALID',
      `'${specifier}' names ${path} as its entry point, but there is no such file (is the package built?)`,
      { details: { plugin: specifier, path } },
    );
  }
  return { path, ...(version ? { version } : {}) };
}

// The conditions Node applies when it imports a module, in its order of preference.
const CONDITIONS = new Set(['node', 'import', 'module-sync', 'default']);

function entryOf(manifest: Record<string, unknown>, subpath: string): string | undefined {
  const exports = manifest.exports;
  if (exports === undefined) {
    if (subpath !== '.') return subpath;
    return typeof manifest.main === 'string' ? manifest.main : 'index.js';
  }
  const withSubpaths = isRecord(exports) && Object.keys(exports).some((k) => k.startsWith('.'));
  if (withSubpaths) return pickCondition(exports[subpath]);
  return subpath === '.' ? pickCondition(exports) : undefined;
}

function pickCondition(target: unknown): string | undefined {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) {
    for (const item of target) {
      const picked = pickCondition(item);
      if (picked !== undefined) return picked;
    }
    return undefined;
  }
  if (isRecord(target)) {
    for (const [condition, value] of Object.entries(target)) {
      if (!CONDITIONS.has(condition)) continue;
      const picked = pickCondition(value);
      if (picked !== undefined) return picked;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// The plugins a pipeline file names

/** A plugin named in a pipeline file, and where: `plugins[1]`, `source.plugin`. */
export interface PluginReference {
  specifier: string;
  at: (string | number)[];
}

const SECTIONS = [
  ['source', 'sources'],
  ['sink', 'sinks'],
  ['deadLetters', 'deadLetters'],
  ['checkpoints', 'checkpoints'],
] as const;

/** Every plugin a pipeline file's data names, in file order (`plugins:` first, then each component's). */
export function pluginReferences(data: unknown): PluginReference[] {
  const out: PluginReference[] = [];
  if (!isRecord(data)) return out;
  if (Array.isArray(data.plugins)) {
    data.plugins.forEach((specifier, index) => {
      if (typeof specifier === 'string' && specifier !== '') out.push({ specifier, at: ['plugins', index] });
    });
  }
  for (const [section] of SECTIONS) {
    const component = data[section];
    if (isRecord(component) && typeof component.plugin === 'string' && component.plugin !== '') {
      out.push({ specifier: component.plugin, at: [section, 'plugin'] });
    }
  }
  return out;
}

export interface PipelinePlugins {
  /** The plugins the file names, once each, as registered. */
  plugins: RegisteredPlugin[];
  /** The registered plugin a component's `plugin:` names, by section. */
  bySection: Partial<Record<'source' | 'sink' | 'deadLetters' | 'checkpoints', RegisteredPlugin>>;
}

/**
 * Import and register the plugins a pipeline file names, resolved from the file's folder. The first that
 * fails stops the load with a ConfigError carrying the plugin's code (PLUGIN_NOT_FOUND, PLUGIN_API_MISMATCH,
 * PLUGIN_INVALID), the file, the line and the path of the reference.
 */
export async function registerPipelinePlugins(
  registry: Registry,
  references: PluginReference[],
  file: string,
  issue: (path: (string | number)[], message: string) => ConfigIssue,
): Promise<PipelinePlugins> {
  const out: PipelinePlugins = { plugins: [], bySection: {} };
  for (const reference of references) {
    let entry: RegisteredPlugin;
    try {
      const imported = await importPlugin(reference.specifier, dirname(file));
      entry = registerPlugin(registry, pluginExport(reference.specifier, imported), {
        path: imported.path,
        ...(imported.version ? { version: imported.version } : {}),
      });
    } catch (error) {
      if (error instanceof FerryError && error.code.startsWith('PLUGIN_')) {
        throw new ConfigError(file, [issue(reference.at, error.message)], error.code);
      }
      throw error;
    }
    if (!out.plugins.includes(entry)) out.plugins.push(entry);
    const section = reference.at[0];
    if (reference.at[1] === 'plugin') out.bySection[section as keyof PipelinePlugins['bySection']] = entry;
  }
  return out;
}

/**
 * What is wrong with a component's type given the plugins its file names: the type must come from the
 * plugin the component names, and a type that comes from a plugin must be named by this file (so a file
 * means the same whether it is validated alone or served beside another that loads the plugin).
 */
export function componentPluginProblem(
  registry: Registry,
  kind: PluginKind,
  type: string,
  factory: Factory<z.ZodType, unknown> | undefined,
  named: RegisteredPlugin | undefined,
  loaded: PipelinePlugins,
): string | undefined {
  const owner = factory && pluginOwning(registry, kind, factory);
  if (named !== undefined && owner !== named) {
    const offered = (named.plugin[kind] ?? []).map((f) => f.type).sort();
    return (
      `plugin ${describePlugin(named)} provides no ${NOUN[kind]} type '${type}'` +
      (offered.length > 0 ? ` (its ${NOUN[kind]} types: ${offered.join(', ')})` : '')
    );
  }
  if (owner?.path !== undefined && !loaded.plugins.includes(owner)) {
    return (
      `${NOUN[kind]} type '${type}' comes from plugin ${describePlugin(owner)}, which this file does not name: ` +
      `add \`plugin: ${owner.name}\` to it or list the package under \`plugins:\``
    );
  }
  return undefined;
}

/** One line per plugin for `ferry validate`. */
export function pluginNote(entry: RegisteredPlugin): string {
  const kinds = PLUGIN_KINDS.flatMap((kind) =>
    (entry.plugin[kind] ?? []).map((f) => `${NOUN[kind]} ${f.type}`),
  ).join(', ');
  return `plugin ${entry.name}${entry.version ? ` ${entry.version}` : ''} (plugin API ${entry.plugin.apiVersion}) from ${entry.path ?? 'the host'}: ${kinds}`;
}
