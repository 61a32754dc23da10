// What zod found wrong in a config, said for a person: each unknown key at its own line with a "did you
// mean" from the keys its object knows, a failed union reported by the branch the author evidently meant,
// an enum value with its nearest valid spelling. Used by pipeline files, connector options and the admin
// config alike.
import { z } from 'zod';
import type { ConfigIssue } from './errors.js';

type Path = readonly PropertyKey[];

/**
 * Where an issue points: `key` for the key itself (an unknown option), `value` (the default) for its value;
 * a path that does not exist in the document points at its nearest existing parent.
 */
export type IssueAt = (path: Path, message: string, at?: 'key' | 'value') => ConfigIssue;

/**
 * Every problem in `error` (from `schema.safeParse(data)`), with `prefix` in front of each path. `schema`
 * and `data` let unknown keys be matched against the keys their object knows.
 */
export function zodConfigIssues(
  error: z.ZodError,
  schema: z.ZodType,
  data: unknown,
  issue: IssueAt,
  prefix: Path = [],
): ConfigIssue[] {
  const problems = flatten(error.issues, schema, data, prefix);
  // `subjct` reported as "did you mean 'subject'?" already says why `subject` is missing.
  const suggested = new Set(problems.flatMap((p) => (p.suggests === undefined ? [] : [pathId(p.suggests)])));
  return problems
    .filter((p) => !(p.missing && suggested.has(pathId(p.path))))
    .map((p) => issue(p.path, p.message, p.at));
}

interface Problem {
  path: Path;
  message: string;
  at: 'key' | 'value';
  /** A required key that is not there. */
  missing?: boolean;
  /** The key an unknown key is probably a misspelling of. */
  suggests?: Path;
}

function pathId(path: Path): string {
  return JSON.stringify(path.map(String));
}

function flatten(
  issues: readonly z.core.$ZodIssue[],
  schema: z.core.$ZodType | undefined,
  data: unknown,
  base: Path,
): Problem[] {
  const out: Problem[] = [];
  for (const i of issues) {
    const full = [...base, ...i.path];
    const here = valueAt(data, i.path);
    if (i.code === 'unrecognized_keys') {
      const known = schema === undefined ? [] : knownKeys(shapesAt(schema, i.path), here, i.keys);
      for (const key of i.keys) {
        const near = closest(key, known);
        out.push({
          path: [...full, key],
          message: unknownKeyMessage(key, near, known),
          at: 'key',
          ...(near === undefined ? {} : { suggests: [...full, near] }),
        });
      }
      continue;
    }
    // Only an object says which branch was meant; a scalar that fits none keeps the union's own message.
    if (i.code === 'invalid_union' && i.errors.length > 0 && isRecord(here)) {
      const options = schema === undefined ? [] : unionOptionsAt(schema, i.path);
      const pick = chooseBranch(i.errors, options, here);
      out.push(...flatten(i.errors[pick]!, options[pick], here, full));
      continue;
    }
    const message = describeZodIssue(i, here);
    out.push({ path: full, message, at: 'value', missing: message.startsWith('missing;') });
  }
  return out;
}

/** One issue's text, without its path. */
export function describeZodIssue(i: z.core.$ZodIssue, value?: unknown): string {
  switch (i.code) {
    case 'unrecognized_keys':
      return `unknown option${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${k}'`).join(', ')}`;
    case 'invalid_type': {
      const text = i.message.replace(/^Invalid input: /, '');
      // zod says "received undefined" for a key that is not there at all.
      return value === undefined && /received undefined$/.test(text)
        ? `missing; ${text.replace(/, received undefined$/, '')}`
        : text;
    }
    case 'invalid_value':
      return withNearest(i.message, value, i.values);
    case 'invalid_union':
      // A discriminated union whose discriminator matches no option lists the valid values.
      return 'options' in i && i.options !== undefined ? withNearest(i.message, value, i.options) : i.message;
    default:
      return i.message;
  }
}

function withNearest(message: string, value: unknown, values: readonly unknown[]): string {
  if (typeof value !== 'string') return message;
  const near = closest(
    value,
    values.filter((v): v is string => typeof v === 'string'),
  );
  return near === undefined ? message : `${message}; did you mean '${near}'?`;
}

function unknownKeyMessage(key: string, near: string | undefined, known: readonly string[]): string {
  if (near !== undefined) return `unknown option '${key}'; did you mean '${near}'?`;
  if (known.length === 0) return `unknown option '${key}'`;
  return `unknown option '${key}'; expected one of: ${[...known].sort().join(', ')}`;
}

/**
 * The keys an object at this place knows. Where a union offers several objects, the ones that accept every
 * other key the author wrote are the ones meant.
 */
function knownKeys(
  shapes: readonly Record<string, unknown>[],
  value: unknown,
  unknown: readonly string[],
): string[] {
  const written = isRecord(value) ? Object.keys(value).filter((k) => !unknown.includes(k)) : [];
  const fitting = shapes.filter((shape) => written.every((k) => k in shape));
  const chosen = fitting.length > 0 ? fitting : shapes;
  return [...new Set(chosen.flatMap((shape) => Object.keys(shape)))];
}

/** The union branch the author meant: the one whose keys overlap most with what is written, then fewest issues. */
function chooseBranch(
  errors: readonly (readonly z.core.$ZodIssue[])[],
  options: readonly z.core.$ZodType[],
  value: unknown,
): number {
  const written = isRecord(value) ? Object.keys(value) : [];
  let best = 0;
  let bestScore = Number.NEGATIVE_INFINITY;
  errors.forEach((branch, index) => {
    const option = options[index];
    const keys = option === undefined ? [] : shapesAt(option, []).flatMap((s) => Object.keys(s));
    const overlap = written.filter((k) => keys.includes(k)).length;
    const score = overlap * 1000 - branch.length;
    if (score > bestScore) {
      best = index;
      bestScore = score;
    }
  });
  return best;
}

/** Peel wrappers (optional, default, pipe, lazy…) that do not change which keys an object knows. */
function unwrap(schema: z.core.$ZodType): z.core.$ZodType {
  let current = schema;
  for (let depth = 0; depth < 32; depth += 1) {
    const def = current._zod.def as unknown as Record<string, unknown>;
    if (current instanceof z.core.$ZodPipe) {
      // preprocess() puts a transform in front; transform() puts one behind.
      const { in: input, out } = current._zod.def;
      current = input instanceof z.core.$ZodTransform ? out : input;
    } else if (current instanceof z.core.$ZodLazy) {
      current = current._zod.def.getter();
    } else if (def.innerType instanceof z.core.$ZodType) {
      current = def.innerType;
    } else {
      return current;
    }
  }
  return current;
}

/** Every object shape reachable at `path` below `schema` (several when a union is on the way). */
function shapesAt(schema: z.core.$ZodType, path: Path): Record<string, z.core.$ZodType>[] {
  const s = unwrap(schema);
  if (s instanceof z.core.$ZodUnion) return s._zod.def.options.flatMap((o) => shapesAt(o, path));
  if (s instanceof z.core.$ZodIntersection) {
    return [...shapesAt(s._zod.def.left, path), ...shapesAt(s._zod.def.right, path)];
  }
  if (path.length === 0) return s instanceof z.core.$ZodObject ? [s._zod.def.shape] : [];
  const child = childSchema(s, path[0]!);
  return child === undefined ? [] : shapesAt(child, path.slice(1));
}

/** The options of the union at `path` below `schema`, in zod's order (the order of its issue branches). */
function unionOptionsAt(schema: z.core.$ZodType, path: Path): z.core.$ZodType[] {
  const s = unwrap(schema);
  if (path.length === 0) return s instanceof z.core.$ZodUnion ? [...s._zod.def.options] : [];
  if (s instanceof z.core.$ZodUnion) {
    // A union on the way: the first option that has the path.
    for (const option of s._zod.def.options) {
      const found = unionOptionsAt(option, path);
      if (found.length > 0) return found;
    }
    return [];
  }
  const child = childSchema(s, path[0]!);
  return child === undefined ? [] : unionOptionsAt(child, path.slice(1));
}

function childSchema(s: z.core.$ZodType, key: PropertyKey): z.core.$ZodType | undefined {
  if (s instanceof z.core.$ZodObject) {
    return s._zod.def.shape[String(key)] ?? s._zod.def.catchall;
  }
  if (s instanceof z.core.$ZodArray) return s._zod.def.element;
  if (s instanceof z.core.$ZodRecord) return s._zod.def.valueType;
  if (s instanceof z.core.$ZodTuple && typeof key === 'number') return s._zod.def.items[key];
  return undefined;
}

function valueAt(data: unknown, path: Path): unknown {
  let current = data;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The candidate nearest to `word` when it is close enough to be a slip (a transposed, missing, extra or
 * wrong letter or two, or another case), else undefined.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  const limit = word.length <= 4 ? 1 : word.length <= 10 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    if (candidate === word) continue;
    const d = editDistance(lower, candidate.toLowerCase());
    if (d <= limit && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i < rows; i += 1) {
    for (let j = 1; j < cols; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = value;
    }
  }
  return d[a.length]![b.length]!;
}
