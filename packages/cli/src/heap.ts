// How far V8 lets the heap grow between full collections. By default it may grow to about four times what
// survived the last one; a pipeline allocates fast and keeps little (records and events die within a
// batch), so most of that headroom is garbage waiting to be collected and shows up as resident memory.
// Three times is enough: measured on 1,000,000 PostgreSQL changes to a file (issue 18), peak RSS fell from
// 235 to 195 MiB and the run used less CPU, not more (docs/performance.md, PostgreSQL against Debezium).
import { setFlagsFromString } from 'node:v8';

export const HEAP_GROWING_PERCENT = 200;

/** Cap the heap's growth factor, unless the process was started with its own `--heap-growing-percent`. */
export function limitHeapGrowth(): void {
  if (process.execArgv.some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg))) return;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
