// npm pack hooks of @ferry/cli: `prepack` copies the repository's templates/source and templates/project
// into this package (templates/), so `ferry new project` and `ferry new source` work from an installed
// CLI; `postpack` (`--clean`) removes the copy again. npm never packs a file named .gitignore, so it
// travels as `gitignore` and the scaffold renames it back.
import { cpSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';

const pkg = join(import.meta.dirname, '..');
const target = join(pkg, 'templates');
rmSync(target, { recursive: true, force: true });
if (!process.argv.includes('--clean')) {
  const skipped = new Set(['node_modules', 'dist', '.turbo', '.ferry']);
  for (const name of ['source', 'project']) {
    cpSync(join(pkg, '..', '..', 'templates', name), join(target, name), {
      recursive: true,
      filter: (path) => {
        const base = basename(path);
        return !skipped.has(base) && !base.endsWith('.tsbuildinfo') && !base.startsWith('legacy.db');
      },
    });
  }
  renameSync(join(target, 'project', '.gitignore'), join(target, 'project', 'gitignore'));
}
