// A sink whose target refuses some events for good (a webhook receiver answering 410) hands them back from
// `write` as dead letters: the runtime stores them with the batch's own, before the checkpoint, and counts them.
import { describe, expect, it } from 'vitest';
import { type CanonicalEvent, type DeadLetter, runPipeline } from '../../src/index.js';
import type { SinkWriteResult } from '../../src/sdk.js';
import {
  ArraySource,
  identityMapping,
  type Journal,
  MemoryCheckpoints,
  MemoryDeadLetters,
  records,
} from './helpers.js';

/** Stores every event but those of subject 3, which it refuses as a webhook receiver answering 410 would. */
class RefusingSink {
  readonly type = 'refusing';
  readonly events: CanonicalEvent[] = [];

  constructor(private readonly journal: Journal) {}

  async write(events: CanonicalEvent[]): Promise<SinkWriteResult> {
    const rejected: DeadLetter[] = [];
    for (const event of events) {
      if (event.subject === '3')
        rejected.push({
          pipeline: 'rejects',
          stream: 'legacy.PEOPLE',
          stage: 'sink',
          code: 'WEBHOOK_REFUSED',
          message: 'answered 410',
          retryable: false,
          record: event,
          origin: { status: 410 },
          attempts: 1,
          failedAt: new Date(0).toISOString(),
        });
      else this.events.push(event);
    }
    this.journal.entries.push(`sink:${events.length}`);
    return { rejected };
  }

  async close(): Promise<void> {}
}

describe('events a sink refuses', () => {
  it('go to the dead letters before the checkpoint is saved, and count as dead letters', async () => {
    const journal: Journal = { entries: [] };
    const sink = new RefusingSink(journal);
    const deadLetters = new MemoryDeadLetters(journal);
    const summary = await runPipeline({
      name: 'rejects',
      source: new ArraySource(records(6), 3),
      mapping: identityMapping,
      sink,
      deadLetters,
      checkpoints: new MemoryCheckpoints(journal),
      maxInFlightBatches: 1,
    });
    expect(sink.events.map((e) => e.subject)).toEqual(['1', '2', '4', '5', '6']);
    expect(deadLetters.letters).toEqual([
      expect.objectContaining({
        stage: 'sink',
        code: 'WEBHOOK_REFUSED',
        record: expect.objectContaining({ subject: '3' }),
      }),
    ]);
    // The batch holding the refused event: sink, its dead letter, then the checkpoint.
    expect(journal.entries.slice(0, 3)).toEqual(['sink:3', 'dlq:1', 'save:3']);
    expect(summary).toMatchObject({ eventsWritten: 6, deadLetters: 1 });
  });
});
