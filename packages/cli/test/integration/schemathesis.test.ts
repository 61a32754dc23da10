// The admin API checked against its own document by an independent tool: Schemathesis (PyPI, installed by
// test/services/up.sh) generates requests from the OpenAPI document a real `ferry serve` serves and runs
// every check it has (`--checks all`): no 5xx, every status and header documented, every body matching its
// schema, invalid input refused, valid input accepted, undocumented methods 405 with a true Allow, and, with
// OAuth2, no operation answering without a token. Both auth modes, each against its own `ferry serve`
// hosting two SQLite quickstart pipelines in temp dirs (Schemathesis pauses, resumes, triggers, resets and
// replays them: they are throwaway copies).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedLegacyDatabase } from '../../../../examples/quickstart/seed.mjs';
import { quickstartCopy } from '../../../../examples/quickstart/test/cli.js';
import { type Issuer, startIssuer } from '../../../server/test/unit/fixtures.js';
import { type Served, startServe } from './serve-helpers.js';

// The version test/services/lib/schemathesis.sh pins; up.sh builds this virtualenv once and caches it.
const SCHEMATHESIS_VERSION = '4.32.5';
const venv = join(
  process.env.XDG_CACHE_HOME || join(homedir(), '.cache'),
  'ferry',
  `schemathesis-${SCHEMATHESIS_VERSION}-venv`,
);
const schemathesisBin = join(venv, 'bin', 'schemathesis');

// Bounded and reproducible: a fixed seed, one worker (the same order every time; two workers also hit
// internal errors of Schemathesis 4.32.5 on Python 3.11), at most this many generated cases per operation
// and phase: about 750-900 requests per mode. Seeds 1, 7 and 4242 with 100 cases passed too.
const SEED = '20260504';
const MAX_EXAMPLES = '50';
// One mode took 8-17 s here (two cores shared with other test runs); the cap leaves a slow machine room and
// still ends a hung run.
const RUN_TIMEOUT_MS = 150_000;
// ferry serve outlives one Schemathesis run by a margin; startServe SIGKILLs it after this.
const SERVE_TIMEOUT_MS = RUN_TIMEOUT_MS + 30_000;

interface Run {
  code: number | null;
  output: string;
  ms: number;
  /** Names of the checks that ran on at least one response. */
  checksRun: Set<string>;
}

// Every check of `--checks all` but the one excluded below; each must have run, or the run proves nothing.
const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_headers_conformance',
  'response_schema_conformance',
  'negative_data_rejection',
  'positive_data_acceptance',
  'missing_required_header',
  'unsupported_method',
  'allow_header_conformance',
  'ensure_resource_availability',
  'ignored_auth',
  'object_level_authorization',
];

/** The checks recorded in Schemathesis' NDJSON events (`ScenarioFinished.recorder.checks`). */
async function checksIn(report: string): Promise<Set<string>> {
  const names = new Set<string>();
  const text = await readFile(report, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    if (!line.includes('"ScenarioFinished"')) continue;
    const event = JSON.parse(line) as {
      ScenarioFinished: { recorder: { checks?: Record<string, { name: string }[]> } };
    };
    for (const checks of Object.values(event.ScenarioFinished.recorder.checks ?? {})) {
      for (const check of checks) names.add(check.name);
    }
  }
  return names;
}

/** `schemathesis run <document> --checks all …` against a served admin API; never throws on its findings. */
async function schemathesis(base: string, extra: string[] = []): Promise<Run> {
  const cwd = await mkdtemp(join(tmpdir(), 'ferry-schemathesis-'));
  const report = join(cwd, 'events.ndjson');
  const args = [
    'run',
    `${base}/openapi.json`,
    '--checks',
    'all',
    // The one check left out, for a documented reason: `use_after_free` expects a GET of a path to answer
    // 404 once a DELETE of that path succeeded. The API's only DELETE, `/pipelines/{name}/offsets`, forgets
    // the saved position, and the pipeline's offsets stay a resource that says so: GET answers 200 with
    // `position: null`, as before the first commit (docs/admin-api.md). A per-operation exclusion in a
    // schemathesis.toml did not hold in every stateful run (4.32.5), so it is left out for the whole run;
    // a new DELETE route must bring the check back for its own path.
    '--exclude-checks',
    'use_after_free',
    '--seed',
    SEED,
    '--max-examples',
    MAX_EXAMPLES,
    '--workers',
    '1',
    // Nothing kept between runs: each run finds what this seed finds, not what an earlier run stored.
    '--generation-database',
    'none',
    '--request-timeout',
    '10',
    '--no-color',
    // Its event stream, to prove which checks ran (the text report names only the failures).
    '--report',
    'ndjson',
    '--report-ndjson-path',
    report,
    ...extra,
  ];
  const started = Date.now();
  const run = await new Promise<Omit<Run, 'checksRun'>>((resolve, reject) => {
    const child = spawn(schemathesisBin, args, {
      cwd,
      env: { ...process.env, NO_COLOR: '1', COLUMNS: '120' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, ms: Date.now() - started });
    });
  });
  return { ...run, checksRun: await checksIn(report) };
}

/** Two throwaway quickstart pipelines (one of them renamed), each with a few dead letters to list and replay. */
async function pipelines(): Promise<string[]> {
  const files: string[] = [];
  for (const name of ['quickstart', 'ledger']) {
    const copy = await quickstartCopy();
    seedLegacyDatabase(copy.db, { rows: 200, badEvery: 50 });
    const text = await readFile(copy.pipeline, 'utf8');
    await writeFile(copy.pipeline, text.replace(/^pipeline: quickstart$/m, `pipeline: ${name}`));
    files.push(copy.pipeline);
  }
  return files;
}

/** What the run must show besides its exit code: it tested every operation, in every phase it can. */
function expectCompleteRun(run: Run): void {
  const report = `schemathesis exited ${run.code} after ${run.ms} ms:\n${run.output}`;
  expect(run.code, report).toBe(0);
  // 17 operations: a document that lost its routes would pass vacuously.
  expect(run.output, report).toMatch(/Tested: 17\b/);
  expect(run.output, report).toMatch(/✅ Fuzzing/);
  expect(run.output, report).toMatch(/✅ Stateful/);
  expect(
    CHECKS.filter((check) => !run.checksRun.has(check)),
    'checks that never ran',
  ).toEqual([]);
}

describe('Schemathesis --checks all against the document ferry serve serves', () => {
  beforeAll(() => {
    if (!existsSync(join(venv, '.ferry-installed'))) {
      throw new Error(
        `no Schemathesis virtualenv at ${venv}; run \`bash test/services/up.sh\` once to build it`,
      );
    }
  });

  // Generous per-test limit: start-up (~2 s) plus one Schemathesis run (RUN_TIMEOUT_MS at most) and shutdown.
  it('auth.mode none (--allow-unauthenticated)', { timeout: SERVE_TIMEOUT_MS + 30_000 }, async () => {
    const serve = await startServe(
      [...(await pipelines()), '--allow-unauthenticated', '--port', '0', '--log-level', 'warn'],
      {},
      SERVE_TIMEOUT_MS,
    );
    let run: Run;
    try {
      run = await schemathesis(serve.base);
    } finally {
      await serve.stop();
    }
    console.info(`schemathesis, auth.mode none: ${run.ms} ms`);
    expectCompleteRun(run);
  });

  describe('auth.mode oauth2', () => {
    let issuer: Issuer;
    let serve: Served | undefined;
    beforeAll(async () => {
      issuer = await startIssuer();
    });
    afterAll(async () => {
      await serve?.stop();
      await issuer?.close();
    });

    it('with a token holding both scopes; no operation answers without one (ignored_auth)', {
      timeout: SERVE_TIMEOUT_MS + 30_000,
    }, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ferry-schemathesis-admin-'));
      const adminConfig = join(dir, 'admin.yaml');
      await writeFile(
        adminConfig,
        `listen: { host: 127.0.0.1, port: 0 }
auth:
  mode: oauth2
  issuer: ${issuer.issuer}
  jwksUri: ${issuer.jwksUri}
  audience: ${issuer.audience}
`,
      );
      serve = await startServe(
        [...(await pipelines()), '--config', adminConfig, '--log-level', 'warn'],
        {},
        SERVE_TIMEOUT_MS,
      );
      const token = await issuer.sign({ scope: 'ferry:read ferry:operate' });
      let run: Run;
      try {
        run = await schemathesis(serve.base, ['--header', `Authorization: Bearer ${token}`]);
      } finally {
        await serve.stop();
        serve = undefined;
      }
      console.info(`schemathesis, auth.mode oauth2: ${run.ms} ms`);
      expectCompleteRun(run);
    });
  });
});
