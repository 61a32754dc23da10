// Runs `ferry reconcile` in a worker thread with a bounded heap. V8 lets a busy heap grow far past what is
// live before it collects, and the CLI process already holds every connector's code; in its own isolate the
// comparison of a million keys stays within a fixed budget (see test/bench/reconcile.mjs).
import { Worker } from 'node:worker_threads';
import { FerryError } from '@ferry/core';
import type { ReconcileOptions, ReconcileReport } from './reconcile.js';
import { usage } from './reconcile-usage.js';

/** Heap limits of the worker, in MiB: the comparison holds one batch at a time. */
const OLD_GENERATION_MB = 80;
const YOUNG_GENERATION_MB = 4;

interface WorkerError {
  code: string;
  message: string;
  retryable?: boolean;
  details?: Record<string, unknown>;
  usage?: { path: string; message: string };
}

export function reconcileInWorker(options: ReconcileOptions): Promise<ReconcileReport> {
  const worker = new Worker(new URL('./reconcile-worker.js', import.meta.url), {
    workerData: options,
    // A worker inherits the process's flags; those that only make sense for an eval'd entry break it.
    execArgv: process.execArgv.filter((flag) => !flag.startsWith('--input-type')),
    resourceLimits: {
      maxOldGenerationSizeMb: OLD_GENERATION_MB,
      maxYoungGenerationSizeMb: YOUNG_GENERATION_MB,
    },
  });
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    worker.once(
      'message',
      (message: { ok: true; report: ReconcileReport } | { ok: false; error: WorkerError }) => {
        settle(() => {
          if (message.ok) return resolve(message.report);
          const e = message.error;
          if (e.usage) return reject(usage(e.usage.path, e.usage.message));
          reject(
            new FerryError(e.code, e.message, {
              retryable: e.retryable ?? false,
              ...(e.details === undefined ? {} : { details: e.details }),
            }),
          );
        });
      },
    );
    worker.once('error', (error: Error & { code?: string }) => {
      settle(() =>
        reject(
          error.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? new FerryError(
                'RECONCILE_OUT_OF_MEMORY',
                `the comparison needed more than its ${OLD_GENERATION_MB} MiB heap; please report it with the options used`,
                { cause: error },
              )
            : error,
        ),
      );
    });
    worker.once('exit', (code) => {
      settle(() =>
        reject(new FerryError('RECONCILE_WORKER_EXITED', `the comparison stopped (exit code ${code})`)),
      );
    });
  });
}
