// `npm test`: the whole suite on this machine's Node, then, on every other supported Node (side by side), the unit tests,
// the Kafka tests that run per transport (@platformatic/kafka is only installed from Node 22.19, so this is
// where its tests run when this machine has Node 20) and the packed-project test. Each other Node runs in a copy of the repository's files with its own node_modules,
// built for that Node's ABI, so nothing collides with the main install. Real Node builds come from the npm
// registry (the node-<platform>-<arch> package, with headers), cached under
// ${XDG_CACHE_HOME:-~/.cache}/ferry/node/<version>. The closing lines give each Node's version and result;
// the exit code is non-zero when any step of any Node failed.
//
//   node scripts/node-matrix.mjs [current] [<version or major> ...]
//     default: current, then every version in package.json's config.nodeMatrix
//     --keep   keep each Node's copy of the repository (by default kept only when that Node failed)
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const matrix = manifest.config.nodeMatrix;
const args = process.argv.slice(2);
const keepAll = args.includes('--keep');
const wanted = args.filter((a) => !a.startsWith('--'));
// biome-ignore lint/suspicious/noUndeclaredEnvVars: a script run by npm test, outside turbo's tasks
const cacheRoot = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ferry', 'node');
// One directory of copies per clone, so two clones testing at once on the same machine never share one.
const copiesRoot = join(
  tmpdir(),
  'ferry-node-matrix',
  createHash('sha256').update(root).digest('hex').slice(0, 12),
);

const legs = [];
if (wanted.length === 0 || wanted.includes('current'))
  legs.push({ version: process.versions.node, current: true });
for (const version of matrix) {
  // A machine already on one of these versions has had the whole suite on it.
  if (version === process.versions.node && legs.some((leg) => leg.current)) continue;
  if (wanted.length === 0 || wanted.some((w) => w === version || version.startsWith(`${w}.`))) {
    legs.push({ version, current: false });
  }
}
const unknown = wanted.filter(
  (w) => w !== 'current' && !matrix.some((v) => v === w || v.startsWith(`${w}.`)),
);
if (unknown.length > 0 || legs.length === 0) {
  console.error(
    `node-matrix: no such Node in config.nodeMatrix (${matrix.join(', ')}): ${unknown.join(', ')}`,
  );
  process.exit(2);
}

const clock = (ms) => {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
};

/**
 * Run a command; its output goes to ours, each line prefixed when `prefix` is set. Resolves with the exit
 * code and the output (kept for the EBADENGINE check and for what failed, in the closing lines).
 */
function run(command, commandArgs, { cwd, env, prefix }) {
  return new Promise((done) => {
    const child = spawn(command, commandArgs, {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    for (const [stream, out] of [
      [child.stdout, process.stdout],
      [child.stderr, process.stderr],
    ]) {
      let pending = '';
      stream.setEncoding('utf8').on('data', (chunk) => {
        output += chunk;
        const lines = (pending + chunk).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) out.write(`${prefix ?? ''}${line}\n`);
      });
      stream.on('end', () => {
        if (pending) out.write(`${prefix ?? ''}${pending}\n`);
      });
    }
    child.on('error', (error) => done({ code: 127, output: String(error) }));
    child.on('close', (code, signal) => done({ code: code ?? (signal ? 128 : 1), output }));
  });
}

/**
 * What a failed step's output says went wrong, for the closing lines (CI often shows only the end of a
 * long log): vitest's FAIL lines, its totals and unhandled errors, a service that did not start, a build
 * error; then the step's last lines, so that a failure nobody foresaw is still visible at the end.
 */
function failureLines(output) {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes
  const plain = output.replace(/\u001b\[[0-9;]*m/g, '').split('\n');
  const wanted = plain.filter(
    (line) =>
      /^\s*FAIL\s/.test(line) ||
      /^\s*(Test Files|Tests)\s+.*failed/.test(line) ||
      /^\s*Errors\s+\d+ error/.test(line) ||
      /^###\s/.test(line) ||
      /\berror TS\d+/.test(line) ||
      /^\s*(npm (error|ERR!)|ERROR\b)/.test(line) ||
      /\[ferry-services [^\]]*\].*(fail|error|cannot|could not)/i.test(line),
  );
  const unique = [...new Set(wanted.map((line) => line.trim()))];
  const picked = unique.length > 40 ? [...unique.slice(0, 40), `… and ${unique.length - 40} more`] : unique;
  const last = plain.filter((line) => line.trim() !== '').slice(-15);
  return [...picked, "(the step's last lines:)", ...last.map((line) => `  ${line.trimEnd()}`)];
}

/** The Node build for `version`, fetched once from the npm registry into the cache. */
async function nodeBuild(version, prefix) {
  const dir = join(cacheRoot, version);
  const node = join(dir, 'bin', 'node');
  if (existsSync(node)) return dir;
  const pkg = `node-${process.platform}-${process.arch}@${version}`;
  mkdirSync(cacheRoot, { recursive: true });
  // Unpacked beside the cache entry and renamed into place, so an interrupted fetch or a second clone
  // fetching at the same time never leaves a half-written entry.
  const scratch = mkdtempSync(join(cacheRoot, `.fetch-${version}-`));
  try {
    const packed = await run('npm', ['pack', pkg, '--pack-destination', scratch, '--silent'], {
      cwd: scratch,
      env: process.env,
      prefix,
    });
    if (packed.code !== 0) throw new Error(`npm pack ${pkg} failed (exit ${packed.code})`);
    execFileSync('tar', ['-xzf', join(scratch, packed.output.trim().split('\n').pop()), '-C', scratch]);
    try {
      renameSync(join(scratch, 'package'), dir);
    } catch (error) {
      if (!existsSync(node)) throw error; // another run put it there first: use that one
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return dir;
}

/** The repository's files as they are now (tracked and new, not ignored) copied to `dest`. */
function copyRepository(dest) {
  rmSync(dest, { recursive: true, force: true });
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
    .split('\0')
    .filter(Boolean);
  let copied = 0;
  for (const file of new Set(files)) {
    const from = join(root, file);
    let stat;
    try {
      stat = lstatSync(from);
    } catch {
      continue; // deleted in the working tree but not yet in git
    }
    const to = join(dest, file);
    mkdirSync(dirname(to), { recursive: true });
    if (stat.isSymbolicLink()) symlinkSync(readlinkSync(from), to);
    else copyFileSync(from, to); // keeps the mode, so executable files stay executable
    copied += 1;
  }
  return copied;
}

/**
 * The Kafka test files that run once per transport (they import test/transports.ts): the ones that cover
 * @platformatic/kafka, which the Node 20 pass cannot run. The rest of the Kafka suite does not depend on
 * the Node version beyond what the unit tests and the full suite already cover.
 */
function transportTests() {
  const dir = 'packages/kafka/test/integration';
  const files = readdirSync(join(root, dir))
    .filter((f) => f.endsWith('.test.ts'))
    .filter((f) => readFileSync(join(root, dir, f), 'utf8').includes("from '../transports.js'"))
    .map((f) => `${dir}/${f}`);
  if (files.length === 0) throw new Error(`no test in ${dir} imports ../transports.js`);
  return files;
}

/** The environment of a Node's steps: that Node first on PATH and its headers for native builds. */
function legEnv(nodeDir) {
  const env = { ...process.env };
  // What the outer `npm test` set for itself would point the inner npm at this machine's Node.
  for (const key of Object.keys(env)) {
    if (/^npm_(package|lifecycle)_|^npm_(node_)?execpath$|^NODE$|^INIT_CWD$/.test(key)) delete env[key];
  }
  env.PATH = `${join(nodeDir, 'bin')}:${env.PATH}`;
  // This machine's npm config names the system Node's headers as nodedir; without this, `npm ci` builds
  // better-sqlite3 for the wrong ABI and still exits 0 (the failure comes at the first require).
  env.npm_config_nodedir = nodeDir;
  return env;
}

async function currentLeg(leg) {
  const env = process.env;
  const steps = [
    // npm leaves out optional packages whose engines do not match; any other mismatch is a warning that
    // a user would see on `npm install`. A dry run of the locked install shows it in a second or two.
    ['engines', 'npm', ['ci', '--dry-run', '--no-audit', '--no-fund'], { ebadengine: true }],
    ['full suite', 'npm', ['run', 'test:suite']],
  ];
  return runSteps(leg, steps, { cwd: root, env, prefix: undefined });
}

async function otherLeg(leg) {
  const prefix = `[node ${leg.version}] `;
  const started = performance.now();
  let nodeDir;
  try {
    nodeDir = await nodeBuild(leg.version, prefix);
  } catch (error) {
    leg.steps.push({ name: 'fetch node', ms: performance.now() - started, ok: false, detail: error.message });
    return;
  }
  leg.steps.push({ name: 'fetch node', ms: performance.now() - started, ok: true });
  leg.copy = join(copiesRoot, leg.version);
  const copyStarted = performance.now();
  let kafkaFiles;
  try {
    const copied = copyRepository(leg.copy);
    kafkaFiles = transportTests();
    console.log(`${prefix}${copied} files copied to ${leg.copy}; Node from ${nodeDir}`);
  } catch (error) {
    leg.steps.push({ name: 'copy', ms: performance.now() - copyStarted, ok: false, detail: error.message });
    return;
  }
  const env = legEnv(nodeDir);
  const steps = [
    ['node', 'node', ['-e', `if (process.versions.node !== '${leg.version}') process.exit(1)`]],
    ['install', 'npm', ['ci', '--no-audit', '--no-fund'], { ebadengine: true }],
    // The ABI check: a better-sqlite3 built for another Node installs fine and fails only when loaded.
    ['abi', 'node', ['-e', 'new (require("better-sqlite3"))(":memory:").close()']],
    ['build', 'node', ['scripts/build.mjs']],
    ['unit', 'npm', ['run', 'test:unit']],
    ['services', 'bash', ['test/services/up.sh', 'kafka'], { once: true }],
    ['kafka', 'npx', ['vitest', 'run', '--project', 'integration', ...kafkaFiles]],
    ['packed', 'npm', ['run', 'test:packed']],
  ];
  await runSteps(leg, steps, { cwd: leg.copy, env, prefix });
}

/** Steps every leg runs the same way (bringing the services up) run once, however many legs ask at once. */
const shared = new Map();

async function runSteps(leg, steps, { cwd, env, prefix }) {
  for (const [name, command, commandArgs, options = {}] of steps) {
    console.log(`${prefix ?? ''}── node ${leg.version}: ${name}: ${command} ${commandArgs.join(' ')}`);
    const started = performance.now();
    const start = () =>
      run(command, commandArgs, {
        cwd,
        env,
        prefix: prefix ?? (options.ebadengine ? `[node ${leg.version}] ` : undefined),
      });
    let result;
    if (options.once) {
      const key = `${command} ${commandArgs.join(' ')}`;
      if (!shared.has(key)) shared.set(key, start());
      result = await shared.get(key);
    } else result = await start();
    const step = { name, ms: performance.now() - started, ok: result.code === 0 };
    if (!step.ok) {
      step.detail = `exit ${result.code}`;
      step.failures = failureLines(result.output);
    }
    if (step.ok && options.ebadengine && /EBADENGINE/.test(result.output)) {
      step.ok = false;
      step.detail = 'npm warned EBADENGINE';
    }
    leg.steps.push(step);
    if (!step.ok) return;
  }
}

const started = performance.now();
const runLeg = async (leg) => {
  leg.steps = [];
  if (leg.current) await currentLeg(leg);
  else await otherLeg(leg);
  leg.ok = leg.steps.length > 0 && leg.steps.every((s) => s.ok);
  if (leg.copy && leg.ok && !keepAll) rmSync(leg.copy, { recursive: true, force: true });
};
// This machine's Node first (it brings the services up); then the other Nodes side by side: each works in
// its own copy with its own node_modules, their output lines carry their version, and much of their time is
// spent waiting (installs, Kafka), so together they take far less than one after the other.
for (const leg of legs.filter((l) => l.current)) await runLeg(leg);
await Promise.all(legs.filter((l) => !l.current).map(runLeg));

const rows = legs.map((leg) => {
  const failed = leg.steps.find((s) => !s.ok);
  const label = `node ${leg.version}${leg.current ? ' (this machine)' : ''}`;
  const times = leg.steps.map((s) => `${s.name} ${clock(s.ms)}`).join(', ');
  const result = leg.ok
    ? 'passed'
    : `FAILED at ${failed?.name ?? 'start'}${failed?.detail ? ` (${failed.detail})` : ''}`;
  const kept = leg.copy && existsSync(leg.copy) ? `; copy kept in ${leg.copy}` : '';
  return `${label.padEnd(30)} ${result.padEnd(8)}  ${times}${kept}`;
});
console.log('');
console.log(`── node matrix: ${legs.length} Node versions in ${clock(performance.now() - started)}`);
for (const row of rows) console.log(row);
for (const leg of legs) {
  for (const step of leg.steps.filter((s) => s.failures?.length)) {
    console.log(`── node ${leg.version}, ${step.name}: what failed`);
    for (const line of step.failures) console.log(`   ${line}`);
  }
}
const passed = legs.filter((l) => l.ok).length;
console.log(`── ${passed} of ${legs.length} passed`);
process.exit(passed === legs.length ? 0 : 1);
