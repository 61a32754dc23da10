// Runs the built `ferry` CLI as a child process, as a person or a scheduler would.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const repoRoot = join(import.meta.dirname, '..', '..', '..');
export const cliBin = join(repoRoot, 'packages', 'cli', 'dist', 'bin.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run a node script as a child process, capturing its output; killed after `timeoutMs`. */
export function startNode(
  script: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 120_000,
): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [script, ...args], {
    env: { ...process.env, FERRY_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

export function startCli(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<CliResult> } {
  return startNode(cliBin, args, env);
}

/** Run an example's run.mjs to the end. */
export function runScript(script: string, args: string[], timeoutMs = 90_000): Promise<CliResult> {
  return startNode(script, args, {}, timeoutMs).done;
}

export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return startCli(args, env).done;
}

/** A private copy of the quickstart pipeline in a temp dir, so tests never touch the example's own state. */
export async function quickstartCopy(): Promise<{ dir: string; pipeline: string; db: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-quickstart-'));
  const text = await readFile(join(repoRoot, 'examples', 'quickstart', 'pipeline.yaml'), 'utf8');
  // The copy lives elsewhere: point it at the example contract repository by absolute path.
  await writeFile(
    join(dir, 'pipeline.yaml'),
    text.replace('../justice-model/contracts', join(repoRoot, 'examples', 'justice-model', 'contracts')),
  );
  return { dir, pipeline: join(dir, 'pipeline.yaml'), db: join(dir, 'legacy.db') };
}

export async function waitFor(
  condition: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
