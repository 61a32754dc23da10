// Each compatibility rule in each mode, with a minimal pair of schemas (old -> new).
import { breakingUnder, type CompatibilityMode, diffSchemas, requiredBump } from '@ferry/contracts';
import { describe, expect, it } from 'vitest';

type S = Record<string, unknown>;
const obj = (properties: S, required: string[] = [], extra: S = {}): S => ({
  type: 'object',
  properties,
  required,
  ...extra,
});
const str = (extra: S = {}): S => ({ type: 'string', ...extra });

interface Case {
  name: string;
  old: S;
  new: S;
  rule: string;
  backward: boolean;
  forward: boolean;
}

const cases: Case[] = [
  {
    name: 'a new required field',
    old: obj({ a: str() }, ['a']),
    new: obj({ a: str(), b: str() }, ['a', 'b']),
    rule: 'required-property-added',
    backward: true,
    forward: false,
  },
  {
    name: 'a new required field, old schema closed',
    old: obj({ a: str() }, ['a'], { additionalProperties: false }),
    new: obj({ a: str(), b: str() }, ['a', 'b'], { additionalProperties: false }),
    rule: 'required-property-added',
    backward: true,
    forward: true,
  },
  {
    name: 'a new optional field with a default',
    old: obj({ a: str() }),
    new: obj({ a: str(), b: str({ default: 'x' }) }),
    rule: 'optional-property-added',
    backward: false,
    forward: false,
  },
  {
    name: 'a new optional field, old schema closed',
    old: obj({ a: str() }, [], { additionalProperties: false }),
    new: obj({ a: str(), b: str() }, [], { additionalProperties: false }),
    rule: 'optional-property-added',
    backward: false,
    forward: true,
  },
  {
    name: 'a removed optional field (open model)',
    old: obj({ a: str(), b: str() }),
    new: obj({ a: str() }),
    rule: 'property-removed',
    backward: false,
    forward: false,
  },
  {
    name: 'a removed required field',
    old: obj({ a: str(), b: str() }, ['b']),
    new: obj({ a: str() }),
    rule: 'property-removed',
    backward: false,
    forward: true,
  },
  {
    name: 'a removed field from a closed model',
    old: obj({ a: str(), b: str() }, [], { additionalProperties: false }),
    new: obj({ a: str() }, [], { additionalProperties: false }),
    rule: 'property-removed',
    backward: true,
    forward: false,
  },
  {
    name: 'a field made required',
    old: obj({ a: str() }),
    new: obj({ a: str() }, ['a']),
    rule: 'property-made-required',
    backward: true,
    forward: false,
  },
  {
    name: 'a field made optional',
    old: obj({ a: str() }, ['a']),
    new: obj({ a: str() }),
    rule: 'property-made-optional',
    backward: false,
    forward: true,
  },
  {
    name: 'a type change',
    old: obj({ a: str() }),
    new: obj({ a: { type: 'integer' } }),
    rule: 'type-changed',
    backward: true,
    forward: true,
  },
  {
    name: 'a type narrowing (number -> integer)',
    old: obj({ a: { type: 'number' } }),
    new: obj({ a: { type: 'integer' } }),
    rule: 'type-narrowed',
    backward: true,
    forward: false,
  },
  {
    name: 'a type narrowing (nullable -> not)',
    old: obj({ a: { type: ['string', 'null'] } }),
    new: obj({ a: str() }),
    rule: 'type-narrowed',
    backward: true,
    forward: false,
  },
  {
    name: 'a type widening (integer -> number)',
    old: obj({ a: { type: 'integer' } }),
    new: obj({ a: { type: 'number' } }),
    rule: 'type-widened',
    backward: false,
    forward: true,
  },
  {
    name: 'an added enum value',
    old: obj({ a: str({ enum: ['x'] }) }),
    new: obj({ a: str({ enum: ['x', 'y'] }) }),
    rule: 'enum-value-added',
    backward: false,
    forward: true,
  },
  {
    name: 'a removed enum value',
    old: obj({ a: str({ enum: ['x', 'y'] }) }),
    new: obj({ a: str({ enum: ['x'] }) }),
    rule: 'enum-value-removed',
    backward: true,
    forward: false,
  },
  {
    name: 'a changed format',
    old: obj({ a: str({ format: 'date' }) }),
    new: obj({ a: str({ format: 'date-time' }) }),
    rule: 'format-changed',
    backward: true,
    forward: true,
  },
  {
    name: 'an added format',
    old: obj({ a: str() }),
    new: obj({ a: str({ format: 'email' }) }),
    rule: 'format-added',
    backward: true,
    forward: false,
  },
  {
    name: 'a tightened maxLength',
    old: obj({ a: str({ maxLength: 35 }) }),
    new: obj({ a: str({ maxLength: 20 }) }),
    rule: 'max-length-decreased',
    backward: true,
    forward: false,
  },
  {
    name: 'a loosened maxLength',
    old: obj({ a: str({ maxLength: 20 }) }),
    new: obj({ a: str({ maxLength: 35 }) }),
    rule: 'max-length-increased',
    backward: false,
    forward: true,
  },
  {
    name: 'an added pattern',
    old: obj({ a: str() }),
    new: obj({ a: str({ pattern: '^[A-Z]+$' }) }),
    rule: 'pattern-added',
    backward: true,
    forward: false,
  },
  {
    name: 'a changed pattern',
    old: obj({ a: str({ pattern: '^[A-Z]+$' }) }),
    new: obj({ a: str({ pattern: '^[a-z]+$' }) }),
    rule: 'pattern-changed',
    backward: true,
    forward: true,
  },
  {
    name: 'a raised minimum',
    old: obj({ a: { type: 'integer', minimum: 0 } }),
    new: obj({ a: { type: 'integer', minimum: 1 } }),
    rule: 'minimum-increased',
    backward: true,
    forward: false,
  },
  {
    name: 'an added minimum',
    old: obj({ a: { type: 'integer' } }),
    new: obj({ a: { type: 'integer', minimum: 1 } }),
    rule: 'minimum-added',
    backward: true,
    forward: false,
  },
  {
    name: 'additionalProperties closed',
    old: obj({ a: str() }),
    new: obj({ a: str() }, [], { additionalProperties: false }),
    rule: 'additional-properties-closed',
    backward: true,
    forward: false,
  },
  {
    name: 'additionalProperties opened',
    old: obj({ a: str() }, [], { additionalProperties: false }),
    new: obj({ a: str() }),
    rule: 'additional-properties-opened',
    backward: false,
    forward: true,
  },
  {
    name: 'a nested change inside array items',
    old: obj({ a: { type: 'array', items: obj({ b: str() }) } }),
    new: obj({ a: { type: 'array', items: obj({ b: str(), c: str() }, ['c']) } }),
    rule: 'required-property-added',
    backward: true,
    forward: false,
  },
];

const verdict = (mode: CompatibilityMode, c: Case): boolean => {
  if (mode.startsWith('BACKWARD')) return c.backward;
  if (mode.startsWith('FORWARD')) return c.forward;
  if (mode.startsWith('FULL')) return c.backward || c.forward;
  return false;
};

describe('schema compatibility rules', () => {
  for (const c of cases) {
    describe(c.name, () => {
      const changes = diffSchemas(c.old, c.new);
      it(`is classified as ${c.rule}`, () => {
        expect(changes.map((x) => x.rule)).toContain(c.rule);
      });
      for (const mode of [
        'BACKWARD',
        'FORWARD',
        'FULL',
        'NONE',
        'BACKWARD_TRANSITIVE',
        'FULL_TRANSITIVE',
      ] as const) {
        const breaks = verdict(mode, c);
        it(`${breaks ? 'breaks' : 'is compatible'} under ${mode}`, () => {
          const relevant = changes.filter((x) => x.rule === c.rule);
          expect(breakingUnder(mode, relevant).length > 0).toBe(breaks);
        });
      }
    });
  }

  it('names the JSON path of a nested change', () => {
    const changes = diffSchemas(
      obj({ name: obj({ family: str({ maxLength: 35 }) }) }),
      obj({ name: obj({ family: str({ maxLength: 10 }) }) }),
    );
    expect(changes).toEqual([
      expect.objectContaining({ path: '$.name.family', rule: 'max-length-decreased' }),
    ]);
  });

  it('the worked example: a new required request field is breaking under BACKWARD and needs a major version', () => {
    const before = obj({ caseId: str() }, ['caseId']);
    const after = obj({ caseId: str(), courtCode: str() }, ['caseId', 'courtCode']);
    const changes = diffSchemas(before, after);
    expect(breakingUnder('BACKWARD', changes)).toHaveLength(1);
    expect(requiredBump('BACKWARD', changes)).toBe('major');
    const optional = diffSchemas(
      before,
      obj({ caseId: str(), courtCode: str({ default: 'UNKNOWN' }) }, ['caseId']),
    );
    expect(breakingUnder('BACKWARD', optional)).toHaveLength(0);
    expect(requiredBump('BACKWARD', optional)).toBe('minor');
    expect(requiredBump('BACKWARD', diffSchemas(before, before))).toBe('patch');
  });
});
