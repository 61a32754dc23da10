// `ferry contracts check`: every version of every type against the version(s) before it, under the
// type's declared compatibility mode. A breaking change is an error unless it comes with a new major
// version; the report says which bump each change needs.
import semver from 'semver';
import {
  type Bump,
  breakingUnder,
  diffSchemas,
  isTransitive,
  requiredBump,
  type SchemaChange,
} from './compatibility.js';
import { type ContractRepository, type ContractVersion, resolveRefs } from './repository.js';
import { ContractValidators } from './validation.js';

export interface PairReport {
  type: string;
  from: string;
  to: string;
  mode: string;
  changes: SchemaChange[];
  breaking: SchemaChange[];
  requiredBump: Bump;
  actualBump: Bump;
  /** False when a breaking change ships without a new major version. */
  ok: boolean;
}

export interface ExampleReport {
  type: string;
  version: string;
  index: number;
  errors: { path: string; message: string }[];
}

export interface CheckReport {
  pairs: PairReport[];
  examples: ExampleReport[];
  ok: boolean;
}

function bumpBetween(from: string, to: string): Bump {
  const diff = semver.diff(from, to);
  if (diff === 'major' || diff === 'premajor') return 'major';
  if (diff === 'minor' || diff === 'preminor') return 'minor';
  if (diff === null) return 'none';
  return 'patch';
}

export function compareVersions(
  repo: ContractRepository,
  from: ContractVersion,
  to: ContractVersion,
  mode: string,
): PairReport {
  const changes = diffSchemas(resolveRefs(repo, from.schema), resolveRefs(repo, to.schema));
  const typedMode = mode as Parameters<typeof breakingUnder>[0];
  const breaking = breakingUnder(typedMode, changes);
  const actualBump = bumpBetween(from.version, to.version);
  return {
    type: to.type,
    from: from.version,
    to: to.version,
    mode,
    changes,
    breaking,
    requiredBump: requiredBump(typedMode, changes),
    actualBump,
    ok: breaking.length === 0 || actualBump === 'major',
  };
}

export function checkRepository(repo: ContractRepository): CheckReport {
  const pairs: PairReport[] = [];
  for (const contract of repo.types.values()) {
    const { versions, compatibility } = contract;
    for (let i = 1; i < versions.length; i += 1) {
      const to = versions[i]!;
      // Transitive modes compare with every earlier version of the same major line; a major bump starts a
      // new line on purpose.
      const earlier = isTransitive(compatibility)
        ? versions.slice(0, i).filter((v) => semver.major(v.version) === semver.major(to.version))
        : [versions[i - 1]!];
      for (const from of earlier.length > 0 ? earlier : [versions[i - 1]!]) {
        pairs.push(compareVersions(repo, from, to, compatibility));
      }
    }
  }
  const examples = checkExamples(repo);
  return { pairs, examples, ok: pairs.every((p) => p.ok) && examples.length === 0 };
}

/** Every `examples` payload of every version must validate against its own schema. */
export function checkExamples(repo: ContractRepository): ExampleReport[] {
  const validators = new ContractValidators(repo);
  const out: ExampleReport[] = [];
  for (const contract of repo.types.values()) {
    for (const version of contract.versions) {
      const examples = Array.isArray(version.schema.examples) ? version.schema.examples : [];
      examples.forEach((example, index) => {
        const errors = validators.validate(contract.name, version.version, example);
        if (errors.length > 0) out.push({ type: contract.name, version: version.version, index, errors });
      });
    }
  }
  return out;
}

export function formatCheckReport(report: CheckReport): string {
  const lines: string[] = [];
  for (const pair of report.pairs) {
    const verdict = pair.ok ? (pair.breaking.length > 0 ? 'ok (new major version)' : 'ok') : 'BREAKING';
    lines.push(
      `${pair.type} ${pair.from} -> ${pair.to} [${pair.mode}]: ${verdict}; needs a ${pair.requiredBump} bump, is a ${pair.actualBump} bump`,
    );
    for (const change of pair.changes) {
      const mark = pair.breaking.includes(change) ? 'breaking  ' : 'compatible';
      lines.push(`  ${mark} ${change.path} ${change.rule}: ${change.description}`);
    }
  }
  for (const example of report.examples) {
    for (const error of example.errors) {
      lines.push(
        `${example.type} ${example.version} example[${example.index}] invalid: ${error.path || '/'} ${error.message}`,
      );
    }
  }
  lines.push(
    report.ok
      ? 'contracts: all compatible'
      : 'contracts: breaking changes without a major version (or invalid examples)',
  );
  return lines.join('\n');
}
