// In-memory parts for unit tests of pipelines and mappings. Never a stand-in for a connector's
// integration test against its real server.
import type {
  CanonicalEvent,
  CheckpointStore,
  DeadLetter,
  DeadLetterSink,
  PassState,
  Sink,
  UnitTallyState,
} from '@ferry/core/sdk';

export class MemorySink implements Sink {
  readonly type = 'memory';
  readonly events: CanonicalEvent[] = [];

  async write(events: CanonicalEvent[]): Promise<void> {
    this.events.push(...events);
  }

  async close(): Promise<void> {}
}

export class MemoryDeadLetters implements DeadLetterSink {
  readonly type = 'memory';
  readonly letters: DeadLetter[] = [];

  async write(letters: DeadLetter[]): Promise<void> {
    this.letters.push(...letters);
  }

  async *list(): AsyncIterable<DeadLetter> {
    yield* this.letters;
  }

  async close(): Promise<void> {}
}

export class MemoryCheckpoints implements CheckpointStore {
  readonly type = 'memory';
  readonly positions = new Map<string, unknown>();
  readonly passStates = new Map<string, PassState>();
  readonly unitTallies = new Map<string, UnitTallyState>();

  async load(pipeline: string): Promise<unknown> {
    return this.positions.get(pipeline);
  }

  async save(pipeline: string, position: unknown): Promise<void> {
    this.positions.set(pipeline, JSON.parse(JSON.stringify(position)));
  }

  async clear(pipeline: string): Promise<void> {
    this.positions.delete(pipeline);
    this.passStates.delete(pipeline);
    this.unitTallies.delete(pipeline);
  }

  async loadPassState(pipeline: string): Promise<PassState | undefined> {
    return this.passStates.get(pipeline);
  }

  async savePassState(pipeline: string, state: PassState): Promise<void> {
    this.passStates.set(pipeline, { ...state });
  }

  async loadUnitTally(pipeline: string): Promise<UnitTallyState | undefined> {
    return this.unitTallies.get(pipeline);
  }

  async saveUnitTally(pipeline: string, state: UnitTallyState): Promise<void> {
    this.unitTallies.set(pipeline, JSON.parse(JSON.stringify(state)));
  }
}
