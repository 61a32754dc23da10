// The `webhook` sink in a pipeline that core's runtime runs from a pipeline file, posting to real receivers on
// loopback that check every signature with the official `standardwebhooks` package: everything delivered,
// signed and in order per subject; events a receiver refuses (410) in the pipeline's file dead letters while
// the rest is delivered and the checkpoint moves on; an internal URL refused when the file is loaded.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  assemblePipeline,
  ConfigError,
  createFileCheckpointStore,
  createRegistry,
  type DeadLetter,
  loadPipelineFile,
  type Registry,
  type RunSummary,
  registerPlugin,
  runPipeline,
} from '@ferry/core';
import {
  type Batch,
  type ChangeRecord,
  defineFactory,
  definePlugin,
  PLUGIN_API_VERSION,
  type ReadContext,
  type Source,
  sequenceOf,
  silentLogger,
} from '@ferry/core/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ferryPlugin } from '../../src/factory.js';
import { generateSecret } from '../../src/index.js';
import { type Behaviour, type Receiver, startReceiver } from '../receiver.js';

/**
 * A source over a JSON Lines file of rows (`{"ID":…,"SEQ":…}`), `batchSize` rows per batch; its position is
 * the number of rows read. Enough of a legacy system to drive the runtime; the sink is what is tested.
 */
class RowsSource implements Source<number> {
  readonly type = 'test-rows';
  readonly cadence = { kind: 'passes', intervalMs: 60_000 } as const;

  constructor(
    private readonly file: string,
    private readonly batchSize: number,
  ) {}

  async *read(ctx: ReadContext<number>): AsyncIterable<Batch<number>> {
    const lines = (await readFile(this.file, 'utf8')).split('\n').filter((l) => l !== '');
    for (let offset = ctx.from ?? 0; offset < lines.length; offset += this.batchSize) {
      const end = Math.min(offset + this.batchSize, lines.length);
      const records = lines.slice(offset, end).map((line, i): ChangeRecord => {
        const row = JSON.parse(line) as Record<string, unknown>;
        const number = offset + i + 1;
        return {
          stream: 'legacy.OFFENDERS',
          op: row.SEQ === 1 ? 'create' : 'update',
          key: { ID: row.ID },
          after: row,
          origin: { file: 'rows.jsonl', line: number },
          sequence: sequenceOf(number),
        };
      });
      yield { records, position: end };
    }
  }

  async close(): Promise<void> {}
}

const rowsPlugin = definePlugin({
  apiVersion: PLUGIN_API_VERSION,
  name: 'webhook-sink-test-rows',
  sources: [
    defineFactory({
      type: 'test-rows',
      description: 'Rows from a JSON Lines file (tests of the webhook sink).',
      configSchema: z.object({ file: z.string(), batchSize: z.number().int().min(1).default(7) }).strict(),
      create: (config, ctx): Source<number> =>
        new RowsSource(resolve(ctx.baseDir, config.file), config.batchSize),
    }),
  ],
});

function registry(): Registry {
  const r = createRegistry();
  registerPlugin(r, rowsPlugin);
  registerPlugin(r, ferryPlugin);
  return r;
}

const SUBJECTS = 6;
const ROWS = 30;

/** Row n (0-based): offender `S<n % 6>`, its `SEQ`th change. */
const rows = (count = ROWS) =>
  Array.from({ length: count }, (_, n) => ({ ID: `S${n % SUBJECTS}`, SEQ: Math.floor(n / SUBJECTS) + 1 }));

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function receiver(secret: string, behave?: Behaviour): Promise<Receiver> {
  const r = await startReceiver([secret], behave);
  cleanups.push(() => r.close());
  return r;
}

/** A secret in the environment, referenced from the pipeline file as `${env:NAME}`. */
function secretInEnv(secret: string): string {
  const name = `FERRY_TEST_WEBHOOK_SECRET_${randomBytes(4).toString('hex').toUpperCase()}`;
  process.env[name] = secret;
  cleanups.push(async () => {
    delete process.env[name];
  });
  return `\${env:${name}}`;
}

interface Setup {
  dir: string;
  pipeline: string;
  file: string;
}

async function pipelineFile(sink: string, name = 'offender-hooks'): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-webhook-sink-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    join(dir, 'rows.jsonl'),
    rows()
      .map((r) => `${JSON.stringify(r)}\n`)
      .join(''),
  );
  const file = join(dir, 'pipeline.yaml');
  await writeFile(
    file,
    `pipeline: ${name}
source:
  type: test-rows
  file: rows.jsonl
mapping:
  subject: offenderId
  fields:
    offenderId: { from: ID, required: true }
    seq: { from: SEQ, type: number }
contract:
  type: justice.offender
  version: 1.0.0
${sink}`,
  );
  return { dir, pipeline: name, file };
}

async function run(setup: Setup): Promise<RunSummary> {
  const r = registry();
  const loaded = await loadPipelineFile(setup.file, r);
  return runPipeline(await assemblePipeline(loaded, r, { logger: silentLogger(), once: true }));
}

interface Posted {
  id: string;
  subject: string;
  type: string;
  seq: number;
  status: number | undefined;
  verifiedWith: number;
}

const posted = (r: Receiver): Posted[] =>
  r.received.map((request) => {
    const event = JSON.parse(request.body) as {
      id: string;
      subject: string;
      type: string;
      data: { seq: number };
    };
    return {
      id: event.id,
      subject: event.subject,
      type: event.type,
      seq: event.data.seq,
      status: request.status,
      verifiedWith: request.verifiedWith,
    };
  });

/** Each subject's `seq`s in the order they first arrived. */
function arrivalsBySubject(events: readonly Posted[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const seen = new Set<string>();
  for (const e of events) {
    if (seen.has(e.id)) continue;
    seen.add(e.id);
    out.set(e.subject, [...(out.get(e.subject) ?? []), e.seq]);
  }
  return out;
}

const inOrder = (count: number) => Array.from({ length: count }, (_, i) => i + 1);

async function deadLetters(setup: Setup): Promise<DeadLetter[]> {
  const path = join(setup.dir, '.ferry', 'dead-letters', `${setup.pipeline}.dlq.jsonl`);
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as DeadLetter);
}

const checkpoint = (setup: Setup) =>
  createFileCheckpointStore({ dir: join(setup.dir, '.ferry', 'checkpoints') }).load(setup.pipeline);

describe('a pipeline with a webhook sink', () => {
  it('delivers every event to each subscription that selects it, signed with its secret, in order per subject', async () => {
    const secretA = generateSecret();
    const secretB = generateSecret();
    const a = await receiver(secretA);
    const b = await receiver(secretB);
    const setup = await pipelineFile(`sink:
  type: webhook
  allow: [127.0.0.1/32]
  subscriptions:
    - name: supplier-a
      url: ${a.url}
      events: [justice.offender.*]
      secrets: ['${secretInEnv(secretA)}']
      concurrency: 3
    - name: supplier-b
      url: ${b.url}
      events: [justice.offender.updated]
      secrets: ['${secretInEnv(secretB)}']
`);
    const summary = await run(setup);

    expect(summary).toMatchObject({ recordsRead: ROWS, eventsWritten: ROWS, deadLetters: 0 });
    const toA = posted(a);
    expect(toA).toHaveLength(ROWS);
    expect(toA.every((e) => e.verifiedWith === 0 && e.status === 204)).toBe(true);
    expect(new Set(toA.map((e) => e.id)).size).toBe(ROWS);
    for (const [, seqs] of arrivalsBySubject(toA)) expect(seqs).toEqual(inOrder(ROWS / SUBJECTS));
    // supplier-b selects only updates: every change but each offender's first.
    const toB = posted(b);
    expect(toB).toHaveLength(ROWS - SUBJECTS);
    expect(toB.every((e) => e.verifiedWith === 0 && e.type === 'justice.offender.updated')).toBe(true);
    for (const [, seqs] of arrivalsBySubject(toB)) expect(seqs).toEqual(inOrder(ROWS / SUBJECTS).slice(1));
    expect(await deadLetters(setup)).toEqual([]);
    expect(await checkpoint(setup)).toBe(ROWS);
  });

  it('puts the events a receiver refuses (410) in the pipeline’s dead letters, delivers the rest and moves the checkpoint on', async () => {
    const secret = generateSecret();
    const gone = 'S3';
    const r = await receiver(secret, (request) =>
      (JSON.parse(request.body) as { subject: string }).subject === gone
        ? { status: 410, body: `offender ${gone} has left the estate` }
        : { status: 200 },
    );
    const setup = await pipelineFile(`sink:
  type: webhook
  allow: [127.0.0.1/32]
  subscriptions:
    - name: supplier-a
      url: ${r.url}
      events: [justice.offender.*]
      secrets: ['${secretInEnv(secret)}']
      retry: { attempts: 3, minDelayMs: 1, maxDelayMs: 5 }
`);
    const summary = await run(setup);

    const refusedCount = ROWS / SUBJECTS;
    expect(summary).toMatchObject({ recordsRead: ROWS, deadLetters: refusedCount });
    const all = posted(r);
    expect(all.every((e) => e.verifiedWith === 0)).toBe(true);
    // A refusal is final: each refused event was posted once, and the others all arrived, in order.
    const refused = all.filter((e) => e.subject === gone);
    expect(refused.map((e) => [e.seq, e.status])).toEqual(inOrder(refusedCount).map((seq) => [seq, 410]));
    const delivered = all.filter((e) => e.subject !== gone);
    expect(delivered).toHaveLength(ROWS - refusedCount);
    expect(delivered.every((e) => e.status === 200)).toBe(true);
    for (const [, seqs] of arrivalsBySubject(delivered)) expect(seqs).toEqual(inOrder(ROWS / SUBJECTS));

    const letters = await deadLetters(setup);
    expect(letters).toHaveLength(refusedCount);
    expect(letters.map((l) => (l.record as { data: { seq: number } }).data.seq)).toEqual(
      inOrder(refusedCount),
    );
    for (const [index, letter] of letters.entries()) {
      const line = index * SUBJECTS + 4; // S3 is every sixth row, from the fourth
      expect(letter).toMatchObject({
        pipeline: setup.pipeline,
        stream: 'legacy.OFFENDERS',
        stage: 'sink',
        code: 'WEBHOOK_REFUSED',
        retryable: false,
        attempts: 1,
        origin: {
          file: 'rows.jsonl',
          line,
          subscription: 'supplier-a',
          url: r.url,
          status: 410,
          body: `offender ${gone} has left the estate`,
        },
        record: { subject: gone, type: expect.stringMatching(/^justice\.offender\./) },
      });
      expect(letter.message).toContain('410');
    }
    expect(await checkpoint(setup)).toBe(ROWS);
  });

  it('refuses, when the file is loaded, a subscription URL the address policy refuses, naming its path and the code', async () => {
    const setup = await pipelineFile(`sink:
  type: webhook
  subscriptions:
    - name: metadata
      url: http://169.254.169.254/latest/meta-data/
      events: ['*']
      secrets: [${generateSecret()}]
`);
    const failure = await loadPipelineFile(setup.file, registry()).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConfigError);
    const issues = (failure as ConfigError).issues;
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({
      path: 'sink.subscriptions[0].url',
      message: expect.stringContaining('WEBHOOK_ADDRESS_REFUSED'),
    });
    expect(issues[0]!.message).toContain('link-local (cloud metadata)');
    expect((failure as ConfigError).message).toContain(`${setup.file}:`);
  });

  it('reports every other mistake of the sink’s options at its path', async () => {
    const secret = generateSecret();
    const setup = await pipelineFile(`sink:
  type: webhook
  allow: [10.1.0.0/33]
  subscriptions:
    - { name: supplier-a, url: 'https://hooks.example.org/a', events: ['*'], secrets: ['${secret}'] }
    - { name: supplier-a, url: 'http://10.1.2.3/b', events: ['*'], secrets: ['${secret}'], onFailure: pause }
`);
    const failure = await loadPipelineFile(setup.file, registry()).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConfigError);
    // A broken allow entry leaves the policy unknown: the URLs are not judged against it.
    expect((failure as ConfigError).issues.map((i) => i.path).sort()).toEqual([
      'sink.allow[0]',
      'sink.subscriptions[1].name',
      'sink.subscriptions[1].onFailure',
    ]);
  });
});
