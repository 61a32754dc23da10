// The two time limits of one SOAP call: `timeoutMs` bounds each silence of the service (headers, then every
// further piece of the body), `deadlineMs` the time spent waiting for it over the whole call. Only time spent
// waiting on the service counts: while the caller holds a chunk of records (backpressure from the sink) the
// clock stands still, so a large page and a slow sink never add up to a timeout that a retry would hit again.
import { DEADLINE_EXCEEDED } from '../errors.js';

export interface CallLimits {
  timeoutMs: number;
  deadlineMs: number;
}

export class CallClock {
  private waitedMs = 0;

  constructor(
    private readonly limits: CallLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Time spent waiting on the service so far. */
  get waited(): number {
    return this.waitedMs;
  }

  /**
   * Wait for `promise` (the service's next step), at most until the silence limit or the rest of the deadline
   * runs out; then call `onExpire` with the error (to drop the connection) and reject with it. `what` names
   * what was awaited, for the message; `progress` says how much of the answer had arrived.
   */
  async wait<T>(
    promise: Promise<T>,
    what: string,
    progress: () => string,
    onExpire: (error: Error) => void,
  ): Promise<T> {
    const { timeoutMs, deadlineMs } = this.limits;
    const left = Math.max(0, deadlineMs - this.waitedMs);
    const deadlineFirst = left <= timeoutMs;
    const started = this.now();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => {
          const error = deadlineFirst
            ? Object.assign(
                new Error(
                  `the answer was not complete within deadlineMs (${deadlineMs} ms) of waiting; ${progress()}`,
                ),
                { code: DEADLINE_EXCEEDED, deadlineMs },
              )
            : Object.assign(new Error(`nothing for timeoutMs (${timeoutMs} ms) while waiting for ${what}`), {
                code: 'ETIMEDOUT',
              });
          onExpire(error);
          reject(error);
        },
        deadlineFirst ? left : timeoutMs,
      );
    });
    try {
      return await Promise.race([promise, expired]);
    } finally {
      clearTimeout(timer);
      this.waitedMs += this.now() - started;
    }
  }
}
