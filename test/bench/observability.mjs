// Cost of watching a run: the same in-memory pipeline (synthetic source, null sink) bare, with the
// Prometheus metrics observer, and with tracing registered (every span recorded and handed to a
// BatchSpanProcessor whose exporter drops them), interleaved in rounds so load spikes hit every variant.
// The baseline is the bare runtime of the same run. Run: npm run build && node test/bench/observability.mjs [records] [rounds]
import { runPipeline } from '@ferry/core';
import { createMetrics } from '@ferry/ops';
import { trace } from '@opentelemetry/api';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { reporter } from './report.mjs';

const records = Number(process.argv[2] ?? 200_000);
const rounds = Number(process.argv[3] ?? 3);
const batchSize = 500;

const source = {
  type: 'synthetic',
  cadence: { kind: 'stream' },
  async *read(ctx) {
    for (let start = ctx.from ?? 0; start < records; start += batchSize) {
      const batch = [];
      for (let i = start; i < Math.min(start + batchSize, records); i += 1) {
        batch.push({
          stream: `main.T${i % 3}`,
          op: 'update',
          key: { id: i },
          after: { id: i, name: `name-${i}`, status: 'A' },
          occurredAt: new Date(),
          origin: { table: 'T', id: i },
        });
      }
      yield { records: batch, position: start + batch.length };
    }
  },
  close: async () => {},
};
const nullSink = { type: 'null', write: async () => {}, close: async () => {} };
const parts = () => ({
  name: 'bench',
  source,
  mapping: {
    canonicalType: 'bench.thing',
    dataschema: 'urn:bench',
    map: (r) => ({ subject: String(r.key.id), data: r.after }),
  },
  sink: nullSink,
  deadLetters: { type: 'null', write: async () => {}, close: async () => {} },
  checkpoints: { type: 'null', load: async () => undefined, save: async () => {} },
});

async function timed(options) {
  const started = performance.now();
  const summary = await runPipeline(options);
  if (summary.eventsWritten !== records) throw new Error(`wrote ${summary.eventsWritten} of ${records}`);
  return records / ((performance.now() - started) / 1000);
}

const variants = {
  bare: () => timed(parts()),
  metrics: () => {
    const metrics = createMetrics();
    return timed({ ...parts(), observer: metrics.observer('bench') });
  },
  tracing: async () => {
    const exporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };
    const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
    provider.register();
    try {
      return await timed(parts());
    } finally {
      await provider.shutdown();
      trace.disable();
    }
  },
};

await variants.bare(); // warm-up
const rates = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let round = 0; round < rounds; round += 1) {
  for (const [name, run] of Object.entries(variants)) rates[name].push(await run());
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const bare = median(rates.bare);
console.log(`observability overhead: ${records} records, batches of ${batchSize}, ${rounds} rounds (median)`);
for (const [name, xs] of Object.entries(rates)) {
  console.log(
    `  ${name.padEnd(8)} ${Math.round(median(xs)).toLocaleString('en-GB').padStart(9)} events/s   ratio to bare ${(median(xs) / bare).toFixed(2)}`,
  );
  if (name !== 'bare') {
    reporter(import.meta.url)({
      name: `runtime with ${name}`,
      value: median(xs),
      unit: 'events/s',
      baseline: { name: 'bare runtime', value: bare },
    });
  }
}
