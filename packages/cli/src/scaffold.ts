// `ferry new`: a standalone integration project, a source package copied from templates/source (a
// plugin of the project it is made in, or a package of this repository), or a pipeline folder generated
// against a chosen contract (typed mapping, sample data, a test), all ready to build and test unedited.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findVersion, generateTypes, loadContractRepository, resolveRefs, typeName } from '@ferry/contracts';
import { ConfigError } from '@ferry/core';

/** The @ferry/cli package folder: packages/cli in a checkout, node_modules/@ferry/cli when installed. */
function cliRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..');
}

/** The Ferry repository this CLI runs from, or undefined when it was installed from a package. */
export function checkoutRoot(): string | undefined {
  const root = resolve(cliRoot(), '..', '..');
  const isCheckout =
    existsSync(join(root, 'templates', 'source', 'package.json')) &&
    existsSync(join(root, 'tsconfig.base.json'));
  return isCheckout ? root : undefined;
}

/** The repository root, for what only makes sense inside a checkout (`ferry new pipeline`). */
export function repoRoot(): string {
  const root = checkoutRoot();
  if (root === undefined) {
    throw new ConfigError(
      undefined,
      [
        {
          path: 'ferry new',
          message:
            'this command needs a checkout of the Ferry repository; in a project, use `ferry new source` (docs/plugins.md)',
        },
      ],
      'USAGE',
    );
  }
  return root;
}

/** Where `ferry new` copies from: the checkout's templates/, else the copy packed into @ferry/cli. */
export function templatesDir(): string {
  const root = checkoutRoot();
  return root === undefined ? join(cliRoot(), 'templates') : join(root, 'templates');
}

/** The version of the running CLI; every @ferry package is released with the same version. */
export function ferryVersion(): string {
  const manifest = JSON.parse(readFileSync(join(cliRoot(), 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

const NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

export function checkName(name: string): void {
  if (!NAME.test(name)) {
    throw new ConfigError(
      undefined,
      [
        {
          path: '<name>',
          message: `'${name}' is not a valid name: use lower-case words joined by dashes, e.g. legacy-crm`,
        },
      ],
      'USAGE',
    );
  }
}

const pascal = (kebab: string): string =>
  kebab
    .split('-')
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('');
const camel = (kebab: string): string => {
  const p = pascal(kebab);
  return p[0]!.toLowerCase() + p.slice(1);
};

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function refuseExisting(dest: string): Promise<void> {
  if (await exists(dest)) {
    throw new ConfigError(
      undefined,
      [{ path: '--dir', message: `${dest} already exists; choose another name or --dir` }],
      'USAGE',
    );
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (
      ['node_modules', 'dist', '.turbo', '.ferry'].includes(entry.name) ||
      entry.name.endsWith('.tsbuildinfo') ||
      entry.name.startsWith('legacy.db')
    )
      continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else out.push(path);
  }
  return out;
}

/** Add a project reference to the root tsconfig.json when the new package is inside the repository. */
async function addRootReference(root: string, dest: string): Promise<boolean> {
  const rel = relative(root, dest);
  if (rel.startsWith('..')) return false;
  const file = join(root, 'tsconfig.json');
  const config = JSON.parse(await readFile(file, 'utf8')) as { references: { path: string }[] };
  if (!config.references.some((r) => r.path === rel)) {
    config.references.push({ path: rel });
    await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
  }
  return true;
}

/** The template source's names and what `ferry new source <name>` renames each to. */
function sourceReplacements(name: string): [string, string][] {
  return [
    ['TemplateSource', `${pascal(name)}Source`],
    ['templateSource', `${camel(name)}Source`],
    ['TEMPLATE_SOURCE', name.toUpperCase().replace(/-/g, '_')],
    ['template-source', name],
  ];
}

/** Point the copied package at core and at the root's vitest, from wherever it was put. */
async function rewirePackage(dest: string, root: string, templateDir: string): Promise<void> {
  const tsconfigPath = join(dest, 'tsconfig.json');
  const tsconfig = JSON.parse(await readFile(tsconfigPath, 'utf8')) as {
    extends: string;
    references: { path: string }[];
  };
  tsconfig.extends = relative(dest, join(root, 'tsconfig.base.json'));
  tsconfig.references = [{ path: relative(dest, join(root, 'packages', 'core')) }];
  await writeFile(tsconfigPath, `${JSON.stringify(tsconfig, null, 2)}\n`);
  const pkgPath = join(dest, 'package.json');
  const pkg = await readFile(pkgPath, 'utf8');
  const templateRel = relative(root, templateDir);
  // The repository's vitest config lists every package's tests; a path filter keeps `npm test` in the
  // package to the package's own files (`--dir` does not: the root config's projects override it).
  await writeFile(
    pkgPath,
    pkg.replace(
      `vitest run --root ../.. ${templateRel}/`,
      `vitest run --root ${relative(dest, root)} ${relative(root, dest)}/`,
    ),
  );
}

/**
 * Format what was generated with the repository's formatter, so renamed identifiers and generated code
 * pass `biome check` as they are. Outside a checkout with Biome installed this is skipped.
 */
function format(root: string, dest: string): void {
  const biome = join(root, 'node_modules', '.bin', 'biome');
  spawnSync(biome, ['format', '--write', `--config-path=${root}`, dest], { stdio: 'ignore' });
}

export interface ScaffoldResult {
  dest: string;
  files: string[];
  /** Registered where it was made: the repository's tsconfig references, or the project's workspaces. */
  wired: boolean;
}

export interface SourceScaffoldResult extends ScaffoldResult {
  /** `project`: a plugin package of the integration project around the working directory. */
  kind: 'repository' | 'project';
  packageName: string;
  /** Project mode: the pipeline that uses the new plugin on its sample data, relative to the project. */
  pipeline?: string;
  project?: string;
}

/**
 * A source package: inside an integration project (a package.json with a `ferry` field, made by
 * `ferry new project`, around `cwd`) a plugin package of that project; else, from a checkout, a package
 * of the Ferry repository as before.
 */
export async function scaffoldSource(
  name: string,
  dest?: string,
  cwd: string = process.cwd(),
): Promise<SourceScaffoldResult> {
  checkName(name);
  const project = await findProject(cwd);
  if (project) return scaffoldProjectSource(name, project, dest);
  const root = checkoutRoot();
  if (root === undefined) {
    throw new ConfigError(
      undefined,
      [
        {
          path: 'ferry new source',
          message: `${cwd} is not inside a Ferry project: run \`ferry new project <dir>\` first, then \`ferry new source\` inside it`,
        },
      ],
      'USAGE',
    );
  }
  const template = join(root, 'templates', 'source');
  const target = resolve(dest ?? join(root, 'packages', name));
  await refuseExisting(target);
  const replacements = sourceReplacements(name);
  const files: string[] = [];
  for (const file of await filesUnder(template)) {
    let text = await readFile(file, 'utf8');
    for (const [from, to] of replacements) text = text.split(from).join(to);
    const out = join(target, relative(template, file));
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, text);
    files.push(out);
  }
  await rewirePackage(target, root, template);
  format(root, target);
  const wired = await addRootReference(root, target);
  return { dest: target, files, wired, kind: 'repository', packageName: `@ferry/${name}` };
}

export interface PipelineScaffoldOptions {
  name: string;
  dest?: string;
  /** `justice.offender@1.0.0` */
  contract: string;
  repository: string;
}

interface PropertySchema {
  type?: string | string[];
}

function coercion(expression: string, schema: PropertySchema): string {
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'string':
      return `String(${expression})`;
    case 'integer':
    case 'number':
      return `Number(${expression})`;
    case 'boolean':
      return `Boolean(${expression})`;
    case 'object':
    case 'array':
      return `JSON.parse(String(${expression}))`;
    default:
      return expression;
  }
}

/** SQLite columns hold scalars: objects and arrays are stored as JSON text, booleans as 0/1. */
function toColumn(value: unknown): unknown {
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

export async function scaffoldPipeline(options: PipelineScaffoldOptions): Promise<ScaffoldResult> {
  checkName(options.name);
  const [type, version] = options.contract.split('@') as [string, string | undefined];
  if (!version) {
    throw new ConfigError(
      undefined,
      [{ path: '--contract', message: 'expected <type>@<version>, e.g. justice.offender@1.0.0' }],
      'USAGE',
    );
  }
  const root = repoRoot();
  const template = join(root, 'templates', 'pipeline');
  const target = resolve(options.dest ?? join(root, 'pipelines', options.name));
  await refuseExisting(target);
  const repository = resolve(options.repository);
  const repo = await loadContractRepository(repository);
  const contract = findVersion(repo, type, version);
  const schema = resolveRefs(repo, contract.schema) as {
    properties?: Record<string, PropertySchema>;
    required?: string[];
    examples?: Record<string, unknown>[];
  };
  const iface = typeName(type, version);
  const properties = Object.entries(schema.properties ?? {});
  const required = new Set(schema.required ?? []);
  const subjectField = [...required][0] ?? properties[0]?.[0] ?? 'id';
  const example = schema.examples?.[0] ?? {};
  const rows = [1, 2, 3].map((n) => ({ ...example, ...Object.fromEntries([['ROW_ID', n]]) }));

  await mkdir(target, { recursive: true });
  await cp(join(template, 'package.json'), join(target, 'package.json'));
  await cp(join(template, 'tsconfig.json'), join(target, 'tsconfig.json'));
  await cp(join(template, '.gitignore'), join(target, '.gitignore'));
  await cp(join(template, 'test'), join(target, 'test'), { recursive: true });
  const pkg = await readFile(join(target, 'package.json'), 'utf8');
  await writeFile(
    join(target, 'package.json'),
    pkg.split('@ferry/template-pipeline').join(`@ferry/pipeline-${options.name}`),
  );
  await rewirePackage(target, root, template);

  const lines = properties.map(([name, prop]) => {
    const value = coercion(`row.${name}`, prop);
    return required.has(name)
      ? `    ${name}: ${value} as ${iface}['${name}'],`
      : `    ...(row.${name} == null ? {} : { ${name}: ${value} as NonNullable<${iface}['${name}']> }),`;
  });
  await mkdir(join(target, 'src'), { recursive: true });
  await mkdir(join(target, 'sample'), { recursive: true });
  await writeFile(join(target, 'src', 'contract.ts'), await generateTypes(repo));
  await writeFile(
    join(target, 'src', 'mapping.ts'),
    `// Maps a row of the legacy table to ${type} ${version}. The compiler checks the result against the
// contract's generated type (src/contract.ts, from \`ferry contracts types\`); the pipeline validates it again
// at run time. Start here: rename columns, coerce legacy codes and dates.
import type { ChangeRecord, MappedEvent } from '@ferry/core';
import type { ${iface} } from './contract.js';

export function mapping(record: ChangeRecord): MappedEvent {
  const row = (record.after ?? record.before ?? {}) as Record<string, unknown>;
  const data: ${iface} = {
${lines.join('\n')}
  };
  return { subject: String(data.${subjectField}), data };
}
`,
  );
  const columns = Object.keys(rows[0]!).filter((c) => c !== 'ROW_ID');
  await writeFile(
    join(target, 'sample', 'rows.json'),
    `${JSON.stringify(
      rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, toColumn(v)]))),
      null,
      2,
    )}\n`,
  );
  await writeFile(
    join(target, 'pipeline.yaml'),
    `# ${options.name}: a legacy table mapped to ${type} ${version}.
# The test (test/pipeline.test.ts) builds sample/legacy.db from sample/rows.json and runs this pipeline.
pipeline: ${options.name}

source:
  type: database
  mode: polling
  connection:
    type: better-sqlite3
    database: ./sample/legacy.db
  tables:
    - name: LEGACY
      key: [ROW_ID]
      incrementingColumn: ROW_ID
      columns: [${columns.join(', ')}]

mapping:
  module: ./dist/mapping.js
  export: mapping

contract:
  type: ${type}
  version: ${version}
  repository: ${relative(target, repository)}
`,
  );
  format(root, target);
  const wired = await addRootReference(root, target);
  return { dest: target, files: await filesUnder(target), wired };
}

// ---------------------------------------------------------------------------------------------------------
// Integration projects: a folder of the user's own, outside this repository, that depends on @ferry/*
// packages by version and holds its pipelines, contracts and connector plugins.

/** The built-in connector packages a project can depend on. */
export const CONNECTORS = ['database', 'sftp', 'soap', 'kafka'] as const;

interface ProjectManifest {
  name?: string;
  workspaces?: string[];
  ferry?: { connectors?: string };
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  [key: string]: unknown;
}

interface Project {
  root: string;
  /** Folder of the connector packages, relative to the root. */
  connectors: string;
}

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** The nearest folder at or above `from` whose package.json has a `ferry` field. */
async function findProject(from: string): Promise<Project | undefined> {
  let dir = resolve(from);
  for (;;) {
    const file = join(dir, 'package.json');
    if (await exists(file)) {
      const manifest = await readJson<ProjectManifest>(file).catch(() => undefined);
      if (manifest?.ferry !== undefined && typeof manifest.ferry === 'object') {
        return { root: dir, connectors: manifest.ferry.connectors ?? 'connectors' };
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

const sorted = (record: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));

/** A template file's name in the new folder: npm never packs `.gitignore`, so the packed copy says `gitignore`. */
const targetName = (file: string): string =>
  basename(file) === 'gitignore' ? join(dirname(file), '.gitignore') : file;

export interface ProjectScaffoldOptions {
  dest: string;
  /** package.json name (default: the folder's name). */
  name?: string;
  /** Built-in connector packages to depend on; `database` is always in (the example pipeline uses it). */
  connectors?: string[];
}

/** `ferry new project <dir>`: a standalone integration project that depends on @ferry/* by version. */
export async function scaffoldProject(options: ProjectScaffoldOptions): Promise<ScaffoldResult> {
  const target = resolve(options.dest);
  const name = options.name ?? basename(target);
  checkName(name);
  if ((await exists(target)) && (await readdir(target)).length > 0) {
    throw new ConfigError(
      undefined,
      [{ path: '<dir>', message: `${target} exists and is not empty; choose a new folder` }],
      'USAGE',
    );
  }
  const unknown = (options.connectors ?? []).filter((c) => !(CONNECTORS as readonly string[]).includes(c));
  if (unknown.length > 0) {
    throw new ConfigError(
      undefined,
      [
        {
          path: '--connectors',
          message: `unknown connector ${unknown.join(', ')}; built-in connectors: ${CONNECTORS.join(', ')}`,
        },
      ],
      'USAGE',
    );
  }
  const connectors = CONNECTORS.filter((c) => c === 'database' || options.connectors?.includes(c));
  const template = join(templatesDir(), 'project');
  const version = `^${ferryVersion()}`;
  const files: string[] = [];
  for (const file of await filesUnder(template)) {
    const rel = relative(template, file);
    if (rel === 'package.template.json') continue;
    const out = join(target, targetName(rel));
    await mkdir(dirname(out), { recursive: true });
    const text = await readFile(file, 'utf8');
    await writeFile(out, rel === 'README.md' ? text.split('ferry-project').join(name) : text);
    files.push(out);
  }
  const manifest = await readJson<ProjectManifest>(join(template, 'package.template.json'));
  manifest.name = name;
  manifest.dependencies = sorted({
    ...manifest.dependencies,
    '@ferry/cli': version,
    '@ferry/core': version,
    ...Object.fromEntries(connectors.map((c) => [`@ferry/${c}`, version])),
  });
  manifest.devDependencies = sorted({ ...manifest.devDependencies, '@ferry/testkit': version });
  await writeFile(join(target, 'package.json'), json(manifest));
  files.push(join(target, 'package.json'));
  return { dest: target, files, wired: true };
}

/** `ferry new source` inside a project: a plugin package in its connectors folder, and a pipeline using it. */
async function scaffoldProjectSource(
  name: string,
  project: Project,
  dest?: string,
): Promise<SourceScaffoldResult> {
  const template = join(templatesDir(), 'source');
  const target = resolve(dest ?? join(project.root, project.connectors, name));
  await refuseExisting(target);
  const packageName = `ferry-source-${name}`;
  const replacements: [string, string][] = [
    ['@ferry/template-source', packageName],
    ...sourceReplacements(name),
  ];
  const files: string[] = [];
  for (const file of await filesUnder(template)) {
    const rel = relative(template, file);
    if (rel === 'package.json' || rel === 'tsconfig.json') continue;
    let text = await readFile(file, 'utf8');
    for (const [from, to] of replacements) text = text.split(from).join(to);
    const out = join(target, targetName(rel));
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, text);
    files.push(out);
  }

  // A plugin shares the project's @ferry/core (a peer), so its factories and errors are the host's own.
  const version = `^${ferryVersion()}`;
  const templateManifest = await readJson<ProjectManifest>(join(template, 'package.json'));
  const { '@ferry/core': _core, ...thirdParty } = templateManifest.dependencies ?? {};
  const manifest: ProjectManifest = {
    name: packageName,
    version: '0.1.0',
    private: true,
    description: templateManifest.description,
    type: 'module',
    engines: templateManifest.engines,
    exports: templateManifest.exports,
    files: templateManifest.files,
    scripts: { build: 'tsc -b', typecheck: 'tsc -b', test: 'vitest run' },
    peerDependencies: { '@ferry/core': version },
    dependencies: thirdParty,
    devDependencies: { '@ferry/testkit': version },
  };
  await writeFile(join(target, 'package.json'), json(manifest));
  const base = join(project.root, 'tsconfig.base.json');
  await writeFile(
    join(target, 'tsconfig.json'),
    json({
      ...((await exists(base)) ? { extends: relative(target, base).split(sep).join('/') } : {}),
      compilerOptions: { rootDir: 'src', outDir: 'dist' },
      include: ['src'],
    }),
  );
  files.push(join(target, 'package.json'), join(target, 'tsconfig.json'));

  const wired = await wireIntoProject(project, target);
  const pipeline = await examplePipeline(project, name, packageName, target);
  if (pipeline) files.push(...pipeline.files);
  return {
    dest: target,
    files,
    wired,
    kind: 'project',
    packageName,
    project: project.root,
    ...(pipeline ? { pipeline: pipeline.path } : {}),
  };
}

/** Make the package a workspace of the project and a reference of its tsconfig.json, so `npm install` links it. */
async function wireIntoProject(project: Project, target: string): Promise<boolean> {
  const rel = relative(project.root, target).split(sep).join('/');
  if (rel.startsWith('..')) return false;
  const manifestPath = join(project.root, 'package.json');
  const manifest = await readJson<ProjectManifest>(manifestPath);
  const workspaces = manifest.workspaces ?? [];
  const covered = workspaces.some((w) => w === rel || (w.endsWith('/*') && w.slice(0, -2) === dirname(rel)));
  if (!covered) {
    manifest.workspaces = [...workspaces, rel];
    await writeFile(manifestPath, json(manifest));
  }
  const tsconfigPath = join(project.root, 'tsconfig.json');
  if (await exists(tsconfigPath)) {
    const tsconfig = await readJson<{ references?: { path: string }[] }>(tsconfigPath);
    tsconfig.references ??= [];
    if (!tsconfig.references.some((r) => r.path === rel)) {
      tsconfig.references.push({ path: rel });
      await writeFile(tsconfigPath, json(tsconfig));
    }
  }
  return true;
}

/**
 * A pipeline that reads sample data with the new plugin into the project's example contract, so the
 * plugin runs end to end before anything is changed. Skipped when the project has no such contract or
 * the files exist already.
 */
async function examplePipeline(
  project: Project,
  name: string,
  packageName: string,
  packageDir: string,
): Promise<{ path: string; files: string[] } | undefined> {
  const pipeline = join(project.root, 'pipelines', `${name}.yaml`);
  const sample = join(project.root, 'sample', `${name}.jsonl`);
  const contract = join(project.root, 'contracts', 'example', 'customer', '1.0.0.json');
  if (!(await exists(contract)) || (await exists(pipeline)) || (await exists(sample))) return undefined;
  await mkdir(dirname(sample), { recursive: true });
  await writeFile(
    sample,
    [
      { id: 2001, name: 'Grace Hopper', email: 'grace@example.org' },
      { id: 2002, name: 'Alan Turing', email: null },
      { id: 2003, name: 'Katherine Johnson', email: 'katherine@example.org' },
    ]
      .map((row) => JSON.stringify(row))
      .join('\n')
      .concat('\n'),
  );
  await mkdir(dirname(pipeline), { recursive: true });
  await writeFile(
    pipeline,
    `# Reads sample/${name}.jsonl with the ${packageName} plugin (${relative(project.root, packageDir)}) into
# example.customer events. Link and build the plugin first (npm install && npm run build), then:
#   npx ferry run pipelines/${name}.yaml --once
pipeline: ${name}

source:
  type: ${name}
  plugin: ${packageName}
  path: ../sample/${name}.jsonl
  key: [id]

mapping:
  subject: customerId
  fields:
    customerId: { from: id, type: string, required: true }
    name: { from: name, required: true }
    email: email

contract:
  type: example.customer
  version: 1.0.0
  repository: ../contracts
`,
  );
  return { path: relative(project.root, pipeline), files: [sample, pipeline] };
}
