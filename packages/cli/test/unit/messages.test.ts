// What the CLI says when something is off: usage without a command, the last line of a run whose retries ran
// out, problems in options given on the command line, `ferry validate`'s checks of a pipeline file, and
// third-party console output turned into debug log lines (the end-to-end check runs the real process:
// test/integration/run-output.test.ts; vitest itself captures console calls in process).
import { readFile, writeFile } from 'node:fs/promises';
import { createLogger, defineFactory, FerryError, RetriesExhaustedError, type Source } from '@ferry/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { seedLegacyDatabase } from '../../../../examples/quickstart/seed.mjs';
import { quickstartCopy } from '../../../../examples/quickstart/test/cli.js';
import { restoreConsole, routeConsoleToLog } from '../../src/console.js';
import { formatError, formatSummary } from '../../src/output.js';
import { type CliIo, main } from '../../src/program.js';
import { defaultRegistry } from '../../src/registry.js';

function capture(): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t) };
}

async function ferry(args: string[], registry = defaultRegistry()) {
  const io = capture();
  const code = await main(args, io, registry);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  restoreConsole();
});

describe('usage', () => {
  it('prints help and exits 2 when no command is given, 0 when help is asked for', async () => {
    const none = await ferry([]);
    expect(none.code).toBe(2);
    expect(none.err).toContain('Usage: ferry [options] [command]');
    const group = await ferry(['offsets']);
    expect(group.code).toBe(2);
    expect(group.err).toContain('Usage: ferry offsets');
    expect((await ferry(['help'])).code).toBe(0);
    expect((await ferry(['--help'])).code).toBe(0);
    expect((await ferry(['run', '--help'])).code).toBe(0);
  });

  it('names the option, not a placeholder file, when a command-line value is wrong', async () => {
    const result = await ferry(['offsets', 'set', 'pipeline.yaml']);
    expect(result.code).toBe(2);
    expect(result.err).toBe('ferry: USAGE: --position: give exactly one of --position or --from-file');
    const progress = await ferry(['run', 'pipeline.yaml', '--progress-interval', 'soon']);
    expect(progress.code).toBe(2);
    expect(progress.err).toContain("option '--progress-interval <seconds>' argument 'soon' is invalid");
  });
});

describe('the last line of a failed run', () => {
  it('names the last retryable cause and its code when retries ran out, and says a later run can succeed', () => {
    const cause = new FerryError(
      'DB_CONNECTION_FAILED',
      'cannot use the connection to postgres 127.0.0.1:1/x',
      {
        retryable: true,
      },
    );
    const exhausted = new RetriesExhaustedError(
      'RETRIES_EXHAUSTED',
      `source.read still failing after 8 retries: ${cause.message}`,
      { cause, details: { operation: 'source.read', code: cause.code } },
    );
    const line = formatError(exhausted);
    expect(line).toBe(
      'ferry: RETRIES_EXHAUSTED: source.read still failing after 8 retries: cannot use the connection to postgres 127.0.0.1:1/x ' +
        '(last cause DB_CONNECTION_FAILED, which is retryable: running again later can succeed once it has cleared)',
    );
    expect(line).not.toContain('not retryable');
    // A failure that is not retryable still says a fix is needed.
    expect(formatError(new FerryError('DB_AUTH_FAILED', 'refused'))).toBe(
      'ferry: DB_AUTH_FAILED: refused (not retryable: needs a fix first)',
    );
  });
});

describe('ferry validate', () => {
  it('reports an unknown key at its own line with the key it was probably meant to be', async () => {
    const q = await quickstartCopy();
    const text = await readFile(q.pipeline, 'utf8');
    await writeFile(q.pipeline, text.replace('  batchSize: 500', '  batchSzie: 500'));
    const result = await ferry(['validate', q.pipeline]);
    expect(result.code).toBe(2);
    const line = text.split('\n').findIndex((l) => l.startsWith('  batchSize:')) + 1;
    expect(result.err).toContain(
      `${q.pipeline}:${line}:3 source.batchSzie: unknown option 'batchSzie'; did you mean 'batchSize'?`,
    );
  });

  it('warns about a secret too short to hide everywhere, naming its path but never its value', async () => {
    const q = await quickstartCopy();
    const text = await readFile(q.pipeline, 'utf8');
    await writeFile(q.pipeline, text.replace('name: OFFENDERS', 'name: "${env:FERRY_TEST_TABLE}"'));
    vi.stubEnv('FERRY_TEST_TABLE', 'OFFENDERS');
    const result = await ferry(['validate', q.pipeline, '--discover-timeout', '0']);
    expect(result.code).toBe(0);
    expect(result.out).toContain(
      `warning: ${q.pipeline} source.tables[0].name: the secret is too short to hide everywhere`,
    );
    const json = JSON.parse((await ferry(['validate', q.pipeline, '--json', '--discover-timeout', '0'])).out);
    expect(json.warnings).toEqual([
      { path: 'source.tables[0].name', message: expect.stringContaining('use a longer secret') },
    ]);
    vi.stubEnv('FERRY_TEST_TABLE', 'OFFENDERS_TABLE');
    expect((await ferry(['validate', q.pipeline, '--discover-timeout', '0'])).out).not.toContain('warning:');
  });

  it('warns, without failing, when the field map reads a column the source does not have', async () => {
    const q = await quickstartCopy();
    seedLegacyDatabase(q.db, { rows: 10 });
    const text = await readFile(q.pipeline, 'utf8');
    await writeFile(
      q.pipeline,
      text.replace('{ from: LAST_NAME, required: true }', '{ from: LAST_NAM, required: true }'),
    );
    const lines = text.split('\n');
    const line = lines.findIndex((l) => l.includes('from: LAST_NAME')) + 1;
    const column = lines[line - 1]!.indexOf('LAST_NAME') + 1;
    const result = await ferry(['validate', q.pipeline]);
    expect(result.code).toBe(0);
    expect(result.out).toContain(
      `warning: ${q.pipeline}:${line}:${column} mapping.fields.name.family.from: reads column 'LAST_NAM', which OFFENDERS does not have; did you mean 'LAST_NAME'?`,
    );
    const json = JSON.parse((await ferry(['validate', q.pipeline, '--json'])).out);
    expect(json.columns).toEqual({ status: 'checked', streams: ['OFFENDERS'] });
    expect(json.warnings).toEqual([
      expect.objectContaining({ path: 'mapping.fields.name.family.from', line, column }),
    ]);
    // Every column right: it says so.
    await writeFile(q.pipeline, text);
    expect((await ferry(['validate', q.pipeline])).out).toContain(
      'mapping: every column it reads is in OFFENDERS',
    );
  });

  it('says it could not check the columns when the source cannot be reached, and still passes', async () => {
    const q = await quickstartCopy();
    // No legacy.db: the SQLite source cannot open it.
    const result = await ferry(['validate', q.pipeline]);
    expect(result.code).toBe(0);
    expect(result.out).toMatch(
      /mapping: columns not checked against the source: the source could not be asked: DB_CONNECTION_FAILED: the SQLite database .* cannot be read/,
    );
    const skipped = await ferry(['validate', q.pipeline, '--discover-timeout', '0']);
    expect(skipped.out).toContain(
      'mapping: columns not checked against the source: turned off (--discover-timeout 0)',
    );
  });

  it('gives up on a source that does not answer within --discover-timeout', async () => {
    const registry = withSource(() => ({
      type: 'stuck',
      cadence: { kind: 'stream' },
      discover: () => new Promise(() => undefined),
      async *read() {},
      close: async () => {},
    }));
    const q = await quickstartCopy();
    await writeFile(q.pipeline, pipelineText('stuck'));
    const started = performance.now();
    const result = await ferry(['validate', q.pipeline, '--discover-timeout', '0.2'], registry);
    expect(result.code).toBe(0);
    expect(result.out).toContain(
      'the stuck source did not list its streams within 0.2 s (--discover-timeout)',
    );
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe('third-party console output', () => {
  it('logs what was printed at debug level, marked with the console method', () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'debug',
      destination: { write: (l: string) => void lines.push(l) },
    });
    const original = console.error;
    routeConsoleToLog(logger);
    console.error('Global error listener: %s', 'read ECONNRESET');
    restoreConsole();
    expect(console.error).toBe(original);
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({
        level: 'debug',
        console: 'error',
        msg: 'Global error listener: read ECONNRESET',
      }),
    ]);
  });
});

/** The default registry plus a source type built by `make`. */
function withSource(make: () => Source) {
  const registry = defaultRegistry();
  const type = make().type;
  registry.sources.set(
    type,
    defineFactory({
      type,
      description: 'test source',
      configSchema: z.object({}).strict(),
      create: () => make(),
    }),
  );
  return registry;
}

function pipelineText(type: string): string {
  return `pipeline: ${type}
source:
  type: ${type}
mapping:
  subject: id
  fields:
    id: ID
contract:
  type: test.thing
  version: 1.0.0
`;
}

describe('the run summary', () => {
  const summary = {
    pipeline: 'roll',
    recordsRead: 0,
    eventsWritten: 0,
    deadLetters: 0,
    skipped: 0,
    batches: 0,
    retries: 0,
    durationMs: 1200,
    eventsPerSecond: 0,
    position: undefined,
  };

  it('says a stop saved the checkpoint only when the run committed a batch', () => {
    expect(formatSummary({ ...summary, stoppedBy: 'signal' })).toMatch(
      / — stopped by signal, nothing committed, checkpoint unchanged$/,
    );
    expect(formatSummary({ ...summary, batches: 2, recordsRead: 9, stoppedBy: 'signal' })).toMatch(
      / — stopped by signal, checkpoint saved$/,
    );
    expect(formatSummary({ ...summary, stoppedBy: 'end' })).not.toContain('checkpoint');
  });
});
