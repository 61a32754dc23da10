// A circuit breaker the runtime keeps for every source: when failures come in a run, or make up most of the
// recent outcomes, it stops calling the legacy system for a cool-down, then lets one trial read through.
// A throttled or failing service is left alone instead of being hammered between small successes.

export interface BreakerPolicy {
  /** Consecutive retryable failures that open the circuit. */
  failureThreshold: number;
  /** Open also when more than this share of the last `window` outcomes were failures (0..1). */
  failureRatio: number;
  /** How many recent outcomes (batches received, failures) the ratio is judged over, once that many exist. */
  window: number;
  /** How long an open circuit waits before one trial read. */
  cooldownMs: number;
}

export const defaultBreakerPolicy: BreakerPolicy = {
  failureThreshold: 5,
  failureRatio: 0.5,
  window: 10,
  cooldownMs: 30_000,
};

export type CircuitState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  private current: CircuitState = 'closed';
  private consecutive = 0;
  private openedAt = 0;
  /** Recent outcomes, true = failure; a ring of at most `window`. */
  private readonly outcomes: boolean[] = [];
  private next = 0;
  private failuresInWindow = 0;

  constructor(
    readonly policy: BreakerPolicy = defaultBreakerPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): CircuitState {
    return this.current;
  }

  /** Milliseconds until a call may go (0 when closed or half-open, or the cool-down is over). */
  waitMs(): number {
    if (this.current !== 'open') return 0;
    return Math.max(0, this.openedAt + this.policy.cooldownMs - this.now());
  }

  /** A call is about to go: an open circuit whose cool-down is over lets it through as the trial. */
  admit(): void {
    if (this.current === 'open' && this.waitMs() === 0) this.current = 'half-open';
  }

  success(): void {
    this.consecutive = 0;
    if (this.current === 'half-open') {
      // The trial worked: judge afresh from here.
      this.outcomes.length = 0;
      this.next = 0;
      this.failuresInWindow = 0;
    }
    this.current = 'closed';
    this.record(false);
  }

  failure(): void {
    this.consecutive += 1;
    this.record(true);
    const full = this.outcomes.length >= this.policy.window;
    const dominated = full && this.failuresInWindow / this.outcomes.length > this.policy.failureRatio;
    if (this.current === 'half-open' || this.consecutive >= this.policy.failureThreshold || dominated) {
      this.current = 'open';
      this.openedAt = this.now();
    }
  }

  /** Why it opened, for logs and errors. */
  describe(): string {
    return (
      `${this.consecutive} consecutive failures, ${this.failuresInWindow} of the last ` +
      `${this.outcomes.length} outcomes`
    );
  }

  private record(failed: boolean): void {
    const size = Math.max(1, this.policy.window);
    if (this.outcomes.length < size) {
      this.outcomes.push(failed);
    } else {
      if (this.outcomes[this.next]) this.failuresInWindow -= 1;
      this.outcomes[this.next] = failed;
      this.next = (this.next + 1) % size;
    }
    if (failed) this.failuresInWindow += 1;
  }
}
