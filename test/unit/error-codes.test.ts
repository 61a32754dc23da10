// Every error code the code can raise is documented in docs/errors.md. Ferry codes start with a domain
// prefix (DB_, SFTP_, KAFKA_, SOAP_, CONFIG_, MAPPING_, …), which is how they are found in the sources.
import { readdirSync, readFileSync, statSync } from 'node:fs';
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
];
const CODE = new RegExp(`['"\`]((?:${PREFIXES.join('|')})_[A-Z0-9_]+|INTERNAL|USAGE)['"\`]`, 'g');

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

describe('docs/errors.md', () => {
  it('documents every error code raised in packages/*/src', () => {
    const docs = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
    const codes = new Set<string>();
    for (const pkg of readdirSync(join(root, 'packages'))) {
      const src = join(root, 'packages', pkg, 'src');
      try {
        statSync(src);
      } catch {
        continue;
      }
      for (const file of sourceFiles(src)) {
        for (const match of readFileSync(file, 'utf8').matchAll(CODE)) codes.add(match[1]!);
      }
    }
    expect(codes.size).toBeGreaterThan(10);
    const missing = [...codes].filter((code) => !docs.includes(`\`${code}\``)).sort();
    expect(missing).toEqual([]);
  });
});
