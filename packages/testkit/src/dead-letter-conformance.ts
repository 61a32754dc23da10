// The behaviour every DeadLetterSink owes the runtime and `ferry dlq`, as a list of checks.
// `describeDeadLetterConformance` registers them as vitest tests; each check is also a plain function.
import { randomUUID } from 'node:crypto';
import type { DeadLetter, DeadLetterSink } from '@ferry/core/sdk';
import {
  asRecord,
  fail,
  fieldDifferences,
  hasCapability,
  type PartCheck,
  type PartSuiteOptions,
  registerChecks,
  short,
  tag,
  targetCheck,
} from './internal/parts.js';
import { DEAD_LETTER_FIELDS, letterKey, sampleDeadLetters } from './internal/samples.js';
import { eventually } from './wait.js';

/** Optional DeadLetterSink methods; one the sink does not implement must be named in `lacks`. */
export type DeadLetterCapability = 'list' | 'markReplayed';

/** A fresh, empty place for one check (a new directory, a new topic). */
export interface DeadLetterTarget {
  /** The pipeline whose letters the sink keeps; the suite's letters carry it. */
  pipeline: string;
  /** A new instance on this target; each call is a fresh instance (as after a restart, or `ferry dlq`). */
  make(): DeadLetterSink | Promise<DeadLetterSink>;
  /**
   * Every letter stored, read independently of any instance. Needed only when the sink lacks list(): the
   * durability check then reads through it instead of a fresh instance.
   */
  readBack?(): Promise<readonly unknown[]>;
  cleanup?(): Promise<void>;
}

export interface DeadLetterFixture {
  /** Called once per check: every check works on a target of its own. */
  target(): Promise<DeadLetterTarget>;
  /** Optional methods the sink does not have. A check that finds one missing without this fails. */
  lacks?: readonly DeadLetterCapability[];
  /** How long written letters and replay marks may take to show in a fresh instance (default 10 s; 0: at once). */
  visibleWithinMs?: number;
}

export type DeadLetterConformanceCheck = PartCheck<DeadLetterFixture>;

const deadLetterCheck = (
  name: string,
  body: (
    fresh: () => Promise<DeadLetterSink>,
    target: DeadLetterTarget,
    fixture: DeadLetterFixture,
  ) => Promise<void>,
  capability?: DeadLetterCapability,
): DeadLetterConformanceCheck => targetCheck(name, body, capability);

async function listed(sink: DeadLetterSink): Promise<DeadLetter[]> {
  const list = sink.list?.bind(sink);
  if (!list) fail('the dead-letter sink has no list()');
  const out: DeadLetter[] = [];
  for await (const letter of list()) out.push(letter);
  return out;
}

/** What a reader sees: a fresh instance's list() (closed afterwards), or the fixture's readBack(). */
function readerOf(
  fixture: DeadLetterFixture,
  target: DeadLetterTarget,
  fresh: () => Promise<DeadLetterSink>,
): () => Promise<readonly unknown[]> {
  const lacksList = fixture.lacks?.includes('list') ?? false;
  if (!lacksList)
    return async () => {
      const reader = await fresh();
      if (!hasCapability(reader, 'list', fixture.lacks, 'dead-letter sink')) return [];
      try {
        return await listed(reader);
      } finally {
        await reader.close();
      }
    };
  const readBack = target.readBack?.bind(target);
  if (!readBack)
    fail('the dead-letter sink is declared to lack list(): the fixture’s target must give readBack()');
  return readBack;
}

/** Read until exactly `expected` (by identity) is there, bounded; then compare order and every field. */
async function expectLetters(
  read: () => Promise<readonly unknown[]>,
  expected: DeadLetter[],
  fixture: DeadLetterFixture,
  when: string,
  { order = false } = {},
): Promise<void> {
  const timeoutMs = fixture.visibleWithinMs ?? 10_000;
  const want = expected.map(letterKey);
  const same = (seen: readonly unknown[]) =>
    seen.length === want.length &&
    new Set(seen.map(letterKey)).size === want.length &&
    seen.every((l) => want.includes(letterKey(l)));
  const seen = await eventually(read, same, { timeoutMs });
  const keys = seen.map(letterKey);
  const missing = expected.filter((l) => !keys.includes(letterKey(l)));
  if (missing.length > 0)
    fail(
      `${when}: ${missing.length} of ${expected.length} letters not seen within ${timeoutMs} ms ` +
        `(origins ${missing.map((l) => short(l.origin)).join(', ')})`,
    );
  const extra = seen.filter((l) => !want.includes(letterKey(l)));
  if (extra.length > 0)
    fail(
      `${when}: ${extra.length} letters listed that should not be (origins ${extra
        .map((l) => short(Reflect.get(asRecord(l, 'a letter'), 'origin')))
        .join(', ')})`,
    );
  if (seen.length !== expected.length)
    fail(
      `${when}: ${seen.length} letters listed for ${expected.length} distinct ones (a letter listed twice)`,
    );
  if (order && keys.join('\n') !== want.join('\n')) {
    const at = (key: string) => expected.findIndex((l) => letterKey(l) === key) + 1;
    fail(`${when}: letters not oldest first: listed in the order written ${keys.map(at).join(', ')}`);
  }
  for (const [i, letter] of expected.entries()) {
    const copy = seen.find((l) => letterKey(l) === want[i]);
    const differences = fieldDifferences(
      asRecord(JSON.parse(JSON.stringify(letter)), 'a written letter'),
      asRecord(copy, 'a letter read back'),
      DEAD_LETTER_FIELDS,
    );
    if (differences.length > 0)
      fail(`${when}: letter ${i + 1} (${short(letter.origin)}) differs: ${differences.join(', ')}`);
  }
}

export const deadLettersStoredDurably = deadLetterCheck(
  'stores letters once write resolves: a fresh instance sees every one, with every field',
  async (fresh, target, fixture) => {
    const letters = sampleDeadLetters(target.pipeline, 6, tag());
    const read = readerOf(fixture, target, fresh);
    const sink = await fresh();
    await sink.write(letters.slice(0, 3));
    await expectLetters(
      read,
      letters.slice(0, 3),
      fixture,
      'after the first write resolved (the writer still open)',
    );
    await sink.write(letters.slice(3, 5));
    await sink.close();
    await expectLetters(read, letters.slice(0, 5), fixture, 'after a second write and close()');
    const next = await fresh();
    await next.write(letters.slice(5));
    await expectLetters(read, letters, fixture, 'after a fresh instance wrote to the same target');
  },
);

export const deadLettersListedOldestFirst = deadLetterCheck(
  'list() yields every letter oldest first with every field (code, message, stage, origin, record, attempts, retryable)',
  async (fresh, target, fixture) => {
    const sink = await fresh();
    if (!hasCapability(sink, 'list', fixture.lacks, 'dead-letter sink')) return;
    const letters = sampleDeadLetters(target.pipeline, 8, tag());
    await sink.write(letters.slice(0, 3));
    await sink.write(letters.slice(3, 4));
    await sink.close();
    const other = await fresh();
    await other.write(letters.slice(4));
    await expectLetters(() => listed(other), letters, fixture, 'list() on the instance that wrote last', {
      order: true,
    });
    const reader = await fresh();
    await expectLetters(() => listed(reader), letters, fixture, 'list() on a fresh instance', {
      order: true,
    });
  },
  'list',
);

export const deadLettersReplayedOnce = deadLetterCheck(
  'markReplayed() is once-only: a marked letter is never listed again, also by a fresh instance, and marking twice is harmless',
  async (fresh, target, fixture) => {
    const writer = await fresh();
    if (!hasCapability(writer, 'markReplayed', fixture.lacks, 'dead-letter sink')) return;
    if (fixture.lacks?.includes('list'))
      fail(
        'the dead-letter sink has markReplayed() but is declared to lack list(), which markReplayed() acts on',
      );
    hasCapability(writer, 'list', fixture.lacks, 'dead-letter sink');
    const letters = sampleDeadLetters(target.pipeline, 5, tag());
    const [l1, l2, l3, l4, l5] = letters as [DeadLetter, DeadLetter, DeadLetter, DeadLetter, DeadLetter];
    await writer.write([l1, l2, l3, l4]);
    // `ferry dlq replay` marks the letters as it listed them, from an instance of its own.
    const replayer = await fresh();
    await expectLetters(() => listed(replayer), [l1, l2, l3, l4], fixture, 'before any replay', {
      order: true,
    });
    const asListed = (await listed(replayer)).find((l) => letterKey(l) === letterKey(l2));
    if (!asListed) fail('list() did not yield the letter to replay');
    const mark = (sink: DeadLetterSink, marked: DeadLetter[], when: string) => {
      const markReplayed = sink.markReplayed?.bind(sink);
      if (!markReplayed) fail('the dead-letter sink has no markReplayed()');
      return markReplayed(marked.map((letter) => ({ letter, events: [randomUUID()] }))).catch(
        (error: unknown) => fail(`markReplayed() ${when} threw: ${String(error)}`),
      );
    };
    await mark(replayer, [asListed], 'for a listed letter');
    const rest = [l1, l3, l4];
    await expectLetters(
      () => listed(replayer),
      rest,
      fixture,
      'list() on the instance that marked a letter',
      {
        order: true,
      },
    );
    await expectLetters(() => listed(writer), rest, fixture, 'list() on an instance opened before the mark', {
      order: true,
    });
    const again = await fresh();
    await expectLetters(() => listed(again), rest, fixture, 'list() on a fresh instance after the mark', {
      order: true,
    });
    await mark(again, [l2], 'a second time for the same letter');
    await expectLetters(() => listed(again), rest, fixture, 'after marking the same letter twice', {
      order: true,
    });
    await mark(again, [l2, l3], 'for a marked and an unmarked letter together');
    await again.write([l5]);
    const last = await fresh();
    await expectLetters(() => listed(last), [l1, l4, l5], fixture, 'after more marks and a new letter', {
      order: true,
    });
  },
  'markReplayed',
);

export const deadLetterConformanceChecks: DeadLetterConformanceCheck[] = [
  deadLettersStoredDurably,
  deadLettersListedOldestFirst,
  deadLettersReplayedOnce,
];

/** Register the DeadLetterSink conformance suite as vitest tests. */
export function describeDeadLetterConformance(
  name: string,
  fixture: DeadLetterFixture,
  options: PartSuiteOptions<DeadLetterFixture> = {},
): void {
  registerChecks(
    `${name} conforms to the DeadLetterSink contract`,
    deadLetterConformanceChecks,
    fixture,
    options,
  );
}
