// A Ferry source for a legacy system that exports JSON Lines: each line is one row, read in order; the
// position is the number of lines read, so a restart resumes at the next line. Replace the reading part
// with your legacy system's API; keep the shape: read batches, say where you are, classify errors.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type ChangeRecord, type Factory, type FactoryContext, FerryError, type Source } from '@ferry/core';
import { type Batch, type ReadContext, sleep } from '@ferry/core/sdk';
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
      .describe('Wait before looking for new lines (continuous runs).'),
  })
  .strict();

export type TemplateSourceConfig = z.output<typeof templateSourceConfigSchema>;

/** Lines read so far. */
export interface TemplateSourcePosition {
  line: number;
}

export function classifyTemplateSourceError(error: unknown, path: string): FerryError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') {
    return new FerryError('TEMPLATE_SOURCE_NOT_FOUND', `export file ${path} does not exist`, {
      cause: error,
      details: { path },
    });
  }
  // A file being replaced or a busy disk may clear on its own; the runtime retries.
  const retryable = code === 'EBUSY' || code === 'EAGAIN' || code === 'EMFILE';
  return new FerryError('TEMPLATE_SOURCE_READ_FAILED', `cannot read ${path}: ${(error as Error).message}`, {
    cause: error,
    retryable,
    details: { path },
  });
}

export class TemplateSource implements Source<TemplateSourcePosition> {
  readonly type = 'template-source';
  private closed = new AbortController();

  constructor(private readonly config: TemplateSourceConfig) {}

  async *read(ctx: ReadContext<TemplateSourcePosition>): AsyncIterable<Batch<TemplateSourcePosition>> {
    const signal = AbortSignal.any([ctx.signal, this.closed.signal]);
    let line = ctx.from?.line ?? 0;
    while (!signal.aborted) {
      const rows = await this.lines();
      while (line < rows.length && !signal.aborted) {
        const end = Math.min(line + this.config.batchSize, rows.length);
        const records: ChangeRecord[] = [];
        for (let i = line; i < end; i += 1) records.push(this.toRecord(rows[i]!, i + 1));
        line = end;
        yield { records, position: { line } };
      }
      if (ctx.once) return;
      await sleep(this.config.pollIntervalMs, signal);
    }
  }

  private async lines(): Promise<string[]> {
    try {
      const text = await readFile(this.config.path, 'utf8');
      return text.split('\n').filter((l) => l.trim() !== '');
    } catch (error) {
      throw classifyTemplateSourceError(error, this.config.path);
    }
  }

  private toRecord(text: string, lineNumber: number): ChangeRecord {
    const row = JSON.parse(text) as Record<string, unknown>;
    const key = Object.fromEntries(this.config.key.map((k) => [k, row[k]]));
    return {
      stream: this.config.stream,
      op: 'read',
      key,
      after: row,
      origin: { file: this.config.path, line: lineNumber },
    };
  }

  async close(): Promise<void> {
    this.closed.abort();
  }
}

export function createTemplateSource(
  config: z.input<typeof templateSourceConfigSchema>,
  baseDir = '.',
): TemplateSource {
  const parsed = templateSourceConfigSchema.parse(config);
  return new TemplateSource({ ...parsed, path: resolve(baseDir, parsed.path) });
}

/** Register with `registry.sources.set(templateSourceFactory.type, templateSourceFactory)`. */
export const templateSourceFactory: Factory<TemplateSourceConfig, Source> = {
  type: 'template-source',
  description: 'Reads a legacy JSON Lines export, one change record per line.',
  configSchema: templateSourceConfigSchema,
  create: (config: TemplateSourceConfig, ctx: FactoryContext) =>
    createTemplateSource(config, ctx.baseDir) as Source,
};
