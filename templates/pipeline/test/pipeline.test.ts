// Runs this pipeline on its sample data: the legacy table is built from sample/rows.json, events go to an
// in-memory sink, and every event must pass the contract check (the pipeline validates at run time).
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultRegistry } from '@ferry/cli';
import { assemblePipeline, loadPipelineFile, runPipeline, silentLogger } from '@ferry/core';
import { MemoryCheckpoints, MemoryDeadLetters, MemorySink } from '@ferry/testkit';
import Database from 'better-sqlite3';
import { expect, it } from 'vitest';

const here = join(import.meta.dirname, '..');

async function buildSampleDatabase(): Promise<number> {
  const rows = JSON.parse(await readFile(join(here, 'sample', 'rows.json'), 'utf8')) as Record<
    string,
    unknown
  >[];
  const path = join(here, 'sample', 'legacy.db');
  await rm(path, { force: true });
  const db = new Database(path);
  const columns = Object.keys(rows[0]!).filter((c) => c !== 'ROW_ID');
  db.exec(`CREATE TABLE LEGACY (ROW_ID INTEGER PRIMARY KEY, ${columns.map((c) => `"${c}"`).join(', ')})`);
  const insert = db.prepare(
    `INSERT INTO LEGACY (ROW_ID, ${columns.map((c) => `"${c}"`).join(', ')}) VALUES (?, ${columns.map(() => '?').join(', ')})`,
  );
  for (const row of rows) insert.run(row.ROW_ID, ...columns.map((c) => row[c] ?? null));
  db.close();
  return rows.length;
}

it('maps the sample legacy rows to valid canonical events', async () => {
  const count = await buildSampleDatabase();
  const registry = defaultRegistry();
  const pipeline = await loadPipelineFile(join(here, 'pipeline.yaml'), registry);
  const options = await assemblePipeline(pipeline, registry, { logger: silentLogger(), once: true });
  const sink = new MemorySink();
  const deadLetters = new MemoryDeadLetters();
  const summary = await runPipeline({ ...options, sink, deadLetters, checkpoints: new MemoryCheckpoints() });
  expect(deadLetters.letters).toEqual([]);
  expect(summary.eventsWritten).toBe(count);
  for (const event of sink.events) {
    expect(event.dataschema).toBe(pipeline.contract.schema);
    expect(event.type.startsWith(`${pipeline.contract.type}.`)).toBe(true);
  }
});
