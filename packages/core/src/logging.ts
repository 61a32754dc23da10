// Structured logging (pino) that never prints a secret: every string a pipeline file resolved from
// `${env:…}` or `${file:…}` is registered with the redactor and scrubbed from log lines and error text.
import { type DestinationStream, type Logger as PinoLogger, pino } from 'pino';

export type Logger = PinoLogger;

const MASK = '[REDACTED]';

/**
 * A secret shorter than this made only of letters, digits, `_` and `-` could be an ordinary word or name
 * ("ferry", "admin"), and one of under 4 characters could be anything: scrubbing such a secret everywhere
 * would make messages unreadable, so it is scrubbed only where it stands as a value.
 */
export const SAFE_SECRET_LENGTH = 12;
const WORDLIKE = /^[\p{L}\p{N}_-]+$/u;

/** Whether `secret` is hidden only where it stands as a value, not everywhere (see SAFE_SECRET_LENGTH). */
export function isWeakSecret(secret: string): boolean {
  return secret.length < 4 || (secret.length < SAFE_SECRET_LENGTH && WORDLIKE.test(secret));
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class Redactor {
  /** Scrubbed wherever they occur. */
  private readonly secrets = new Set<string>();
  /** Scrubbed where they stand as a value: after `=` or `:`, or in quotes, and not run into other text. */
  private readonly weak = new Map<string, RegExp>();

  /** Register a secret; returns false when it is too short to hide everywhere (see isWeakSecret). */
  add(secret: string): boolean {
    if (secret.length === 0) return true;
    if (!isWeakSecret(secret)) {
      this.secrets.add(secret);
      return true;
    }
    // `password=ferry`, `"ferry"`, `'ferry'`, `user:ferry@host`, `{"password":"ferry"}`; not `ferry run`,
    // `/ferry/p/…` or `ferrying`.
    this.weak.set(secret, new RegExp(`(?<=[=:"'])${escapeRegExp(secret)}(?=["'@&;,)\\]}\\s]|$)`, 'gu'));
    return false;
  }

  /** Also scrub every secret `other` knows (one process logging for several pipelines). */
  addAll(other: Redactor): void {
    for (const secret of other.secrets) this.secrets.add(secret);
    for (const [secret, pattern] of other.weak) this.weak.set(secret, pattern);
  }

  get size(): number {
    return this.secrets.size + this.weak.size;
  }

  scrub(text: string): string {
    let out = text;
    for (const secret of this.secrets) {
      if (out.includes(secret)) out = out.split(secret).join(MASK);
    }
    for (const [secret, pattern] of this.weak) {
      if (out.includes(secret)) out = out.replace(pattern, MASK);
    }
    return out;
  }

  /** A deep copy with every secret replaced; errors become plain objects with their messages scrubbed. */
  scrubValue(value: unknown, depth = 0): unknown {
    if (this.size === 0 || depth > 8) return value;
    if (typeof value === 'string') return this.scrub(value);
    if (value instanceof Error) {
      const plain: Record<string, unknown> = { type: value.name, message: this.scrub(value.message) };
      for (const [k, v] of Object.entries(value)) plain[k] = this.scrubValue(v, depth + 1);
      if (value.stack) plain.stack = this.scrub(value.stack);
      return plain;
    }
    if (Array.isArray(value)) return value.map((v) => this.scrubValue(v, depth + 1));
    if (value !== null && typeof value === 'object' && !(value instanceof Date) && !Buffer.isBuffer(value)) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.scrubValue(v, depth + 1);
      return out;
    }
    return value;
  }
}

export interface LoggerOptions {
  level?: string;
  redactor?: Redactor;
  destination?: DestinationStream;
  name?: string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const redactor = options.redactor;
  const logger = pino(
    {
      name: options.name ?? 'ferry',
      level: options.level ?? process.env.FERRY_LOG_LEVEL ?? 'info',
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        ...(redactor
          ? {
              log: (object: Record<string, unknown>) =>
                redactor.scrubValue(object) as Record<string, unknown>,
            }
          : {}),
      },
      ...(redactor
        ? {
            hooks: {
              logMethod(args: unknown[], method: (...a: unknown[]) => void) {
                method.apply(
                  this,
                  args.map((a) => (typeof a === 'string' ? redactor.scrub(a) : a)),
                );
              },
            },
          }
        : {}),
    },
    options.destination ?? pino.destination(2),
  );
  return logger;
}

/** A logger that drops everything: for tests and library use without a host. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
