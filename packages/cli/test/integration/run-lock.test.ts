// The run lock across processes: eight processes released at the same instant race for one pipeline's lock
// (free, or left by a dead process); exactly one wins and seven are told which pid holds it.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { repoRoot, waitFor } from '../../../../examples/quickstart/test/cli.js';

const CONTENDERS = 8;
const lockModule = pathToFileURL(join(repoRoot, 'packages', 'cli', 'dist', 'lock.js')).href;

// Each contender says it is ready, then spins until the barrier file appears so that all of them call
// acquireRunLock within the same few milliseconds; the winner holds the lock until its stdin closes.
const CONTENDER = `
import { existsSync, writeFileSync } from 'node:fs';
import { acquireRunLock } from ${JSON.stringify(lockModule)};
const [baseDir, barrier, index] = process.argv.slice(1);
writeFileSync(barrier + '.ready-' + index, '');
while (!existsSync(barrier)) {}
try {
  const release = await acquireRunLock(baseDir, 'race');
  process.stdout.write(JSON.stringify({ acquired: true, pid: process.pid }) + '\\n');
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.once('end', resolve));
  await release();
} catch (error) {
  process.stdout.write(JSON.stringify({ acquired: false, pid: process.pid, code: error.code, message: error.message, holder: error.details?.pid }) + '\\n');
}
`;

interface Outcome {
  acquired: boolean;
  pid: number;
  code?: string;
  message?: string;
  holder?: number;
}

interface Contender {
  child: ChildProcess;
  outcome: Promise<Outcome>;
  exited: Promise<number | null>;
}

function contender(baseDir: string, barrier: string, index: number): Contender {
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', CONTENDER, baseDir, barrier, String(index)],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const outcome = new Promise<Outcome>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n') && line) resolve(JSON.parse(line) as Outcome);
    });
    child.on('close', (code) =>
      reject(new Error(`contender ${index} exited (${code}) without an answer: ${stderr}`)),
    );
  });
  return { child, outcome, exited };
}

async function race(baseDir: string): Promise<Outcome[]> {
  const barrier = join(baseDir, 'go');
  const contenders = Array.from({ length: CONTENDERS }, (_, i) => contender(baseDir, barrier, i));
  try {
    await waitFor(
      () => contenders.every((_, i) => existsSync(`${barrier}.ready-${i}`)),
      60_000,
      'every contender to be ready',
    );
    await writeFile(barrier, '');
    return await Promise.all(contenders.map((c) => c.outcome));
  } finally {
    for (const c of contenders) c.child.stdin!.end();
    await Promise.all(contenders.map((c) => c.exited));
  }
}

function expectOneWinner(outcomes: Outcome[]): Outcome {
  const winners = outcomes.filter((o) => o.acquired);
  const losers = outcomes.filter((o) => !o.acquired);
  expect(winners).toHaveLength(1);
  expect(losers).toHaveLength(CONTENDERS - 1);
  const winner = winners[0]!;
  for (const loser of losers) {
    expect(loser.code).toBe('PIPELINE_RUNNING');
    expect(loser.holder).toBe(winner.pid);
    expect(loser.message).toContain(`pid ${winner.pid}`);
  }
  return winner;
}

describe('run lock across processes', () => {
  it('of 8 processes starting at the same instant, exactly one acquires it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-lock-race-'));
    expectOneWinner(await race(dir));
    // The winner released it on its way out.
    expect(existsSync(join(dir, '.ferry', 'run', 'race.pid'))).toBe(false);
  });

  it('a stale lock (dead pid) is taken over by exactly one of 8 processes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-lock-stale-'));
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const path = join(dir, '.ferry', 'run', 'race.pid');
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, `${dead}\n`);
    const winner = expectOneWinner(await race(dir));
    expect(winner.pid).not.toBe(dead);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}.break`)).toBe(false);
  });
});
