// Runs the example pipeline on the sample table with in-memory parts: every row becomes an event that
// passes the contract (the pipeline validates against contracts/ at run time), and none is rejected.
import { join } from 'node:path';
import { defaultRegistry } from '@ferry/cli';
import { assemblePipeline, loadPipelineFile, runPipeline, silentLogger } from '@ferry/core';
import { MemoryCheckpoints, MemoryDeadLetters, MemorySink } from '@ferry/testkit';
import { expect, it } from 'vitest';
import { buildSampleDatabase } from '../scripts/sample-db.mjs';

it('maps the sample customers to valid example.customer events', async () => {
  const count = buildSampleDatabase();
  const registry = defaultRegistry();
  const pipeline = await loadPipelineFile(
    join(import.meta.dirname, '..', 'pipelines', 'customers.yaml'),
    registry,
  );
  const options = await assemblePipeline(pipeline, registry, { logger: silentLogger(), once: true });
  const sink = new MemorySink();
  const deadLetters = new MemoryDeadLetters();
  const summary = await runPipeline({ ...options, sink, deadLetters, checkpoints: new MemoryCheckpoints() });
  expect(deadLetters.letters).toEqual([]);
  expect(summary.eventsWritten).toBe(count);
  expect(sink.events[0]).toMatchObject({
    type: 'example.customer.updated',
    subject: '1001',
    dataschema: 'urn:ferry:contract:example.customer:1.0.0',
    data: { customerId: '1001', name: 'Ada Lovelace', email: 'ada@example.org', active: true },
  });
});
