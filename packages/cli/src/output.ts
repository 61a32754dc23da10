// How the CLI talks to a person: errors say what happened, where, and whether retrying can help.
import {
  ConfigError,
  CoreErrorCodes,
  type FerryError,
  isFerryError,
  type Redactor,
  type RunSummary,
} from '@ferry/core';

export const ExitCode = { ok: 0, failure: 1, usage: 2 } as const;

/** A ratio as a percentage, rounded down: 99.999% never reads as 100.00%. */
export const percent = (ratio: number) => `${(Math.floor(ratio * 10000) / 100).toFixed(2)}%`;

export function exitCodeFor(error: unknown): number {
  return error instanceof ConfigError ? ExitCode.usage : ExitCode.failure;
}

export function formatError(error: unknown, redactor?: Redactor): string {
  const scrub = (text: string): string => (redactor ? redactor.scrub(text) : text);
  if (error instanceof ConfigError) return scrub(`ferry: ${error.code}: ${error.message}`);
  if (isFerryError(error)) {
    const cause = lastRetryableCause(error);
    const hint = error.retryable
      ? 'retryable: running again may succeed'
      : cause !== undefined
        ? `last cause ${cause.code}, which is retryable: running again later can succeed once it has cleared`
        : 'not retryable: needs a fix first';
    return scrub(`ferry: ${error.code}: ${error.message} (${hint})`);
  }
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return scrub(`ferry: INTERNAL: ${message} (not retryable: this is a bug, please report it)`);
}

/**
 * Retries that ran out (RETRIES_EXHAUSTED) were spent on a retryable error: the run gave up, but the cause
 * (a server down, a broker away) may pass, so a later run can succeed. Its code is what a person looks up.
 */
function lastRetryableCause(error: FerryError): FerryError | undefined {
  if (error.code !== CoreErrorCodes.RETRIES_EXHAUSTED) return undefined;
  const cause = error.cause;
  return isFerryError(cause) && cause.retryable ? cause : undefined;
}

export function formatSummary(summary: RunSummary): string {
  const seconds = (summary.durationMs / 1000).toFixed(2);
  return (
    `${summary.pipeline}: read ${summary.recordsRead} records, wrote ${summary.eventsWritten} events, ` +
    `${summary.deadLetters} dead letters, ${summary.skipped} skipped, ${summary.batches} batches, ` +
    `${summary.retries} retries in ${seconds} s (${summary.eventsPerSecond} events/s)` +
    (summary.stoppedBy === 'signal' ? ` — stopped by signal, ${stoppedCheckpoint(summary)}` : '')
  );
}

/** Each committed batch saved the checkpoint; a run that committed none left the saved one as it was. */
function stoppedCheckpoint(summary: RunSummary): string {
  return summary.batches > 0 ? 'checkpoint saved' : 'nothing committed, checkpoint unchanged';
}
