// A field map checked against the streams a source describes: only streams whose fields are their records'
// fields are judged, a dotted `from` is checked by its column, constants read nothing.
import { fieldMapColumns, missingMappedColumns } from '@ferry/core';
import { describe, expect, it } from 'vitest';

const spec = {
  subject: 'id',
  fields: {
    id: { from: 'OFFENDER_ID', required: true },
    'name.family': 'LAST_NAM',
    address: 'ADDRESS_JSON.line1',
    source: { const: 'nomis' },
  },
};

const table = (name: string, columns: string[], recordFields = true) => ({
  name,
  fields: columns.map((c) => ({ name: c, type: 'text' })),
  ...(recordFields ? { recordFields } : {}),
});

describe('missingMappedColumns', () => {
  it('lists what a field map reads, by column', () => {
    expect(fieldMapColumns(spec)).toEqual([
      { field: 'id', column: 'OFFENDER_ID', path: ['mapping', 'fields', 'id', 'from'] },
      { field: 'name.family', column: 'LAST_NAM', path: ['mapping', 'fields', 'name.family'] },
      { field: 'address', column: 'ADDRESS_JSON', path: ['mapping', 'fields', 'address'] },
    ]);
  });

  it('names each missing column per stream, with the nearest one the stream has', () => {
    const missing = missingMappedColumns(spec, [
      table('OFFENDERS', ['OFFENDER_ID', 'LAST_NAME', 'ADDRESS_JSON']),
      table('ALIASES', ['offender_id', 'SURNAME']),
    ]);
    expect(missing.map((m) => [m.stream, m.path.join('.'), m.message])).toEqual([
      [
        'OFFENDERS',
        'mapping.fields.name.family',
        "reads column 'LAST_NAM', which OFFENDERS does not have; did you mean 'LAST_NAME'?",
      ],
      [
        'ALIASES',
        'mapping.fields.id.from',
        "reads column 'OFFENDER_ID', which ALIASES does not have; did you mean 'offender_id'?",
      ],
      [
        'ALIASES',
        'mapping.fields.name.family',
        "reads column 'LAST_NAM', which ALIASES does not have (it has: offender_id, SURNAME)",
      ],
      [
        'ALIASES',
        'mapping.fields.address',
        "reads column 'ADDRESS_JSON', which ALIASES does not have (it has: offender_id, SURNAME)",
      ],
    ]);
  });

  it('does not judge streams whose fields describe something else (an operation’s response shape)', () => {
    expect(missingMappedColumns(spec, [table('CaseService.ListCases', ['Result.Case[].Id'], false)])).toEqual(
      [],
    );
  });
});
