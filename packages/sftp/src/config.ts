// Options of the SFTP source, declared once: the schema validates pipeline files, types the code and is the
// source of the option tables in docs/sftp.md.
import { z } from 'zod';

const connectionSchema = z
  .object({
    host: z.string().min(1).describe('SFTP server host name or address.'),
    port: z.number().int().min(1).max(65535).default(22).describe('SFTP server port.'),
    username: z.string().min(1).describe('User to log in as.'),
    password: z
      .string()
      .optional()
      .describe(`Password; write it as a \${env:NAME} or \${file:path} reference, never as a literal.`),
    privateKey: z
      .string()
      .optional()
      .describe(`Private key text (OpenSSH or PEM), usually \${file:path/to/key}.`),
    privateKeyPath: z
      .string()
      .optional()
      .describe('Path of the private key file, relative to the pipeline file.'),
    passphrase: z.string().optional().describe('Passphrase of an encrypted private key (a reference).'),
    knownHosts: z
      .string()
      .optional()
      .describe('OpenSSH known_hosts file (relative to the pipeline file) holding the server host key.'),
    hostKeyFingerprint: z
      .string()
      .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'an OpenSSH SHA-256 fingerprint such as SHA256:abc…')
      .optional()
      .describe('Pinned SHA-256 fingerprint of the server host key (as `ssh-keygen -lf` prints it).'),
    legacyAlgorithms: z
      .object({
        serverHostKey: z.array(z.string()).optional(),
        kex: z.array(z.string()).optional(),
        cipher: z.array(z.string()).optional(),
        hmac: z.array(z.string()).optional(),
      })
      .strict()
      .optional()
      .describe(
        'Extra (old) algorithms to allow for a legacy server, e.g. serverHostKey: [ssh-rsa]; logged.',
      ),
    connectTimeoutMs: z.number().int().min(100).default(15_000).describe('Handshake and login timeout.'),
    operationTimeoutMs: z
      .number()
      .int()
      .min(100)
      .default(120_000)
      .describe('Timeout of every SFTP call (list, stat, download of one file, rename).'),
    keepaliveIntervalMs: z
      .number()
      .int()
      .min(0)
      .default(10_000)
      .describe('SSH keepalive interval (0 = off).'),
    maxSessions: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(2)
      .describe(
        'SSH connections this process may have open to the host (host:port) at once, across all its pipelines; ' +
          'a pass, a probe or discover waits for a free one. A pipeline reads and moves files on one connection.',
      ),
  })
  .strict()
  .refine((c) => c.knownHosts !== undefined || c.hostKeyFingerprint !== undefined, {
    message: 'set knownHosts or hostKeyFingerprint: the server host key is always checked',
  })
  .refine((c) => c.password !== undefined || c.privateKey !== undefined || c.privateKeyPath !== undefined, {
    message: 'set password, privateKey or privateKeyPath',
  });

const columnPolicy = z
  .enum(['reject', 'pad', 'allow'])
  .default('reject')
  .describe(
    'A row whose column count differs from the header: reject (dead letter), pad/truncate, or allow.',
  );

const csvSchema = z
  .object({
    type: z.literal('csv'),
    delimiter: z.string().min(1).default(','),
    quote: z.string().max(1).default('"').describe('Quote character ("" = no quoting).'),
    escape: z.string().length(1).default('"'),
    header: z.boolean().default(true).describe('The first row names the columns.'),
    columns: z.array(z.string().min(1)).optional().describe('Column names (required when header is false).'),
    bom: z.boolean().default(true).describe('Strip a UTF-8 byte order mark.'),
    comment: z.string().min(1).optional().describe('Lines starting with this are ignored.'),
    columnCount: columnPolicy,
    trim: z.boolean().default(false).describe('Trim spaces around values.'),
    encoding: z
      .string()
      .default('utf-8')
      .describe('Text encoding (utf-8, latin1, windows-1252, … via iconv-lite).'),
    maxRecordSize: z
      .number()
      .int()
      .min(1)
      .default(1_048_576)
      .describe(
        'Largest record in characters: an unclosed quote is rejected here instead of reading to EOF.',
      ),
  })
  .strict()
  .refine((c) => c.header || c.columns !== undefined, {
    message: 'columns is required when header is false',
  });

const fieldSchema = z
  .object({
    name: z.string().min(1),
    start: z.number().int().min(1).describe('1-based first character.'),
    length: z.number().int().min(1),
    type: z.enum(['string', 'integer', 'decimal']).default('string'),
    decimals: z.number().int().min(0).default(0).describe('Implied decimal places (decimal type).'),
  })
  .strict();

const recordSchema = z
  .object({
    prefix: z.string().default('').describe('Records starting with this belong to this record type.'),
    role: z.enum(['header', 'detail', 'trailer']).default('detail'),
    fields: z.array(fieldSchema).min(1),
  })
  .strict();

const fixedWidthSchema = z
  .object({
    type: z.literal('fixed-width'),
    encoding: z.string().default('utf-8'),
    records: z.array(recordSchema).min(1).describe('Record types, matched by prefix in order.'),
    trailerCountField: z
      .string()
      .optional()
      .describe('Trailer field holding the number of detail records; a mismatch rejects the whole file.'),
  })
  .strict();

const jsonlSchema = z.object({ type: z.literal('jsonl') }).strict();

export const sftpSourceConfigSchema = z
  .object({
    connection: connectionSchema,
    paths: z
      .array(z.string().regex(/^\//, 'an absolute remote path'))
      .min(1)
      .describe('Remote glob patterns such as /outbound/court-lists/*.csv (globs in the file name only).'),
    stream: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Stream name of the records, part of every event's source and id (default: the first path's folder, e.g. court-lists for /upload/court-lists/*.csv).",
      ),
    order: z.enum(['name', 'mtime']).default('name').describe('Order in which files are read.'),
    ignore: z
      .array(z.string())
      .default(['*.tmp', '*.part', '*.filepart', '.*'])
      .describe('Names never read (uploads in progress under a temporary name).'),
    stability: z
      .discriminatedUnion('mode', [
        z.object({ mode: z.literal('quiet'), quietMs: z.number().int().min(0).default(5000) }).strict(),
        z
          .object({
            mode: z.literal('marker'),
            suffixes: z.array(z.string().min(1)).default(['.done', '.ok']),
          })
          .strict(),
        z.object({ mode: z.literal('rename') }).strict(),
      ])
      .default({ mode: 'quiet', quietMs: 5000 })
      .describe('When a file counts as completely uploaded.'),
    format: z.discriminatedUnion('type', [csvSchema, fixedWidthSchema, jsonlSchema]),
    key: z.array(z.string().min(1)).min(1).describe('Columns that identify a row.'),
    mode: z
      .enum(['rows', 'full-extract'])
      .default('rows')
      .describe(
        'rows: every row is a read event; full-extract: each file is diffed against the previous one.',
      ),
    businessKey: z
      .object({
        pattern: z
          .string()
          .min(1)
          .refine(compiles, 'a JavaScript regular expression')
          .describe(
            'Regular expression on the file name whose (named) groups form the business key, e.g. ' +
              '^(?<court>[A-Z]+)_(?<date>\\d{8}) for COURT_YYYYMMDD*.csv.',
          ),
      })
      .strict()
      .optional()
      .describe(
        'Corrected files: a file whose name carries the business key of an earlier file supersedes it; only ' +
          'the differences (create/update/delete) against that file are emitted.',
      ),
    batchSize: z.number().int().min(1).max(100_000).default(2000),
    afterProcessing: z.enum(['archive', 'delete', 'leave']).default('archive'),
    archiveDir: z.string().default('archive').describe('Relative to the file’s directory, or absolute.'),
    errorDir: z.string().default('error').describe('Where rejected files go (relative or absolute).'),
    rejectThreshold: z
      .object({
        maxRows: z.number().int().min(0).optional(),
        maxRatio: z.number().min(0).max(1).optional(),
      })
      .strict()
      .optional()
      .describe('Reject a whole file with more bad rows than this (adds a validation pass).'),
    stateDir: z.string().default('.ferry/state').describe('Processed-file registry and diff state (SQLite).'),
    spoolDir: z.string().optional().describe('Local download directory (default <stateDir>/spool).'),
    transferConcurrency: z.number().int().min(1).max(128).default(32),
    pollIntervalMs: z
      .number()
      .int()
      .min(100)
      .default(60_000)
      .describe(
        'Pause between passes when the pipeline has no top-level schedule (the schedule lives there, once).',
      ),
  })
  .strict();

function compiles(pattern: string): boolean {
  try {
    new RegExp(pattern);
    return true;
  } catch {
    return false;
  }
}

export type SftpSourceConfig = z.output<typeof sftpSourceConfigSchema>;
export type SftpSourceConfigInput = z.input<typeof sftpSourceConfigSchema>;
export type SftpConnectionConfig = SftpSourceConfig['connection'];
export type CsvFormat = z.output<typeof csvSchema>;
export type FixedWidthFormat = z.output<typeof fixedWidthSchema>;

/**
 * The stream of a source without `stream`: the last folder of its first path (`/upload/court-lists/*.csv`
 * → `court-lists`), or for a file at the root the file pattern without wildcards and extension. A name,
 * not a path: it appears in every event's `source` and id.
 */
export function defaultStreamName(path: string): string {
  const segments = path.split('/').filter(Boolean);
  const folder = segments.length > 1 ? segments.at(-2)! : undefined;
  const stem = (segments.at(-1) ?? '')
    .replace(/\.[^.]*$/, '')
    .replace(/[*?[\]{}!]/g, '')
    .replace(/^[-_.]+|[-_.]+$/g, '');
  const name = (folder ?? stem).replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '');
  return name === '' ? 'files' : name;
}
