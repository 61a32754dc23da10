// The Node versions Ferry states it supports are true: every package.json says the same range, every
// package npm installs (the lockfile, optional ones aside) accepts all of it, so `npm install` never warns
// EBADENGINE on a supported Node, and the versions `npm test` runs (scripts/node-matrix.mjs) are in it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { PLATFORMATIC_MIN_NODE } from '../../packages/kafka/src/internal/platformatic.js';

const root = join(import.meta.dirname, '..', '..');
const read = (path: string) => JSON.parse(readFileSync(join(root, path), 'utf8'));
const manifest = read('package.json');
const lock = read('package-lock.json');
const range: string = manifest.engines.node;

function workspaceManifests(): string[] {
  const out: string[] = [];
  for (const dir of ['packages', 'templates', 'examples']) {
    for (const name of readdirSync(join(root, dir))) {
      const path = `${dir}/${name}/package.json`;
      if (existsSync(join(root, path))) out.push(path);
    }
  }
  return out;
}

describe('supported Node versions', () => {
  it('one range, stated by every package.json', () => {
    expect(semver.validRange(range)).not.toBeNull();
    const differ = workspaceManifests().filter((path) => read(path).engines?.node !== range);
    expect(differ).toEqual([]);
  });

  it('every installed package accepts the whole range (no EBADENGINE on a supported Node)', () => {
    const refusing: string[] = [];
    for (const [path, entry] of Object.entries<{ optional?: boolean; engines?: { node?: string } }>(
      lock.packages,
    )) {
      const node = entry.engines?.node;
      // npm leaves out an optional package whose engines do not match, without a warning.
      if (!node || entry.optional) continue;
      if (!semver.subset(range, node)) refusing.push(`${path || '(root)'} wants ${node}`);
    }
    expect(refusing).toEqual([]);
  });

  it("the matrix's Node versions and this machine's are in the range, one per major", () => {
    const matrix: string[] = manifest.config.nodeMatrix;
    expect(matrix.length).toBeGreaterThanOrEqual(2);
    for (const version of [...matrix, process.versions.node])
      expect(semver.satisfies(version, range)).toBe(true);
    expect(new Set(matrix.map((v) => semver.major(v))).size).toBe(matrix.length);
  });

  it("the Node the optional @platformatic/kafka needs is what its dependencies' engines say", () => {
    const needs = Object.entries<{ engines?: { node?: string } }>(lock.packages)
      .filter(([path]) => path.startsWith('node_modules/@platformatic/'))
      .map(([, entry]) => entry.engines?.node)
      .filter((node): node is string => node !== undefined)
      .map((node) => semver.minVersion(node)!.version);
    expect(needs.length).toBeGreaterThan(0);
    expect(needs.sort(semver.compare).at(-1)).toBe(PLATFORMATIC_MIN_NODE);
  });
});
