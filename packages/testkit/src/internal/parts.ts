// What the Sink, DeadLetterSink and CheckpointStore suites share: declared capabilities, JSON comparison,
// fresh instances that are always closed, and registering checks as vitest tests.
import { describe, it } from 'vitest';
import { ConformanceFailure } from '../conformance.js';
import type { PartCheck, PartSuiteOptions } from '../part-check.js';

export type { PartCheck, PartSuiteOptions };

export function fail(message: string): never {
  throw new ConformanceFailure(message);
}

/**
 * Whether `part` has the optional method `name`. Absence must be declared by the fixture (`lacks`), and a
 * declaration must be true: either mismatch fails, so a check never passes by finding nothing to check.
 */
export function hasCapability(
  part: object,
  name: string,
  lacks: readonly string[] | undefined,
  what: string,
): boolean {
  const present = typeof Reflect.get(part, name) === 'function';
  const declared = lacks?.includes(name) ?? false;
  if (present && declared)
    fail(
      `the fixture declares that the ${what} lacks ${name}(), but it has one: remove '${name}' from lacks`,
    );
  if (!present && !declared)
    fail(`the ${what} has no ${name}(): implement it, or declare lacks: ['${name}'] in the fixture`);
  return present;
}

/** A JSON value with object keys sorted, so equal values serialise equally. */
export function canonical(value: unknown): string {
  return JSON.stringify(sortKeys(JSON.parse(JSON.stringify(value ?? null)) as unknown));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(Reflect.get(value, key));
    return out;
  }
  return value;
}

export function short(value: unknown, limit = 80): string {
  const text = value === undefined ? 'undefined' : JSON.stringify(value);
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}

/**
 * How `stored` differs from `written`, field by field (`sequence missing`, `time changed from … to …`).
 * With `extra`, fields only `stored` has count too.
 */
export function fieldDifferences(
  written: Record<string, unknown>,
  stored: Record<string, unknown>,
  fields: readonly string[] = Object.keys(written),
  extra = false,
): string[] {
  const out: string[] = [];
  const names = new Set(fields);
  if (extra) for (const name of Object.keys(stored)) names.add(name);
  for (const name of [...names].sort()) {
    const inWritten = Object.hasOwn(written, name) && written[name] !== undefined;
    const inStored = Object.hasOwn(stored, name) && stored[name] !== undefined;
    if (inWritten && !inStored) out.push(`${name} missing`);
    else if (!inWritten && inStored) out.push(`${name} added (${short(stored[name])})`);
    else if (inWritten && canonical(written[name]) !== canonical(stored[name]))
      out.push(`${name} changed from ${short(written[name])} to ${short(stored[name])}`);
  }
  return out;
}

export function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    fail(`${what} is not an object: ${short(value)}`);
  return Object.fromEntries(Object.entries(value));
}

/** Something a check opens on a target and must close afterwards, whatever happens. */
export interface Opened {
  close?(): Promise<void>;
}

export interface Target<P> {
  make(): P | Promise<P>;
  cleanup?(): Promise<void>;
}

/**
 * Run `body` on a fresh target with a factory of fresh instances; every instance is closed and the target
 * cleaned up afterwards. Cleanup errors are reported only when the check itself passed.
 */
export async function onTarget<P extends Opened, T extends Target<P>>(
  open: () => Promise<T>,
  body: (target: T, fresh: () => Promise<P>) => Promise<void>,
): Promise<void> {
  const target = await open();
  const made: P[] = [];
  const fresh = async () => {
    const part = await target.make();
    made.push(part);
    return part;
  };
  let failed = true;
  try {
    await body(target, fresh);
    failed = false;
  } finally {
    // Instances a check closed itself are closed again here: the suites require close() to be repeatable.
    for (const part of made) await part.close?.().catch(() => undefined);
    if (failed) await target.cleanup?.().catch(() => undefined);
    else await target.cleanup?.();
  }
}

/**
 * A check whose body runs on a fresh target of the fixture, with a factory of fresh instances (see
 * onTarget): the shape every check of the part suites has.
 */
export function targetCheck<P extends Opened, T extends Target<P>, F extends { target(): Promise<T> }>(
  name: string,
  body: (fresh: () => Promise<P>, target: T, fixture: F) => Promise<void>,
  capability?: string,
): PartCheck<F> {
  return {
    name,
    ...(capability === undefined ? {} : { capability }),
    run: (fixture) =>
      onTarget<P, T>(
        () => fixture.target(),
        (target, fresh) => body(fresh, target, fixture),
      ),
  };
}

export function registerChecks<F extends { lacks?: readonly string[] }>(
  title: string,
  checks: PartCheck<F>[],
  fixture: F,
  options: PartSuiteOptions<F>,
): void {
  describe(title, () => {
    for (const check of options.checks ?? checks) {
      const declared = check.capability !== undefined && (fixture.lacks?.includes(check.capability) ?? false);
      const name = declared
        ? `${check.name} [declared lacking ${check.capability}(): checks that it is absent]`
        : check.name;
      it(name, () => check.run(fixture), options.timeoutMs ?? 120_000);
    }
  });
}

/** A short random tag, so names and origins are unique per check. */
export function tag(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}
