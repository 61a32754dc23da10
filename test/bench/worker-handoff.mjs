// Benchmark: what handing records to a worker thread costs the pipeline's thread, against what the runtime
// spends on them there (issue 18, "use the second core"). A worker can only map, build envelopes and encode
// what it is given: records cross by structured clone (postMessage), and what comes back (encoded lines)
// crosses too. Measured on the same logical-mode-like records as runtime-hot-path.mjs, in batches of 1,000:
//   - post: the pipeline thread's CPU to post a batch to a worker that only counts it (the clone's share
//     that stays on the sending thread), and the round trip's wall time;
//   - back: the pipeline thread's CPU to receive the batch's encoded lines (one string per batch);
//   - runtime: the runtime's own CPU per event (runtime-hot-path.mjs's figure, run here in-process).
// Handing off pays only when post + back is well under the runtime's cost and a core is idle.
//   node test/bench/worker-handoff.mjs [batches=200]
import { loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { logicalRecords } from './lib/synthetic.mjs';
import { reporter } from './report.mjs';

const count = Number(process.argv[2] ?? 200);
const batch = (n) => logicalRecords(n * 1000, 1000);
const batches = Array.from({ length: count }, (_, n) => batch(n));
const lines = batches.map((records) => `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);

const worker = new Worker(
  `const { parentPort } = require('node:worker_threads');
   parentPort.on('message', (m) => parentPort.postMessage(m.kind === 'records' ? m.records.length : m.text));`,
  { eval: true },
);
const ask = (message) =>
  new Promise((resolve) => {
    worker.once('message', resolve);
    worker.postMessage(message);
  });

async function measure(make) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < count; i += 1) await ask(make(i));
  const used = process.cpuUsage(cpu);
  return {
    cpuUs: (used.user + used.system) / (count * 1000),
    wallUs: ((performance.now() - started) * 1000) / (count * 1000),
  };
}

const loadBefore = loadavg()[0];
await measure((i) => ({ kind: 'records', records: batches[i] })); // warm-up
const post = [];
const back = [];
for (let round = 0; round < 3; round += 1) {
  post.push(await measure((i) => ({ kind: 'records', records: batches[i] })));
  back.push(await measure((i) => ({ kind: 'text', text: lines[i] })));
}
await worker.terminate();
const median = (xs, pick) => xs.map(pick).sort((a, b) => a - b)[1];
// The process's CPU includes the worker's share of each clone; the pipeline thread's share is about half.
const postCpu = median(post, (r) => r.cpuUs);
const backCpu = median(back, (r) => r.cpuUs);
console.log(`handing records to a worker thread: ${count} batches of 1,000 records, 3 rounds (medians)`);
console.log(
  `  records → worker (clone, both threads)   ${postCpu.toFixed(2)} µs CPU per record, ${median(post, (r) => r.wallUs).toFixed(2)} µs wall`,
);
console.log(
  `  encoded lines ← worker (both threads)    ${backCpu.toFixed(2)} µs CPU per record, ${median(back, (r) => r.wallUs).toFixed(2)} µs wall`,
);
console.log(`  load average: ${loadBefore.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at end`);
const report = reporter(import.meta.url);
report({
  name: 'records to a worker thread and lines back (CPU per record)',
  value: postCpu + backCpu,
  unit: 'µs',
});
