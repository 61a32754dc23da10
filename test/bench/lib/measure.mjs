// What the like-for-like benches need to measure a tool run as a child process, whatever it is written in:
// its CPU time (user + system, from the kernel) and its peak resident set, plus the machine's load average,
// medians over rounds and a rotated order per round. Nothing here is a benchmark.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/** Clock ticks per second of /proc's utime/stime fields: 100 on every Linux this runs on. */
const CLK_TCK = 100;

/** The load average now, as `1.23 0.98 0.70` (1, 5 and 15 minutes). */
export const loadAverage = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

export const median = (xs) => {
  const sorted = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** The tools in the order round `round` runs them: rotated by one each round, so none always goes first. */
export const rotated = (tools, round) => tools.map((_, i) => tools[(i + round) % tools.length]);

/** `VmHWM` of a live process in bytes, or 0 once it has gone. */
function peakRssOf(pid) {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The process `sh` started, read from the kernel's list of its children. */
function childOf(pid) {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

// `sh` runs the tool and waits for it; its own /proc/<pid>/stat then holds the CPU time of the child it
// waited for (cutime, cstime), to the tick, which polling the child itself would miss at the end. The
// figures go out on fd 3 so they never mix with what the tool prints.
const WRAPPER = '"$@"; status=$?; cat /proc/$$/stat >&3; exit $status';

/**
 * Run `command args` as a measured child. Resolves (never rejects on a non-zero exit) with
 * `{ code, signal, stdout, stderr, wallSeconds, cpuSeconds, peakRssBytes }`: CPU is the whole process
 * lifetime's; peak RSS is the kernel's high-water mark, sampled every `sampleMs` while it runs.
 */
export function runMeasured(command, args, { env, cwd, timeoutMs = 15 * 60_000, sampleMs = 100 } = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('/bin/sh', ['-c', WRAPPER, 'sh', command, ...args], {
      env: env ?? process.env,
      ...(cwd ? { cwd } : {}),
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let stat = '';
    child.stdout.on('data', (d) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d) => {
      // Keep the tail: a tool that logs a lot must not grow this process.
      stderr = (stderr + d.toString()).slice(-50_000);
    });
    child.stdio[3].on('data', (d) => {
      stat += d.toString();
    });
    let tool;
    let peakRssBytes = 0;
    const sampler = setInterval(() => {
      tool ??= childOf(child.pid);
      if (tool !== undefined) peakRssBytes = Math.max(peakRssBytes, peakRssOf(tool));
    }, sampleMs);
    const timer = setTimeout(() => {
      if (tool !== undefined) process.kill(tool, 'SIGKILL');
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      clearInterval(sampler);
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearInterval(sampler);
      clearTimeout(timer);
      // Fields after the command name, which may hold spaces: cutime and cstime are the 16th and 17th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cpuSeconds = (Number(fields[13]) + Number(fields[14])) / CLK_TCK;
      resolve({
        code,
        signal,
        stdout,
        stderr,
        wallSeconds: (performance.now() - started) / 1000,
        cpuSeconds,
        peakRssBytes,
      });
    });
  });
}

/** The last line of `stdout` that parses as a JSON object: a tool's own figures. */
export function lastJsonLine(stdout) {
  const lines = stdout.trim().split('\n').reverse();
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      return JSON.parse(line);
    } catch {
      // Not the figures line: keep looking.
    }
  }
  return undefined;
}

/** `VmHWM` of this process, for a child that reports its own peak RSS. */
export const ownPeakRss = () => peakRssOf(process.pid);

export const mib = (bytes) => `${(bytes / 1048576).toFixed(0)} MiB`;

/** A rate as the benches print it: a whole number with thousands separators. */
export const thousands = (n) => Math.round(n).toLocaleString('en');

/** One tool's run over `rows` changes as the database benches compare them: rate, CPU per 1M, peak RSS. */
export function roundFigures(rows, run) {
  return { rate: rows / run.seconds, cpuPerMillion: (run.cpuSeconds / rows) * 1e6, rss: run.peakRssBytes };
}

/** The line a database bench prints for one tool's run in one round. */
export function roundLine(round, name, width, figures, run) {
  const wall = run.wall
    ? `; process ${run.wall.seconds.toFixed(1)} s wall, ${run.wall.cpuSeconds.toFixed(1)} CPU-s`
    : '';
  return `round ${round + 1} ${name.padEnd(width)} ${thousands(figures.rate).padStart(8)} events/s  ${figures.cpuPerMillion.toFixed(1).padStart(5)} CPU-s/1M  peak RSS ${mib(figures.rss).padStart(9)}  (${run.seconds.toFixed(2)} s${wall})  load ${loadAverage()}`;
}

/** Per tool, the medians of its rounds' figures (`measured`: tool → roundFigures[]). */
export function medians(names, measured) {
  return Object.fromEntries(
    names.map((n) => [
      n,
      {
        rate: median(measured[n].map((m) => m.rate)),
        cpuPerMillion: median(measured[n].map((m) => m.cpuPerMillion)),
        rss: median(measured[n].map((m) => m.rss)),
      },
    ]),
  );
}

/**
 * The arguments of Kafka's own `ProducerPerformance` (from the harness's jars in `libs`) sending `records`
 * payloads from `payloads` to `topic` with acks=all, gzip and idempotence, as a ceiling for the broker;
 * `jvm` and `props` add JVM options and producer properties.
 */
export function producerPerformanceArgs({ libs, topic, records, payloads, broker, jvm = [], props = [] }) {
  return [
    ...jvm,
    '-cp',
    `${libs}/*`,
    'org.apache.kafka.tools.ProducerPerformance',
    '--topic',
    topic,
    '--num-records',
    String(records),
    '--payload-file',
    payloads,
    '--throughput',
    '-1',
    '--producer-props',
    `bootstrap.servers=${broker}`,
    'acks=all',
    'compression.type=gzip',
    'enable.idempotence=true',
    ...props,
  ];
}
