// Protects a fragile service from Ferry: a circuit breaker that stops calling after repeated retryable
// failures (so the runtime's retries do not become a retry storm), a calls-per-second limit and a cap on
// calls in flight.
import { sleep } from '@ferry/core/sdk';
import { SoapError, SoapErrorCodes } from '../errors.js';

export interface GuardOptions {
  /** Consecutive retryable failures that open the circuit. */
  failureThreshold: number;
  /** How long the circuit stays open before one trial call is let through. */
  cooldownMs: number;
  /** Calls per second across the source; 0 = unlimited. */
  callsPerSecond: number;
  /** Calls in flight at once. */
  concurrency: number;
  now?: () => number;
}

type State = 'closed' | 'open' | 'half-open';

export interface CallTicket {
  succeeded(): void;
  failed(error: unknown): void;
  release(): void;
}

export class CallGuard {
  private state: State = 'closed';
  private failures = 0;
  private openedAt = 0;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private nextSlotAt = 0;
  private readonly now: () => number;

  constructor(private readonly options: GuardOptions) {
    this.now = options.now ?? Date.now;
  }

  get circuit(): State {
    return this.state;
  }

  /** Run one call under the breaker, the rate limit and the concurrency cap. */
  async run<T>(what: string, call: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const ticket = await this.begin(what, signal);
    try {
      const result = await call();
      ticket.succeeded();
      return result;
    } catch (error) {
      ticket.failed(error);
      throw error;
    } finally {
      ticket.release();
    }
  }

  /** Admit one call (it may wait for the rate limit or a free slot); report its outcome on the ticket. */
  async begin(what: string, signal?: AbortSignal): Promise<CallTicket> {
    this.admit(what);
    await this.acquire();
    try {
      await this.pace(signal);
    } catch (error) {
      this.release();
      throw error;
    }
    let released = false;
    return {
      succeeded: () => this.succeeded(),
      failed: (error) => this.failed(error),
      release: () => {
        if (released) return;
        released = true;
        this.release();
      },
    };
  }

  private admit(what: string): void {
    if (this.state !== 'open') return;
    const remaining = this.openedAt + this.options.cooldownMs - this.now();
    if (remaining > 0) {
      throw new SoapError(
        SoapErrorCodes.SOAP_CIRCUIT_OPEN,
        `not calling ${what}: the circuit is open after ${this.failures} consecutive failures; ` +
          `the next trial call is in ${remaining} ms.`,
        { retryable: true, retryAfterMs: remaining, details: { failures: this.failures } },
      );
    }
    this.state = 'half-open';
  }

  private succeeded(): void {
    this.failures = 0;
    this.state = 'closed';
  }

  private failed(error: unknown): void {
    // A wrong request says nothing about the service's health.
    const retryable = error instanceof SoapError ? error.retryable : true;
    if (!retryable) {
      if (this.state === 'half-open') this.state = 'closed';
      return;
    }
    this.failures += 1;
    if (this.state === 'half-open' || this.failures >= this.options.failureThreshold) {
      this.state = 'open';
      this.openedAt = this.now();
    }
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
