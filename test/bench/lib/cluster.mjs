// Shared by the cluster benchmarks (cluster-handover.mjs, cluster-scaling.mjs): start `ferry serve --cluster`
// worker processes from the built CLI, ask their admin API, wait on conditions, and read processes' CPU
// time from /proc. The same steps as packages/cli/test/integration/serve-helpers.ts, in plain JavaScript so
// a bench runs with node alone. This folder is not scanned by run.mjs: nothing here is a benchmark.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const repoRoot = join(import.meta.dirname, '..', '..', '..');
export const cliBin = join(repoRoot, 'packages', 'cli', 'dist', 'bin.js');
export const brokers = ['127.0.0.1:59092'];
// biome-ignore lint/suspicious/noUndeclaredEnvVars: the harness's state folder, as test/services/lib/common.sh finds it
const servicesDir = process.env.FERRY_SERVICES_DIR || '/tmp/ferry-services';

/** Every child this process started, so that an exit on error leaves none behind. */
const children = new Set();
process.on('exit', () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** Track a child process started elsewhere (a raw consumer), so that it is killed if the bench dies. */
export function adopt(child) {
  children.add(child);
  child.on('close', () => children.delete(child));
  return child;
}

/**
 * `ferry serve <files> --cluster <group> --worker <name>`, resolved once its admin API listens. `exited`
 * resolves with { code, signal } when the process ends.
 */
export async function startWorker({ files, group, worker, env = {} }) {
  const child = adopt(
    spawn(
      process.execPath,
      [
        cliBin,
        'serve',
        ...files,
        '--cluster',
        group,
        '--worker',
        worker,
        '--allow-unauthenticated',
        '--port',
        '0',
      ],
      { env: { ...process.env, FERRY_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    ),
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d) => {
    // Keep the tail only: a worker logs warnings for as long as the bench runs.
    stderr = (stderr + d.toString()).slice(-20_000);
  });
  const exited = new Promise((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  let base = '';
  await waitFor(
    () => {
      if (child.exitCode !== null)
        throw new Error(`ferry serve (${worker}) exited ${child.exitCode}: ${stderr}`);
      base = /admin API on (http:\/\/\S+)/.exec(stdout)?.[1] ?? '';
      return base !== '';
    },
    60_000,
    `worker ${worker} to listen`,
  );
  return {
    name: worker,
    base,
    pid: child.pid,
    exited,
    stderr: () => stderr,
    kill: (signal) => child.kill(signal),
    /** SIGTERM (hand the pipelines over after their last checkpoint), then the end of the process. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

export async function getJson(url) {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return response.json();
}

/** A worker's GET /cluster, or undefined if it does not answer (it may be stopping). */
export async function clusterView(worker) {
  try {
    return await getJson(`${worker.base}/cluster`);
  } catch {
    return undefined;
  }
}

/** Polls `condition` every `everyMs` until it returns true; throws after `timeoutMs`, naming `what`. */
export async function waitFor(condition, timeoutMs, what, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * User + system CPU seconds a process has used so far, all its threads (Linux /proc; the clock tick is 100 Hz
 * there); with `mainThread`, only its main thread's (a Node process's JavaScript; GC helpers, libuv's pool
 * and the compiler run on others).
 */
export function cpuSeconds(pid, { mainThread = false } = {}) {
  try {
    const stat = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at ")"; utime and stime are fields 14, 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** The test Kafka broker's process id (test/services writes it), or undefined if unknown. */
export function brokerPid() {
  try {
    const pid = Number(readFileSync(join(servicesDir, 'kafka', 'kafka.pid'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The 1-minute load average, for the bench's header line (the machine is shared). */
export function loadAverage() {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'unknown';
  }
}

/** The value at quantile q of xs (nearest rank: with 10 samples p99 is the largest). */
export function quantile(xs, q) {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * Create a topic and wait until the broker hosts it. On a loaded broker kafkajs's own wait for leaders can
 * ask before the topic is hosted and throw UNKNOWN_TOPIC_OR_PARTITION (retriable): ask again, for up to 30 s.
 */
export async function createTopic(admin, spec) {
  await admin.createTopics({ topics: [spec], waitForLeaders: false });
  await waitFor(
    async () => {
      try {
        const [meta] = (await admin.fetchTopicMetadata({ topics: [spec.topic] })).topics;
        return (
          (meta?.partitions ?? []).length === (spec.numPartitions ?? 1) &&
          meta.partitions.every((p) => p.leader >= 0)
        );
      } catch (error) {
        if (error.retriable) return false;
        throw error;
      }
    },
    30_000,
    `topic ${spec.topic} to be hosted`,
    250,
  );
}
