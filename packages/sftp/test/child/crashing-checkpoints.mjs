// Test only: the embedded file checkpoint store, except that it SIGKILLs its own process around the save of
// one chosen position, which puts a crash exactly between two steps of the runtime's commit:
// `before-save`: the batch's events are written, its checkpoint is not (nor is a baseline promoted);
// `after-save`: the checkpoint is saved, the baseline it carries is not yet promoted nor the file archived.
import { resolve } from 'node:path';
import { createFileCheckpointStore, defineFactory } from '@ferry/core';
import { z } from 'zod';

export const crashingCheckpointFactory = defineFactory({
  type: 'crashing-file',
  description: 'Test only: file checkpoints, with a SIGKILL around the save of one position.',
  configSchema: z
    .object({
      dir: z.string().min(1),
      crash: z.enum(['before-save', 'after-save']),
      /** The position to die at: the file it names ends with this... */
      file: z.string().min(1),
      /** ...and it is in this state. */
      state: z.string().default('done'),
    })
    .strict(),
  create(config, ctx) {
    const store = createFileCheckpointStore({ dir: resolve(ctx.baseDir, config.dir) });
    const chosen = (position) =>
      position?.state === config.state && String(position?.file).endsWith(config.file);
    const die = async () => {
      process.kill(process.pid, 'SIGKILL');
      await new Promise(() => undefined);
    };
    return {
      type: 'crashing-file',
      load: (pipeline) => store.load(pipeline),
      async save(pipeline, position) {
        if (config.crash === 'before-save' && chosen(position)) await die();
        await store.save(pipeline, position);
        if (config.crash === 'after-save' && chosen(position)) await die();
      },
      close: () => store.close?.(),
    };
  },
});
