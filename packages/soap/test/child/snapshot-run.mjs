// One `--once` run of a SOAP snapshot pipeline in a process of its own, for the crash tests: runPipeline with
// the factory's source and position schema, the file sink, and a checkpoint store that SIGKILLs this process
// while the batch that ends a pass is committed: before its checkpoint is saved (its events are written) or
// just after (its baseline not yet promoted). Runs the built package (npx tsc -b packages/soap).
//   node snapshot-run.mjs '{"dir": "...", "source": {SOAP source options}, "kill": "none"}'
import { join } from 'node:path';
import {
  createFileCheckpointStore,
  createFileDeadLetterSink,
  createFileSink,
  runPipeline,
} from '@ferry/core';
import { createSoapSource, soapSourceFactory } from '@ferry/soap';

const { dir, source: options, kill } = JSON.parse(process.argv[2]);
const name = 'crash';
const store = createFileCheckpointStore({ dir: join(dir, 'checkpoints') });
const endsPass = (position) => position?.state === 'done';
const checkpoints = {
  type: 'file-then-kill',
  load: (pipeline) => store.load(pipeline),
  async save(pipeline, position) {
    if (kill === 'before-checkpoint' && endsPass(position)) process.kill(process.pid, 'SIGKILL');
    await store.save(pipeline, position);
    if (kill === 'after-checkpoint' && endsPass(position)) process.kill(process.pid, 'SIGKILL');
  },
};
const source = createSoapSource(options, { pipeline: name, baseDir: dir });
const summary = await runPipeline({
  name,
  source,
  positionSchema: soapSourceFactory.positionSchema,
  mapping: {
    canonicalType: 'justice.case',
    map: (record) => ({ subject: String(record.key.CaseId), data: record.after ?? record.before ?? {} }),
  },
  sink: createFileSink({ dir: join(dir, 'events') }),
  deadLetters: createFileDeadLetterSink({ dir: join(dir, 'dead-letters'), pipeline: name }),
  checkpoints,
  // One batch per commit, so the end of a pass is a commit of its own.
  maxInFlightBatches: 1,
  once: true,
});
process.stdout.write(JSON.stringify(summary));
