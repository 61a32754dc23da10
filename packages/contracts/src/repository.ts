// A repository of canonical data contracts on disk: one folder per type (`justice/offender/` is the type
// `justice.offender`), one JSON Schema (2020-12) per version (`1.2.0.json`), and an optional
// `contract.yaml` per type with its owner, steward, description and compatibility mode. Schemas refer to
// each other by `$id` (`urn:ferry:contract:common.address:1.0.0`), so shared types resolve across files.
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { FerryError } from '@ferry/core';
import semver from 'semver';
import { parse as parseYaml } from 'yaml';
import { type CompatibilityMode, compatibilityModes } from './compatibility.js';

export interface ContractVersion {
  type: string;
  version: string;
  /** `urn:ferry:contract:<type>:<version>`: the schema's `$id` and the events' `dataschema`. */
  id: string;
  file: string;
  schema: Record<string, unknown>;
  status: 'active' | 'deprecated';
  sunset?: string;
}

export interface ContractType {
  name: string;
  dir: string;
  description?: string;
  owner?: { dataOwner?: string; steward?: string };
  compatibility: CompatibilityMode;
  /** Oldest first. */
  versions: ContractVersion[];
}

export interface ContractRepository {
  dir: string;
  types: Map<string, ContractType>;
  /** Every schema by `$id`. */
  schemas: Map<string, Record<string, unknown>>;
}

export function contractId(type: string, version: string): string {
  return `urn:ferry:contract:${type}:${version}`;
}

const VERSION_FILE = /^(\d+\.\d+\.\d+)\.json$/;

function contractError(code: string, message: string, details: Record<string, unknown>): FerryError {
  return new FerryError(code, message, { details });
}

/** Read every contract under `dir`. Fails with a clear error on a malformed schema or metadata file. */
export async function loadContractRepository(dir: string): Promise<ContractRepository> {
  const types = new Map<string, ContractType>();
  const schemas = new Map<string, Record<string, unknown>>();
  for (const folder of await typeFolders(dir)) {
    const name = relative(dir, folder).split(sep).join('.');
    const entries = await readdir(folder);
    const meta = entries.includes('contract.yaml') ? await readMeta(join(folder, 'contract.yaml')) : {};
    const versions: ContractVersion[] = [];
    for (const entry of entries) {
      const match = VERSION_FILE.exec(entry);
      if (!match) continue;
      const file = join(folder, entry);
      const version = match[1]!;
      let schema: Record<string, unknown>;
      try {
        schema = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      } catch (error) {
        throw contractError(
          'CONTRACT_SCHEMA_INVALID',
          `${file} is not valid JSON: ${(error as Error).message}`,
          { file },
        );
      }
      const id = contractId(name, version);
      // The folder and file name determine the id: a schema without one gets it; only a contradiction fails.
      if (schema.$id === undefined) schema = { $id: id, ...schema };
      if (schema.$id !== id) {
        throw contractError(
          'CONTRACT_ID_MISMATCH',
          `${file}: $id must be '${id}' (the folder names the type, the file name the version), found '${String(schema.$id)}'`,
          { file, expected: id, found: schema.$id },
        );
      }
      const status = schema['x-status'] === 'deprecated' ? 'deprecated' : 'active';
      const sunset = typeof schema['x-sunset'] === 'string' ? schema['x-sunset'] : undefined;
      if (status === 'deprecated' && sunset === undefined) {
        throw contractError(
          'CONTRACT_METADATA_INVALID',
          `${file}: a deprecated version needs an x-sunset date`,
          { file },
        );
      }
      versions.push({ type: name, version, id, file, schema, status, ...(sunset ? { sunset } : {}) });
      schemas.set(id, schema);
    }
    if (versions.length === 0) continue;
    versions.sort((a, b) => semver.compare(a.version, b.version));
    types.set(name, {
      name,
      dir: folder,
      compatibility: meta.compatibility ?? 'BACKWARD',
      ...(meta.description ? { description: meta.description } : {}),
      ...(meta.owner ? { owner: meta.owner } : {}),
      versions,
    });
  }
  return { dir, types, schemas };
}

interface TypeMeta {
  description?: string;
  owner?: { dataOwner?: string; steward?: string };
  compatibility?: CompatibilityMode;
}

async function readMeta(file: string): Promise<TypeMeta> {
  const raw = parseYaml(await readFile(file, 'utf8')) as Record<string, unknown> | null;
  const meta = raw ?? {};
  const compatibility = meta.compatibility;
  if (compatibility !== undefined && !compatibilityModes.includes(compatibility as CompatibilityMode)) {
    throw contractError(
      'CONTRACT_METADATA_INVALID',
      `${file}: compatibility must be one of ${compatibilityModes.join(', ')}, found '${String(compatibility)}'`,
      { file },
    );
  }
  return meta as TypeMeta;
}

async function typeFolders(dir: string): Promise<string[]> {
  const out: string[] = [];
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw contractError(
      'CONTRACT_REPOSITORY_NOT_FOUND',
      `cannot read contract repository ${dir}: ${(error as Error).message}`,
      {
        dir,
      },
    );
  }
  if (entries.some((e) => e.isFile() && VERSION_FILE.test(e.name))) out.push(dir);
  for (const entry of entries) {
    if (entry.isDirectory()) out.push(...(await typeFolders(join(dir, entry.name))));
  }
  return out.sort();
}

export function findVersion(repo: ContractRepository, type: string, version: string): ContractVersion {
  const contract = repo.types.get(type);
  const found = contract?.versions.find((v) => v.version === version);
  if (!found) {
    const known = contract
      ? contract.versions.map((v) => v.version).join(', ')
      : [...repo.types.keys()].join(', ');
    throw contractError(
      'CONTRACT_NOT_FOUND',
      `no contract ${type} ${version} in ${repo.dir} (${contract ? 'versions' : 'types'}: ${known || 'none'})`,
      { type, version, dir: repo.dir },
    );
  }
  return found;
}

/**
 * A copy of the schema with every `$ref` (to another contract's `$id` or to a local `#/$defs/…`) replaced
 * by what it points at. A reference cycle is cut with `{}` (any value).
 */
export function resolveRefs(
  repo: ContractRepository,
  schema: Record<string, unknown>,
): Record<string, unknown> {
  const resolve = (node: unknown, root: Record<string, unknown>, stack: string[]): unknown => {
    if (Array.isArray(node)) return node.map((n) => resolve(n, root, stack));
    if (node === null || typeof node !== 'object') return node;
    const object = node as Record<string, unknown>;
    if (typeof object.$ref === 'string') {
      const ref = object.$ref;
      const { $ref: _ref, ...siblings } = object;
      const [base, pointer] = ref.split('#') as [string, string | undefined];
      const target = base === '' ? root : repo.schemas.get(base);
      if (!target) {
        throw contractError('CONTRACT_REF_UNRESOLVED', `$ref '${ref}' points at no known contract`, { ref });
      }
      const key = `${base || String(root.$id)}#${pointer ?? ''}`;
      if (stack.includes(key)) return {};
      const pointed = pointer ? pointerGet(target, pointer) : target;
      if (pointed === undefined)
        throw contractError('CONTRACT_REF_UNRESOLVED', `$ref '${ref}' points at nothing`, { ref });
      const resolved = resolve(pointed, target, [...stack, key]) as Record<string, unknown>;
      const { $id: _id, $schema: _schema, $defs: _defs, examples: _examples, ...body } = resolved;
      return { ...body, ...(resolve(siblings, root, stack) as Record<string, unknown>) };
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(object)) {
      if (k === '$defs') continue;
      out[k] = resolve(v, root, stack);
    }
    return out;
  };
  return resolve(schema, schema, [String(schema.$id)]) as Record<string, unknown>;
}

function pointerGet(root: unknown, pointer: string): unknown {
  let node = root;
  for (const part of pointer.split('/').filter(Boolean)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
