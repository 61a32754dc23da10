// One error root for all of Ferry. Every error carries a stable `code` (documented in docs/errors.md) and
// says whether retrying can help. `retryable` is false unless the error says otherwise.

export interface FerryErrorOptions {
  retryable?: boolean;
  cause?: unknown;
  /** Where it happened: a file and line, a table and key, an LSN, an operation. */
  details?: Record<string, unknown>;
  /** A server asked us to wait this long before trying again (HTTP Retry-After, broker throttling). */
  retryAfterMs?: number;
}

export class FerryError extends Error {
  override readonly name: string = 'FerryError';
  readonly code: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;
  readonly retryAfterMs: number | undefined;

  constructor(code: string, message: string, options: FerryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
    this.retryAfterMs = options.retryAfterMs;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      details: this.details,
    };
  }
}

/** A pipeline file that cannot be used as written. Never retryable: a person has to fix the file. */
export class ConfigError extends FerryError {
  override readonly name = 'ConfigError';
  readonly file: string | undefined;
  readonly issues: ConfigIssue[];

  constructor(file: string | undefined, issues: ConfigIssue[], code = 'CONFIG_INVALID') {
    super(code, formatConfigIssues(file, issues), { details: { file, issues } });
    this.file = file;
    this.issues = issues;
  }
}

export interface ConfigIssue {
  /** Path inside the file, as `source.tables[2].key`. */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

function formatConfigIssues(file: string | undefined, issues: ConfigIssue[]): string {
  const noun = issues.length === 1 ? 'problem' : 'problems';
  if (file === undefined) {
    // Options given in code or on the command line: there is no file or line to name, only the path.
    const lines = issues.map((issue) =>
      issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`,
    );
    return lines.length === 1
      ? lines[0]!
      : `${issues.length} ${noun}:\n${lines.map((l) => `  ${l}`).join('\n')}`;
  }
  const lines = issues.map((issue) => {
    const position = issue.line === undefined ? '' : `:${issue.line}:${issue.column ?? 1}`;
    // A problem with no path (YAML syntax, the whole document) is located by its line alone.
    const path = issue.path === '' ? (position === '' ? '(the whole file): ' : '') : `${issue.path}: `;
    return `  ${file}${position} ${path}${issue.message}`;
  });
  return `${issues.length} ${noun} in ${file}:\n${lines.join('\n')}`;
}

/** A record the mapping could not turn into a canonical object. It goes to the dead-letter sink. */
export class MappingError extends FerryError {
  override readonly name = 'MappingError';
  constructor(code: string, message: string, options: FerryErrorOptions = {}) {
    super(code, message, options);
  }
}

/** The share of dead letters passed the configured threshold: the source looks poisoned. */
export class DeadLetterThresholdError extends FerryError {
  override readonly name = 'DeadLetterThresholdError';
}

/** Retries ran out (attempts or time) on an error that was retryable. */
export class RetriesExhaustedError extends FerryError {
  override readonly name = 'RetriesExhaustedError';
}

export function isFerryError(error: unknown): error is FerryError {
  return error instanceof FerryError;
}

/** Programmer errors are never retried, whatever threw them. */
export function isProgrammerError(error: unknown): boolean {
  return error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError;
}

/**
 * Socket and DNS error codes that mean "the other side is (for now) unreachable": every connector's
 * classifier treats them as retryable.
 */
export const TRANSIENT_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ECONNABORTED',
  'EAI_AGAIN',
]);

export function isRetryable(error: unknown): boolean {
  return isFerryError(error) && error.retryable;
}

/** Wrap anything thrown into a FerryError, keeping the original as `cause`. */
export function toFerryError(error: unknown, code = 'INTERNAL', message?: string): FerryError {
  if (isFerryError(error)) return error;
  const text = error instanceof Error ? error.message : String(error);
  return new FerryError(code, message ? `${message}: ${text}` : text, { cause: error, retryable: false });
}

/** The codes raised by @ferry/core itself. Connectors add their own; all are listed in docs/errors.md. */
export const CoreErrorCodes = {
  CONFIG_INVALID: 'CONFIG_INVALID',
  CONFIG_FILE_NOT_FOUND: 'CONFIG_FILE_NOT_FOUND',
  CONFIG_YAML_SYNTAX: 'CONFIG_YAML_SYNTAX',
  CONFIG_SECRET_UNRESOLVED: 'CONFIG_SECRET_UNRESOLVED',
  MAPPING_FAILED: 'MAPPING_FAILED',
  MAPPING_REQUIRED_FIELD: 'MAPPING_REQUIRED_FIELD',
  MAPPING_INVALID_VALUE: 'MAPPING_INVALID_VALUE',
  MAPPING_LOOKUP_MISS: 'MAPPING_LOOKUP_MISS',
  MAPPING_NO_SUBJECT: 'MAPPING_NO_SUBJECT',
  MAPPING_MODULE_INVALID: 'MAPPING_MODULE_INVALID',
  DEAD_LETTER_THRESHOLD: 'DEAD_LETTER_THRESHOLD',
  RETRIES_EXHAUSTED: 'RETRIES_EXHAUSTED',
  EVENT_LOG_WRITE_FAILED: 'EVENT_LOG_WRITE_FAILED',
  EVENT_LOG_CORRUPT: 'EVENT_LOG_CORRUPT',
  CHECKPOINT_WRITE_FAILED: 'CHECKPOINT_WRITE_FAILED',
  CHECKPOINT_CORRUPT: 'CHECKPOINT_CORRUPT',
  PIPELINE_RUNNING: 'PIPELINE_RUNNING',
  PLUGIN_NOT_FOUND: 'PLUGIN_NOT_FOUND',
  PLUGIN_API_MISMATCH: 'PLUGIN_API_MISMATCH',
  PLUGIN_INVALID: 'PLUGIN_INVALID',
  INTERNAL: 'INTERNAL',
} as const;
