import { type ChangeRecord, fieldMapping, MappingError } from '@ferry/core';
import { describe, expect, it } from 'vitest';

const row = (after: Record<string, unknown>, op: ChangeRecord['op'] = 'update'): ChangeRecord => ({
  stream: 'OFFENDERS',
  op,
  key: { OFFENDER_ID: 1 },
  after,
  origin: { table: 'OFFENDERS', id: 1 },
});

const map = fieldMapping({
  subject: 'offenderId',
  subjectPrefix: 'offender/',
  fields: {
    offenderId: { from: 'NOMS_NO', required: true },
    'name.family': 'LAST_NAME',
    dateOfBirth: { from: 'BIRTH_DATE', type: 'date', format: 'DDMMYYYY' },
    gender: { from: 'SEX_CODE', lookup: { M: 'male', F: 'female' } },
    active: { from: 'ACTIVE_FLAG', type: 'boolean' },
    balance: { from: 'BAL', type: 'decimal' },
    cellCount: { from: 'CELLS', type: 'integer' },
    source: { const: 'NOMIS' },
  },
});

const good = {
  NOMS_NO: 'A1234BC',
  LAST_NAME: 'SMITH     ',
  BIRTH_DATE: '29021988',
  SEX_CODE: 'F',
  ACTIVE_FLAG: 'Y',
  BAL: '1234.50',
  CELLS: '2',
};

function mappingError(fn: () => unknown): MappingError {
  try {
    fn();
  } catch (error) {
    if (error instanceof MappingError) return error;
    throw error;
  }
  throw new Error('expected a MappingError');
}

describe('declarative field maps', () => {
  it('refuses a subject that is not a mapped field, naming the field its source column became', () => {
    expect(() => fieldMapping({ subject: 'OFFENDER_ID', fields: { id: { from: 'OFFENDER_ID' } } })).toThrow(
      /'OFFENDER_ID' is not a field of the mapping.*mapped to 'id': write subject: id \(fields: id\)/,
    );
    expect(() => fieldMapping({ subject: 'caseRef', fields: { id: 'ID', name: 'NAME' } })).toThrow(
      /'caseRef' is not a field of the mapping: .* \(fields: id, name\)/,
    );
    expect(() => fieldMapping({ subject: 'location.id', fields: { 'location.id': 'LOC' } })).not.toThrow();
  });

  it('renames, nests, trims CHAR padding, coerces legacy values and adds constants', () => {
    expect(map(row(good), { pipeline: 'p' })).toEqual({
      subject: 'offender/A1234BC',
      data: {
        offenderId: 'A1234BC',
        name: { family: 'SMITH' },
        dateOfBirth: '1988-02-29',
        gender: 'female',
        active: true,
        balance: '1234.50',
        cellCount: 2,
        source: 'NOMIS',
      },
    });
  });

  it.each([
    ['31021988', 'MAPPING_INVALID_VALUE'],
    ['1988-02-01', 'MAPPING_INVALID_VALUE'],
    ['29021987', 'MAPPING_INVALID_VALUE'],
  ])('rejects the impossible DDMMYYYY date %s', (value, code) => {
    expect(mappingError(() => map(row({ ...good, BIRTH_DATE: value }), { pipeline: 'p' })).code).toBe(code);
  });

  it('rejects a code missing from the lookup, naming the field and the code', () => {
    const error = mappingError(() => map(row({ ...good, SEX_CODE: 'X' }), { pipeline: 'p' }));
    expect(error.code).toBe('MAPPING_LOOKUP_MISS');
    expect(error.message).toContain("'X'");
    expect(error.message).toContain('gender');
  });

  it('rejects an empty required field and an unparseable boolean', () => {
    expect(mappingError(() => map(row({ ...good, NOMS_NO: '   ' }), { pipeline: 'p' })).code).toBe(
      'MAPPING_REQUIRED_FIELD',
    );
    expect(mappingError(() => map(row({ ...good, ACTIVE_FLAG: 'maybe' }), { pipeline: 'p' })).code).toBe(
      'MAPPING_INVALID_VALUE',
    );
  });

  it('keeps NULL distinct from absent and uses defaults for empty values', () => {
    const withDefault = fieldMapping({
      subject: 'id',
      fields: { id: 'ID', note: 'NOTE', status: { from: 'STATUS', default: 'unknown' } },
    });
    expect(withDefault(row({ ID: 1, NOTE: null, STATUS: '' }), { pipeline: 'p' })).toEqual({
      subject: '1',
      data: { id: 1, note: null, status: 'unknown' },
    });
  });

  it('can leave empty optional values out instead of writing null', () => {
    const omit = fieldMapping({
      subject: 'id',
      nulls: 'omit',
      fields: { id: 'ID', given: 'FIRST_NAME', family: 'LAST_NAME' },
    });
    expect(omit(row({ ID: 1, FIRST_NAME: null, LAST_NAME: '   ' }), { pipeline: 'p' })).toEqual({
      subject: '1',
      data: { id: 1 },
    });
  });

  it('maps a delete from its before image, or from the key alone', () => {
    const byKey = fieldMapping({ subject: 'id', fields: { id: 'OFFENDER_ID' } });
    const deleted: ChangeRecord = { stream: 'OFFENDERS', op: 'delete', key: { OFFENDER_ID: 7 }, origin: {} };
    expect(byKey(deleted, { pipeline: 'p' })).toEqual({ subject: '7', data: { id: 7 } });
  });

  it('rejects a record whose subject is empty', () => {
    const m = fieldMapping({ subject: 'id', fields: { id: 'MISSING' } });
    expect(mappingError(() => m(row({}), { pipeline: 'p' })).code).toBe('MAPPING_NO_SUBJECT');
  });
});
