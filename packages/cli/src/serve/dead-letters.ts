// The dead letters of `ferry serve`'s pipelines through the admin API: list, inspect one, replay. A replay
// publishes to the pipeline's sink, so it is refused while the pipeline runs and holds its run lock.
import { createDeadLetterSink, FerryError, letterId, pendingLetters, replayDeadLetters } from '@ferry/core';
import type { DeadLetterView, ReplayResult } from '@ferry/server';
import { acquireRunLock } from '../lock.js';
import type { HostedPipelines } from './hosted.js';
import type { PipelineLifecycle } from './lifecycle.js';

export class PipelineDeadLetters {
  constructor(
    private readonly pipelines: HostedPipelines,
    private readonly lifecycle: Pick<PipelineLifecycle, 'refuseWhileRunning'>,
  ) {}

  async deadLetters(
    name: string,
    page: { limit: number; offset: number },
  ): Promise<{ total: number; items: DeadLetterView[] }> {
    const store = await this.open(name);
    try {
      const items: DeadLetterView[] = [];
      let total = 0;
      for await (const letter of pendingLetters(store)) {
        if (total >= page.offset && items.length < page.limit)
          items.push({ id: letterId(letter), ...letter });
        total += 1;
      }
      return { total, items };
    } finally {
      await store.close();
    }
  }

  async deadLetter(name: string, id: string): Promise<DeadLetterView> {
    const store = await this.open(name);
    try {
      for await (const letter of pendingLetters(store)) {
        if (letterId(letter) === id) return { id, ...letter };
      }
    } finally {
      await store.close();
    }
    throw new FerryError('DLQ_LETTER_NOT_FOUND', `pipeline ${name} has no pending dead letter ${id}`);
  }

  async replay(name: string, options: { ids?: string[]; dryRun: boolean }): Promise<ReplayResult> {
    const loaded = options.dryRun
      ? this.pipelines.find(name)
      : this.lifecycle.refuseWhileRunning(name, 'replay dead letters');
    const release = options.dryRun ? undefined : await acquireRunLock(loaded.baseDir, name);
    try {
      const { registry } = this.pipelines.options;
      const outcome = await replayDeadLetters(loaded, registry, this.pipelines.context(loaded), {
        dryRun: options.dryRun,
        ...(options.ids ? { ids: options.ids } : {}),
      });
      return {
        dryRun: options.dryRun,
        replayed: outcome.passed.length,
        events: outcome.events,
        stillFailing: outcome.failed.map(({ letter, error }) => ({ id: letterId(letter), ...error })),
      };
    } finally {
      await release?.();
    }
  }

  private open(name: string) {
    const loaded = this.pipelines.find(name);
    return createDeadLetterSink(loaded, this.pipelines.options.registry, this.pipelines.context(loaded));
  }
}
