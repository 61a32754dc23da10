// The entity store on SQLite, the embedded default: a file of the test's own.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeStore } from '../store-suite.js';

describeStore('SQLite', () => ({
  type: 'sqlite',
  path: join(mkdtempSync(join(tmpdir(), 'ferry-api-store-')), 'state.db'),
}));
