// Worker-thread entry of `ferry reconcile`: runs the comparison in an isolate with a small, fixed heap.
// Unlike a module, it does its work when loaded: that is what a worker entry is for.
import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError, isFerryError } from '@ferry/core';
import { type ReconcileOptions, reconcile } from './reconcile.js';

try {
  const report = await reconcile(workerData as ReconcileOptions);
  parentPort!.postMessage({ ok: true, report });
} catch (error) {
  const usage = error instanceof ConfigError ? error.issues[0] : undefined;
  parentPort!.postMessage({
    ok: false,
    error: isFerryError(error)
      ? {
          code: error.code,
          message: error.message,
          retryable: error.retryable,
          details: error.details,
          usage,
        }
      : {
          code: 'INTERNAL',
          message: error instanceof Error ? (error.stack ?? error.message) : String(error),
        },
  });
}
