// `migration.yaml`: one legacy batch job under migration: its schedule, its output (the reference), the
// stream that replaces it, how their fields correspond, what differences are tolerated, when the cut-over
// gate opens and where the parity ledger is kept. Mistakes are ConfigErrors naming the file, the line and
// the path; `${env:…}`/`${file:…}` references are resolved as in pipeline files.
import { dirname, isAbsolute, resolve } from 'node:path';
import { loadConfigFile, type Redactor, scheduleProblem } from '@ferry/core';
import { z } from 'zod';

const name = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, 'lower-case letters, digits and -, starting with a letter');

const fieldPath = z
  .string()
  .regex(
    /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/,
    'a dotted path in the event data, e.g. defendant.name.family',
  );

const ledgerSchema = z
  .discriminatedUnion('type', [
    z
      .object({
        type: z.literal('sqlite').describe('An SQLite file (the embedded default).'),
        path: z.string().min(1).describe('The file, relative to migration.yaml; created when missing.'),
      })
      .strict(),
    z
      .object({
        type: z.literal('postgres'),
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(1).max(65_535).default(5432),
        username: z.string().min(1),
        password: z.string().optional().describe('Write it as a ${env:NAME} or ${file:path} reference.'),
        database: z.string().min(1),
        schema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case schema name')
          .default('public')
          .describe('Schema of the ledger’s tables; created when missing.'),
      })
      .strict(),
  ])
  .describe('Where the parity ledger is kept: SQLite embedded, PostgreSQL in production.');

const outputSchema = z
  .object({
    reference: z
      .string()
      .min(1)
      .describe(
        'The legacy job’s output: sqlite:<path> | postgres://user@host:port/db | mysql://… | mariadb://… | <file>.csv | <file>.jsonl (paths relative to migration.yaml).',
      ),
    password: z.string().optional().describe('SQL references: write it as a ${env:NAME} reference.'),
    table: z.string().min(1).optional().describe('SQL references: the table (or `query`).'),
    query: z
      .string()
      .min(1)
      .optional()
      .describe('SQL references: a SELECT giving the output in canonical terms (or `table`).'),
    key: z
      .array(z.string().min(1))
      .min(1)
      .describe('Key columns; their values joined by keySeparator equal the event subject.'),
    keySeparator: z.string().min(1).default('|'),
    pageSize: z.number().int().min(1).default(5000),
  })
  .strict();

const eventsSchema = z.union([
  z
    .object({
      file: z
        .string()
        .min(1)
        .describe('A file event log (.ferry/events/<topic>.jsonl), relative to migration.yaml.'),
    })
    .strict(),
  z
    .object({
      kafka: z
        .object({
          topic: z.string().min(1),
          brokers: z.array(z.string().min(1)).min(1),
          timeoutMs: z.number().int().min(1000).default(300_000),
        })
        .strict(),
    })
    .strict(),
]);

export const migrationFileSchema = z
  .object({
    migration: name.describe('Name of the migration: the ledger’s key, the metrics label.'),
    description: z.string().optional(),
    legacy: z
      .object({
        job: z.string().min(1).describe('The legacy batch job being retired, as its owners call it.'),
        schedule: z
          .object({
            cron: z.string().min(1),
            timezone: z.string().min(1).default('UTC'),
          })
          .strict()
          .describe('When the legacy job runs: each scheduled time is one slot the shadow must compare.'),
        graceMs: z
          .number()
          .int()
          .min(0)
          .default(1_800_000)
          .describe('How long after the scheduled time the legacy output is complete (default 30 minutes).'),
        cutoff: z
          .object({
            query: z
              .string()
              .min(1)
              .optional()
              .describe(
                'SQL references: a SELECT whose column `cutoff` is the legacy run’s actual cut-off (e.g. max(LOADED_AT)); a new value starts the run (freshness).',
              ),
            fileModified: z
              .literal(true)
              .optional()
              .describe(
                'File references: the file’s modification time is the cut-off; a newly written file starts the run (freshness).',
              ),
          })
          .strict()
          .refine((c) => (c.query === undefined) !== (c.fileModified === undefined), {
            message: 'give exactly one of query or fileModified',
          })
          .optional()
          .describe('Default: the scheduled time is the cut-off.'),
        output: outputSchema,
      })
      .strict(),
    stream: z
      .object({
        pipelines: z
          .array(z.string().min(1))
          .default([])
          .describe('The replacing pipeline files, relative to migration.yaml (for the inventory).'),
        type: z.string().min(1).describe('Canonical type whose events count, e.g. justice.hearing.'),
        events: eventsSchema,
      })
      .strict(),
    fields: z
      .record(fieldPath, z.string().min(1))
      .refine((f) => Object.keys(f).length > 0, 'map at least one field')
      .describe('Canonical field (dotted path in the event data) → reference column.'),
    window: z
      .object({
        field: fieldPath,
        column: z.string().min(1),
        fromCutoffDays: z
          .number()
          .int()
          .default(0)
          .describe('Records dated on or after the cut-off’s date (in the schedule’s time zone) plus this.'),
      })
      .strict()
      .optional()
      .describe('Compare only the records a legacy run is about (a date field), on both sides.'),
    tolerances: z
      .object({
        ignore: z.array(fieldPath).default([]).describe('Fields not compared.'),
        numeric: z
          .record(fieldPath, z.number().min(0))
          .default({})
          .describe('Fields whose numbers may differ by up to this much.'),
        timeMs: z
          .record(fieldPath, z.number().int().min(0))
          .default({})
          .describe('Date or time fields that may differ by up to this many milliseconds.'),
        lagMs: z
          .number()
          .int()
          .min(0)
          .default(0)
          .describe('How late an event may arrive: no run starts before cut-off + lagMs.'),
      })
      .strict()
      .default({ ignore: [], numeric: {}, timeMs: {}, lagMs: 0 }),
    gate: z
      .object({
        runs: z.number().int().min(1).default(14).describe('Consecutive clean runs needed.'),
        threshold: z.number().min(0).max(1).default(1).describe('Lowest parity of a clean run.'),
      })
      .strict()
      .default({ runs: 14, threshold: 1 }),
    ledger: ledgerSchema.default({ type: 'sqlite', path: '.ferry/migration/ledger.db' }),
    start: z
      .string()
      .datetime({ offset: true })
      .optional()
      .describe('The first slot the gate counts; default when `ferry shadow run` first ran.'),
    samples: z.number().int().min(0).max(1000).default(20).describe('Samples per run in the ledger.'),
    mismatchLimit: z
      .number()
      .int()
      .min(0)
      .default(100_000)
      .describe('Mismatched keys a run records one by one (past it only counts).'),
  })
  .strict()
  .superRefine((file, ctx) => {
    const problem = scheduleProblem(file.legacy.schedule.cron, file.legacy.schedule.timezone);
    if (problem !== undefined)
      ctx.addIssue({ code: 'custom', path: ['legacy', 'schedule'], message: problem });
    const output = file.legacy.output;
    const sql = /^(sqlite:|postgres:|postgresql:|mysql:|mariadb:)/.test(output.reference);
    if (sql && (output.table === undefined) === (output.query === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['legacy', 'output', 'table'],
        message: 'an SQL reference needs exactly one of table or query',
      });
    if (!sql && !/\.(csv|jsonl|ndjson)$/i.test(output.reference))
      ctx.addIssue({
        code: 'custom',
        path: ['legacy', 'output', 'reference'],
        message: 'sqlite:<path>, postgres://…, mysql://…, mariadb://…, or a .csv or .jsonl file',
      });
    if (!sql && file.legacy.cutoff?.query !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['legacy', 'cutoff', 'query'],
        message: 'a cut-off query needs an SQL reference (a file reference can use fileModified: true)',
      });
    if (sql && file.legacy.cutoff?.fileModified !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['legacy', 'cutoff', 'fileModified'],
        message: 'fileModified needs a file reference (an SQL reference can use a query)',
      });
    for (const [section, fields] of [
      ['ignore', file.tolerances.ignore],
      ['numeric', Object.keys(file.tolerances.numeric)],
      ['timeMs', Object.keys(file.tolerances.timeMs)],
    ] as const)
      for (const field of fields)
        if (!(field in file.fields))
          ctx.addIssue({
            code: 'custom',
            path: ['tolerances', section],
            message: `${field} is not one of the mapped fields (${Object.keys(file.fields).join(', ')})`,
          });
  });

export type MigrationFile = z.output<typeof migrationFileSchema>;

export interface LoadedMigration {
  /** The file, absolute. */
  file: string;
  /** Relative paths are resolved against the file's directory. */
  config: MigrationFile;
  redactor: Redactor;
}

/** Read and validate migration.yaml; relative paths (reference files, events, ledger, pipelines) come back absolute. */
export async function loadMigrationFile(file: string): Promise<LoadedMigration> {
  const { path, config, redactor } = await loadConfigFile(file, migrationFileSchema);
  const base = dirname(path);
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const reference = config.legacy.output.reference.startsWith('sqlite:')
    ? `sqlite:${abs(config.legacy.output.reference.slice('sqlite:'.length))}`
    : /^[a-z]+:\/\//.test(config.legacy.output.reference)
      ? config.legacy.output.reference
      : abs(config.legacy.output.reference);
  return {
    file: path,
    redactor,
    config: {
      ...config,
      legacy: { ...config.legacy, output: { ...config.legacy.output, reference } },
      stream: {
        ...config.stream,
        pipelines: config.stream.pipelines.map(abs),
        events:
          'file' in config.stream.events ? { file: abs(config.stream.events.file) } : config.stream.events,
      },
      ledger:
        config.ledger.type === 'sqlite' ? { ...config.ledger, path: abs(config.ledger.path) } : config.ledger,
    },
  };
}
