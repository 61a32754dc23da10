// The behaviour every Sink owes the runtime, as a list of checks. `describeSinkConformance` registers them
// as vitest tests; each check is also a plain function, so a deliberately broken sink can be shown to fail it.
// What is stored is always read by the fixture's own reader (`readBack`), never through the sink under test.
import type { AtomicBatch, CanonicalEvent, Sink } from '@ferry/core/sdk';
import {
  asRecord,
  canonical,
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
import {
  DEAD_LETTER_FIELDS,
  letterKey,
  sampleDeadLetters,
  sampleEvents,
  variant,
} from './internal/samples.js';
import { eventually } from './wait.js';

/** Optional Sink methods; one the sink does not implement must be named in `SinkFixture.lacks`. */
export type SinkCapability = 'probe' | 'commitBatch';

/** A fresh, empty place for one check (a new directory, a new topic) and the means to reach it. */
export interface SinkTarget {
  /** The pipeline the sink writes for: the `pipeline` of commitBatch's batches and dead letters. */
  pipeline: string;
  /** A new sink instance writing to this target; each call is a fresh instance (as after a restart). */
  make(): Sink | Promise<Sink>;
  /**
   * Every event stored on the target so far, each copy separately, as CloudEvents JSON objects, read
   * independently of any sink instance (the files themselves, a consumer of its own). An empty or not yet
   * created target reads as []. Take out what the transport adds and the event never had (the cloudevents
   * SDK's Kafka `partitionkey`), nothing else.
   */
  readBack(): Promise<readonly unknown[]>;
  /** Every dead letter stored for `pipeline`, read independently (needed to check commitBatch). */
  readDeadLetters?(): Promise<readonly unknown[]>;
  /** The checkpoint stored for `pipeline`, or undefined, read independently (needed to check commitBatch). */
  readCheckpoint?(): Promise<unknown>;
  /** Undo what target() made (delete the directory). */
  cleanup?(): Promise<void>;
}

export interface SinkFixture {
  /** Called once per check: every check works on a target of its own. */
  target(): Promise<SinkTarget>;
  /**
   * What writing the same events again leaves stored. `appends`: every write is stored, so a consumer sees
   * each copy, with the same id and the same content (the file log, Kafka at-least-once and the plain writes
   * of Kafka exactly-once). `deduplicates`: one copy per id however often it is written.
   */
  rewrite: 'appends' | 'deduplicates';
  /** Optional methods the sink does not have. A check that finds one missing without this fails. */
  lacks?: readonly SinkCapability[];
  /**
   * How long written events may take to become visible to `readBack` after `write` (or `commitBatch`)
   * resolved (default 10 s; 0 demands at once). Kafka transactions write their commit markers just after
   * the commit is answered.
   */
  visibleWithinMs?: number;
  /** How long `probe` may take against the live target (default 10 s). */
  probeWithinMs?: number;
  /**
   * An event the target refuses to store (larger than a Kafka message may be), for sinks with commitBatch:
   * a batch holding it must fail as a whole. Required when the sink has commitBatch.
   */
  refusedEvent?(): CanonicalEvent;
}

export type SinkConformanceCheck = PartCheck<SinkFixture>;

const sinkCheck = (
  name: string,
  body: (fresh: () => Promise<Sink>, target: SinkTarget, fixture: SinkFixture) => Promise<void>,
  capability?: SinkCapability,
): SinkConformanceCheck => targetCheck(name, body, capability);

interface Tally {
  /** Stored copies by event id. */
  byId: Map<string, Record<string, unknown>[]>;
  /** Stored items without a string id. */
  anonymous: number;
}

function tally(stored: readonly unknown[]): Tally {
  const byId = new Map<string, Record<string, unknown>[]>();
  let anonymous = 0;
  for (const item of stored) {
    const event = asRecord(item, 'an event read back');
    const id = event.id;
    if (typeof id !== 'string' || id === '') {
      anonymous += 1;
      continue;
    }
    const copies = byId.get(id);
    if (copies) copies.push(event);
    else byId.set(id, [event]);
  }
  return { byId, anonymous };
}

/** Written events with the number of copies the store must hold of each. */
type Expected = Map<string, { event: CanonicalEvent; copies: number }>;

function copiesOf(...groups: [CanonicalEvent[], number][]): Expected {
  const out: Expected = new Map();
  for (const [events, copies] of groups) {
    for (const event of events) {
      const entry = out.get(event.id);
      if (entry) entry.copies += copies;
      else out.set(event.id, { event, copies });
    }
  }
  return out;
}

function complete(seen: Tally, expected: Expected): boolean {
  for (const [id, { copies }] of expected) if ((seen.byId.get(id)?.length ?? 0) < copies) return false;
  return true;
}

/** Read back until every expected copy is there (bounded), then demand exactly the expected copies. */
async function expectStored(
  target: SinkTarget,
  fixture: SinkFixture,
  expected: Expected,
  when: string,
  { content = false } = {},
): Promise<void> {
  const timeoutMs = fixture.visibleWithinMs ?? 10_000;
  const seen = await eventually(
    async () => tally(await target.readBack()),
    (t) => complete(t, expected),
    { timeoutMs },
  );
  const missing: string[] = [];
  const counts: string[] = [];
  for (const [id, { copies }] of expected) {
    const stored = seen.byId.get(id)?.length ?? 0;
    if (stored === 0) missing.push(id);
    else if (stored !== copies) counts.push(`${id}: ${stored} copies, expected ${copies}`);
  }
  if (missing.length > 0)
    fail(
      `${when}: ${missing.length} of ${expected.size} events not stored within ${timeoutMs} ms ` +
        `(ids ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''})`,
    );
  const unknown = [...seen.byId.keys()].filter((id) => !expected.has(id));
  if (unknown.length > 0 || seen.anonymous > 0)
    fail(
      `${when}: the store holds ${unknown.length + seen.anonymous} events that were never written ` +
        `(ids ${unknown.slice(0, 3).join(', ') || 'none'}${seen.anonymous > 0 ? `, ${seen.anonymous} without an id` : ''})`,
    );
  if (counts.length > 0) fail(`${when}: wrong number of copies: ${counts.slice(0, 3).join('; ')}`);
  if (!content) return;
  let differing = 0;
  const changed: string[] = [];
  for (const [id, { event }] of expected) {
    const written = asRecord(JSON.parse(JSON.stringify(event)), 'a written event');
    const found = new Map<string, number>();
    for (const copy of seen.byId.get(id) ?? []) {
      const differences = fieldDifferences(written, copy, Object.keys(written), true).join(', ');
      if (differences === '') continue;
      differing += 1;
      found.set(differences, (found.get(differences) ?? 0) + 1);
    }
    for (const [differences, n] of found)
      changed.push(`event ${id} (${variant(event)}${n > 1 ? `, ${n} copies` : ''}): ${differences}`);
  }
  if (differing > 0)
    fail(
      `${when}: ${differing} stored copies differ from what was written: ${changed.slice(0, 4).join('; ')}`,
    );
}

async function closeOrFail(sink: Sink, when: string): Promise<void> {
  try {
    await sink.close();
  } catch (error) {
    fail(`close() ${when} threw: ${String(error)}`);
  }
}

export const sinkStoresDurably = sinkCheck(
  'stores events once write resolves: an independent reader sees them while the sink is open, and a fresh instance adds to them',
  async (fresh, target, fixture) => {
    const label = tag();
    const [first, second, third] = [
      sampleEvents(6, `${label}-1`),
      sampleEvents(4, `${label}-2`),
      sampleEvents(5, `${label}-3`),
    ];
    const sink = await fresh();
    await sink.write(first);
    await expectStored(
      target,
      fixture,
      copiesOf([first, 1]),
      'after the first write resolved (the sink still open)',
    );
    await sink.write(second);
    await expectStored(target, fixture, copiesOf([first, 1], [second, 1]), 'after the second write resolved');
    await closeOrFail(sink, 'after two writes');
    const next = await fresh();
    await next.write(third);
    await expectStored(
      target,
      fixture,
      copiesOf([first, 1], [second, 1], [third, 1]),
      'after a fresh instance wrote to the same target',
    );
  },
);

export const sinkRewritesKeepIds = sinkCheck(
  'writing the same events again (a retried write, a restart) keeps their ids and content and changes nothing else',
  async (fresh, target, fixture) => {
    const label = tag();
    const events = sampleEvents(6, label);
    const later = sampleEvents(2, `${label}-later`);
    const sink = await fresh();
    await sink.write(events);
    try {
      // The runtime retries a write whose answer was lost with the same instance.
      await sink.write(events);
    } catch (error) {
      fail(`writing the same events again on the same instance threw: ${String(error)}`);
    }
    await closeOrFail(sink, 'after writing the same events twice');
    // After a crash, a fresh instance writes the batches since the last checkpoint again.
    const restarted = await fresh();
    try {
      await restarted.write(events);
      await restarted.write(later);
    } catch (error) {
      fail(
        `a fresh instance failed to write events already stored, or new ones after them: ${String(error)}`,
      );
    }
    const copies = fixture.rewrite === 'appends' ? 3 : 1;
    await expectStored(
      target,
      fixture,
      copiesOf([events, copies], [later, 1]),
      `after writing 6 events 3 times (rewrite: ${fixture.rewrite}) and 2 new ones`,
      { content: true },
    );
  },
);

export const sinkKeepsAttributes = sinkCheck(
  'keeps every CloudEvents attribute and extension (ferryorigin, ferryop, traceparent, sequence) and the data',
  async (fresh, target, fixture) => {
    const events = sampleEvents(12, tag());
    const sink = await fresh();
    await sink.write(events);
    await expectStored(target, fixture, copiesOf([events, 1]), 'after writing events with every attribute', {
      content: true,
    });
  },
);

export const sinkClosesSafely = sinkCheck(
  'close() is safe: before any write, after writes (nothing is lost), and a second time',
  async (fresh, target, fixture) => {
    const idle = await fresh();
    await closeOrFail(idle, 'before any write');
    const events = sampleEvents(5, tag());
    const sink = await fresh();
    await sink.write(events);
    await closeOrFail(sink, 'after a write');
    await closeOrFail(sink, 'a second time');
    await expectStored(target, fixture, copiesOf([events, 1]), 'after close()');
  },
);

export const sinkWritesEncoded = sinkCheck(
  'a sink that encodes (encode + writeEncoded) stores what write would: batches encoded ahead, written together and alone, in order and intact',
  async (fresh, target, fixture) => {
    const sink = await fresh();
    if (sink.encode === undefined && sink.writeEncoded === undefined) {
      await closeOrFail(sink, 'a sink that does not encode');
      return;
    }
    if (sink.encode === undefined || sink.writeEncoded === undefined)
      fail('the sink has only one of encode() and writeEncoded(): the runtime uses them together');
    const label = tag();
    const batches = [
      sampleEvents(4, `${label}-1`),
      sampleEvents(3, `${label}-2`),
      sampleEvents(5, `${label}-3`),
    ];
    // The runtime encodes each batch as soon as it is ready, long before it writes it.
    const encoded = batches.map((events) => sink.encode!(events));
    for (const [i, batch] of encoded.entries()) {
      if (batch.count !== batches[i]!.length)
        fail(`encode() of ${batches[i]!.length} events said count ${batch.count}`);
      if (!(batch.bytes > 0)) fail(`encode() of ${batches[i]!.length} events said bytes ${batch.bytes}`);
    }
    // A commit group: several batches in one write, then one alone.
    await sink.writeEncoded!(encoded.slice(0, 2));
    await sink.writeEncoded!(encoded.slice(2));
    await closeOrFail(sink, 'after encoded writes');
    await expectStored(
      target,
      fixture,
      copiesOf([batches[0]!, 1], [batches[1]!, 1], [batches[2]!, 1]),
      'after three encoded batches were written in two writes',
      { content: true },
    );
  },
);

export const sinkProbes = sinkCheck(
  'probe() resolves against the live target and writes nothing',
  async (fresh, target, fixture) => {
    const sink = await fresh();
    if (!hasCapability(sink, 'probe', fixture.lacks, 'sink')) return;
    const probe = sink.probe?.bind(sink);
    if (!probe) fail('the sink has no probe()');
    const within = fixture.probeWithinMs ?? 10_000;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<{ late: true }>((resolve) => {
      timer = setTimeout(() => resolve({ late: true }), within);
    });
    const outcome = await Promise.race([
      probe(controller.signal).then(
        () => ({ ok: true as const }),
        (error: unknown) => ({ error }),
      ),
      late,
    ]).finally(() => clearTimeout(timer));
    if ('late' in outcome) {
      controller.abort();
      fail(`probe() did not settle within ${within} ms against a live target`);
    }
    if ('error' in outcome) fail(`probe() rejected against a live target: ${String(outcome.error)}`);
    const stored = await target.readBack();
    if (stored.length > 0) fail(`probe() wrote ${stored.length} events; it must write nothing`);
  },
  'probe',
);

/** Batches for commitBatch: events, dead letters and a position each, unique to this check. */
function atomicBatches(pipeline: string, label: string, count: number): AtomicBatch[] {
  return Array.from({ length: count }, (_, i) => ({
    pipeline,
    events: sampleEvents(4, `${label}-${i + 1}`),
    deadLetters: sampleDeadLetters(pipeline, 2, label, (i + 1) * 10),
    position: { batch: i + 1, label, offsets: [i + 1, (i + 1) * 100] },
  }));
}

interface Committing {
  commit: (batch: AtomicBatch) => Promise<void>;
  readDeadLetters: () => Promise<readonly unknown[]>;
  readCheckpoint: () => Promise<unknown>;
}

/** The sink's commitBatch and the target's readers, or undefined when the fixture declares it lacking. */
function committing(sink: Sink, target: SinkTarget, fixture: SinkFixture): Committing | undefined {
  if (!hasCapability(sink, 'commitBatch', fixture.lacks, 'sink')) return undefined;
  const commit = sink.commitBatch?.bind(sink);
  if (!commit) fail('the sink has no commitBatch()');
  const { readDeadLetters, readCheckpoint } = target;
  if (!readDeadLetters || !readCheckpoint)
    fail('to check commitBatch() the fixture’s target must give readDeadLetters() and readCheckpoint()');
  return { commit, readDeadLetters, readCheckpoint };
}

interface BatchView {
  events: number;
  letters: number;
  checkpoint: unknown;
}

async function view(target: SinkTarget, c: Committing, batch: AtomicBatch): Promise<BatchView> {
  const ids = new Set(batch.events.map((e) => e.id));
  const keys = new Set(batch.deadLetters.map(letterKey));
  const seen = tally(await target.readBack());
  const letters = (await c.readDeadLetters()).filter((letter) => keys.has(letterKey(letter)));
  return {
    events: [...ids].filter((id) => seen.byId.has(id)).length,
    letters: new Set(letters.map(letterKey)).size,
    checkpoint: await c.readCheckpoint(),
  };
}

/** Commit `batch` and wait (bounded) until all of it is visible. */
async function commitVisibly(
  target: SinkTarget,
  fixture: SinkFixture,
  c: Committing,
  batch: AtomicBatch,
  what: string,
): Promise<void> {
  try {
    await c.commit(batch);
  } catch (error) {
    fail(`${what}: commitBatch() rejected: ${String(error)}`);
  }
  const timeoutMs = fixture.visibleWithinMs ?? 10_000;
  const position = canonical(batch.position);
  const all = (v: BatchView) =>
    v.events === batch.events.length &&
    v.letters === batch.deadLetters.length &&
    v.checkpoint !== undefined &&
    canonical(v.checkpoint) === position;
  const seen = await eventually(() => view(target, c, batch), all, { timeoutMs });
  if (!all(seen))
    fail(
      `${what}: not all visible within ${timeoutMs} ms after commitBatch() resolved: ` +
        `${seen.events} of ${batch.events.length} events, ${seen.letters} of ${batch.deadLetters.length} dead letters, ` +
        `checkpoint ${short(seen.checkpoint)} (expected ${position})`,
    );
}

/** Every dead letter of `batches` is stored with every field. */
async function expectLetters(c: Committing, batches: AtomicBatch[], when: string): Promise<void> {
  const stored = await c.readDeadLetters();
  for (const letter of batches.flatMap((b) => b.deadLetters)) {
    const copy = stored.find((s) => letterKey(s) === letterKey(letter));
    if (!copy) fail(`${when}: the dead letter of ${short(letter.origin)} is missing`);
    const differences = fieldDifferences(
      asRecord(JSON.parse(JSON.stringify(letter)), 'a written dead letter'),
      asRecord(copy, 'a dead letter read back'),
      DEAD_LETTER_FIELDS,
    );
    if (differences.length > 0)
      fail(`${when}: the dead letter of ${short(letter.origin)} differs: ${differences.join(', ')}`);
  }
}

export const sinkCommitsTogether = sinkCheck(
  'commitBatch() makes a batch’s events, dead letters and checkpoint visible, each event once',
  async (fresh, target, fixture) => {
    const sink = await fresh();
    const c = committing(sink, target, fixture);
    if (!c) return;
    const batches = atomicBatches(target.pipeline, tag(), 2);
    for (const [i, batch] of batches.entries())
      await commitVisibly(target, fixture, c, batch, `batch ${i + 1}`);
    await expectStored(
      target,
      fixture,
      copiesOf(...batches.map((b): [CanonicalEvent[], number] => [b.events, 1])),
      'after two commits',
      { content: true },
    );
    await expectLetters(c, batches, 'after two commits');
  },
  'commitBatch',
);

export const sinkFailedCommitLeavesNothing = sinkCheck(
  'a commitBatch() that fails leaves none of its events, dead letters or checkpoint visible, and the sink goes on',
  async (fresh, target, fixture) => {
    const sink = await fresh();
    const c = committing(sink, target, fixture);
    if (!c) return;
    if (!fixture.refusedEvent)
      fail(
        'to check a failed commitBatch() the fixture must give refusedEvent(): an event the target refuses',
      );
    const [before, failing, after] = atomicBatches(target.pipeline, tag(), 3) as [
      AtomicBatch,
      AtomicBatch,
      AtomicBatch,
    ];
    // The refused event last, so whatever is sent before it in the batch would be stored by a sink that
    // does not commit atomically.
    failing.events.push(fixture.refusedEvent());
    await commitVisibly(target, fixture, c, before, 'the batch before');
    const outcome = await c.commit(failing).then(
      () => undefined,
      (error: unknown) => ({ error }),
    );
    if (outcome === undefined)
      fail('commitBatch() resolved for a batch holding the fixture’s refusedEvent(): it must reject');
    const checkpoint = await c.readCheckpoint();
    if (canonical(checkpoint) !== canonical(before.position))
      fail(
        `after commitBatch() rejected, the checkpoint is ${short(checkpoint)}, not the previous ${short(before.position)}`,
      );
    // The next batch becoming visible marks the end: whatever the failed one left would be visible by now.
    await commitVisibly(target, fixture, c, after, 'the batch after a failed one');
    const left = await view(target, c, failing);
    if (left.events > 0 || left.letters > 0)
      fail(
        `the failed commitBatch() left ${left.events} of its ${failing.events.length} events and ` +
          `${left.letters} of its ${failing.deadLetters.length} dead letters visible`,
      );
    await expectStored(
      target,
      fixture,
      copiesOf([before.events, 1], [after.events, 1]),
      'after a commit, a failed commit and another commit',
    );
  },
  'commitBatch',
);

export const sinkConformanceChecks: SinkConformanceCheck[] = [
  sinkStoresDurably,
  sinkRewritesKeepIds,
  sinkKeepsAttributes,
  sinkClosesSafely,
  sinkWritesEncoded,
  sinkProbes,
  sinkCommitsTogether,
  sinkFailedCommitLeavesNothing,
];

/** Register the Sink conformance suite as vitest tests. */
export function describeSinkConformance(
  name: string,
  fixture: SinkFixture,
  options: PartSuiteOptions<SinkFixture> = {},
): void {
  registerChecks(`${name} conforms to the Sink contract`, sinkConformanceChecks, fixture, options);
}
