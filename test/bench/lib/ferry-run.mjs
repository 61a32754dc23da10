// Ferry as the like-for-like benches run it: a child process doing what `ferry run --once <pipeline.yaml>`
// does (the CLI's heap growth cap and registry, loadPipelineFile, assemblePipeline, runPipeline from the built packages), without
// the run lock, tracing and progress display, and with an observer that times the run from the first batch
// prepared to the last batch committed. It prints one JSON line: events, seconds, the process's CPU seconds
// and peak RSS (VmHWM), both taken when the last batch is committed, as the Debezium peer does.
//   node test/bench/lib/ferry-run.mjs <pipeline.yaml>

import { defaultRegistry, limitHeapGrowth } from '../../../packages/cli/dist/index.js';
import {
  assemblePipeline,
  loadPipelineFile,
  runPipeline,
  silentLogger,
} from '../../../packages/core/dist/index.js';
import { ownPeakRss } from './measure.mjs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node test/bench/lib/ferry-run.mjs <pipeline.yaml>');
  process.exit(2);
}

let first = 0;
let last = 0;
let events = 0;
let cpuSeconds = 0;
let peakRssBytes = 0;
const observer = {
  batchPrepared() {
    if (first === 0) first = performance.now();
  },
  committed(info) {
    last = performance.now();
    for (const s of info.streams) events += s.events;
    const cpu = process.cpuUsage();
    cpuSeconds = (cpu.user + cpu.system) / 1e6;
    peakRssBytes = ownPeakRss();
  },
};

// As the `ferry` command does at start (packages/cli/src/heap.ts).
limitHeapGrowth();
const registry = defaultRegistry();
const pipeline = await loadPipelineFile(file, registry);
const options = await assemblePipeline(pipeline, registry, { logger: silentLogger(), once: true, observer });
const summary = await runPipeline(options);
console.log(
  JSON.stringify({
    tool: 'ferry',
    events,
    eventsWritten: summary.eventsWritten,
    seconds: (last - first) / 1000,
    cpuSeconds,
    peakRssBytes,
  }),
);
