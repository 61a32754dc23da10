// docs/configuration.md's option tables are generated from the zod schemas; this fails when they drift.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);

describe('docs/configuration.md', () => {
  // A second Node process that imports every package's built schemas (zod, typeorm, kafkajs, soap, ...)
  // before it renders: about 1 s on an idle machine, 9 s measured with the unit suite on two cores under
  // four busy loops. 60 s keeps the check on a loaded machine and still ends a hung child. Asynchronous,
  // so the worker stays responsive while the child runs.
  it('matches the option schemas (regenerate with `node scripts/config-docs.mjs`)', {
    timeout: 60_000,
  }, async () => {
    const script = join(import.meta.dirname, '..', '..', 'scripts', 'config-docs.mjs');
    await expect(exec(process.execPath, [script, '--check'], { timeout: 55_000 })).resolves.toBeDefined();
  });
});
