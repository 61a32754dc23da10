// The behaviour every CheckpointStore owes the runtime and `ferry offsets`, as a list of checks.
// `describeCheckpointConformance` registers them as vitest tests; each check is also a plain function.
// Loads are read at once, never polled: the runtime loads right after a restart and must get the last save.
import type { CheckpointStore } from '@ferry/core/sdk';
import {
  canonical,
  fail,
  hasCapability,
  type PartCheck,
  type PartSuiteOptions,
  registerChecks,
  short,
  tag,
  targetCheck,
} from './internal/parts.js';

/** Optional CheckpointStore methods; one the store does not implement must be named in `lacks`. */
export type CheckpointCapability = 'clear' | 'savePassState' | 'saveUnitTally';

/** A fresh, empty place for one check (a new directory, a new topic). */
export interface CheckpointTarget {
  /** A new store on this target; each call is a fresh instance (as after a restart). */
  make(): CheckpointStore | Promise<CheckpointStore>;
  cleanup?(): Promise<void>;
}

export interface CheckpointFixture {
  /** Called once per check: every check works on a target of its own. */
  target(): Promise<CheckpointTarget>;
  /** Optional methods the store does not have. A check that finds one missing without this fails. */
  lacks?: readonly CheckpointCapability[];
}

export type CheckpointConformanceCheck = PartCheck<CheckpointFixture>;

const checkpointCheck = (
  name: string,
  body: (
    fresh: () => Promise<CheckpointStore>,
    target: CheckpointTarget,
    fixture: CheckpointFixture,
  ) => Promise<void>,
  capability?: CheckpointCapability,
): CheckpointConformanceCheck => targetCheck(name, body, capability);

/** Pipeline names as a pipeline file allows them (letters, digits, dot, dash, underscore), unique per check. */
function pipelines(...suffixes: string[]): string[] {
  const base = `ck${tag()}`;
  return suffixes.map((suffix) => `${base}${suffix}`);
}

/** Positions of every JSON shape a source gives: objects, arrays, numbers (0 too), strings. */
const POSITIONS: unknown[] = [
  { lsn: '0/16B3748', xid: 771, files: ['a.csv', 'b.csv'], nested: { empty: {}, none: null, flag: false } },
  0,
  Number.MAX_SAFE_INTEGER,
  'court-lists/2026-11-23.csv#line=1042',
  [{ table: 'OFFENDERS', ts: '2024-01-01T00:00:00.000Z', id: 17 }, { table: 'BOOKINGS' }],
  { name: 'Zoë Ødegård', text: 'line one\nline "two"', float: 12.5, negative: -3 },
];

async function loadOrFail(store: CheckpointStore, pipeline: string, when: string): Promise<unknown> {
  try {
    return await store.load(pipeline);
  } catch (error) {
    return fail(`load('${pipeline}') ${when} threw: ${String(error)}`);
  }
}

async function expectLoaded(
  store: CheckpointStore,
  pipeline: string,
  expected: unknown,
  when: string,
): Promise<void> {
  const loaded = await loadOrFail(store, pipeline, when);
  if (expected === undefined) {
    if (loaded !== undefined)
      fail(`load('${pipeline}') ${when} returned ${short(loaded)}, expected undefined`);
    return;
  }
  if (loaded === undefined || canonical(loaded) !== canonical(expected))
    fail(`load('${pipeline}') ${when} returned ${short(loaded)}, expected ${short(expected)}`);
}

async function closeStore(store: CheckpointStore, when: string): Promise<void> {
  try {
    await store.close?.();
  } catch (error) {
    fail(`close() ${when} threw: ${String(error)}`);
  }
}

export const checkpointsPersist = checkpointCheck(
  'load() after save() returns the same JSON value, also from a fresh instance',
  async (fresh) => {
    const names = pipelines(...POSITIONS.map((_, i) => `-p${i}`));
    const writer = await fresh();
    for (const [i, name] of names.entries()) await writer.save(name, POSITIONS[i]);
    for (const [i, name] of names.entries())
      await expectLoaded(writer, name, POSITIONS[i], 'on the instance that saved it');
    const reader = await fresh();
    for (const [i, name] of names.entries())
      await expectLoaded(reader, name, POSITIONS[i], 'on a fresh instance (the saver still open)');
    await closeStore(writer, 'after saves');
    const later = await fresh();
    for (const [i, name] of names.entries())
      await expectLoaded(later, name, POSITIONS[i], 'on a fresh instance after the saver closed');
  },
);

export const checkpointsLastSaveWins = checkpointCheck(
  'the last save() wins, also across instances',
  async (fresh) => {
    const [name] = pipelines('') as [string];
    const first = await fresh();
    for (let seq = 1; seq <= 5; seq += 1) await first.save(name, { seq, at: `offset-${seq}` });
    await expectLoaded(first, name, { seq: 5, at: 'offset-5' }, 'after five saves');
    const second = await fresh();
    await expectLoaded(second, name, { seq: 5, at: 'offset-5' }, 'on a fresh instance after five saves');
    // A smaller position saved later still wins: the store keeps the last save, not the largest.
    await second.save(name, { seq: 2, at: 'offset-2' });
    const third = await fresh();
    await expectLoaded(
      third,
      name,
      { seq: 2, at: 'offset-2' },
      'on a fresh instance after another instance saved',
    );
    await expectLoaded(first, name, { seq: 2, at: 'offset-2' }, 'on an instance opened before the last save');
  },
);

export const checkpointsClear = checkpointCheck(
  'clear() makes load() return undefined, for that pipeline only, and a later save() counts again',
  async (fresh, _target, fixture) => {
    const store = await fresh();
    if (!hasCapability(store, 'clear', fixture.lacks, 'checkpoint store')) return;
    const clear = store.clear?.bind(store);
    if (!clear) fail('the checkpoint store has no clear()');
    const [cleared, kept, never] = pipelines('-cleared', '-kept', '-never') as [string, string, string];
    await store.save(cleared, { seq: 7 });
    await store.save(kept, { seq: 9 });
    await clear(cleared);
    await expectLoaded(store, cleared, undefined, 'after clear() on the same instance');
    await expectLoaded(store, kept, { seq: 9 }, 'for another pipeline after clear()');
    const fresher = await fresh();
    await expectLoaded(fresher, cleared, undefined, 'after clear(), on a fresh instance');
    await expectLoaded(fresher, kept, { seq: 9 }, 'for another pipeline after clear(), on a fresh instance');
    try {
      await clear(never);
    } catch (error) {
      fail(`clear() of a pipeline that has no checkpoint threw: ${String(error)}`);
    }
    await expectLoaded(fresher, never, undefined, 'after clear() of a pipeline that had none');
    await fresher.save(cleared, { seq: 1 });
    const last = await fresh();
    await expectLoaded(last, cleared, { seq: 1 }, 'after clear() then save(), on a fresh instance');
  },
  'clear',
);

export const checkpointsUnknownIsUndefined = checkpointCheck(
  'load() of a pipeline never saved returns undefined, on an empty store and beside other pipelines',
  async (fresh) => {
    const [unknown, other] = pipelines('-unknown', '-other') as [string, string];
    const empty = await fresh();
    await expectLoaded(empty, unknown, undefined, 'on an empty store');
    await empty.save(other, { seq: 1 });
    await expectLoaded(empty, unknown, undefined, 'when another pipeline has a checkpoint');
    const reader = await fresh();
    await expectLoaded(
      reader,
      unknown,
      undefined,
      'on a fresh instance when another pipeline has a checkpoint',
    );
  },
);

export const checkpointsIsolatePipelines = checkpointCheck(
  'pipelines do not see each other’s positions, even with names that share a prefix',
  async (fresh) => {
    const names = pipelines('', '2', '-eu', '.eu', '_eu');
    const store = await fresh();
    for (const [i, name] of names.entries()) await store.save(name, { owner: name, seq: i });
    await store.save(names[0]!, { owner: names[0], seq: 100 });
    const reader = await fresh();
    for (const [i, name] of names.entries()) {
      const expected = { owner: name, seq: i === 0 ? 100 : i };
      await expectLoaded(store, name, expected, 'beside pipelines with similar names');
      await expectLoaded(reader, name, expected, 'on a fresh instance, beside pipelines with similar names');
    }
  },
);

export const checkpointsKeepPassState = checkpointCheck(
  'keeps a pipeline’s pass state beside its position, across instances, apart from its position; clear() forgets both',
  async (fresh, _target, fixture) => {
    const store = await fresh();
    if (!hasCapability(store, 'savePassState', fixture.lacks, 'checkpoint store')) return;
    if (typeof store.loadPassState !== 'function')
      fail('the checkpoint store has savePassState() but no loadPassState()');
    const [name, other] = pipelines('', '-other') as [string, string];
    const state = { endedAt: '2026-01-01T02:30:05.000Z', position: '{"seq":3}' };
    await store.save(name, { seq: 3 });
    await store.savePassState!(name, state);
    const reader = await fresh();
    const loaded = await reader.loadPassState!(name);
    if (canonical(loaded) !== canonical(state))
      fail(`loadPassState() on a fresh instance returned ${short(loaded)}, expected ${short(state)}`);
    await expectLoaded(reader, name, { seq: 3 }, 'after savePassState() (the position must not change)');
    const none = await reader.loadPassState!(other);
    if (none !== undefined) fail(`loadPassState() of a pipeline that saved none returned ${short(none)}`);
    if (reader.clear !== undefined) {
      await reader.clear(name);
      const after = await (await fresh()).loadPassState!(name);
      if (after !== undefined) fail(`loadPassState() after clear() returned ${short(after)}`);
    }
  },
  'savePassState',
);

export const checkpointsKeepUnitTally = checkpointCheck(
  'keeps the counts of an open unit of work beside its position, across instances; clear() forgets them',
  async (fresh, _target, fixture) => {
    const store = await fresh();
    if (!hasCapability(store, 'saveUnitTally', fixture.lacks, 'checkpoint store')) return;
    if (typeof store.loadUnitTally !== 'function')
      fail('the checkpoint store has saveUnitTally() but no loadUnitTally()');
    const [name, other] = pipelines('', '-other') as [string, string];
    const first = {
      position: '{"line":500}',
      counts: { events: 480, deadLetters: 20, skipped: 0 },
      previous: { position: '{"line":0}', counts: null },
    };
    const second = {
      position: '{"line":1000}',
      counts: { events: 979, deadLetters: 20, skipped: 1 },
      previous: first,
    };
    await store.save(name, { line: 500 });
    await store.saveUnitTally!(name, first);
    await store.saveUnitTally!(name, {
      ...second,
      previous: { position: first.position, counts: first.counts },
    });
    const reader = await fresh();
    const loaded = await reader.loadUnitTally!(name);
    const expected = { ...second, previous: { position: first.position, counts: first.counts } };
    if (canonical(loaded) !== canonical(expected))
      fail(`loadUnitTally() on a fresh instance returned ${short(loaded)}, expected ${short(expected)}`);
    await expectLoaded(reader, name, { line: 500 }, 'after saveUnitTally() (the position must not change)');
    const none = await reader.loadUnitTally!(other);
    if (none !== undefined) fail(`loadUnitTally() of a pipeline that saved none returned ${short(none)}`);
    if (reader.clear !== undefined) {
      await reader.clear(name);
      const after = await (await fresh()).loadUnitTally!(name);
      if (after !== undefined) fail(`loadUnitTally() after clear() returned ${short(after)}`);
    }
  },
  'saveUnitTally',
);

export const checkpointConformanceChecks: CheckpointConformanceCheck[] = [
  checkpointsPersist,
  checkpointsLastSaveWins,
  checkpointsClear,
  checkpointsUnknownIsUndefined,
  checkpointsIsolatePipelines,
  checkpointsKeepPassState,
  checkpointsKeepUnitTally,
];

/** Register the CheckpointStore conformance suite as vitest tests. */
export function describeCheckpointConformance(
  name: string,
  fixture: CheckpointFixture,
  options: PartSuiteOptions<CheckpointFixture> = {},
): void {
  registerChecks(
    `${name} conforms to the CheckpointStore contract`,
    checkpointConformanceChecks,
    fixture,
    options,
  );
}
