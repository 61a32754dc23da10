// Error codes and docs agree both ways: every code the code can raise is documented in docs/errors.md, and
// every code a page of docs/ names (a table of docs/errors.md, a sentence anywhere) is one the code has.
// Ferry codes start with a domain prefix (DB_, SFTP_, KAFKA_, SOAP_, CONFIG_, MAPPING_, …), which is how
// they are found in the sources and in the docs.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const PREFIXES = [
  'CONFIG',
  'MAPPING',
  'CONTRACT',
  'DEAD_LETTER',
  'RETRIES',
  'EVENT_LOG',
  'CHECKPOINT',
  'PIPELINE',
  'DB',
  'SFTP',
  'KAFKA',
  'SOAP',
  'CSV',
  'FILE',
  'DLQ',
  'SERVER',
  'FRESHNESS',
  'PLUGIN',
  'RECONCILE',
  'FIXED_WIDTH',
  'JSONL',
  'API',
  'WEBHOOK',
  'SHADOW',
];
const NAME = `(?:${PREFIXES.join('|')})_[A-Z0-9_]+`;
const CODE = new RegExp(`['"\`](${NAME}|INTERNAL|USAGE)['"\`]`, 'g');
// In prose a code stands alone; `${env:DB_PASSWORD}` is an environment variable, not a code.
const MENTION = new RegExp(`(?<![A-Za-z0-9_:])(${NAME})(?![A-Za-z0-9_])`, 'g');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'dist' || name === 'test') continue;
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Error codes raised in the packages' sources; `constants` gets their exported constants named like codes. */
function codesInSources(constants?: Set<string>): Set<string> {
  const codes = new Set<string>();
  for (const pkg of readdirSync(join(root, 'packages'))) {
    const src = join(root, 'packages', pkg, 'src');
    try {
      statSync(src);
    } catch {
      continue;
    }
    for (const file of sourceFiles(src)) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(CODE)) codes.add(match[1]!);
      for (const match of text.matchAll(/\bexport const ([A-Z][A-Z0-9_]+)\b/g)) constants?.add(match[1]!);
    }
  }
  return codes;
}

// docs/*.md and the packages' READMEs, which list their connector's codes.
const docPages = [
  ...readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => join('docs', name)),
  ...readdirSync(join(root, 'packages'))
    .map((pkg) => join('packages', pkg, 'README.md'))
    .filter((path) => existsSync(join(root, path))),
];
const read = (page: string) => readFileSync(join(root, page), 'utf8');

describe('docs/errors.md', () => {
  it('documents every error code raised in packages/*/src', () => {
    const docs = read('docs/errors.md');
    const codes = codesInSources();
    expect(codes.size).toBeGreaterThan(10);
    const missing = [...codes].filter((code) => !docs.includes(`\`${code}\``)).sort();
    expect(missing).toEqual([]);
  });

  it('lists in its code columns only codes that packages/*/src has', () => {
    const codes = codesInSources();
    const listed: string[] = [];
    for (const line of read('docs/errors.md').split('\n')) {
      // The first cell of a row in a `| code | …` table; the other cells name the native errors behind it.
      const cell = /^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|/.exec(line)?.[1];
      if (cell) listed.push(cell);
    }
    expect(listed.length).toBeGreaterThan(50);
    expect(listed.filter((code) => !codes.has(code)).sort()).toEqual([]);
  });
});

describe('docs/*.md and packages/*/README.md', () => {
  it('names only error codes that packages/*/src has', () => {
    // A README's API table names exported constants too (`DLQ_HEADERS`): those are not codes.
    const constants = new Set<string>();
    const codes = codesInSources(constants);
    const unknown: string[] = [];
    for (const page of docPages) {
      for (const match of read(page).matchAll(MENTION)) {
        if (!codes.has(match[1]!) && !constants.has(match[1]!)) unknown.push(`${page}: ${match[1]}`);
      }
    }
    expect([...new Set(unknown)].sort()).toEqual([]);
  });
});
