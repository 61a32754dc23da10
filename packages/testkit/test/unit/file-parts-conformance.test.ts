// The embedded file parts of @ferry/core against the Sink, DeadLetterSink and CheckpointStore suites. Each
// check gets a directory of its own; what the file sink stored is read from the files, not through the sink.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileCheckpointStore, createFileDeadLetterSink, createFileSink } from '@ferry/core';
import {
  describeCheckpointConformance,
  describeDeadLetterConformance,
  describeSinkConformance,
  uniqueName,
} from '@ferry/testkit';

async function freshDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Every line of every topic file under `dir`, parsed; a directory not yet made holds nothing. */
async function readLogs(dir: string): Promise<unknown[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const events: unknown[] = [];
  for (const name of names.filter((n) => n.endsWith('.jsonl')).sort()) {
    const text = await readFile(join(dir, name), 'utf8');
    for (const line of text.split('\n')) if (line.trim() !== '') events.push(JSON.parse(line));
  }
  return events;
}

describeSinkConformance('the file event log (createFileSink)', {
  async target() {
    const { dir, cleanup } = await freshDir('ferry-sink');
    // A directory the sink has to create, to check that probe() and close() cope with it missing.
    const logs = join(dir, 'events');
    return {
      pipeline: uniqueName('file_sink'),
      make: () => createFileSink({ dir: logs }),
      readBack: () => readLogs(logs),
      cleanup,
    };
  },
  // Every write is appended and fsynced: a batch written again is in the log twice, with the same ids.
  rewrite: 'appends',
  lacks: ['commitBatch'],
  // Appends are fsynced before write() resolves: visible at once.
  visibleWithinMs: 0,
});

describeDeadLetterConformance('the file dead-letter log (createFileDeadLetterSink)', {
  async target() {
    const { dir, cleanup } = await freshDir('ferry-dlq');
    const pipeline = uniqueName('file_dlq');
    return {
      pipeline,
      make: () => createFileDeadLetterSink({ dir: join(dir, 'dead-letters'), pipeline }),
      cleanup,
    };
  },
  visibleWithinMs: 0,
});

describeCheckpointConformance('the file checkpoint store (createFileCheckpointStore)', {
  async target() {
    const { dir, cleanup } = await freshDir('ferry-ckpt');
    return { make: () => createFileCheckpointStore({ dir: join(dir, 'checkpoints') }), cleanup };
  },
});
