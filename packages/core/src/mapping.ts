// Mappings turn a legacy change record into canonical objects. A mapping is either a TypeScript function
// or a declarative field map (renames, constants, coercions such as legacy DDMMYYYY dates, code lookups).
import { z } from 'zod';
import { MappingError } from './errors.js';
import { envelope } from './event.js';
import type { CanonicalEvent, ChangeRecord } from './types.js';

export interface MappedEvent {
  /** The canonical entity id: the event's `subject` and the Kafka message key. */
  subject: string;
  data: unknown;
}

export interface MappingContext {
  pipeline: string;
}

/** Return one canonical object, several, or null to drop the record on purpose. Throw to reject it. */
export type MappingFunction = (
  record: ChangeRecord,
  ctx: MappingContext,
) => MappedEvent | MappedEvent[] | null | Promise<MappedEvent | MappedEvent[] | null>;

export interface Mapping {
  /** Canonical type without action, e.g. `justice.offender`. */
  canonicalType: string;
  /** URI of the canonical schema with its version. */
  dataschema?: string | undefined;
  map: MappingFunction;
}

/**
 * The CloudEvents of what a mapping returned for a record: one per mapped object, told apart by index
 * (the runtime and `ferry dlq replay` build them the same way, so a replay keeps the event ids).
 */
export function mappedEvents(
  pipeline: string,
  record: ChangeRecord,
  mapping: Pick<Mapping, 'canonicalType' | 'dataschema'>,
  result: MappedEvent | MappedEvent[],
  now?: Date,
): CanonicalEvent[] {
  const { canonicalType, dataschema } = mapping;
  if (!Array.isArray(result))
    return [envelope(pipeline, record, canonicalType, dataschema, result.subject, result.data, 0, now)];
  return result.map((item, index) =>
    envelope(pipeline, record, canonicalType, dataschema, item.subject, item.data, index, now),
  );
}

// ---------------------------------------------------------------------------------------------------------
// Declarative field maps

const dateFormats = ['DDMMYYYY', 'YYYYMMDD', 'DD/MM/YYYY', 'YYYY-MM-DD', 'DD-MM-YYYY', 'DD.MM.YYYY'] as const;
export type LegacyDateFormat = (typeof dateFormats)[number];

export const fieldSpecSchema = z
  .object({
    from: z.string().min(1).optional().describe('Source column or field; dotted for nested values.'),
    const: z.unknown().optional().describe('A constant value instead of a source field.'),
    type: z
      .enum(['string', 'integer', 'number', 'decimal', 'boolean', 'date', 'datetime'])
      .optional()
      .describe('Coerce the value to this type.'),
    format: z.enum(dateFormats).optional().describe('Legacy date layout for `type: date`.'),
    trim: z.boolean().default(true).describe('Trim CHAR padding from strings.'),
    lookup: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('Code table: legacy code -> canonical value.'),
    lookupDefault: z
      .unknown()
      .optional()
      .describe('Value for a code missing from `lookup` (otherwise an error).'),
    required: z.boolean().default(false).describe('Reject the record when the value is missing or empty.'),
    default: z.unknown().optional().describe('Value when the source field is missing or empty.'),
    trueValues: z.array(z.string()).default(['Y', 'YES', 'T', 'TRUE', '1']).describe('Strings read as true.'),
    falseValues: z
      .array(z.string())
      .default(['N', 'NO', 'F', 'FALSE', '0'])
      .describe('Strings read as false.'),
  })
  .strict()
  .refine((s) => s.from !== undefined || s.const !== undefined, { message: 'needs `from` or `const`' });

export type FieldSpec = z.infer<typeof fieldSpecSchema>;

export const fieldMapSchema = z
  .object({
    fields: z
      .record(z.string().min(1), z.union([z.string().min(1), fieldSpecSchema]))
      .describe('Canonical field (dotted for nesting) -> source column name or field spec.'),
    subject: z.string().min(1).describe('Canonical field whose value is the entity id (event subject).'),
    subjectPrefix: z.string().default('').describe('Prefix for the subject, e.g. `offender/`.'),
    nulls: z
      .enum(['keep', 'omit'])
      .default('keep')
      .describe(
        'Empty optional values (NULL, blank CHAR): keep them as null, or leave the field out (for contracts whose optional fields may not be null).',
      ),
  })
  .strict()
  // The subject is read from the mapped event, so it must be one of the mapped fields, not a source column:
  // otherwise every record would become a MAPPING_NO_SUBJECT dead letter.
  .superRefine((map, ctx) => {
    const targets = Object.keys(map.fields);
    if (targets.includes(map.subject)) return;
    const from = Object.entries(map.fields).find(([, spec]) =>
      typeof spec === 'string' ? spec === map.subject : spec.from === map.subject,
    )?.[0];
    ctx.addIssue({
      code: 'custom',
      path: ['subject'],
      message:
        `'${map.subject}' is not a field of the mapping: subject names the mapped (canonical) field that holds the entity id` +
        (from !== undefined
          ? `; the source column ${map.subject} is mapped to '${from}': write subject: ${from}`
          : '') +
        ` (fields: ${targets.join(', ')})`,
    });
  });

export type FieldMapConfig = z.input<typeof fieldMapSchema>;

export function fieldMapping(config: FieldMapConfig): MappingFunction {
  const parsed = fieldMapSchema.parse(config);
  const specs = Object.entries(parsed.fields).map(([target, spec]) => ({
    target,
    // Split once: a nested target (`name.family`) is set through its parts for every record.
    parts: target.split('.'),
    spec: typeof spec === 'string' ? fieldSpecSchema.parse({ from: spec }) : spec,
  }));
  return (record) => {
    // A delete carries the before image when the source has one, else only the key; image values win.
    const image = (record.op === 'delete' ? record.before : record.after) ?? {};
    const out: Record<string, unknown> = {};
    for (const { target, parts, spec } of specs) {
      const value = mapField(target, spec, image, record);
      if (value === undefined || (value === null && parsed.nulls === 'omit')) continue;
      if (parts.length === 1) out[target] = value;
      else setPath(out, parts, value);
    }
    const subjectValue = getPath(out, parsed.subject);
    if (subjectValue === undefined || subjectValue === null || subjectValue === '') {
      throw new MappingError('MAPPING_NO_SUBJECT', `subject field '${parsed.subject}' is empty`, {
        details: { field: parsed.subject },
      });
    }
    return { subject: `${parsed.subjectPrefix}${String(subjectValue)}`, data: out };
  };
}

function mapField(
  target: string,
  spec: FieldSpec,
  image: Record<string, unknown>,
  record: ChangeRecord,
): unknown {
  let value: unknown = spec.const;
  if (value === undefined) {
    value = getPath(image, spec.from!);
    if (value === undefined) value = getPath(record.key, spec.from!);
  }
  if (typeof value === 'string' && spec.trim) value = value.trim();
  const empty = value === undefined || value === null || value === '';
  if (empty) {
    if (spec.default !== undefined) return spec.default;
    if (spec.required) {
      throw new MappingError('MAPPING_REQUIRED_FIELD', `${target}: source field '${spec.from}' is empty`, {
        details: { field: target, from: spec.from, stream: record.stream },
      });
    }
    return value === undefined ? undefined : null;
  }
  if (spec.lookup) {
    const code = String(value);
    if (Object.hasOwn(spec.lookup, code)) value = spec.lookup[code];
    else if (spec.lookupDefault !== undefined) value = spec.lookupDefault;
    else {
      throw new MappingError(
        'MAPPING_LOOKUP_MISS',
        `${target}: code '${code}' from '${spec.from}' is not in the lookup`,
        {
          details: { field: target, from: spec.from, code },
        },
      );
    }
  }
  return spec.type ? coerce(target, spec, value) : value;
}

function invalid(target: string, spec: FieldSpec, value: unknown, expected: string): MappingError {
  return new MappingError(
    'MAPPING_INVALID_VALUE',
    `${target}: ${JSON.stringify(value)} from '${spec.from ?? 'const'}' is not ${expected}`,
    { details: { field: target, from: spec.from, value, expected } },
  );
}

function coerce(target: string, spec: FieldSpec, value: unknown): unknown {
  switch (spec.type) {
    case 'string':
      return value instanceof Date ? value.toISOString() : String(value);
    case 'integer': {
      const n = typeof value === 'number' ? value : Number(String(value).trim());
      if (!Number.isInteger(n)) throw invalid(target, spec, value, 'an integer');
      return n;
    }
    case 'number': {
      const n = typeof value === 'number' ? value : Number(String(value).trim());
      if (!Number.isFinite(n)) throw invalid(target, spec, value, 'a number');
      return n;
    }
    case 'decimal': {
      // Exact decimals travel as strings: no float rounding of money.
      const text = String(value).trim();
      if (!/^-?\d+(\.\d+)?$/.test(text)) throw invalid(target, spec, value, 'a decimal');
      return text;
    }
    case 'boolean': {
      if (typeof value === 'boolean') return value;
      const text = String(value).trim().toUpperCase();
      if (spec.trueValues.includes(text)) return true;
      if (spec.falseValues.includes(text)) return false;
      throw invalid(
        target,
        spec,
        value,
        `a boolean (${spec.trueValues.join('/')} or ${spec.falseValues.join('/')})`,
      );
    }
    case 'date':
      return coerceDate(target, spec, value);
    case 'datetime': {
      const date = value instanceof Date ? value : new Date(String(value));
      if (Number.isNaN(date.getTime())) throw invalid(target, spec, value, 'a date-time');
      return date.toISOString();
    }
    default:
      return value;
  }
}

function coerceDate(target: string, spec: FieldSpec, value: unknown): string {
  if (value instanceof Date) return value.toISOString().slice(0, 10);
  const text = String(value).trim();
  const format = spec.format ?? 'YYYY-MM-DD';
  const digits = text.replace(/[^0-9]/g, '');
  let y: number;
  let m: number;
  let d: number;
  const separated = format.length === 10;
  if (separated && text.length !== 10) throw invalid(target, spec, value, `a date in ${format}`);
  if (!separated && !/^\d{8}$/.test(text)) throw invalid(target, spec, value, `a date in ${format}`);
  if (format.startsWith('YYYY')) {
    y = Number(digits.slice(0, 4));
    m = Number(digits.slice(4, 6));
    d = Number(digits.slice(6, 8));
  } else {
    d = Number(digits.slice(0, 2));
    m = Number(digits.slice(2, 4));
    y = Number(digits.slice(4, 8));
  }
  const date = new Date(Date.UTC(y, m - 1, d));
  if (
    digits.length !== 8 ||
    date.getUTCFullYear() !== y ||
    date.getUTCMonth() !== m - 1 ||
    date.getUTCDate() !== d
  ) {
    throw invalid(target, spec, value, `a date in ${format}`);
  }
  return date.toISOString().slice(0, 10);
}

export function getPath(object: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(object, path)) return object[path];
  let current: unknown = object;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function setPath(object: Record<string, unknown>, parts: readonly string[], value: unknown): void {
  let current = object;
  for (const part of parts.slice(0, -1)) {
    const next = current[part];
    if (next === null || typeof next !== 'object') current[part] = {};
    current = current[part] as Record<string, unknown>;
  }
  current[parts.at(-1)!] = value;
}
