// docs/configuration.md's option tables are generated from the zod schemas; this fails when they drift.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('docs/configuration.md', () => {
  it('matches the option schemas (regenerate with `node scripts/config-docs.mjs`)', () => {
    const script = join(import.meta.dirname, '..', '..', 'scripts', 'config-docs.mjs');
    expect(() => execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' })).not.toThrow();
  });
});
