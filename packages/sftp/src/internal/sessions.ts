// A cap on the SSH connections this process holds to one SFTP host at once, across all its pipelines
// (`connection.maxSessions`), so a small legacy server is never flooded by a `ferry serve` hosting many
// pipelines on it. A connection takes a session before it opens its socket and gives it back when it closes;
// one that cannot get one waits, in arrival order, until one is free or its caller stops.

interface Waiter {
  limit: number;
  grant: () => void;
}

/**
 * The connections open to one host. Each is admitted under its own pipeline's cap: it opens only while
 * fewer than that many are open, so pipelines that agree on the cap share it, and the strictest one is
 * never exceeded by its own connections.
 */
class HostSessions {
  inUse = 0;
  peak = 0;
  private readonly waiting: Waiter[] = [];

  get queued(): number {
    return this.waiting.length;
  }

  /** Take a session under `limit`; resolves false when `signal` stops the wait first. */
  take(limit: number, signal: AbortSignal | undefined): Promise<boolean> {
    if (this.inUse < limit && this.waiting.length === 0) {
      this.grant();
      return Promise.resolve(true);
    }
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        limit,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          this.grant();
          resolve(true);
        },
      };
      const onAbort = () => {
        const at = this.waiting.indexOf(waiter);
        if (at !== -1) this.waiting.splice(at, 1);
        resolve(false);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  give(): void {
    this.inUse -= 1;
    this.admit();
  }

  private grant(): void {
    this.inUse += 1;
    this.peak = Math.max(this.peak, this.inUse);
  }

  /** In arrival order: the first waiter goes in when the host is under its cap, and only then the next. */
  private admit(): void {
    while (this.waiting.length > 0 && this.inUse < this.waiting[0]!.limit) this.waiting.shift()!.grant();
  }
}

const hosts = new Map<string, HostSessions>();

function sessionsOf(host: string, port: number): HostSessions {
  const key = `${host.toLowerCase()}:${port}`;
  let sessions = hosts.get(key);
  if (sessions === undefined) {
    sessions = new HostSessions();
    hosts.set(key, sessions);
  }
  return sessions;
}

/** One connection's hold on a session of its host: taken once, given back once. */
export class SessionHold {
  private held = false;
  private readonly sessions: HostSessions;

  constructor(
    host: string,
    port: number,
    readonly limit: number,
  ) {
    this.sessions = sessionsOf(host, port);
  }

  /** Whether taking a session now would wait (for a log line saying why a connection is slow to open). */
  get wouldWait(): boolean {
    return this.sessions.inUse >= this.limit || this.sessions.queued > 0;
  }

  /** Connections of this process open to the host now. */
  get inUse(): number {
    return this.sessions.inUse;
  }

  async take(signal?: AbortSignal): Promise<boolean> {
    if (this.held) return true;
    this.held = await this.sessions.take(this.limit, signal);
    return this.held;
  }

  give(): void {
    if (!this.held) return;
    this.held = false;
    this.sessions.give();
  }
}

/**
 * Per `host:port`: the connections open now, the most open at once since the last call (which starts the
 * next count from what is open now), and the connections waiting for one. For tests and diagnostics.
 */
export function sftpSessionStats(): Record<string, { inUse: number; peak: number; waiting: number }> {
  const stats = Object.fromEntries(
    [...hosts].map(([key, s]) => [key, { inUse: s.inUse, peak: s.peak, waiting: s.queued }]),
  );
  for (const s of hosts.values()) s.peak = s.inUse;
  return stats;
}
