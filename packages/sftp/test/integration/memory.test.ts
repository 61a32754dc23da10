// The SFTP source's memory does not grow with the file: `ferry run --once` (the built CLI) reads a CSV bigger
// than the heap it is allowed, from the real sshd, to the file sink. The child's old space is capped below
// the file's size, so a path that held the file's rows (or the file) would die out of memory instead of
// passing; its peak RSS, reported by the child itself as it exits, is bounded too, which also covers Buffers
// outside the heap. The cap also keeps V8 from growing the heap lazily, so the RSS measured is what the run
// holds, not garbage not yet collected. A small `runtime.maxInFlightBytes` shows the budget reaching the
// source: batches close at 1/32 of it.
import { execFileSync } from 'node:child_process';
import { chownSync, createWriteStream, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startCli } from '../../../../examples/quickstart/test/cli.js';
import { pipelineYaml, remoteDir, sftp, workDir } from '../helpers.js';

const ROWS = 64_000;
const WIDTH = 2_500;
const HEAP_MIB = 128;
const RSS_BOUND_MIB = 256;
const BUDGET = 8 * 1024 * 1024;

const created: string[] = [];
afterEach(() => {
  for (const path of created.splice(0)) rmSync(path, { recursive: true, force: true });
});

/** Written as a stream: the test process does not hold the file either. */
async function bigCsv(path: string): Promise<void> {
  const out = createWriteStream(path);
  const pad = 'x'.repeat(WIDTH);
  out.write('id,name,amount,notes\n');
  for (let i = 1; i <= ROWS; i++) {
    if (!out.write(`${i},name ${i},${(i * 1.25).toFixed(2)},"${pad} ${i}"\n`))
      await new Promise((resolve) => out.once('drain', resolve));
  }
  await new Promise((resolve) => out.end(resolve));
  const uid = Number(execFileSync('id', ['-u', sftp.username]).toString().trim());
  chownSync(path, uid, uid);
  // Stable at once under the quiet rule.
  execFileSync('touch', ['-d', new Date(Date.now() - 60_000).toISOString(), path]);
}

describe('sftp memory (the built CLI, the real sshd)', () => {
  it('reads a file bigger than its heap, with a bounded peak RSS and batches sized to the budget', async () => {
    const { remote, local } = remoteDir('memory');
    created.push(local);
    const csv = join(local, 'big.csv');
    await bigCsv(csv);
    const fileBytes = statSync(csv).size;
    expect(fileBytes, 'the file is bigger than the heap the run may use').toBeGreaterThan(HEAP_MIB * 1048576);

    const dir = await workDir();
    created.push(dir);
    const pipeline = join(dir, 'pipeline.yaml');
    writeFileSync(
      pipeline,
      `${pipelineYaml(remote, { source: '  afterProcessing: leave\n' })}  maxInFlightBytes: ${BUDGET}\n`,
    );
    const usage = join(dir, 'usage.json');
    const preload = join(dir, 'usage.cjs');
    writeFileSync(
      preload,
      `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(usage)}, String(process.resourceUsage().maxRSS)));\n`,
    );
    const result = await startCli(['run', pipeline, '--once'], {
      NODE_OPTIONS: `--max-old-space-size=${HEAP_MIB} --require ${preload}`,
    }).done;
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    const output = result.stdout + result.stderr;
    expect(output).toContain(`read ${ROWS} records, wrote ${ROWS + 2} events`);
    // Batches close at 1/32 of the budget of file text (256 KiB here), long before batchSize (2000) rows;
    // at the default budget (32 MiB) there would be a quarter as many.
    const batches = Number(/(\d+) batches/.exec(output)?.[1]);
    expect(batches).toBeGreaterThan(0.9 * (fileBytes / (BUDGET / 32)));
    const peakMiB = Number(readFileSync(usage, 'utf8')) / 1024;
    expect(
      peakMiB,
      `peak RSS ${peakMiB.toFixed(0)} MiB for a ${(fileBytes / 1048576).toFixed(0)} MiB file`,
    ).toBeLessThan(RSS_BOUND_MIB);
  });
});
