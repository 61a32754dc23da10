// How a benchmark hands its key figures to test/bench/run.mjs, next to the lines it prints for people: one
// JSON line per figure, appended to the file named by FERRY_BENCH_REPORT (run.mjs sets it). A bench run on
// its own has no such file, and reporting does nothing.
import { appendFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

// biome-ignore lint/suspicious/noUndeclaredEnvVars: set by test/bench/run.mjs, not a turbo task
const target = process.env.FERRY_BENCH_REPORT;

/**
 * A reporter for the bench at `url` (its `import.meta.url`). Each call records one figure:
 * `{ name, value, unit, baseline?: { name, value, unit? }, ratio?, target? }`; `ratio` defaults to
 * value / baseline.value, as the bench's own "ratio" lines compute it.
 */
export function reporter(url) {
  const bench = basename(fileURLToPath(url), '.mjs');
  return (figure) => {
    if (!target) return;
    const ratio = figure.ratio ?? (figure.baseline ? figure.value / figure.baseline.value : undefined);
    appendFileSync(
      target,
      `${JSON.stringify({ bench, ...figure, ...(ratio === undefined ? {} : { ratio }) })}\n`,
    );
  };
}
