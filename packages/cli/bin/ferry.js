#!/usr/bin/env node
// The `ferry` command as npm links it. npm links a workspace's bin when it installs, before the TypeScript
// is built, and a link to a file that does not exist yet is left out or left without its execute bit; this
// file is committed (executable), so the link is always there and runs the build once it exists.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(built)) {
  process.stderr.write(
    `ferry: the CLI is not built yet (${fileURLToPath(built)} is missing). ` +
      'Run `npm run build` at the repository root (or `npm start`, which builds what it needs), then try again.\n',
  );
  process.exit(1);
}
await import(built.href);
