// Operators call resume, trigger and pause in quick succession (a script, a double click). Whatever order
// the calls land in, a pause must leave the pipeline paused without an error: stopping a run that is still
// starting is a stop, not a failure.
import { Writable } from 'node:stream';
import { createLogger } from '@ferry/core';
import { createMetrics } from '@ferry/ops';
import { describe, expect, it } from 'vitest';
import { seedLegacyDatabase } from '../../../../examples/quickstart/seed.mjs';
import { quickstartCopy, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { defaultRegistry } from '../../src/registry.js';
import { PipelineHost } from '../../src/serve/host.js';

describe('ferry serve under quick operator calls', () => {
  // Each round starts a run (SQLite, a few rows) and stops it: about 50 ms idle; 60 s is slack for a busy
  // two-core machine.
  it('resume → trigger → pause, back to back, leaves the pipeline paused and without an error', {
    timeout: 60_000,
  }, async () => {
    const q = await quickstartCopy();
    seedLegacyDatabase(q.db, { rows: 20 });
    const logger = createLogger({
      level: 'warn',
      destination: new Writable({ write: (_c, _e, cb) => cb() }),
    });
    const host = await PipelineHost.open([q.pipeline], {
      registry: defaultRegistry(),
      logger,
      metrics: createMetrics(),
    });
    host.start();
    try {
      await waitFor(() => host.get('quickstart').state === 'running', 30_000, 'the pipeline running');
      await host.pause('quickstart');
      // Every interleaving of the three calls within one tick, and with the pause a few ms later.
      for (let round = 0; round < 30; round += 1) {
        await host.resume('quickstart');
        const trigger = host.trigger('quickstart');
        if (round % 3 === 1) await new Promise((r) => setTimeout(r, round % 7));
        if (round % 3 === 2) await trigger;
        const paused = await host.pause('quickstart');
        await trigger;
        expect(paused.state, `round ${round}`).toBe('paused');
        expect(paused.error, `round ${round}`).toBeUndefined();
        expect(host.get('quickstart')).toMatchObject({ state: 'paused' });
        expect(host.get('quickstart').error).toBeUndefined();
      }
    } finally {
      await host.close();
    }
  });
});
