// The redactor hides every secret a pipeline file resolved, without hiding ordinary words: a secret that
// could be a word ("ferry") is hidden only where it stands as a value.
import { isWeakSecret, Redactor, SAFE_SECRET_LENGTH } from '@ferry/core';
import { describe, expect, it } from 'vitest';

function redactor(...secrets: string[]): Redactor {
  const r = new Redactor();
  for (const s of secrets) r.add(s);
  return r;
}

describe('Redactor', () => {
  it('hides a long or mixed secret wherever it occurs, even inside other text', () => {
    const r = redactor('s3cr3t-from-file', 'p@ss!');
    expect(r.scrub('connect failed: s3cr3t-from-file/xs3cr3t-from-filey, p@ss! p@ss!')).toBe(
      'connect failed: [REDACTED]/x[REDACTED]y, [REDACTED] [REDACTED]',
    );
  });

  it('hides a word-like short secret only where it stands as a value', () => {
    const r = redactor('ferry');
    const hidden = [
      ['password=ferry', 'password=[REDACTED]'],
      ['password=ferry&sslmode=disable', 'password=[REDACTED]&sslmode=disable'],
      ['postgres://app:ferry@127.0.0.1:5432/legacy', 'postgres://app:[REDACTED]@127.0.0.1:5432/legacy'],
      ['{"user":"app","password":"ferry"}', '{"user":"app","password":"[REDACTED]"}'],
      ["password 'ferry' refused", "password '[REDACTED]' refused"],
      ['secret:ferry', 'secret:[REDACTED]'],
    ];
    for (const [text, expected] of hidden) expect(r.scrub(text!)).toBe(expected);
    const kept = [
      'Run `ferry database create-slot` first',
      'ferry: PLUGIN_NOT_FOUND',
      'source /ferry/p/court-lists',
      'ferrying 12 rows; ferry_journal',
      'password=ferryman',
      'db=ferry2',
    ];
    for (const text of kept) expect(r.scrub(text)).toBe(text);
  });

  it('treats a secret as word-like below the safe length or below 4 characters of anything', () => {
    expect(SAFE_SECRET_LENGTH).toBe(12);
    expect(isWeakSecret('ferry')).toBe(true);
    expect(isWeakSecret('Tr0ub4dor_x')).toBe(true);
    expect(isWeakSecret('Tr0ub4dor_xy')).toBe(false);
    expect(isWeakSecret('p@ss!')).toBe(false);
    expect(isWeakSecret('a.b')).toBe(true);
    expect(redactor('.').scrub('a sentence. password=. end')).toBe('a sentence. password=[REDACTED] end');
  });

  it('carries both kinds into another redactor and through scrubValue', () => {
    const host = new Redactor();
    host.addAll(redactor('ferry', 'hunter2-env-secret'));
    expect(host.size).toBe(2);
    expect(host.scrubValue({ message: 'password=ferry for ferry', nested: ['hunter2-env-secret'] })).toEqual({
      message: 'password=[REDACTED] for ferry',
      nested: ['[REDACTED]'],
    });
  });
});
