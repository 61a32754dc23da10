// The classifier kit, as a table: what passes through, what the chain walk finds, Node's codes, the
// connector's rules first, programmer errors never retryable.
import { describe, expect, it } from 'vitest';
import { causeChain, createErrorClassifier, FerryError } from '../../src/sdk.js';

type Code = 'X_CONNECTION' | 'X_TIMEOUT' | 'X_HOST' | 'X_DENIED' | 'X_FAILED';

const classify = createErrorClassifier<Code, { operation?: string }>({
  rules: [
    (link) =>
      link.code === '28P01' ? { code: 'X_DENIED', retryable: false, hint: 'check the password' } : undefined,
    (link) => (link.prop('level') === 'auth' ? { code: 'X_DENIED', retryable: false } : undefined),
  ],
  network: { connection: 'X_CONNECTION', timeout: 'X_TIMEOUT', unresolved: 'X_HOST' },
  fallback: { code: 'X_FAILED', retryable: false },
  build: ({ verdict, link, source }, context) =>
    new FerryError(verdict.code, `${context.operation ?? 'call'}: ${link?.message ?? 'failed'} (${source})`, {
      retryable: verdict.retryable,
    }),
});

const coded = (code: string, message = code) => Object.assign(new Error(message), { code });

describe('createErrorClassifier', () => {
  const rows: [string, unknown, Code, boolean][] = [
    ['a connection reset', coded('ECONNRESET'), 'X_CONNECTION', true],
    [
      'a refused connect inside an AggregateError',
      new AggregateError([coded('ECONNREFUSED')], 'connect'),
      'X_CONNECTION',
      true,
    ],
    ['a timeout code', coded('ETIMEDOUT'), 'X_TIMEOUT', true],
    [
      'an AbortSignal.timeout',
      Object.assign(new Error('aborted'), { name: 'TimeoutError' }),
      'X_TIMEOUT',
      true,
    ],
    ['an unknown host', coded('ENOTFOUND'), 'X_HOST', false],
    ['a rule on the cause', new Error('query failed', { cause: coded('28P01') }), 'X_DENIED', false],
    [
      'a rule on typeorm’s driverError',
      Object.assign(new Error('QueryFailed'), { driverError: coded('28P01') }),
      'X_DENIED',
      false,
    ],
    [
      'a rule on kafkajs’ originalError',
      Object.assign(new Error('wrapped'), { originalError: coded('EPIPE') }),
      'X_CONNECTION',
      true,
    ],
    ['a rule on another property', Object.assign(new Error('no'), { level: 'auth' }), 'X_DENIED', false],
    ['a plain object rejection', { message: 'weird' }, 'X_FAILED', false],
    ['anything else', new Error('boom'), 'X_FAILED', false],
    [
      'a programmer error, whatever it wraps',
      new TypeError('x is undefined', { cause: coded('ECONNRESET') }),
      'X_FAILED',
      false,
    ],
  ];
  for (const [what, error, code, retryable] of rows) {
    it(`${what} -> ${code}${retryable ? ' (retryable)' : ''}`, () => {
      const classified = classify(error, { operation: 'read' });
      expect(classified).toBeInstanceOf(FerryError);
      expect([classified.code, classified.retryable]).toEqual([code, retryable]);
    });
  }

  it('passes a FerryError through, also one found inside the chain', () => {
    const ferry = new FerryError('ALREADY', 'classified', { retryable: true });
    expect(classify(ferry)).toBe(ferry);
    expect(classify(new Error('outer', { cause: ferry }))).toBe(ferry);
  });

  it('tries the connector’s rules before Node’s codes on the same link', () => {
    const both = Object.assign(coded('ECONNRESET'), { level: 'auth' });
    expect(classify(both).code).toBe('X_DENIED');
  });

  it('walks each error once, outermost first, and stops on cycles', () => {
    const inner = coded('ECONNRESET');
    const outer = new Error('outer', { cause: inner });
    (inner as Error & { cause?: unknown }).cause = outer;
    expect(causeChain(outer).map((l) => l.message)).toEqual(['outer', 'ECONNRESET']);
  });
});
