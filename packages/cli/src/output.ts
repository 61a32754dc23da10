// How the CLI talks to a person: errors say what happened, where, and whether retrying can help.
import { ConfigError, isFerryError, type Redactor, type RunSummary } from '@ferry/core';

export const ExitCode = { ok: 0, failure: 1, usage: 2 } as const;

export function exitCodeFor(error: unknown): number {
  return error instanceof ConfigError ? ExitCode.usage : ExitCode.failure;
}

export function formatError(error: unknown, redactor?: Redactor): string {
  const scrub = (text: string): string => (redactor ? redactor.scrub(text) : text);
  if (error instanceof ConfigError) return scrub(`ferry: ${error.code}: ${error.message}`);
  if (isFerryError(error)) {
    const hint = error.retryable
      ? 'retryable: running again may succeed'
      : 'not retryable: needs a fix first';
    return scrub(`ferry: ${error.code}: ${error.message} (${hint})`);
  }
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return scrub(`ferry: INTERNAL: ${message} (not retryable: this is a bug, please report it)`);
}

export function formatSummary(summary: RunSummary): string {
  const seconds = (summary.durationMs / 1000).toFixed(2);
  return (
    `${summary.pipeline}: read ${summary.recordsRead} records, wrote ${summary.eventsWritten} events, ` +
    `${summary.deadLetters} dead letters, ${summary.skipped} skipped, ${summary.batches} batches, ` +
    `${summary.retries} retries in ${seconds} s (${summary.eventsPerSecond} events/s)` +
    (summary.stoppedBy === 'signal' ? ' — stopped by signal, checkpoint saved' : '')
  );
}
