// Decoding row images (issue 16): an image that is not JSON or not UTF-8 is an error naming the table, where
// the image came from and the column, never a bare "invalid JSON at offset 15"; the representations of the
// MariaDB renderings that cannot fail a trigger (BIT digits, base64 in lines, zero dates, other charsets).
import { describe, expect, it } from 'vitest';
import { type ColumnKind, decodeImage, mysqlKind } from '../../src/internal/images.js';

const kinds = (...columns: ColumnKind[]) => new Map(columns.map((c) => [c.name, c]));

describe('decodeImage', () => {
  const columns = kinds(mysqlKind('id', 'int', 'int(11)'), mysqlKind('flags', 'bit', 'bit(8)'));

  it('names the table, the origin and the column whose value is not JSON; not retryable', () => {
    const image = '{"id": 1, "flags": \u0005}';
    expect(() => decodeImage(image, columns, { stream: 'legacy.people', from: 'snapshot' })).toThrow(
      expect.objectContaining({
        code: 'DB_IMAGE_INVALID',
        retryable: false,
        message: expect.stringMatching(
          /^the row image of table legacy\.people \(snapshot\) cannot be decoded at column flags \(text, rendered as bits\): invalid JSON at offset 19 in the value of column "flags"\. Reading it again will not help\./,
        ),
      }),
    );
  });

  it('names the table and the origin of an image that is not UTF-8', () => {
    const bytes = Buffer.from([...Buffer.from('{"id": 1, "name": "Zo'), 0xeb, ...Buffer.from('"}')]);
    expect(() =>
      decodeImage(bytes, columns, { stream: 'people', from: 'journal seq 7, after image' }),
    ).toThrow(
      expect.objectContaining({
        code: 'DB_IMAGE_INVALID',
        message: expect.stringContaining(
          'table people (journal seq 7, after image) cannot be decoded: not UTF-8',
        ),
      }),
    );
  });

  it('decodes UTF-8 bytes (a LONGBLOB journal) like text', () => {
    expect(decodeImage(Buffer.from('{"id": 1, "flags": "00000101"}'), columns)).toEqual({
      id: 1,
      flags: '00000101',
    });
  });
});

describe('MariaDB renderings', () => {
  it('BIT(n) is a string of n binary digits; YEAR a number; SET and GEOMETRY strings', () => {
    expect(mysqlKind('b', 'bit', 'bit(64)')).toMatchObject({ kind: 'text', render: 'bits', bits: 64 });
    expect(mysqlKind('y', 'year', 'year(4)')).toMatchObject({ kind: 'int' });
    expect(mysqlKind('s', 'set', "set('a','b')", 'utf8mb4')).toMatchObject({ name: 's', kind: 'text' });
    expect(mysqlKind('g', 'point', 'point')).toMatchObject({ kind: 'text', render: 'wkt' });
  });

  it('text is passed as is (utf8mb4), converted in SQL (latin1) or sent as bytes Ferry decodes (cp1251)', () => {
    expect(mysqlKind('t', 'varchar', 'varchar(9)', 'utf8mb4').render).toBeUndefined();
    expect(mysqlKind('t', 'varchar', 'varchar(9)', 'latin1').render).toBe('utf8');
    const cp1251 = mysqlKind('t', 'varchar', 'varchar(9)', 'cp1251');
    expect(cp1251).toMatchObject({ render: 'base64', textEncoding: 'windows-1251' });
    const image = `{"t": "${Buffer.from([0xcf, 0xf0, 0xe8]).toString('base64')}"}`;
    expect(decodeImage(image, kinds(cp1251))).toEqual({ t: 'При' });
  });

  it('base64 in 76-character lines (TO_BASE64) arrives as one line', () => {
    const bytes = Buffer.alloc(100, 7);
    const wrapped = bytes.toString('base64').replace(/.{76}/g, '$&\n');
    const image = JSON.stringify({ b: wrapped });
    expect(decodeImage(image, kinds(mysqlKind('b', 'blob', 'blob')))).toEqual({
      b: bytes.toString('base64'),
    });
  });

  it('zero and invalid dates are never turned into instants', () => {
    const columns = kinds(mysqlKind('dt', 'datetime', 'datetime'), mysqlKind('ts', 'timestamp', 'timestamp'));
    expect(decodeImage('{"dt": "0000-00-00 00:00:00", "ts": "0000-00-00 00:00:00"}', columns)).toEqual({
      dt: '0000-00-00 00:00:00',
      ts: '0000-00-00 00:00:00',
    });
    expect(decodeImage('{"dt": "2023-02-29 10:00:00"}', columns)).toEqual({ dt: '2023-02-29 10:00:00' });
  });

  it('a double written with an exponent stays a number; a 64-bit integer in an untyped column stays text', () => {
    const columns = kinds({ name: 'f', kind: 'float' }, { name: 'a', kind: 'auto' });
    expect(decodeImage('{"f": 1e308, "a": 9223372036854775807}', columns)).toEqual({
      f: 1e308,
      a: '9223372036854775807',
    });
  });
});
