// The Debezium peer (test/bench/peers/debezium) from Node: built with Maven when its classes are missing or
// older than its sources (jars come from Maven Central through Maven's own ~/.m2 cache), then run as a
// measured child process. See test/bench/peers/README.md for what it does and how to run it alone.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { lastJsonLine, runMeasured } from './measure.mjs';

export const peerDir = join(import.meta.dirname, '..', 'peers', 'debezium');
const mainClass = 'dev.ferry.bench.peers.DebeziumPeer';
const built = `${join(peerDir, 'target', 'classes', ...mainClass.split('.'))}.class`;
const classpathFile = join(peerDir, 'target', 'classpath.txt');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Build the peer if needed; returns the classpath to run it with. */
export function ensureDebeziumPeer({ log = console.log } = {}) {
  // Maven rewrites classpath.txt only when it changes: it is stale only if older than the pom.
  const pom = statSync(join(peerDir, 'pom.xml')).mtimeMs;
  const fresh =
    existsSync(built) &&
    existsSync(classpathFile) &&
    statSync(classpathFile).mtimeMs >= pom &&
    statSync(built).mtimeMs >= Math.max(pom, newestSource(join(peerDir, 'src')));
  if (!fresh) {
    log(
      'building the Debezium peer (mvn -q -B package; the first build fetches its jars from Maven Central)',
    );
    const result = spawnSync('mvn', ['-q', '-B', '-Dstyle.color=never', 'package'], {
      cwd: peerDir,
      stdio: 'inherit',
    });
    if (result.status !== 0)
      throw new Error(`mvn package of the Debezium peer failed (exit ${result.status}) in ${peerDir}`);
  }
  return `${join(peerDir, 'target', 'classes')}:${readFileSync(classpathFile, 'utf8').trim()}`;
}

/**
 * Run the peer until it has seen `events` changes. `mode` is `file` (`out`: the JSON lines file) or `kafka`
 * (`topic`, `bootstrap`, `compression`). Resolves with the peer's own figures (events, seconds from the first
 * to the last change, process CPU seconds and VmHWM, both taken when the last change is done) and the
 * measured child's (`wall`: the whole process lifetime, JVM start and shutdown included).
 */
export async function runDebeziumPeer(classpath, { jvmArgs = [], timeoutMs, ...options }) {
  const args = Object.entries(options)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `--${k}=${v}`);
  const run = await runMeasured('java', [...jvmArgs, '-cp', classpath, mainClass, ...args], {
    ...(timeoutMs ? { timeoutMs } : {}),
  });
  const figures = lastJsonLine(run.stdout);
  if (run.code !== 0 || !figures)
    throw new Error(`the Debezium peer failed (exit ${run.code ?? run.signal}): ${run.stderr.slice(-3000)}`);
  return {
    events: figures.events,
    seconds: figures.seconds,
    cpuSeconds: figures.cpuSeconds,
    peakRssBytes: figures.peakRssBytes > 0 ? figures.peakRssBytes : run.peakRssBytes,
    wall: { seconds: run.wallSeconds, cpuSeconds: run.cpuSeconds },
  };
}
