// What the read API serves, worked out once from api.yaml and the contract repository: one collection per
// configured entity and major version of its contract, with the schema of the newest version of that major,
// the fields callers may filter on (and how each compares), the scope that reads it, and whether the major is
// deprecated (and its sunset).
import { type ContractRepository, resolveRefs } from '@ferry/contracts';
import { ConfigError, type ConfigIssue } from '@ferry/core';
import { type ApiConfig, collectionPath } from './config.js';
import type { Filter } from './store.js';

export interface FilterField {
  /** As written in api.yaml and in the query (`location.prisonId`). */
  name: string;
  path: string[];
  kind: Filter['kind'];
  /** Dates and numbers take ranges (`[gt]`, `[gte]`, `[lt]`, `[lte]`); other fields equality only. */
  ranges: boolean;
}

export interface Collection {
  type: string;
  major: number;
  /** `offenders`; served at `/v{major}/{path}`. */
  path: string;
  /** Newest version of this major (`1.2.0`): its schema is what the collection's items follow. */
  version: string;
  /** The schema with every reference resolved, for the OpenAPI document. */
  schema: Record<string, unknown>;
  title: string;
  filters: FilterField[];
  scope: string;
  deprecated: boolean;
  /** The contract's sunset date (ISO 8601), sent as the `Sunset` header of a deprecated major. */
  sunset: string | undefined;
}

/** Collections of every configured entity and major; a type or filter the contracts do not know is a ConfigError. */
export function collectionsOf(config: ApiConfig, repo: ContractRepository, file: string): Collection[] {
  const issues: ConfigIssue[] = [];
  const collections: Collection[] = [];
  for (const [index, entity] of config.entities.entries()) {
    const contract = repo.types.get(entity.type);
    if (contract === undefined) {
      issues.push({
        path: `entities[${index}].type`,
        message: `no contract ${entity.type} in ${repo.dir} (types: ${[...repo.types.keys()].join(', ') || 'none'})`,
      });
      continue;
    }
    const byMajor = new Map<number, (typeof contract.versions)[number][]>();
    for (const version of contract.versions) {
      const major = Number(version.version.split('.')[0]);
      byMajor.set(major, [...(byMajor.get(major) ?? []), version]);
    }
    for (const [major, versions] of byMajor) {
      const newest = versions.at(-1);
      if (newest === undefined) continue;
      const schema = resolveRefs(repo, newest.schema);
      const filters: FilterField[] = [];
      for (const [i, name] of entity.filters.entries()) {
        const field = fieldOf(schema, name.split('.'));
        if (field === undefined) {
          issues.push({
            path: `entities[${index}].filters[${i}]`,
            message: `${entity.type} ${newest.version} has no field ${name} of type string, number, integer or boolean`,
          });
          continue;
        }
        filters.push({ name, path: name.split('.'), ...field });
      }
      const path = collectionPath(entity);
      collections.push({
        type: entity.type,
        major,
        path,
        version: newest.version,
        schema,
        title: String(schema.title ?? entity.type),
        filters,
        scope: (entity.scope ?? `${path}:v{major}:read`).replaceAll('{major}', String(major)),
        deprecated: versions.every((v) => v.status === 'deprecated'),
        sunset: newest.sunset,
      });
    }
  }
  if (issues.length > 0) throw new ConfigError(file, issues);
  return collections.sort((a, b) => a.path.localeCompare(b.path) || a.major - b.major);
}

function fieldOf(
  schema: Record<string, unknown>,
  path: string[],
): { kind: Filter['kind']; ranges: boolean } | undefined {
  let node: Record<string, unknown> | undefined = schema;
  for (const part of path) {
    const properties = node?.properties as Record<string, Record<string, unknown>> | undefined;
    node = properties?.[part];
  }
  if (node === undefined) return undefined;
  const types = Array.isArray(node.type) ? node.type : [node.type];
  if (types.includes('number') || types.includes('integer')) return { kind: 'number', ranges: true };
  if (types.includes('boolean')) return { kind: 'boolean', ranges: false };
  if (types.includes('string'))
    return { kind: 'string', ranges: node.format === 'date' || node.format === 'date-time' };
  return undefined;
}
