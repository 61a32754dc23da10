// `npm start`'s build: one `tsc -b` over the TypeScript projects a target needs, printing a line as each
// project starts, so a first run on a fresh clone shows where it is instead of minutes of silence. One tsc
// process for all projects is faster than turbo's one per package on a two-core machine (about 43 s
// against 68 s for a cold build of everything, measured here); a project already built is checked in
// about a second. `npm run build` (turbo, cached) stays the build for everything else.
//
//   node scripts/build.mjs [project-dir ...]     (default: every project in tsconfig.json)
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
const projects = process.argv.slice(2);
const started = performance.now();
const seconds = () => `${((performance.now() - started) / 1000).toFixed(1)}s`;

/** A project's package name (its package.json), or its directory when it has none. */
function nameOf(tsconfigPath) {
  const dir = dirname(resolve(root, tsconfigPath));
  const manifest = join(dir, 'package.json');
  if (existsSync(manifest)) return JSON.parse(readFileSync(manifest, 'utf8')).name;
  return relative(root, dir);
}

const child = spawn(process.execPath, [tsc, '-b', '--verbose', '--pretty', 'false', ...projects], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'pipe'],
});
let total = 0;
let listing = false;
let built = 0;
let upToDate = 0;
const errors = [];
let pending = '';

function line(text) {
  // tsc --verbose prefixes its own lines with a clock time: "10:02:30 PM - Building project '…'...".
  const message = text.replace(/^\s*\d{1,2}:\d{2}:\d{2}(?: [AP]M)? - /, '');
  if (message.startsWith('Projects in this build:')) {
    listing = true;
    return;
  }
  if (listing) {
    const listed = /^\s+\* (.+)$/.exec(message);
    if (listed) {
      // The root tsconfig.json only lists the others (`files: []`): nothing of its own to build.
      if (resolve(root, listed[1]) !== join(root, 'tsconfig.json')) total += 1;
      return;
    }
    listing = false;
    if (total > 0)
      console.log(
        `build: ${total} TypeScript projects${projects.length ? ` for ${projects.join(' ')}` : ''}`,
      );
  }
  const building = /^Building project '(.+)'\.\.\.$/.exec(message);
  if (building) {
    built += 1;
    console.log(`  [${built + upToDate}/${total}] ${nameOf(building[1]).padEnd(32)} started at ${seconds()}`);
    return;
  }
  if (/^Project '.+' is up to date/.test(message)) {
    upToDate += 1;
    return;
  }
  // Anything tsc reports that is not progress (a type error, a missing file) goes out as it came.
  if (/error TS\d+|^error /.test(message) || (errors.length > 0 && /^\s/.test(text))) errors.push(text);
}

function take(chunk) {
  pending += chunk;
  const lines = pending.split('\n');
  pending = lines.pop() ?? '';
  for (const l of lines) line(l.trimEnd());
}
child.stdout.setEncoding('utf8').on('data', take);
child.stderr.setEncoding('utf8').on('data', (chunk) => process.stderr.write(chunk));

const code = await new Promise((done) => child.on('close', (c) => done(c ?? 1)));
if (pending) line(pending.trimEnd());
if (code !== 0) {
  for (const e of errors) console.error(e);
  console.error(`build: failed after ${seconds()} (tsc -b exit ${code})`);
  process.exit(code);
}
console.log(
  built === 0
    ? `build: ${total} projects up to date (${seconds()})`
    : `build: ${built} built, ${upToDate} already up to date, in ${seconds()}`,
);
