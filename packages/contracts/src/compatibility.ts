// Compatibility between two versions of a canonical type's JSON Schema, in the terms Confluent Schema
// Registry uses: BACKWARD (a consumer on the new schema reads data written with the old one), FORWARD (a
// consumer still on the old schema reads data written with the new one), FULL (both), their TRANSITIVE
// variants (against every earlier version, not just the last), and NONE.
//
// The diff walks both schemas (with $refs already resolved) and classifies every change by which
// direction it breaks: a change that narrows what is valid breaks BACKWARD (old data may no longer
// validate); one that widens it breaks FORWARD (new data may not validate against the old schema).

export type CompatibilityMode =
  | 'NONE'
  | 'BACKWARD'
  | 'BACKWARD_TRANSITIVE'
  | 'FORWARD'
  | 'FORWARD_TRANSITIVE'
  | 'FULL'
  | 'FULL_TRANSITIVE';

export const compatibilityModes: CompatibilityMode[] = [
  'NONE',
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FORWARD',
  'FORWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
];

export interface SchemaChange {
  /** JSON path of the changed schema location, e.g. `$.name.family` or `$.aliases[]`. */
  path: string;
  /** Stable rule name, e.g. `required-property-added`, `enum-value-removed`, `max-length-decreased`. */
  rule: string;
  description: string;
  /** Old data may fail the new schema. */
  breaksBackward: boolean;
  /** New data may fail the old schema. */
  breaksForward: boolean;
}

type Schema = Record<string, unknown>;

const isObject = (v: unknown): v is Schema => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Every change between two resolved schemas (old -> new). */
export function diffSchemas(oldSchema: unknown, newSchema: unknown): SchemaChange[] {
  const changes: SchemaChange[] = [];
  walk(oldSchema, newSchema, '$', changes);
  return changes;
}

function add(
  changes: SchemaChange[],
  path: string,
  rule: string,
  description: string,
  breaksBackward: boolean,
  breaksForward: boolean,
): void {
  changes.push({ path, rule, description, breaksBackward, breaksForward });
}

function types(schema: Schema): Set<string> | undefined {
  const t = schema.type;
  if (t === undefined) return undefined;
  const list = Array.isArray(t) ? (t as string[]) : [t as string];
  // `integer` is a subset of `number`; keep both so widening integer -> number is seen as widening.
  return new Set(list);
}

function typeCovers(set: Set<string>, type: string): boolean {
  return set.has(type) || (type === 'integer' && set.has('number'));
}

function isClosed(schema: Schema): boolean {
  return schema.additionalProperties === false || schema.unevaluatedProperties === false;
}

function walk(oldValue: unknown, newValue: unknown, path: string, changes: SchemaChange[]): void {
  if (!isObject(oldValue) || !isObject(newValue)) {
    if (oldValue === false && newValue !== false)
      add(changes, path, 'schema-opened', 'schema now accepts values', false, true);
    if (oldValue !== false && newValue === false)
      add(changes, path, 'schema-closed', 'schema now rejects every value', true, false);
    return;
  }
  compareTypes(oldValue, newValue, path, changes);
  compareEnum(oldValue, newValue, path, changes);
  compareConst(oldValue, newValue, path, changes);
  compareFormat(oldValue, newValue, path, changes);
  compareConstraints(oldValue, newValue, path, changes);
  compareProperties(oldValue, newValue, path, changes);
  if (isObject(oldValue.items) || isObject(newValue.items)) {
    walk(oldValue.items ?? {}, newValue.items ?? {}, `${path}[]`, changes);
  }
}

function compareTypes(oldSchema: Schema, newSchema: Schema, path: string, changes: SchemaChange[]): void {
  const before = types(oldSchema);
  const after = types(newSchema);
  if (!before && !after) return;
  if (!before && after) {
    add(changes, path, 'type-narrowed', `type restricted to ${[...after].join('|')}`, true, false);
    return;
  }
  if (before && !after) {
    add(changes, path, 'type-widened', `type restriction ${[...before].join('|')} removed`, false, true);
    return;
  }
  const lost = [...before!].filter((t) => !typeCovers(after!, t));
  const gained = [...after!].filter((t) => !typeCovers(before!, t));
  const from = [...before!].join('|');
  const to = [...after!].join('|');
  if (lost.length > 0 && gained.length > 0) {
    add(changes, path, 'type-changed', `type changed from ${from} to ${to}`, true, true);
  } else if (lost.length > 0) {
    add(changes, path, 'type-narrowed', `type narrowed from ${from} to ${to}`, true, false);
  } else if (gained.length > 0) {
    add(changes, path, 'type-widened', `type widened from ${from} to ${to}`, false, true);
  }
}

function compareEnum(oldSchema: Schema, newSchema: Schema, path: string, changes: SchemaChange[]): void {
  const before = Array.isArray(oldSchema.enum) ? oldSchema.enum.map((v) => JSON.stringify(v)) : undefined;
  const after = Array.isArray(newSchema.enum) ? newSchema.enum.map((v) => JSON.stringify(v)) : undefined;
  if (!before && !after) return;
  if (!before) {
    add(changes, path, 'enum-added', `values restricted to ${after!.join(', ')}`, true, false);
    return;
  }
  if (!after) {
    add(changes, path, 'enum-removed', 'enumeration removed: any value of the type is allowed', false, true);
    return;
  }
  for (const value of after.filter((v) => !before.includes(v))) {
    add(changes, path, 'enum-value-added', `enum value ${value} added`, false, true);
  }
  for (const value of before.filter((v) => !after.includes(v))) {
    add(changes, path, 'enum-value-removed', `enum value ${value} removed`, true, false);
  }
}

function compareConst(oldSchema: Schema, newSchema: Schema, path: string, changes: SchemaChange[]): void {
  const before = JSON.stringify(oldSchema.const);
  const after = JSON.stringify(newSchema.const);
  if (before === after) return;
  if (oldSchema.const === undefined)
    add(changes, path, 'const-added', `value fixed to ${after}`, true, false);
  else if (newSchema.const === undefined)
    add(changes, path, 'const-removed', `fixed value ${before} removed`, false, true);
  else add(changes, path, 'const-changed', `fixed value changed from ${before} to ${after}`, true, true);
}

function compareFormat(oldSchema: Schema, newSchema: Schema, path: string, changes: SchemaChange[]): void {
  const before = oldSchema.format as string | undefined;
  const after = newSchema.format as string | undefined;
  if (before === after) return;
  if (before === undefined) add(changes, path, 'format-added', `format '${after}' now required`, true, false);
  else if (after === undefined)
    add(changes, path, 'format-removed', `format '${before}' no longer required`, false, true);
  else add(changes, path, 'format-changed', `format changed from '${before}' to '${after}'`, true, true);
}

// Upper bounds tighten when they go down (or appear); lower bounds tighten when they go up.
const UPPER = ['maxLength', 'maxItems', 'maxProperties', 'maximum', 'exclusiveMaximum'] as const;
const LOWER = ['minLength', 'minItems', 'minProperties', 'minimum', 'exclusiveMinimum'] as const;

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function compareConstraints(
  oldSchema: Schema,
  newSchema: Schema,
  path: string,
  changes: SchemaChange[],
): void {
  for (const key of [...UPPER, ...LOWER]) {
    const before = oldSchema[key] as number | undefined;
    const after = newSchema[key] as number | undefined;
    if (before === after) continue;
    const upper = (UPPER as readonly string[]).includes(key);
    let tightened: boolean;
    if (before === undefined) tightened = true;
    else if (after === undefined) tightened = false;
    else tightened = upper ? after < before : after > before;
    const what =
      before === undefined
        ? 'added'
        : after === undefined
          ? 'removed'
          : upper === tightened
            ? 'decreased'
            : 'increased';
    const rule = `${kebab(key)}-${what}`;
    const text = `${key} ${before ?? '(none)'} -> ${after ?? '(none)'}`;
    add(changes, path, rule, `${text} (${tightened ? 'tightened' : 'loosened'})`, tightened, !tightened);
  }
  for (const key of ['pattern', 'multipleOf'] as const) {
    const before = oldSchema[key];
    const after = newSchema[key];
    if (before === after) continue;
    const name = kebab(key);
    if (before === undefined)
      add(changes, path, `${name}-added`, `${key} ${String(after)} added`, true, false);
    else if (after === undefined)
      add(changes, path, `${name}-removed`, `${key} ${String(before)} removed`, false, true);
    else
      add(
        changes,
        path,
        `${name}-changed`,
        `${key} changed from ${String(before)} to ${String(after)}`,
        true,
        true,
      );
  }
  if (oldSchema.uniqueItems !== true && newSchema.uniqueItems === true) {
    add(changes, path, 'unique-items-added', 'items must now be unique', true, false);
  }
  if (oldSchema.uniqueItems === true && newSchema.uniqueItems !== true) {
    add(changes, path, 'unique-items-removed', 'items need no longer be unique', false, true);
  }
}

function compareProperties(
  oldSchema: Schema,
  newSchema: Schema,
  path: string,
  changes: SchemaChange[],
): void {
  const oldProps = (isObject(oldSchema.properties) ? oldSchema.properties : {}) as Record<string, unknown>;
  const newProps = (isObject(newSchema.properties) ? newSchema.properties : {}) as Record<string, unknown>;
  const oldRequired = new Set((oldSchema.required as string[] | undefined) ?? []);
  const newRequired = new Set((newSchema.required as string[] | undefined) ?? []);
  const oldClosed = isClosed(oldSchema);
  const newClosed = isClosed(newSchema);
  const child = (name: string): string => `${path}.${name}`;

  for (const name of Object.keys(newProps)) {
    if (Object.hasOwn(oldProps, name)) continue;
    const hasDefault = isObject(newProps[name]) && Object.hasOwn(newProps[name] as Schema, 'default');
    if (newRequired.has(name)) {
      // Old data never has it, so the new schema rejects old data; an old closed schema rejects new data.
      add(
        changes,
        child(name),
        'required-property-added',
        `new required property '${name}'`,
        true,
        oldClosed,
      );
    } else {
      add(
        changes,
        child(name),
        'optional-property-added',
        `new optional property '${name}'${hasDefault ? ' with a default' : ''}`,
        false,
        oldClosed,
      );
    }
  }
  for (const name of Object.keys(oldProps)) {
    if (Object.hasOwn(newProps, name)) continue;
    // Old data may still carry it: fine unless the new schema is closed. New data lacks it: fine unless it
    // was required before.
    add(
      changes,
      child(name),
      'property-removed',
      `property '${name}' removed`,
      newClosed,
      oldRequired.has(name),
    );
  }
  for (const name of Object.keys(newProps)) {
    if (!Object.hasOwn(oldProps, name)) continue;
    if (!oldRequired.has(name) && newRequired.has(name)) {
      add(changes, child(name), 'property-made-required', `property '${name}' is now required`, true, false);
    }
    if (oldRequired.has(name) && !newRequired.has(name)) {
      add(changes, child(name), 'property-made-optional', `property '${name}' is now optional`, false, true);
    }
    walk(oldProps[name], newProps[name], child(name), changes);
  }
  if (!oldClosed && newClosed) {
    add(
      changes,
      path,
      'additional-properties-closed',
      'additional properties are no longer allowed',
      true,
      false,
    );
  }
  if (oldClosed && !newClosed) {
    add(changes, path, 'additional-properties-opened', 'additional properties are now allowed', false, true);
  }
}

export interface PairVerdict {
  changes: SchemaChange[];
  /** Changes that break the pair under the mode. */
  breaking: SchemaChange[];
}

/** Which changes break the given direction(s) of a mode (transitivity is decided by the caller). */
export function breakingUnder(mode: CompatibilityMode, changes: SchemaChange[]): SchemaChange[] {
  const base = mode.replace('_TRANSITIVE', '');
  return changes.filter((c) => {
    if (base === 'NONE') return false;
    if (base === 'BACKWARD') return c.breaksBackward;
    if (base === 'FORWARD') return c.breaksForward;
    return c.breaksBackward || c.breaksForward;
  });
}

export function isTransitive(mode: CompatibilityMode): boolean {
  return mode.endsWith('_TRANSITIVE');
}

export type Bump = 'major' | 'minor' | 'patch' | 'none';

/**
 * The smallest version bump a set of changes needs under a mode: a breaking change needs a major
 * version; any other schema change (a new optional field, a widened type) a minor one.
 */
export function requiredBump(mode: CompatibilityMode, changes: SchemaChange[]): Bump {
  if (breakingUnder(mode, changes).length > 0) return 'major';
  if (changes.length > 0) return 'minor';
  return 'patch';
}
