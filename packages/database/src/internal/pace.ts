// Reads paced to at most `maxRowsPerSecond` rows a second (polls and snapshots), so catching up on a big
// backlog or snapshotting a big table never loads a busy legacy server more than its owner allows.
import type { Clock } from '@ferry/core/sdk';

export class RowPacer {
  /** When the next read may start (clock ms); reads before it wait. */
  private nextAt = 0;

  constructor(
    private readonly maxRowsPerSecond: number,
    private readonly clock: Clock,
  ) {}

  /** `rows` were just read: wait until reading them fits the rate (no limit: at once). */
  async read(rows: number, signal: AbortSignal): Promise<void> {
    if (this.maxRowsPerSecond <= 0 || rows <= 0) return;
    const now = this.clock.now();
    this.nextAt = Math.max(now, this.nextAt) + (rows * 1000) / this.maxRowsPerSecond;
    if (this.nextAt > now) await this.clock.sleep(this.nextAt - now, signal);
  }
}
