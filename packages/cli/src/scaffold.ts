// `ferry new`: a source package copied from templates/source, or a pipeline folder generated against a
// chosen contract (typed mapping, sample data, a test), both ready to build, lint and test unedited.
import { spawnSync } from 'node:child_process';
import { cp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findVersion, generateTypes, loadContractRepository, resolveRefs, typeName } from '@ferry/contracts';
import { ConfigError } from '@ferry/core';

/** The repository root: where `templates/` lives, found from this file (packages/cli/dist/…). */
export function repoRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
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
      entry.name.endsWith('.tsbuildinfo')
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
  await writeFile(
    pkgPath,
    pkg
      .replace(
        `--root ../.. --dir ${templateRel}`,
        `--root ${relative(dest, root)} --dir ${relative(root, dest)}`,
      )
      .replace(
        /--root \.\.\/\.\. --dir templates\/\w+/,
        `--root ${relative(dest, root)} --dir ${relative(root, dest)}`,
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
  wired: boolean;
}

export async function scaffoldSource(name: string, dest?: string): Promise<ScaffoldResult> {
  checkName(name);
  const root = repoRoot();
  const template = join(root, 'templates', 'source');
  const target = resolve(dest ?? join(root, 'packages', name));
  await refuseExisting(target);
  const replacements: [string, string][] = [
    ['TemplateSource', `${pascal(name)}Source`],
    ['templateSource', `${camel(name)}Source`],
    ['TEMPLATE_SOURCE', name.toUpperCase().replace(/-/g, '_')],
    ['template-source', name],
  ];
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
  return { dest: target, files, wired };
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
