// A Ferry source for a legacy system that exports JSON Lines: each line is one row, read in order; the
// position is the number of lines read, so a restart resumes at the next line. Replace the reading part
// with your legacy system's API and keep the shape: one pass reads what is there and says where it is, a
// line that cannot be read is rejected (not thrown), native errors are classified in one place. The runtime
// does everything else: when the next pass runs, retries, checkpoints, dead letters, shutdown.
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import {
  type Batch,
  type ChangeRecord,
  createErrorClassifier,
  defineFactory,
  definePlugin,
  FerryError,
  PLUGIN_API_VERSION,
  type ReadContext,
  type RejectedInput,
  type Source,
  type SourceContext,
  sequenceOf,
} from '@ferry/core/sdk';
import { z } from 'zod';

export const templateSourceConfigSchema = z
  .object({
    path: z.string().min(1).describe('JSON Lines export to read, relative to the pipeline file.'),
    stream: z.string().min(1).default('export').describe('Stream name for the records.'),
    key: z.array(z.string().min(1)).min(1).describe('Fields that identify a row in the legacy system.'),
    batchSize: z.number().int().min(1).max(10_000).default(500).describe('Lines per batch.'),
    pollIntervalMs: z
      .number()
      .int()
      .min(10)
      .default(1_000)
      .describe('Time between passes when the pipeline has no schedule.'),
  })
  .strict();

export type TemplateSourceConfig = z.output<typeof templateSourceConfigSchema>;

/** Lines read so far; the runtime checks a saved checkpoint against this before the first read. */
export const templateSourcePositionSchema = z.object({ line: z.number().int().min(0) }).strict();
export type TemplateSourcePosition = z.output<typeof templateSourcePositionSchema>;

type TemplateSourceErrorCode = 'TEMPLATE_SOURCE_NOT_FOUND' | 'TEMPLATE_SOURCE_READ_FAILED';

/** Native errors into FerryErrors: a table of rules; the kit walks causes and knows Node's network codes. */
export const classifyTemplateSourceError = createErrorClassifier<TemplateSourceErrorCode, { path?: string }>({
  rules: [
    (link) => (link.code === 'ENOENT' ? { code: 'TEMPLATE_SOURCE_NOT_FOUND', retryable: false } : undefined),
    // A file being replaced or a busy disk may clear on its own; the runtime retries.
    (link) =>
      link.code === 'EBUSY' || link.code === 'EAGAIN' || link.code === 'EMFILE'
        ? { code: 'TEMPLATE_SOURCE_READ_FAILED', retryable: true }
        : undefined,
  ],
  network: { connection: 'TEMPLATE_SOURCE_READ_FAILED' },
  fallback: { code: 'TEMPLATE_SOURCE_READ_FAILED', retryable: false },
  build: ({ verdict, error }, { path }) =>
    new FerryError(
      verdict.code,
      verdict.code === 'TEMPLATE_SOURCE_NOT_FOUND'
        ? `export file ${path} does not exist`
        : `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error, retryable: verdict.retryable, details: { path } },
    ),
});

export class TemplateSource implements Source<TemplateSourcePosition> {
  readonly type = 'template-source';
  readonly cadence;

  constructor(
    private readonly config: TemplateSourceConfig,
    _context: SourceContext = {},
  ) {
    this.cadence = { kind: 'passes', intervalMs: config.pollIntervalMs } as const;
  }

  /** One pass: the lines after `ctx.from`, in batches; then it ends and the runtime decides when to look again. */
  async *read(ctx: ReadContext<TemplateSourcePosition>): AsyncIterable<Batch<TemplateSourcePosition>> {
    const { path, batchSize } = this.config;
    const from = ctx.from?.line ?? 0;
    let line = 0;
    let records: ChangeRecord[] = [];
    let rejected: RejectedInput[] = [];
    const batch = (): Batch<TemplateSourcePosition> => {
      const out: Batch<TemplateSourcePosition> = { records, position: { line } };
      if (rejected.length > 0) out.rejected = rejected;
      records = [];
      rejected = [];
      return out;
    };
    try {
      const lines = createInterface({
        input: createReadStream(path, 'utf8'),
        crlfDelay: Number.POSITIVE_INFINITY,
      });
      for await (const text of lines) {
        line += 1;
        if (line <= from || text.trim() === '') continue;
        const outcome = this.toRecord(text, line);
        if ('code' in outcome) rejected.push(outcome);
        else records.push(outcome);
        if (records.length + rejected.length >= batchSize) yield batch();
        if (ctx.signal.aborted) return;
      }
    } catch (error) {
      throw classifyTemplateSourceError(error, { path });
    }
    if (records.length + rejected.length > 0) yield batch();
  }

  /** A row, or a reject the runtime sends to the dead-letter place with exactly where it came from. */
  private toRecord(text: string, line: number): ChangeRecord | RejectedInput {
    const origin = { file: this.config.path, line };
    // Its place in the file: the runtime writes a batch's dead letters in this order.
    const sequence = sequenceOf(line);
    const reject = (problem: string): RejectedInput => ({
      stream: this.config.stream,
      code: 'TEMPLATE_SOURCE_BAD_LINE',
      message: `line ${line}: ${problem}`,
      raw: text,
      origin,
      sequence,
    });
    let row: unknown;
    try {
      row = JSON.parse(text);
    } catch (error) {
      return reject((error as Error).message);
    }
    if (row === null || typeof row !== 'object' || Array.isArray(row)) return reject('not a JSON object');
    const values = row as Record<string, unknown>;
    const key = Object.fromEntries(this.config.key.map((k) => [k, values[k]]));
    const missing = this.config.key.filter((k) => key[k] === undefined || key[k] === null);
    if (missing.length > 0) return reject(`no ${missing.join(', ')}`);
    return { stream: this.config.stream, op: 'read', key, after: values, origin, sequence };
  }

  async close(): Promise<void> {}
}

export function createTemplateSource(
  config: z.input<typeof templateSourceConfigSchema>,
  context: SourceContext = {},
): TemplateSource {
  const parsed = templateSourceConfigSchema.parse(config);
  return new TemplateSource({ ...parsed, path: resolve(context.baseDir ?? '.', parsed.path) }, context);
}

/** The factory a pipeline file's `source: { type: template-source, … }` is built with. */
export const templateSourceFactory = defineFactory({
  type: 'template-source',
  description: 'Reads a legacy JSON Lines export, one change record per line.',
  configSchema: templateSourceConfigSchema,
  positionSchema: templateSourcePositionSchema,
  create: (config, ctx): Source<TemplateSourcePosition> =>
    new TemplateSource({ ...config, path: resolve(ctx.baseDir, config.path) }, ctx),
});

/**
 * The plugin manifest: a pipeline file that names this package (`plugin: '@ferry/template-source'` on its
 * source, or under `plugins:`) gets `type: template-source`. Ferry refuses a manifest built for another
 * plugin API version, so keep `apiVersion` as the constant it is.
 */
export const ferryPlugin = definePlugin({
  apiVersion: PLUGIN_API_VERSION,
  name: '@ferry/template-source',
  sources: [templateSourceFactory],
});
