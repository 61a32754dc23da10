// The pure parts of `ferry reconcile`: value normalisation, paths into event data, reference parsing and
// the summary wording.
import { ConfigError } from '@ferry/core';
import { describe, expect, it } from 'vitest';
import {
  formatReconcileSummary,
  normalise,
  type ReconcileReport,
  valueAt,
} from '../../src/internal/reconcile.js';
import { parseReference } from '../../src/internal/reconcile-reference.js';

describe('reconcile: normalise', () => {
  it.each([
    [null, null],
    [undefined, null],
    ['', null],
    ['   ', null],
    ['SMITH     ', 'SMITH'],
    [7, '7'],
    [7n, '7'],
    [true, 'true'],
    [new Date('2024-03-04T00:00:00Z'), '2024-03-04T00:00:00.000Z'],
    [{ b: 1, a: 2 }, '{"a":2,"b":1}'],
  ])('%s -> %s', (value, expected) => {
    expect(normalise(value)).toBe(expected);
  });
});

describe('reconcile: valueAt', () => {
  it('follows dotted paths and stops at anything that is not an object', () => {
    const data = { defendant: { name: { family: 'JONES' } }, listNumber: 3 };
    expect(valueAt(data, 'defendant.name.family')).toBe('JONES');
    expect(valueAt(data, 'listNumber')).toBe(3);
    expect(valueAt(data, 'listNumber.x')).toBeUndefined();
    expect(valueAt(null, 'a')).toBeUndefined();
  });
});

describe('reconcile: parseReference', () => {
  it('reads SQL URLs, sqlite paths and files', () => {
    expect(parseReference('postgres://ferry:s%40cret@db:5433/justice', { table: 'x' })).toMatchObject({
      kind: 'sql',
      connection: {
        type: 'postgres',
        host: 'db',
        port: 5433,
        username: 'ferry',
        password: 's@cret',
        database: 'justice',
      },
      table: 'x',
    });
    expect(parseReference('mariadb://u@h/d', { query: 'SELECT 1', password: 'p' })).toMatchObject({
      connection: { type: 'mariadb', password: 'p' },
    });
    expect(parseReference('sqlite:/tmp/r.db', { table: 't' })).toMatchObject({
      connection: { type: 'better-sqlite3', database: '/tmp/r.db' },
    });
    expect(parseReference('/tmp/ref.csv', { delimiter: ';' })).toEqual({
      kind: 'csv',
      path: '/tmp/ref.csv',
      delimiter: ';',
    });
    expect(parseReference('/tmp/ref.ndjson', {})).toEqual({ kind: 'jsonl', path: '/tmp/ref.ndjson' });
  });

  it('refuses what it cannot read, as usage errors', () => {
    expect(() => parseReference('ftp://x', {})).toThrow(ConfigError);
    expect(() => parseReference('sqlite:/tmp/r.db', {})).toThrow(/exactly one of --table or --query/);
    expect(() => parseReference('sqlite:/tmp/r.db', { table: 'a', query: 'b' })).toThrow(ConfigError);
    // Connection options are checked as @ferry/database checks a pipeline file's, before anything connects.
    expect(() => parseReference('postgres://db:5432/justice', { table: 't' })).toThrow(
      /^--reference: connection\.username: /,
    );
  });
});

describe('reconcile: summary', () => {
  it('gives the verdict and names rows and fields', () => {
    const report: ReconcileReport = {
      ok: false,
      parity: 0.5,
      threshold: 0.999,
      reference: { source: 'csv r.csv', rows: 2, keys: 2, duplicateKeys: 0, nullKeys: 0 },
      stream: { source: 'file e.jsonl', events: 3, applied: 3, deletes: 0, ignored: 0, unkeyed: 0, keys: 2 },
      counts: { keys: 2, matching: 1, missing: 0, extra: 0, differing: 1 },
      fields: { 'name.family': { column: 'SURNAME', differing: 1 } },
      missing: [],
      extra: [],
      differences: [
        { key: 'A', fields: [{ field: 'name.family', column: 'SURNAME', reference: 'X', stream: 'Y' }] },
      ],
      samples: 20,
      durationMs: 1,
    };
    const text = formatReconcileSummary(report).join('\n');
    expect(text).toContain('parity 50.00% (1 of 2 keys match; threshold 99.90%): BELOW THRESHOLD');
    expect(text).toContain('fields differing: name.family <- SURNAME (1)');
    expect(text).toContain('differs A: name.family: reference "X" != stream "Y"');
  });
});
