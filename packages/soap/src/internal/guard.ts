// Paces the calls to a fragile service: a calls-per-second limit and a cap on calls in flight. A failing
// service is the runtime's business (its circuit breaker, `runtime.breaker`), not this package's.
import { sleep } from '@ferry/core/sdk';

export interface GuardOptions {
  /** Calls per second across the source; 0 = unlimited. */
  callsPerSecond: number;
  /** Calls in flight at once. */
  concurrency: number;
  now?: () => number;
}

export class CallGuard {
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private nextSlotAt = 0;
  private readonly now: () => number;

  constructor(private readonly options: GuardOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Run one call under the rate limit and the concurrency cap. */
  async run<T>(call: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.begin(signal);
    try {
      return await call();
    } finally {
      release();
    }
  }

  /** Admit one call (it may wait for a free slot, then for the rate limit); call the result when it ends. */
  async begin(signal?: AbortSignal): Promise<() => void> {
    await this.acquire();
    // Never throws: an aborted wait ends early and the call itself sees the abort.
    await this.pace(signal);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release();
    };
  }

  private async acquire(): Promise<void> {
    if (this.inFlight < this.options.concurrency) {
      this.inFlight += 1;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.inFlight -= 1;
  }

  private async pace(signal?: AbortSignal): Promise<void> {
    if (this.options.callsPerSecond <= 0) return;
    const interval = 1000 / this.options.callsPerSecond;
    const now = this.now();
    const at = Math.max(now, this.nextSlotAt);
    this.nextSlotAt = at + interval;
    if (at > now) await sleep(at - now, signal);
  }
}
