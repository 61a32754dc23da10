// The behaviour every Source owes the runtime, as a list of checks. `describeSourceConformance` registers
// them as vitest tests; each check is also a plain function, so a deliberately broken source can be shown
// to fail it. A check never passes by skipping: a capability the source or its fixture lacks must be
// declared in `fixture.lacks` with the reason, and a declared absence is checked to be real.

import { createHook } from 'node:async_hooks';
import {
  type ChangeRecord,
  eventId,
  isFerryError,
  type ReadContext,
  type Source,
  silentLogger,
  stableStringify,
} from '@ferry/core/sdk';
import { describe, it } from 'vitest';

/**
 * What a source or its fixture may lack, declared with the reason (`acknowledge: 'polling confirms nothing
 * upstream'`). Undeclared, a missing capability fails its check.
 */
export interface SourceLacks {
  /** The source has no `acknowledge` (nothing to confirm upstream). */
  acknowledge?: string;
  /** The fixture cannot show what the source acknowledged upstream (`acknowledgedUpstream`). */
  upstreamPosition?: string;
  /** The fixture cannot make the source fail retryably (`failRetryable`). */
  retryableFailure?: string;
  /** The fixture cannot make the source fail fatally (`failFatal`). */
  fatalFailure?: string;
}

export interface SourceFixture {
  /** Capabilities this source or fixture lacks, each with the reason; see SourceLacks. */
  lacks?: SourceLacks;
  /**
   * Put the legacy system in a known state (fresh tables, files, pages) and say how many records a full
   * read must yield. Called before every check.
   */
  seed(): Promise<{ expected: number }>;
  /** Make the next read fail with an error the source must flag retryable (stop the server, drop a link). */
  failRetryable?: FailureMode;
  /** Make the next read fail with an error the source must flag not retryable (drop the table, bad key). */
  failFatal?: FailureMode;
  /**
   * What the source has acknowledged upstream (a Postgres flush LSN, the last archived file), translated
   * to the position it corresponds to: after acknowledging a position it must equal that position, never
   * a later one.
   */
  acknowledgedUpstream?(): Promise<unknown>;
  /** Undo what seed() did. */
  cleanup?(): Promise<void>;
  /** Longest a read of the whole fixture may take (default 60 s). */
  timeoutMs?: number;
}

export interface FailureMode {
  break(): Promise<void>;
  repair(): Promise<void>;
}

export type MakeSource<P = unknown> = () => Source<P> | Promise<Source<P>>;

export interface ConformanceCheck {
  name: string;
  run(makeSource: MakeSource, fixture: SourceFixture): Promise<void>;
}

const PIPELINE = 'conformance';

export class ConformanceFailure extends Error {
  override readonly name = 'ConformanceFailure';
}

function fail(message: string): never {
  throw new ConformanceFailure(message);
}

interface ReadResult<P> {
  batches: { position: P; ids: string[]; records: ChangeRecord[] }[];
  ids: string[];
}

function context<P>(from: P | undefined, signal: AbortSignal, once = true): ReadContext<P> {
  return { from, signal, once, log: silentLogger(), caughtUp: () => undefined };
}

/**
 * A capability the check needs is missing: fine only when the fixture declared it (with a reason); a
 * declared absence must be real.
 */
function requireCapability(
  fixture: SourceFixture,
  capability: keyof SourceLacks,
  present: boolean,
  what: string,
): boolean {
  const declared = fixture.lacks?.[capability];
  if (present && declared !== undefined)
    fail(`the fixture declares lacks.${capability} (${declared}) but ${what} is there: drop the declaration`);
  if (!present && declared === undefined)
    fail(`${what} is missing and the fixture does not declare lacks.${capability} with a reason`);
  return present;
}

/** Read in `once` mode until the source ends, with a deadline. */
export async function readAll<P>(
  source: Source<P>,
  from: P | undefined,
  timeoutMs = 60_000,
): Promise<ReadResult<P>> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const result: ReadResult<P> = { batches: [], ids: [] };
  try {
    for await (const batch of source.read(context(from, controller.signal))) {
      // As the runtime does before committing it; a later read from this position settles it (promotes it).
      await batch.baseline?.stage(stableStringify(batch.position));
      const ids = batch.records.map((r) => eventId(PIPELINE, r));
      result.batches.push({ position: batch.position, ids, records: batch.records });
      result.ids.push(...ids);
    }
  } finally {
    clearTimeout(timer);
  }
  if (controller.signal.aborted) fail(`reading the fixture did not end within ${timeoutMs} ms in once mode`);
  return result;
}

async function withSource<P, T>(
  makeSource: MakeSource<P>,
  fn: (source: Source<P>) => Promise<T>,
): Promise<T> {
  const source = await makeSource();
  try {
    return await fn(source);
  } finally {
    await source.close();
  }
}

function duplicates(ids: string[]): string[] {
  const seen = new Set<string>();
  return ids.filter((id) => {
    if (seen.has(id)) return true;
    seen.add(id);
    return false;
  });
}

/** A position survives a checkpoint only as JSON. */
function viaCheckpoint<P>(position: P): P {
  return JSON.parse(JSON.stringify(position)) as P;
}

export const readsEverything: ConformanceCheck = {
  name: 'reads every record of the fixture once, with JSON-serialisable positions',
  async run(makeSource, fixture) {
    const { expected } = await fixture.seed();
    const result = await withSource(makeSource, (s) => readAll(s, undefined, fixture.timeoutMs));
    if (result.ids.length !== expected) fail(`expected ${expected} records, read ${result.ids.length}`);
    const dups = duplicates(result.ids);
    if (dups.length > 0) fail(`${dups.length} records were read twice in one pass`);
    for (const batch of result.batches) {
      if (JSON.stringify(viaCheckpoint(batch.position)) !== JSON.stringify(batch.position)) {
        fail(`position ${String(batch.position)} does not survive JSON (checkpoints are JSON)`);
      }
    }
  },
};

export const resumesFromEveryPosition: ConformanceCheck = {
  name: 'resumes from any saved position without loss or duplicates, with the same event ids',
  async run(makeSource, fixture) {
    await fixture.seed();
    const full = await withSource(makeSource, (s) => readAll(s, undefined, fixture.timeoutMs));
    // Every batch boundary, at most 12 of them spread over the read.
    const step = Math.max(1, Math.floor(full.batches.length / 12));
    for (let i = 0; i < full.batches.length; i += step) {
      const position = viaCheckpoint(full.batches[i]!.position);
      const after = full.batches.slice(i + 1).flatMap((b) => b.ids);
      const resumed = await withSource(makeSource, (s) => readAll(s, position, fixture.timeoutMs));
      const missing = after.filter((id) => !resumed.ids.includes(id));
      const extra = resumed.ids.filter((id) => !after.includes(id));
      if (missing.length > 0)
        fail(`resuming after batch ${i + 1} lost ${missing.length} records (or changed their ids)`);
      if (extra.length > 0)
        fail(`resuming after batch ${i + 1} yielded ${extra.length} records already read before it`);
    }
  },
};

export const positionsMoveForward: ConformanceCheck = {
  name: 'positions only move forward: reading from the last position yields nothing new',
  async run(makeSource, fixture) {
    await fixture.seed();
    const full = await withSource(makeSource, (s) => readAll(s, undefined, fixture.timeoutMs));
    const last = full.batches.at(-1)?.position;
    if (last === undefined)
      fail('the fixture yielded no batch: seed() must give the source something to read');
    const again = await withSource(makeSource, (s) => readAll(s, viaCheckpoint(last), fixture.timeoutMs));
    if (again.ids.length > 0)
      fail(`reading from the last position yielded ${again.ids.length} records again`);
  },
};

export const deterministic: ConformanceCheck = {
  name: 'gives the same records and ids for the same input',
  async run(makeSource, fixture) {
    await fixture.seed();
    const first = await withSource(makeSource, (s) => readAll(s, undefined, fixture.timeoutMs));
    const second = await withSource(makeSource, (s) => readAll(s, undefined, fixture.timeoutMs));
    if (JSON.stringify(first.ids) !== JSON.stringify(second.ids))
      fail('two reads of the same input gave different ids');
    const data = (r: ReadResult<unknown>) =>
      JSON.stringify(r.batches.flatMap((b) => b.records.map((x) => [x.op, x.key, x.after])));
    if (data(first) !== data(second)) fail('two reads of the same input gave different records');
  },
};

export const declaresCadence: ConformanceCheck = {
  name: 'declares how the runtime drives it; a pass ends by itself, a stream waits for changes',
  async run(makeSource, fixture) {
    await fixture.seed();
    await withSource(makeSource, async (source) => {
      const cadence = source.cadence;
      if (cadence?.kind !== 'passes' && cadence?.kind !== 'stream')
        fail(
          `cadence must be { kind: 'passes', intervalMs } or { kind: 'stream' }, got ${JSON.stringify(cadence)}`,
        );
      if (cadence.kind === 'passes' && !(cadence.intervalMs > 0))
        fail(`a pass source needs intervalMs > 0, got ${cadence.intervalMs}`);
      const controller = new AbortController();
      const iterator = source.read(context(undefined, controller.signal, false))[Symbol.asyncIterator]();
      const deadline = Date.now() + (fixture.timeoutMs ?? 60_000);
      try {
        // Not in --once mode: a pass must still end once it has read what is there; a stream must not.
        for (;;) {
          const idle = delay(
            cadence.kind === 'stream' ? 1_500 : Math.max(0, deadline - Date.now()),
            'idle' as const,
          );
          const next = await Promise.race([iterator.next(), idle.promise]).finally(idle.cancel);
          if (next === 'idle') {
            if (cadence.kind === 'passes')
              fail('a pass did not end by itself: the runtime, not the source, waits between passes');
            return;
          }
          if (next.done) {
            if (cadence.kind === 'stream')
              fail('a stream source ended by itself outside --once instead of waiting for changes');
            return;
          }
        }
      } finally {
        controller.abort();
        await iterator.return?.();
      }
    });
  },
};

export const honoursAbort: ConformanceCheck = {
  name: 'honours the abort signal promptly',
  async run(makeSource, fixture) {
    await fixture.seed();
    await withSource(makeSource, async (source) => {
      const controller = new AbortController();
      const iterator = source.read(context(undefined, controller.signal, false))[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done) fail('the source yielded no batch: seed() must give the source something to read');
      const started = performance.now();
      controller.abort();
      const limit = delay(5_000, false as const);
      let giveUp = false;
      const ended = await Promise.race([
        (async () => {
          // Stop pulling once the limit has passed, so a source that ignores the abort is not driven forever.
          while (!giveUp) {
            const next = await iterator.next();
            if (next.done) return true;
          }
          return false;
        })(),
        limit.promise,
      ]).finally(() => {
        giveUp = true;
        limit.cancel();
      });
      if (!ended) fail('the source did not stop within 5 s of the abort');
      const took = performance.now() - started;
      if (took > 5_000) fail(`stopping took ${Math.round(took)} ms`);
    });
  },
};

export const ordersBySequence: ConformanceCheck = {
  name: 'gives every record a sequence that never goes back for a key and survives a re-read',
  async run(makeSource, fixture) {
    await fixture.seed();
    const first = await withSource(makeSource, (s) => readAll(s, undefined, fixture.timeoutMs));
    const latest = new Map<string, string>();
    for (const record of first.batches.flatMap((b) => b.records)) {
      if (typeof record.sequence !== 'string' || record.sequence === '')
        fail(`a record of ${record.stream} has no sequence (origin ${JSON.stringify(record.origin)})`);
      const key = `${record.stream}\0${JSON.stringify(record.key)}`;
      const before = latest.get(key);
      if (before !== undefined && record.sequence < before)
        fail(`the sequence of ${JSON.stringify(record.key)} went back: ${record.sequence} after ${before}`);
      latest.set(key, record.sequence);
    }
    const again = await withSource(makeSource, (s) => readAll(s, undefined, fixture.timeoutMs));
    const sequences = (r: ReadResult<unknown>) =>
      JSON.stringify(r.batches.flatMap((b) => b.records.map((x) => x.sequence)));
    if (sequences(first) !== sequences(again)) fail('a re-read of the same input gave other sequences');
  },
};

export const closeReleasesResources: ConformanceCheck = {
  name: 'close() during a read releases every resource (no open handles left)',
  async run(makeSource, fixture) {
    await fixture.seed();
    await settle();
    // Only what is created from here on counts: handles of the test runner itself are not the source's.
    const tracker = trackHandles();
    try {
      const source = await makeSource();
      const controller = new AbortController();
      const iterator = source.read(context(undefined, controller.signal, false))[Symbol.asyncIterator]();
      const pending = iterator.next().catch(() => undefined);
      const first = delay(200, undefined);
      await Promise.race([pending, first.promise]).finally(first.cancel);
      await source.close();
      controller.abort();
      const stop = delay(2_000, undefined);
      await Promise.race([iterator.return?.().catch(() => undefined), stop.promise]).finally(stop.cancel);
      // Sockets and timers may take a moment to be torn down after close().
      let leaked: string[] = [];
      for (let attempt = 0; attempt < 40; attempt += 1) {
        await settle();
        leaked = tracker.open();
        if (leaked.length === 0) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      fail(`handles left open after close(): ${leaked.join(', ')}`);
    } finally {
      tracker.stop();
    }
  },
};

export const acknowledgesOnlyGivenPositions: ConformanceCheck = {
  name: 'acknowledges upstream exactly the positions it is given, idempotently',
  async run(makeSource, fixture) {
    await fixture.seed();
    await withSource(makeSource, async (source) => {
      const full = await readAll(source, undefined, fixture.timeoutMs);
      if (!requireCapability(fixture, 'acknowledge', source.acknowledge !== undefined, 'Source.acknowledge'))
        return;
      const middle = Math.floor((full.batches.length - 1) / 2);
      if (full.batches.length === 0)
        fail('the fixture yielded no batch: seed() must give the source something to read');
      // The runtime hands over every committed position in order, and the saved one again after a restart.
      const committed = full.batches.slice(0, middle + 1).map((b) => viaCheckpoint(b.position));
      await source.acknowledge!(committed);
      await source.acknowledge!(committed.slice(-1));
      if (
        !requireCapability(
          fixture,
          'upstreamPosition',
          fixture.acknowledgedUpstream !== undefined,
          'fixture.acknowledgedUpstream',
        )
      )
        return;
      const upstream = await fixture.acknowledgedUpstream!();
      const expected = committed.at(-1);
      if (JSON.stringify(upstream) !== JSON.stringify(expected))
        fail(`acknowledged up to ${JSON.stringify(expected)} but upstream shows ${JSON.stringify(upstream)}`);
    });
  },
};

export const flagsRetryableErrors: ConformanceCheck = {
  name: 'surfaces retryable and fatal errors as FerryErrors with the right flag',
  async run(makeSource, fixture) {
    for (const [mode, retryable, capability] of [
      [fixture.failRetryable, true, 'retryableFailure'],
      [fixture.failFatal, false, 'fatalFailure'],
    ] as const) {
      const what = retryable ? 'fixture.failRetryable' : 'fixture.failFatal';
      if (!requireCapability(fixture, capability, mode !== undefined, what) || mode === undefined) continue;
      await fixture.seed();
      await mode.break();
      try {
        const error = await withSource(makeSource, (s) => readAll(s, undefined, fixture.timeoutMs)).then(
          () => undefined,
          (e: unknown) => e,
        );
        if (error === undefined)
          fail(
            `the source read successfully although it was broken (${retryable ? 'retryable' : 'fatal'} case)`,
          );
        if (!isFerryError(error))
          fail(
            `the source threw a ${(error as Error).name ?? typeof error}, not a FerryError: ${String(error)}`,
          );
        if (error.retryable !== retryable) {
          fail(
            `${error.code} was flagged retryable=${error.retryable}, expected ${retryable}: ${error.message}`,
          );
        }
      } finally {
        await mode.repair();
      }
    }
  },
};

export const sourceConformanceChecks: ConformanceCheck[] = [
  readsEverything,
  resumesFromEveryPosition,
  positionsMoveForward,
  deterministic,
  declaresCadence,
  honoursAbort,
  ordersBySequence,
  closeReleasesResources,
  acknowledgesOnlyGivenPositions,
  flagsRetryableErrors,
];

export interface ConformanceOptions {
  /** Checks to run (default: all). */
  checks?: ConformanceCheck[];
  /** Per-check test timeout (default 120 s). */
  timeoutMs?: number;
}

/** Register the conformance suite for a source as vitest tests. */
export function describeSourceConformance(
  name: string,
  makeSource: MakeSource,
  fixture: SourceFixture,
  options: ConformanceOptions = {},
): void {
  describe(`${name} conforms to the Source contract`, () => {
    for (const check of options.checks ?? sourceConformanceChecks) {
      it(
        check.name,
        async () => {
          try {
            await check.run(makeSource, fixture);
          } finally {
            await fixture.cleanup?.();
          }
        },
        options.timeoutMs ?? 120_000,
      );
    }
  });
}

// ------------------------------------------------------------------------------------------------------
// Open handles

// Async resources that keep a process alive: timers, sockets, pipes, pending file operations.
const WATCHED = new Set([
  'Timeout',
  'TCPWRAP',
  'TCPCONNECTWRAP',
  'PIPEWRAP',
  'TLSWRAP',
  'FSREQCALLBACK',
  'FSREQPROMISE',
]);

interface HandleTracker {
  /** Handles created since tracking started that are still open and keep the process alive. */
  open(): string[];
  stop(): void;
}

function trackHandles(): HandleTracker {
  const live = new Map<number, { type: string; resource: object }>();
  const hook = createHook({
    init(id, type, _trigger, resource) {
      if (WATCHED.has(type)) live.set(id, { type, resource });
    },
    destroy(id) {
      live.delete(id);
    },
  });
  hook.enable();
  return {
    open() {
      const counts = new Map<string, number>();
      for (const { type, resource } of live.values()) {
        const r = resource as { hasRef?: () => boolean; _destroyed?: boolean; destroyed?: boolean };
        // An unref'd timer or socket does not keep the process alive; a fired or cleared timer is gone.
        if (r.hasRef && !r.hasRef()) continue;
        if (r._destroyed === true || r.destroyed === true) continue;
        counts.set(type, (counts.get(type) ?? 0) + 1);
      }
      return [...counts].map(([type, n]) => `${n} ${type === 'Timeout' ? 'Timeout' : type}`);
    },
    stop() {
      hook.disable();
    },
  };
}

/** A timer that can be cancelled, so the suite itself leaves no handles behind. */
function delay<T>(ms: number, value: T): { promise: Promise<T>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(value), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

async function settle(): Promise<void> {
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 10));
}
