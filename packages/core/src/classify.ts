// The classifier kit every connector builds its `classify<X>Error` from: FerryErrors pass through, the
// cause chain (cause, originalError, typeorm's driverError, AggregateError.errors) is walked once, here, Node's
// network codes and timeouts mean the same thing everywhere, programmer errors are never retryable. A connector
// supplies only its own table of rules and how its messages read.
import { type FerryError, isFerryError, isProgrammerError, TRANSIENT_NETWORK_CODES } from './errors.js';

/** One error in a cause chain, with the fields rules usually look at already read out. */
export interface ErrorLink {
  readonly error: unknown;
  /** Its `code` as a string (numeric codes too), when it has one. */
  readonly code: string | undefined;
  readonly name: string | undefined;
  readonly message: string;
  /** Any other property of the error (`errno`, `sqlState`, `level`, `type`…), undefined when absent. */
  prop(name: string): unknown;
}

export interface ErrorVerdict<C extends string = string> {
  code: C;
  retryable: boolean;
  /** What a person should do, for the message. */
  hint?: string;
  /** The other side asked to wait this long (Retry-After). */
  retryAfterMs?: number;
}

/** One row of a connector's table: a verdict for the link, or undefined when the rule does not apply. */
export type ErrorRule<C extends string = string> = (link: ErrorLink) => ErrorVerdict<C> | undefined;

/** What the classifier found, handed to the connector's `build` to word the error. */
export interface Classified<C extends string> {
  verdict: ErrorVerdict<C>;
  /** The link the verdict is about (undefined for the fallback). */
  link: ErrorLink | undefined;
  /** `rule`: the connector's table; `network`: Node's socket/DNS codes or a timeout; `programmer`: a bug. */
  source: 'rule' | 'network' | 'programmer' | 'fallback';
  chain: readonly ErrorLink[];
  /** The error as thrown. */
  error: unknown;
}

export interface ErrorClassifierSpec<C extends string, X> {
  /** The connector's table, tried in order on each link of the chain, outermost link first. */
  rules: readonly ErrorRule<C>[];
  /** Codes for what Node's sockets report. `unresolved` (ENOTFOUND: a wrong host name) is not retryable. */
  network: { connection: C; timeout?: C; unresolved?: C };
  /** When nothing matched (and for programmer errors, which are never retryable). */
  fallback: ErrorVerdict<C> | ((chain: readonly ErrorLink[]) => ErrorVerdict<C>);
  /** Word the error: message, details, class. Receives the caller's context as given. */
  build(found: Classified<C>, context: X): FerryError;
}

const MAX_LINKS = 12;

/** The error and everything it wraps, outermost first, each error once. */
export function causeChain(error: unknown): ErrorLink[] {
  const links: ErrorLink[] = [];
  const seen = new Set<unknown>();
  const visit = (value: unknown): void => {
    if (value === undefined || value === null || seen.has(value) || links.length >= MAX_LINKS) return;
    seen.add(value);
    links.push(linkOf(value));
    if (typeof value !== 'object') return;
    const record = value as Record<string, unknown>;
    visit(record.driverError);
    visit(record.cause);
    visit(record.originalError);
    if (Array.isArray(record.errors)) for (const inner of record.errors) visit(inner);
  };
  visit(error);
  return links;
}

function linkOf(value: unknown): ErrorLink {
  const record = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  const code = record.code;
  const name = record.name;
  const message =
    value instanceof Error
      ? value.message
      : typeof record.message === 'string'
        ? record.message
        : String(value);
  return {
    error: value,
    code: typeof code === 'string' ? code : typeof code === 'number' ? String(code) : undefined,
    name: typeof name === 'string' ? name : undefined,
    message,
    prop: (key) => record[key],
  };
}

/**
 * Node's own verdicts, the same for every connector: a refused, reset or unreachable connection and a DNS
 * hiccup are retryable; a timeout too; a host name that does not resolve is a configuration mistake.
 */
export function networkVerdict<C extends string>(
  link: ErrorLink,
  codes: ErrorClassifierSpec<C, unknown>['network'],
): ErrorVerdict<C> | undefined {
  const { code, name } = link;
  if (code === 'ETIMEDOUT' || name === 'TimeoutError')
    return { code: codes.timeout ?? codes.connection, retryable: true, hint: 'will retry' };
  if (code !== undefined && TRANSIENT_NETWORK_CODES.has(code))
    return { code: codes.connection, retryable: true, hint: 'will retry' };
  if (code === 'ENOTFOUND')
    return { code: codes.unresolved ?? codes.connection, retryable: false, hint: 'check the host name' };
  return undefined;
}

/** Build a connector's classifier from its rules; see the module comment for what the kit does itself. */
export function createErrorClassifier<C extends string, X = Record<string, never>>(
  spec: ErrorClassifierSpec<C, X>,
): (error: unknown, context?: X) => FerryError {
  const fallback = (chain: readonly ErrorLink[]) =>
    typeof spec.fallback === 'function' ? spec.fallback(chain) : spec.fallback;
  return (error, context) => {
    const ctx = (context ?? {}) as X;
    if (isFerryError(error)) return error;
    const chain = causeChain(error);
    const wrapped = chain.find((link) => isFerryError(link.error));
    if (wrapped !== undefined) return wrapped.error as FerryError;
    if (isProgrammerError(error)) {
      const verdict = {
        ...fallback(chain),
        retryable: false,
        hint: 'this is a bug in Ferry or in a mapping',
      };
      return spec.build({ verdict, link: chain[0], source: 'programmer', chain, error }, ctx);
    }
    for (const link of chain) {
      for (const rule of spec.rules) {
        const verdict = rule(link);
        if (verdict !== undefined) return spec.build({ verdict, link, source: 'rule', chain, error }, ctx);
      }
      const verdict = networkVerdict(link, spec.network);
      if (verdict !== undefined) return spec.build({ verdict, link, source: 'network', chain, error }, ctx);
    }
    return spec.build({ verdict: fallback(chain), link: undefined, source: 'fallback', chain, error }, ctx);
  };
}
