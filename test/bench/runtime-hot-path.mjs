// Benchmark: what the Ferry runtime costs per event beyond its source. A synthetic source yields records
// shaped like the PostgreSQL logical mode's (origin lsn/xid/seq, a sequence, a commit time, a 4-column
// row), in batches of 1,000; the runtime maps them (the database benches' field map), builds the CloudEvents,
// encodes them and appends them to the file sink (one write and one fsync per commit group).
//   - source alone: the same generator drained with nothing done per record: what the source costs;
//   - raw: each record JSON.stringify'd and appended, one write and fsync per batch: the least any tool
//     that writes these rows to a file does (the baseline);
//   - ferry: the runtime to the file sink.
// Each variant runs in its own child process (its own CPU time and peak RSS), in interleaved rounds with
// the order rotated; medians are reported with the load average. The target (issue 18): the runtime's CPU
// per event beyond the source ≤ 10 µs.
//   node test/bench/runtime-hot-path.mjs [events=300000] [rounds=3]
import { spawnSync } from 'node:child_process';
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { logicalRecords } from './lib/synthetic.mjs';
import { reporter } from './report.mjs';

const BATCH = 1000;
/** Batches of logical-mode-like records, made as the source would make them (not ahead of time). */
function* batches(count) {
  for (let from = 0; from < count; from += BATCH) {
    const records = logicalRecords(from, Math.min(BATCH, count - from));
    yield { records, position: { n: from + records.length } };
  }
}

async function child(variant, count) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-hot-'));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let events = 0;
  if (variant === 'source') {
    for (const batch of batches(count)) events += batch.records.length;
  } else if (variant === 'raw') {
    const fd = openSync(join(dir, 'rows.jsonl'), 'a');
    for (const batch of batches(count)) {
      writeSync(fd, Buffer.from(`${batch.records.map((r) => JSON.stringify(r)).join('\n')}\n`));
      fsyncSync(fd);
      events += batch.records.length;
    }
    closeSync(fd);
  } else {
    const core = await import('../../packages/core/dist/index.js');
    const source = {
      type: 'synthetic',
      cadence: { kind: 'stream' },
      async *read() {
        yield* batches(count);
      },
      async close() {},
    };
    const summary = await core.runPipeline({
      name: 'bench',
      source,
      // The field map the database benchmarks' pipeline file declares.
      mapping: {
        canonicalType: 'bench.row',
        map: core.fieldMapping({
          subject: 'id',
          fields: { id: 'id', name: 'name', amount: 'amount', updatedAt: 'updated_at' },
        }),
      },
      sink: core.createFileSink({ dir: join(dir, 'events'), topic: 'rows' }),
      deadLetters: core.createFileDeadLetterSink({ dir: join(dir, 'dlq'), pipeline: 'bench' }),
      checkpoints: core.createFileCheckpointStore({ dir: join(dir, 'cp') }),
      once: true,
      logger: core.silentLogger(),
    });
    events = summary.eventsWritten;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  rmSync(dir, { recursive: true, force: true });
  console.log(
    JSON.stringify({
      events,
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
    }),
  );
}

if (process.argv[2] === '--child') {
  await child(process.argv[3], Number(process.argv[4]));
} else {
  const count = Number(process.argv[2] ?? 300_000);
  const rounds = Number(process.argv[3] ?? 3);
  const report = reporter(import.meta.url);
  const variants = ['source', 'raw', 'ferry'];
  const seen = Object.fromEntries(variants.map((v) => [v, []]));
  const loadBefore = loadavg()[0];
  for (let round = 0; round < rounds; round += 1) {
    // Rotated, so no variant always runs first (cold caches) or last (after the others heated the machine).
    const order = variants.map((_, i) => variants[(i + round) % variants.length]);
    for (const variant of order) {
      const result = spawnSync(process.execPath, [import.meta.filename, '--child', variant, String(count)], {
        encoding: 'utf8',
      });
      if (result.status !== 0) throw new Error(`${variant} failed: ${result.stderr}`);
      const figures = JSON.parse(result.stdout.trim().split('\n').at(-1));
      if (figures.events !== count)
        throw new Error(`${variant} handled ${figures.events} of ${count} events`);
      seen[variant].push(figures);
    }
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const of = (variant, pick) => median(seen[variant].map(pick));
  const us = (variant) => of(variant, (f) => (f.cpuSeconds * 1e6) / f.events);
  const eps = (variant) => of(variant, (f) => f.events / f.seconds);
  const rss = (variant) => of(variant, (f) => f.peakRssMiB);
  console.log(
    `runtime hot path, ${count.toLocaleString('en')} events, ${rounds} interleaved rounds (medians)`,
  );
  for (const v of variants) {
    console.log(
      `  ${v.padEnd(7)} ${Math.round(eps(v)).toLocaleString('en').padStart(10)} events/s  ${us(v).toFixed(2).padStart(6)} µs CPU/event  peak RSS ${Math.round(rss(v))} MiB`,
    );
  }
  const beyond = us('ferry') - us('source');
  const ratio = eps('ferry') / eps('raw');
  console.log(`  runtime CPU per event beyond the source: ${beyond.toFixed(2)} µs (target ≤ 10)`);
  console.log(`  ferry / raw events/s: ${ratio.toFixed(2)}`);
  console.log(`  load average: ${loadBefore.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at end`);
  report({ name: 'runtime CPU per event beyond the source', value: beyond, unit: 'µs', target: '≤ 10 µs' });
  report({
    name: 'runtime → file sink events/s',
    value: eps('ferry'),
    unit: 'events/s',
    baseline: { name: 'raw JSON.stringify + append', value: eps('raw') },
  });
}
