// The Source contract, checked with @ferry/testkit on a real file; and a bad line going to the dead-letter
// place with where it came from while the rest of the file flows.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistry, registerPlugin, runPipeline } from '@ferry/core';
import { describeSourceConformance, MemoryCheckpoints, MemoryDeadLetters, MemorySink } from '@ferry/testkit';
import { describe, expect, it } from 'vitest';
import { createTemplateSource, ferryPlugin, templateSourceFactory } from '../../src/index.js';

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
  lacks: {
    acknowledge: 'an export file has nothing to confirm upstream',
    upstreamPosition: 'nothing is acknowledged upstream',
    retryableFailure: 'a local file offers no transient failure to provoke',
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

describe('template-source', () => {
  it('exports a plugin manifest Ferry registers: pipeline files get type template-source', () => {
    const registry = createRegistry();
    registerPlugin(registry, ferryPlugin);
    expect(registry.sources.get('template-source')).toBe(templateSourceFactory);
  });

  it('refuses a configuration without a key', () => {
    expect(() => createTemplateSource({ path, key: [] })).toThrow();
  });

  it('rejects a line it cannot read, with its line number, and reads the rest', async () => {
    const file = join(dir, 'bad-line.jsonl');
    await writeFile(file, ['{"id":1}', '{"id":2', '[3]', '{"name":"no id"}', '{"id":5}'].join('\n'));
    const sink = new MemorySink();
    const deadLetters = new MemoryDeadLetters();
    const summary = await runPipeline({
      name: 'template',
      source: createTemplateSource({ path: file, key: ['id'] }),
      mapping: { canonicalType: 'test.row', map: (r) => ({ subject: String(r.key.id), data: r.after }) },
      sink,
      deadLetters,
      checkpoints: new MemoryCheckpoints(),
      deadLetterThreshold: false,
      once: true,
    });
    expect(sink.events.map((e) => e.subject)).toEqual(['1', '5']);
    expect(deadLetters.letters.map((l) => [l.code, l.stage, l.origin.line])).toEqual([
      ['TEMPLATE_SOURCE_BAD_LINE', 'source', 2],
      ['TEMPLATE_SOURCE_BAD_LINE', 'source', 3],
      ['TEMPLATE_SOURCE_BAD_LINE', 'source', 4],
    ]);
    expect(summary.position).toEqual({ line: 5 });
  });
});
