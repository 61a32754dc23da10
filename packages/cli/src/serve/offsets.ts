// The saved positions of `ferry serve`'s pipelines, read and reset through the admin API. A reset is refused
// while the pipeline runs: the run would save its own position over it at the next commit.
import { createCheckpointStore } from '@ferry/core';
import type { HostedPipelines } from './hosted.js';
import type { PipelineLifecycle } from './lifecycle.js';

export class PipelineOffsets {
  constructor(
    private readonly pipelines: HostedPipelines,
    private readonly lifecycle: Pick<PipelineLifecycle, 'refuseWhileRunning' | 'forgetCheckpoint'>,
  ) {}

  async offsets(name: string): Promise<unknown> {
    const loaded = this.pipelines.find(name);
    const { registry } = this.pipelines.options;
    const store = await createCheckpointStore(loaded, registry, this.pipelines.context(loaded));
    try {
      return (await store.load(name)) ?? null;
    } finally {
      await store.close?.();
    }
  }

  async resetOffsets(name: string): Promise<void> {
    const loaded = this.lifecycle.refuseWhileRunning(name, 'reset its offsets');
    const { registry, logger } = this.pipelines.options;
    const store = await createCheckpointStore(loaded, registry, this.pipelines.context(loaded));
    try {
      if (store.clear) await store.clear(name);
      else await store.save(name, null);
      this.lifecycle.forgetCheckpoint(name);
      logger.info({ pipeline: name }, 'offsets reset through the admin API');
    } finally {
      await store.close?.();
    }
  }
}
