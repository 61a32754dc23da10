// In-memory parts for unit tests of pipelines and mappings. Never a stand-in for a connector's
// integration test against its real server.
import type {
  CanonicalEvent,
  CheckpointStore,
  DeadLetter,
  DeadLetterSink,
  PassState,
  Sink,
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

  async load(pipeline: string): Promise<unknown> {
    return this.positions.get(pipeline);
  }

  async save(pipeline: string, position: unknown): Promise<void> {
    this.positions.set(pipeline, JSON.parse(JSON.stringify(position)));
  }

  async clear(pipeline: string): Promise<void> {
    this.positions.delete(pipeline);
    this.passStates.delete(pipeline);
  }

  async loadPassState(pipeline: string): Promise<PassState | undefined> {
    return this.passStates.get(pipeline);
  }

  async savePassState(pipeline: string, state: PassState): Promise<void> {
    this.passStates.set(pipeline, { ...state });
  }
}
