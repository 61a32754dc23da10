// The Sink, DeadLetterSink and CheckpointStore suites pass well-behaved in-memory parts and catch broken
// ones: a sink that buffers until close, drops an extension, or lacks probe without saying so; a dead-letter
// store whose markReplayed does nothing; a checkpoint store that forgets across instances.
import type {
  AtomicBatch,
  CanonicalEvent,
  CheckpointStore,
  DeadLetter,
  DeadLetterSink,
  PassState,
  Sink,
  UnitTallyState,
} from '@ferry/core/sdk';
import {
  type CheckpointFixture,
  ConformanceFailure,
  checkpointsClear,
  checkpointsIsolatePipelines,
  checkpointsLastSaveWins,
  checkpointsPersist,
  checkpointsUnknownIsUndefined,
  type DeadLetterFixture,
  deadLettersListedOldestFirst,
  deadLettersReplayedOnce,
  deadLettersStoredDurably,
  describeCheckpointConformance,
  describeDeadLetterConformance,
  describeSinkConformance,
  type PartCheck,
  type SinkFixture,
  sinkClosesSafely,
  sinkCommitsTogether,
  sinkFailedCommitLeavesNothing,
  sinkKeepsAttributes,
  sinkProbes,
  sinkRewritesKeepIds,
  sinkStoresDurably,
} from '@ferry/testkit';
import { describe, expect, it } from 'vitest';

const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const PIPELINE = 'memory';
const REFUSED = 'REFUSED';

/** What outlives an instance: the "disk" every instance on one target shares. */
class Store {
  events: CanonicalEvent[] = [];
  letters: DeadLetter[] = [];
  replayed = new Set<string>();
  checkpoints = new Map<string, string>();
}

const letterId = (l: DeadLetter) => JSON.stringify([l.pipeline, l.stream, l.stage, l.origin]);

// ---------------------------------------------------------------------------------------------------------
// Well-behaved parts

class StoreSink implements Sink {
  readonly type = 'memory';
  constructor(protected readonly store: Store) {}

  async write(events: CanonicalEvent[]): Promise<void> {
    this.store.events.push(...copy(events));
  }

  async close(): Promise<void> {}
}

class ProbingSink extends StoreSink {
  async probe(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
  }
}

class AtomicSink extends ProbingSink {
  async commitBatch(batch: AtomicBatch): Promise<void> {
    if (batch.events.some((e) => e.subject === REFUSED)) throw new Error('refused: the event is too large');
    this.store.events.push(...copy(batch.events));
    this.store.letters.push(...copy(batch.deadLetters));
    this.store.checkpoints.set(batch.pipeline, JSON.stringify(batch.position));
  }
}

class StoreDeadLetters implements DeadLetterSink {
  readonly type = 'memory';
  constructor(protected readonly store: Store) {}

  async write(letters: DeadLetter[]): Promise<void> {
    this.store.letters.push(...copy(letters));
  }

  async *list(): AsyncIterable<DeadLetter> {
    for (const letter of this.store.letters)
      if (!this.store.replayed.has(letterId(letter))) yield copy(letter);
  }

  async markReplayed(replays: { letter: DeadLetter; events: string[] }[]): Promise<void> {
    for (const { letter } of replays) this.store.replayed.add(letterId(letter));
  }

  async close(): Promise<void> {}
}

class StoreCheckpoints implements CheckpointStore {
  readonly type = 'memory';
  constructor(protected readonly store: Store) {}

  async load(pipeline: string): Promise<unknown> {
    const text = this.store.checkpoints.get(pipeline);
    return text === undefined ? undefined : JSON.parse(text);
  }

  async save(pipeline: string, position: unknown): Promise<void> {
    this.store.checkpoints.set(pipeline, JSON.stringify(position));
  }

  async clear(pipeline: string): Promise<void> {
    this.store.checkpoints.delete(pipeline);
    this.store.checkpoints.delete(`${pipeline}#pass`);
    this.store.checkpoints.delete(`${pipeline}#unit`);
  }

  async loadPassState(pipeline: string): Promise<PassState | undefined> {
    const text = this.store.checkpoints.get(`${pipeline}#pass`);
    return text === undefined ? undefined : (JSON.parse(text) as PassState);
  }

  async savePassState(pipeline: string, state: PassState): Promise<void> {
    this.store.checkpoints.set(`${pipeline}#pass`, JSON.stringify(state));
  }

  async loadUnitTally(pipeline: string): Promise<UnitTallyState | undefined> {
    const text = this.store.checkpoints.get(`${pipeline}#unit`);
    return text === undefined ? undefined : (JSON.parse(text) as UnitTallyState);
  }

  async saveUnitTally(pipeline: string, state: UnitTallyState): Promise<void> {
    this.store.checkpoints.set(`${pipeline}#unit`, JSON.stringify(state));
  }
}

function refusedEvent(): CanonicalEvent {
  return {
    specversion: '1.0',
    id: 'refused',
    source: '/ferry/memory',
    type: 'conformance.case.created',
    subject: REFUSED,
    time: new Date(0).toISOString(),
    datacontenttype: 'application/json',
    data: {},
    ferryorigin: '{}',
    ferryop: 'create',
  };
}

function sinkFixture(make: (store: Store) => Sink, options: Partial<SinkFixture> = {}): SinkFixture {
  return {
    async target() {
      const store = new Store();
      return {
        pipeline: PIPELINE,
        make: () => make(store),
        readBack: async () => copy(store.events),
        readDeadLetters: async () => copy(store.letters),
        readCheckpoint: async () => {
          const text = store.checkpoints.get(PIPELINE);
          return text === undefined ? undefined : JSON.parse(text);
        },
      };
    },
    rewrite: 'appends',
    visibleWithinMs: 0,
    refusedEvent,
    ...options,
  };
}

function deadLetterFixture(
  make: (store: Store) => DeadLetterSink,
  options: Partial<DeadLetterFixture> = {},
): DeadLetterFixture {
  return {
    async target() {
      const store = new Store();
      return { pipeline: PIPELINE, make: () => make(store), readBack: async () => copy(store.letters) };
    },
    visibleWithinMs: 0,
    ...options,
  };
}

function checkpointFixture(
  make: (store: Store) => CheckpointStore,
  options: Partial<CheckpointFixture> = {},
): CheckpointFixture {
  return {
    async target() {
      const store = new Store();
      return { make: () => make(store) };
    },
    ...options,
  };
}

describeSinkConformance(
  'a well-behaved atomic in-memory sink',
  sinkFixture((store) => new AtomicSink(store)),
);
describeSinkConformance(
  'a well-behaved in-memory sink without probe and commitBatch, declared',
  sinkFixture((store) => new StoreSink(store), { lacks: ['probe', 'commitBatch'] }),
);
describeDeadLetterConformance(
  'a well-behaved in-memory dead-letter store',
  deadLetterFixture((store) => new StoreDeadLetters(store)),
);
describeCheckpointConformance(
  'a well-behaved in-memory checkpoint store',
  checkpointFixture((store) => new StoreCheckpoints(store)),
);

/** Run one check and return its failure message; fails the test if the check passes. */
async function failure<F>(check: PartCheck<F>, fixture: F): Promise<string> {
  const error = await check.run(fixture).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `${check.name} passed a broken part`).toBeInstanceOf(ConformanceFailure);
  return error instanceof Error ? error.message : String(error);
}

// ---------------------------------------------------------------------------------------------------------
// Broken sinks

describe('the Sink suite catches broken sinks', () => {
  it('a sink without probe that does not declare it', async () => {
    const message = await failure(
      sinkProbes,
      sinkFixture((store) => new StoreSink(store)),
    );
    expect(message).toBe("the sink has no probe(): implement it, or declare lacks: ['probe'] in the fixture");
  });

  it('a fixture that declares probe lacking although the sink has one', async () => {
    const message = await failure(
      sinkProbes,
      sinkFixture((store) => new AtomicSink(store), { lacks: ['probe'] }),
    );
    expect(message).toMatch(/declares that the sink lacks probe\(\), but it has one/);
  });

  it('a sink without commitBatch that does not declare it fails both commit checks', async () => {
    const fixture = sinkFixture((store) => new ProbingSink(store));
    for (const check of [sinkCommitsTogether, sinkFailedCommitLeavesNothing]) {
      expect(await failure(check, fixture)).toMatch(
        /the sink has no commitBatch\(\): .*lacks: \['commitBatch'\]/,
      );
    }
  });

  it('a probe that rejects against a live target', async () => {
    class DeadProbe extends AtomicSink {
      override async probe(): Promise<void> {
        throw new Error('ECONNREFUSED 127.0.0.1:9');
      }
    }
    const message = await failure(
      sinkProbes,
      sinkFixture((store) => new DeadProbe(store)),
    );
    expect(message).toMatch(/probe\(\) rejected against a live target: Error: ECONNREFUSED/);
  });

  it('a sink whose write resolves before the events are stored (buffered until close)', async () => {
    class Buffering extends AtomicSink {
      private readonly pending: CanonicalEvent[] = [];
      override async write(events: CanonicalEvent[]): Promise<void> {
        this.pending.push(...copy(events));
      }
      override async close(): Promise<void> {
        this.store.events.push(...this.pending.splice(0));
      }
    }
    const message = await failure(
      sinkStoresDurably,
      sinkFixture((store) => new Buffering(store), { visibleWithinMs: 100 }),
    );
    expect(message).toMatch(
      /^after the first write resolved \(the sink still open\): 6 of 6 events not stored within 100 ms/,
    );
  });

  it('a sink whose fresh instance starts the log afresh', async () => {
    class Truncating extends AtomicSink {
      constructor(store: Store) {
        super(store);
        store.events.length = 0;
      }
    }
    const message = await failure(
      sinkStoresDurably,
      sinkFixture((store) => new Truncating(store)),
    );
    expect(message).toMatch(/^after a fresh instance wrote to the same target: 10 of 15 events not stored/);
  });

  it('a sink that keeps only the attributes it knows (drops the sequence extension)', async () => {
    const known = [
      'specversion',
      'id',
      'source',
      'type',
      'subject',
      'time',
      'datacontenttype',
      'dataschema',
      'data',
      'ferryorigin',
      'ferryop',
      'traceparent',
    ];
    class Forgetful extends AtomicSink {
      override async write(events: CanonicalEvent[]): Promise<void> {
        for (const event of copy(events)) {
          for (const name of Object.keys(event))
            if (!known.includes(name)) Reflect.deleteProperty(event, name);
          this.store.events.push(event);
        }
      }
    }
    const message = await failure(
      sinkKeepsAttributes,
      sinkFixture((store) => new Forgetful(store)),
    );
    expect(message).toMatch(
      /3 stored copies differ from what was written: event \S+ \(with sequence\): sequence missing/,
    );
  });

  it('a sink that stamps the time of writing over the event time', async () => {
    class Stamping extends AtomicSink {
      override async write(events: CanonicalEvent[]): Promise<void> {
        await super.write(events.map((e) => ({ ...e, time: new Date().toISOString() })));
      }
    }
    const message = await failure(
      sinkKeepsAttributes,
      sinkFixture((store) => new Stamping(store)),
    );
    expect(message).toMatch(/time changed from "2024-01-01T00:00:00.123Z" to "20/);
  });

  it('a sink that drops traceparent', async () => {
    class Untraced extends AtomicSink {
      override async write(events: CanonicalEvent[]): Promise<void> {
        await super.write(events.map(({ traceparent: _, ...rest }) => rest));
      }
    }
    const message = await failure(
      sinkKeepsAttributes,
      sinkFixture((store) => new Untraced(store)),
    );
    expect(message).toMatch(/\(with [a-z, ]*traceparent[a-z, ]*\): traceparent missing/);
  });

  it('a sink that appends rewritten events although the fixture says it deduplicates', async () => {
    const message = await failure(
      sinkRewritesKeepIds,
      sinkFixture((store) => new AtomicSink(store), { rewrite: 'deduplicates' }),
    );
    expect(message).toMatch(/wrong number of copies: \S+: 3 copies, expected 1/);
  });

  it('a sink that gives a rewritten event a new id', async () => {
    class Renaming extends AtomicSink {
      private readonly seen = new Set<string>();
      override async write(events: CanonicalEvent[]): Promise<void> {
        await super.write(
          events.map((e) => {
            const again = this.seen.has(e.id);
            this.seen.add(e.id);
            return again ? { ...e, id: `${e.id}-again` } : e;
          }),
        );
      }
    }
    const message = await failure(
      sinkRewritesKeepIds,
      sinkFixture((store) => new Renaming(store)),
    );
    expect(message).toMatch(/the store holds 6 events that were never written/);
  });

  it('a sink whose close() fails the second time', async () => {
    class Fragile extends AtomicSink {
      private closed = false;
      override async close(): Promise<void> {
        if (this.closed) throw new Error('already closed');
        this.closed = true;
      }
    }
    const message = await failure(
      sinkClosesSafely,
      sinkFixture((store) => new Fragile(store)),
    );
    expect(message).toBe('close() a second time threw: Error: already closed');
  });

  it('a commitBatch that drops the dead letters', async () => {
    class NoLetters extends AtomicSink {
      override async commitBatch(batch: AtomicBatch): Promise<void> {
        await super.commitBatch({ ...batch, deadLetters: [] });
      }
    }
    const message = await failure(
      sinkCommitsTogether,
      sinkFixture((store) => new NoLetters(store)),
    );
    expect(message).toMatch(/^batch 1: not all visible within 0 ms .*: 4 of 4 events, 0 of 2 dead letters/);
  });

  it('a commitBatch that writes event by event (not atomic) and fails half way', async () => {
    class Sequential extends AtomicSink {
      override async commitBatch(batch: AtomicBatch): Promise<void> {
        for (const event of batch.events) {
          if (event.subject === REFUSED) throw new Error('refused');
          this.store.events.push(copy(event));
        }
        this.store.letters.push(...copy(batch.deadLetters));
        this.store.checkpoints.set(batch.pipeline, JSON.stringify(batch.position));
      }
    }
    const message = await failure(
      sinkFailedCommitLeavesNothing,
      sinkFixture((store) => new Sequential(store)),
    );
    expect(message).toBe(
      'the failed commitBatch() left 4 of its 5 events and 0 of its 2 dead letters visible',
    );
  });

  it('a commitBatch that moves the checkpoint before failing', async () => {
    class EarlyCheckpoint extends AtomicSink {
      override async commitBatch(batch: AtomicBatch): Promise<void> {
        this.store.checkpoints.set(batch.pipeline, JSON.stringify(batch.position));
        await super.commitBatch(batch);
      }
    }
    const message = await failure(
      sinkFailedCommitLeavesNothing,
      sinkFixture((store) => new EarlyCheckpoint(store)),
    );
    expect(message).toMatch(/^after commitBatch\(\) rejected, the checkpoint is \{"batch":2,/);
  });

  it('a fixture that gives no refused event for a sink with commitBatch', async () => {
    const { refusedEvent: _, ...withoutRefused } = sinkFixture((store) => new AtomicSink(store));
    const message = await failure(sinkFailedCommitLeavesNothing, withoutRefused);
    expect(message).toMatch(/the fixture must give refusedEvent\(\)/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Broken dead-letter stores

describe('the DeadLetterSink suite catches broken dead-letter stores', () => {
  it('a store that keeps letters only in the instance that wrote them', async () => {
    const message = await failure(
      deadLettersStoredDurably,
      deadLetterFixture(() => new StoreDeadLetters(new Store())),
    );
    expect(message).toMatch(
      /^after the first write resolved \(the writer still open\): 3 of 3 letters not seen/,
    );
  });

  it('a store whose markReplayed does nothing', async () => {
    class Deaf extends StoreDeadLetters {
      override async markReplayed(): Promise<void> {}
    }
    const message = await failure(
      deadLettersReplayedOnce,
      deadLetterFixture((store) => new Deaf(store)),
    );
    expect(message).toMatch(
      /^list\(\) on the instance that marked a letter: 1 letters listed that should not be \(origins \{"file"/,
    );
  });

  it('a store that remembers replays only in the instance that marked them', async () => {
    class Local extends StoreDeadLetters {
      private readonly marked = new Set<string>();
      override async *list(): AsyncIterable<DeadLetter> {
        for (const letter of this.store.letters) if (!this.marked.has(letterId(letter))) yield copy(letter);
      }
      override async markReplayed(replays: { letter: DeadLetter; events: string[] }[]): Promise<void> {
        for (const { letter } of replays) this.marked.add(letterId(letter));
      }
    }
    const message = await failure(
      deadLettersReplayedOnce,
      deadLetterFixture((store) => new Local(store)),
    );
    expect(message).toMatch(
      /^list\(\) on an instance opened before the mark: 1 letters listed that should not be/,
    );
  });

  it('a store whose second mark of a letter throws', async () => {
    class Strict extends StoreDeadLetters {
      override async markReplayed(replays: { letter: DeadLetter; events: string[] }[]): Promise<void> {
        for (const { letter } of replays)
          if (this.store.replayed.has(letterId(letter))) throw new Error('already replayed');
        await super.markReplayed(replays);
      }
    }
    const message = await failure(
      deadLettersReplayedOnce,
      deadLetterFixture((store) => new Strict(store)),
    );
    expect(message).toBe('markReplayed() a second time for the same letter threw: Error: already replayed');
  });

  it('a store that lists newest first', async () => {
    class Reversed extends StoreDeadLetters {
      override async *list(): AsyncIterable<DeadLetter> {
        const all: DeadLetter[] = [];
        for await (const letter of super.list()) all.push(letter);
        yield* all.reverse();
      }
    }
    const message = await failure(
      deadLettersListedOldestFirst,
      deadLetterFixture((store) => new Reversed(store)),
    );
    expect(message).toBe(
      'list() on the instance that wrote last: letters not oldest first: listed in the order written 8, 7, 6, 5, 4, 3, 2, 1',
    );
  });

  it('a store that loses a field (attempts) and turns retryable into a string', async () => {
    class Lossy extends StoreDeadLetters {
      override async write(letters: DeadLetter[]): Promise<void> {
        this.store.letters.push(
          ...letters.map(({ attempts: _, ...rest }) => ({ ...copy(rest), attempts: Number.NaN })),
        );
      }
      override async *list(): AsyncIterable<DeadLetter> {
        for await (const letter of super.list())
          yield { ...letter, retryable: String(letter.retryable) === 'true' };
      }
    }
    const message = await failure(
      deadLettersListedOldestFirst,
      deadLetterFixture((store) => new Lossy(store)),
    );
    expect(message).toMatch(/letter 1 \(.*\) differs: attempts changed from 1 to null/);
  });

  it('a store without list() that does not declare it', async () => {
    class WriteOnly implements DeadLetterSink {
      readonly type = 'memory';
      constructor(private readonly store: Store) {}
      async write(letters: DeadLetter[]): Promise<void> {
        this.store.letters.push(...copy(letters));
      }
      async close(): Promise<void> {}
    }
    const fixture = deadLetterFixture((store) => new WriteOnly(store));
    for (const check of [deadLettersStoredDurably, deadLettersListedOldestFirst]) {
      expect(await failure(check, fixture)).toBe(
        "the dead-letter sink has no list(): implement it, or declare lacks: ['list'] in the fixture",
      );
    }
    expect(await failure(deadLettersReplayedOnce, fixture)).toMatch(/has no markReplayed\(\)/);
    // Declared, the same store passes: durability is read through the target's readBack().
    const declared = deadLetterFixture((store) => new WriteOnly(store), { lacks: ['list', 'markReplayed'] });
    for (const check of [deadLettersStoredDurably, deadLettersListedOldestFirst, deadLettersReplayedOnce])
      await check.run(declared);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Broken checkpoint stores

describe('the CheckpointStore suite catches broken checkpoint stores', () => {
  it('a store that forgets across instances', async () => {
    const message = await failure(
      checkpointsPersist,
      checkpointFixture(() => new StoreCheckpoints(new Store())),
    );
    expect(message).toMatch(
      /^load\('ck\S+-p0'\) on a fresh instance \(the saver still open\) returned undefined/,
    );
  });

  it('a store where the first save wins', async () => {
    class FirstWins extends StoreCheckpoints {
      override async save(pipeline: string, position: unknown): Promise<void> {
        if (!this.store.checkpoints.has(pipeline)) await super.save(pipeline, position);
      }
    }
    const message = await failure(
      checkpointsLastSaveWins,
      checkpointFixture((store) => new FirstWins(store)),
    );
    expect(message).toMatch(
      /after five saves returned \{"seq":1,"at":"offset-1"\}, expected \{"seq":5,"at":"offset-5"\}/,
    );
  });

  it('a store that keys positions by a sanitised name (pipelines collide)', async () => {
    class Sanitising extends StoreCheckpoints {
      override load(pipeline: string): Promise<unknown> {
        return super.load(pipeline.replace(/[^A-Za-z0-9]/g, '_'));
      }
      override save(pipeline: string, position: unknown): Promise<void> {
        return super.save(pipeline.replace(/[^A-Za-z0-9]/g, '_'), position);
      }
    }
    const message = await failure(
      checkpointsIsolatePipelines,
      checkpointFixture((store) => new Sanitising(store)),
    );
    expect(message).toMatch(/beside pipelines with similar names returned \{"owner":"ck\S+_eu","seq":4\}/);
  });

  it('a store whose clear() does nothing', async () => {
    class Sticky extends StoreCheckpoints {
      override async clear(): Promise<void> {}
    }
    const message = await failure(
      checkpointsClear,
      checkpointFixture((store) => new Sticky(store)),
    );
    expect(message).toMatch(/after clear\(\) on the same instance returned \{"seq":7\}, expected undefined/);
  });

  it('a store without clear() that does not declare it, and one that does', async () => {
    class NoClear implements CheckpointStore {
      readonly type = 'memory';
      private readonly inner: StoreCheckpoints;
      constructor(store: Store) {
        this.inner = new StoreCheckpoints(store);
      }
      load(pipeline: string): Promise<unknown> {
        return this.inner.load(pipeline);
      }
      save(pipeline: string, position: unknown): Promise<void> {
        return this.inner.save(pipeline, position);
      }
    }
    const message = await failure(
      checkpointsClear,
      checkpointFixture((store) => new NoClear(store)),
    );
    expect(message).toBe(
      "the checkpoint store has no clear(): implement it, or declare lacks: ['clear'] in the fixture",
    );
    await checkpointsClear.run(checkpointFixture((store) => new NoClear(store), { lacks: ['clear'] }));
  });

  it('a store that returns null for a pipeline never saved', async () => {
    class Nullish extends StoreCheckpoints {
      override async load(pipeline: string): Promise<unknown> {
        return (await super.load(pipeline)) ?? null;
      }
    }
    const message = await failure(
      checkpointsUnknownIsUndefined,
      checkpointFixture((store) => new Nullish(store)),
    );
    expect(message).toMatch(/on an empty store returned null, expected undefined/);
  });
});
