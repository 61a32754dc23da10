// Options of the SOAP source, declared once: the schema validates pipeline files, types the code and is the
// source of the option table in docs/soap.md.
import { z } from 'zod';

const secret = (what: string) =>
  z.string().describe(`${what}; write it as a \${env:NAME} or \${file:path} reference, never as a literal.`);

export const soapSecuritySchema = z
  .discriminatedUnion('type', [
    z
      .object({
        type: z.literal('basic').describe('HTTP basic authentication (Authorization header).'),
        username: z.string().min(1).describe('User name.'),
        password: secret('Password'),
      })
      .strict(),
    z
      .object({
        type: z.literal('wsse-username').describe('WS-Security UsernameToken in the SOAP header.'),
        username: z.string().min(1).describe('User name.'),
        password: secret('Password'),
        passwordType: z
          .enum(['text', 'digest'])
          .default('text')
          .describe('PasswordText, or PasswordDigest (SHA-1 of nonce + created + password).'),
        timestamp: z.boolean().default(true).describe('Add a wsu:Timestamp to the security header.'),
      })
      .strict(),
    z
      .object({
        type: z
          .literal('wsse-x509')
          .describe(
            'WS-Security X.509: the Body and Timestamp signed (RSA-SHA256, exclusive c14n) with a BinarySecurityToken.',
          ),
        keyFile: z.string().min(1).describe('PEM private key, relative to the pipeline file.'),
        certFile: z.string().min(1).describe('PEM certificate of the key, relative to the pipeline file.'),
        passphrase: z
          .string()
          .optional()
          .describe('Passphrase of keyFile, as a ${env:NAME} or ${file:path} reference.'),
      })
      .strict(),
  ])
  .describe('How the service authenticates the caller.');

const connectionShape = {
  wsdl: z
    .string()
    .min(1)
    .describe(
      'The WSDL: an http(s) URL, or a file path relative to the pipeline file. Imports and includes are followed.',
    ),
  service: z.string().min(1).optional().describe('Service of the WSDL to use (default: the first).'),
  port: z.string().min(1).optional().describe('Port of the service to use (default: the first).'),
  endpoint: z.string().url().optional().describe("Endpoint URL to call instead of the port's soap:address."),
  soapVersion: z.enum(['1.1', '1.2']).default('1.1').describe('SOAP version of the envelope.'),
  timeoutMs: z
    .number()
    .int()
    .min(100)
    .default(30_000)
    .describe(
      'Longest silence allowed in a call: the wait for the response headers, then for each further piece of the body. A call that hears nothing for this long fails with SOAP_TIMEOUT (retried). Also the idle limit of each WSDL read. An answer that keeps trickling in is bounded by deadlineMs, not by this.',
    ),
  deadlineMs: z
    .number()
    .int()
    .min(100)
    .default(300_000)
    .describe(
      'Longest the service may take to deliver one whole answer: the time spent waiting for it, from sending the request to the last byte, added up over the call (time Ferry spends handing records on to the sink does not count). Past it the connection is dropped and the call fails with SOAP_DEADLINE_EXCEEDED (retried), so an answer that trickles in is cut off.',
    ),
  maxResponseBytes: z
    .number()
    .int()
    .min(1024)
    .default(256 * 1024 * 1024)
    .describe(
      'Largest answer accepted, in bytes. An answer whose Content-Length is larger is refused before its body is read; one without a Content-Length (chunked) is read up to this many bytes, then the connection is dropped (records streamed before that point may already have been handed on). Either way the call fails with SOAP_RESPONSE_TOO_LARGE (not retried).',
    ),
  maxDepth: z.number().int().min(8).max(10_000).default(128).describe('Deepest element nesting accepted.'),
  security: soapSecuritySchema.optional(),
  tls: z
    .object({
      caFile: z
        .string()
        .min(1)
        .optional()
        .describe('PEM file of the CA(s) trusted for the server certificate.'),
      certFile: z.string().min(1).optional().describe('PEM client certificate, for mutual TLS.'),
      keyFile: z.string().min(1).optional().describe('PEM private key of the client certificate.'),
      passphrase: z
        .string()
        .optional()
        .describe('Passphrase of keyFile, as a ${env:NAME} or ${file:path} reference.'),
    })
    .strict()
    .refine((tls) => (tls.certFile === undefined) === (tls.keyFile === undefined), {
      message: 'certFile and keyFile go together',
    })
    .optional()
    .describe(
      'TLS settings for https endpoints: trusted CAs and a client certificate (mutual TLS). Paths are relative to the pipeline file.',
    ),
  rateLimit: z
    .object({
      callsPerSecond: z
        .number()
        .min(0)
        .default(10)
        .describe(
          'Calls per second at most, counted from the start of each call; 0 = no limit (only for a service that can take it).',
        ),
      concurrency: z.number().int().min(1).default(1).describe('Calls in flight at once.'),
    })
    .strict()
    // Gentle by default: one call at a time and at most 10 a second, whatever the service answers fast.
    .default({ callsPerSecond: 10, concurrency: 1 })
    .describe(
      "Paces calls so a fragile service is not hammered; a failing one is left alone by the runtime's circuit breaker (runtime.breaker).",
    ),
};

export const soapConnectionSchema = z.object(connectionShape).strict();
export type SoapConnectionConfig = z.output<typeof soapConnectionSchema>;
export type SoapConnectionConfigInput = z.input<typeof soapConnectionSchema>;

const paginationSchema = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('none').describe('One call returns everything.') }).strict(),
    z
      .object({
        type: z
          .literal('page-number')
          .describe('Pages numbered first, first+1, ... ({{page}} in arguments).'),
        first: z.number().int().min(0).default(1).describe('Number of the first page.'),
        pageSize: z
          .number()
          .int()
          .min(1)
          .optional()
          .describe('A page with fewer records than this is the last; without it, an empty page is.'),
      })
      .strict(),
    z
      .object({
        type: z
          .literal('token')
          .describe('Each answer carries the token of the next page ({{page}} in arguments).'),
        nextPath: z
          .string()
          .min(1)
          .describe('Dotted path of the next-page token in the answer; absent or empty = last page.'),
        first: z.string().default('').describe('Token sent for the first page.'),
      })
      .strict(),
  ])
  .default({ type: 'none' })
  .describe('How the operation pages its answer.');

/** What each mode calls, for the descriptions: the snapshot table must not speak of watermarks. */
const MODE_EXAMPLES = {
  watermark: { operation: 'GetChangedCases', records: 'GetChangedCasesResult.Case[]' },
  snapshot: { operation: 'ListCases', records: 'ListCasesResult.Case[]' },
} as const;

/** The options whose wording depends on the mode (placeholders, examples). */
function modeWording(mode: keyof typeof MODE_EXAMPLES) {
  const example = MODE_EXAMPLES[mode];
  const placeholders =
    mode === 'watermark'
      ? 'Strings may hold {{since}} (the last watermark) and {{page}} (the page number or token)'
      : 'Strings may hold {{page}} (the page number or token); {{since}} is always empty in this mode';
  return {
    operation: z.string().min(1).describe(`Operation to call, e.g. ${example.operation}.`),
    arguments: z
      .record(z.string(), z.unknown())
      .default({})
      .describe(
        `Arguments of the operation. ${placeholders}; a string that is only a placeholder takes the raw value.`,
      ),
    records: z
      .string()
      .regex(
        /^[A-Za-z_][\w-]*(\[\])?(\.[A-Za-z_][\w-]*(\[\])?)*$/,
        'a dotted path of element names, e.g. Result.Case[]',
      )
      .describe(
        `Path of the record elements below the response element, as \`ferry discover\` prints it, e.g. ${example.records}.`,
      ),
  };
}

const modeShape = {
  key: z.array(z.string().min(1)).min(1).describe('Record fields (dotted paths) that identify a record.'),
  stream: z.string().min(1).optional().describe('Stream name of the records (default Service.Operation).'),
  pagination: paginationSchema,
  maxPages: z
    .number()
    .int()
    .min(1)
    .default(100_000)
    .describe('Pages read in one pass at most (SOAP_PAGINATION_LOOP beyond).'),
  batchSize: z
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(1000)
    .describe('Records per batch; a large page is streamed in batches of this size.'),
  pollIntervalMs: z
    .number()
    .int()
    .min(10)
    .default(60_000)
    .describe(
      'Time from the end of one pass to the start of the next when the pipeline has no `schedule` (the runtime drives passes).',
    ),
};

export const soapWatermarkSchema = z
  .object({
    ...connectionShape,
    ...modeWording('watermark'),
    ...modeShape,
    mode: z
      .literal('watermark')
      .describe('Call the operation with the last watermark; emit what changed since.'),
    watermark: z
      .object({
        field: z
          .string()
          .min(1)
          .describe('Record field (dotted path) holding its change timestamp or sequence.'),
        type: z
          .enum(['timestamp', 'number', 'string'])
          .default('timestamp')
          .describe('How watermarks compare: as instants, as numbers, or as strings.'),
        initial: z.string().default('').describe('{{since}} on the first run, before any checkpoint exists.'),
      })
      .strict()
      .describe('Where each record says when it changed.'),
  })
  .strict();

export const soapSnapshotSchema = z
  .object({
    ...connectionShape,
    ...modeWording('snapshot'),
    ...modeShape,
    mode: z
      .literal('snapshot')
      .describe(
        'List every record each pass and emit what was created, updated or deleted since the last pass.',
      ),
    stateDir: z
      .string()
      .min(1)
      .default('.ferry/state')
      .describe(
        'Directory (relative to the pipeline file) of the SQLite file holding the last committed pass.',
      ),
  })
  .strict();

const modesSchema = z
  .discriminatedUnion('mode', [soapWatermarkSchema, soapSnapshotSchema])
  .describe('Poll a SOAP operation and turn its answers into change records.');

/**
 * Options that moved out of the SOAP source, with where they went: a pipeline file that still has one is
 * refused with that pointer rather than a bare "unknown option".
 */
const MOVED: Record<string, string> = {
  circuitBreaker:
    'the circuit breaker is no longer a SOAP option: the runtime keeps one for every source; move it to runtime.breaker in the pipeline file (failureThreshold, failureRatio, window, cooldownMs)',
};

export const soapSourceConfigSchema = z.preprocess((value, ctx) => {
  if (value !== null && typeof value === 'object') {
    for (const [option, message] of Object.entries(MOVED)) {
      if (option in value) ctx.addIssue({ code: 'custom', path: [option], message, input: value });
    }
  }
  return value;
}, modesSchema);

export type SoapSourceConfig = z.output<typeof soapSourceConfigSchema>;
export type SoapSourceConfigInput = z.input<typeof modesSchema>;
export type SoapWatermarkConfig = z.output<typeof soapWatermarkSchema>;
export type SoapSnapshotConfig = z.output<typeof soapSnapshotSchema>;
export type SoapSecurityConfig = z.output<typeof soapSecuritySchema>;
