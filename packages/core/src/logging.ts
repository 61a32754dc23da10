// Structured logging (pino) that never prints a secret: every string a pipeline file resolved from
// `${env:…}` or `${file:…}` is registered with the redactor and scrubbed from log lines and error text.
import { type DestinationStream, type Logger as PinoLogger, pino } from 'pino';

export type Logger = PinoLogger;

const MASK = '[REDACTED]';

export class Redactor {
  private readonly secrets = new Set<string>();

  add(secret: string): void {
    // Very short values would scrub ordinary words; they are still never logged as config values
    // because config is logged only through the redacted view.
    if (secret.length >= 4) this.secrets.add(secret);
  }

  /** Also scrub every secret `other` knows (one process logging for several pipelines). */
  addAll(other: Redactor): void {
    for (const secret of other.secrets) this.secrets.add(secret);
  }

  get size(): number {
    return this.secrets.size;
  }

  scrub(text: string): string {
    let out = text;
    for (const secret of this.secrets) {
      if (out.includes(secret)) out = out.split(secret).join(MASK);
    }
    return out;
  }

  /** A deep copy with every secret replaced; errors become plain objects with their messages scrubbed. */
  scrubValue(value: unknown, depth = 0): unknown {
    if (this.secrets.size === 0 || depth > 8) return value;
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
