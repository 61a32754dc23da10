// The Source contract, checked with @ferry/testkit on a real file.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeSourceConformance } from '@ferry/testkit';
import { describe, expect, it } from 'vitest';
import { createTemplateSource } from '../../src/index.js';

const dir = await mkdtemp(join(tmpdir(), 'template-source-'));
const path = join(dir, 'export.jsonl');
let config = { path, key: ['id'], batchSize: 7, pollIntervalMs: 50 };

describeSourceConformance('template-source', () => createTemplateSource(config), {
  async seed() {
    config = { path, key: ['id'], batchSize: 7, pollIntervalMs: 50 };
    const rows = Array.from({ length: 40 }, (_, i) => JSON.stringify({ id: i + 1, name: `row ${i + 1}` }));
    await writeFile(path, `${rows.join('\n')}\n`);
    return { expected: 40 };
  },
  failFatal: {
    async break() {
      config = { ...config, path: join(dir, 'missing.jsonl') };
    },
    async repair() {
      config = { ...config, path };
    },
  },
  async cleanup() {
    await rm(join(dir, 'missing.jsonl'), { force: true });
  },
  timeoutMs: 10_000,
});

describe('template-source options', () => {
  it('refuses a configuration without a key', () => {
    expect(() => createTemplateSource({ path, key: [] })).toThrow();
  });
});
