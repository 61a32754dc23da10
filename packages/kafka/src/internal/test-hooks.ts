// A test hook, not a feature. FERRY_TEST_CRASH=before-commit:<pipeline>:<n> makes the process kill itself
// with SIGKILL (so nothing graceful runs: no abort, no flush, no leaving the group) after the sends of that
// pipeline's n-th exactly-once transaction and before its commit. It exists so the abort path (records on
// the broker that are never committed) is tested on purpose rather than by luck
// (packages/cli/test/integration/cluster-eos-abort.test.ts). The variable is read once, when this module
// loads; unset, a sink gets no hook and its commit path calls nothing.
import { writeSync } from 'node:fs';

const configured = process.env.FERRY_TEST_CRASH;

export interface CrashPoint {
  pipeline: string;
  /** 1 for the pipeline's first transaction in this process. */
  transaction: number;
}

/** `before-commit:<pipeline>:<n>`; anything else is a mistake in a test, refused loudly (TypeError). */
export function parseCrashPoint(value: string): CrashPoint {
  const match = /^before-commit:(.+):([1-9][0-9]*)$/.exec(value);
  if (!match) {
    throw new TypeError(
      `FERRY_TEST_CRASH=${value}: expected before-commit:<pipeline>:<n> (n from 1); unset it outside tests`,
    );
  }
  return { pipeline: match[1]!, transaction: Number(match[2]) };
}

/** Called by the sink after a transaction's sends, before its commit; never returns from the crash. */
export type BeforeCommitHook = (detail: Record<string, unknown>) => Promise<void>;

/** Transactions counted per pipeline for the whole process, so a sink made again by a restart counts on. */
const counted = new Map<string, number>();

/**
 * Say why on stderr, then SIGKILL. The line is written synchronously: Ferry's logger (pino) writes
 * asynchronously, and a line still queued when the signal lands is lost (seen in a run of the test).
 */
function sigkill(line: string): void {
  writeSync(2, `${line}\n`);
  process.kill(process.pid, 'SIGKILL');
}

/**
 * The hook for this pipeline's sink, or undefined when FERRY_TEST_CRASH is unset or names another pipeline.
 * `value` and `crash` are parameters only so the unit test can drive it without dying.
 */
export function beforeCommitHook(
  pipeline: string,
  value: string | undefined = configured,
  crash: (line: string) => void = sigkill,
): BeforeCommitHook | undefined {
  if (value === undefined || value === '') return undefined;
  const point = parseCrashPoint(value);
  if (point.pipeline !== pipeline) return undefined;
  return async (detail) => {
    const transaction = (counted.get(pipeline) ?? 0) + 1;
    counted.set(pipeline, transaction);
    if (transaction !== point.transaction) return;
    // A JSON line like the logger's, so whatever reads the log stream reads it too.
    crash(
      JSON.stringify({
        level: 'error',
        time: new Date().toISOString(),
        ...detail,
        pipeline,
        transaction,
        msg: `FERRY_TEST_CRASH: killing this process (SIGKILL) after the sends of transaction ${transaction} of ${pipeline}, before its commit`,
      }),
    );
    // SIGKILL ends the process before anything else runs; should it not, the commit must still never happen.
    await new Promise<never>(() => undefined);
  };
}
