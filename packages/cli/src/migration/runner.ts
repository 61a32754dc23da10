// `ferry shadow run` without a fake clock, and `ferry serve --migration`: passes over every migration at
// each slot's due time (and, for migrations whose legacy output names its own cut-off, every poll), until
// stopped. A failed pass is logged with its code and whether a retry can help, and tried again at the next
// poll; the slot stays unrecorded until it is compared or can no longer be (then it is recorded missed).
import { isFerryError, type Logger, sleep } from '@ferry/core';
import type { LoadedMigration } from './config.js';
import { Ledger } from './ledger.js';
import type { RunSummary } from './model.js';
import { shadowPass } from './shadow.js';

/** How often a migration with a cut-off query asks whether its legacy output changed (freshness). */
export const DEFAULT_POLL_MS = 60_000;
/** A pass that failed is tried again after this. */
const RETRY_MS = 30_000;

export interface ShadowRunnerOptions {
  logger: Logger;
  pollMs?: number;
  workDir?: string;
  onRun?: (migration: string, run: RunSummary) => void;
  /** Told after every pass (`ferry serve --migration` refreshes its views of the ledgers then). */
  onPass?: (now: Date) => void;
}

export class ShadowRunner {
  // Promises, so that two callers at once (a pass and `ferry serve`'s view refresh) open one ledger.
  private readonly ledgers = new Map<string, Promise<Ledger>>();

  constructor(
    readonly migrations: LoadedMigration[],
    private readonly options: ShadowRunnerOptions,
  ) {}

  /** The ledger of a migration, opened once. */
  async ledger(migration: LoadedMigration): Promise<Ledger> {
    const name = migration.config.migration;
    let ledger = this.ledgers.get(name);
    if (ledger === undefined) {
      ledger = Ledger.open(migration.config.ledger);
      this.ledgers.set(name, ledger);
      // One that failed to open is opened again by the next caller.
      ledger.catch(() => {
        if (this.ledgers.get(name) === ledger) this.ledgers.delete(name);
      });
    }
    return ledger;
  }

  /**
   * One pass over every migration at `now`: the earliest moment a next pass has work, and the migrations
   * whose pass failed (logged with their code).
   */
  async pass(now: Date): Promise<{ wake: Date | undefined; failed: string[] }> {
    const failed: string[] = [];
    let wake: number | undefined;
    const soon = (at: number) => {
      wake = wake === undefined ? at : Math.min(wake, at);
    };
    for (const migration of this.migrations) {
      const name = migration.config.migration;
      try {
        const result = await shadowPass(migration, await this.ledger(migration), {
          now,
          ...(this.options.workDir === undefined ? {} : { workDir: this.options.workDir }),
          onRun: (run) => this.options.onRun?.(name, run),
        });
        if (result.nextDueAt !== undefined) soon(result.nextDueAt.getTime());
        if (migration.config.legacy.cutoff !== undefined)
          soon(now.getTime() + (this.options.pollMs ?? DEFAULT_POLL_MS));
        for (const w of result.waiting)
          this.options.logger.debug({ migration: name, slot: w.slot }, `waiting: ${w.reason}`);
      } catch (error) {
        const retryable = isFerryError(error) ? error.retryable : false;
        this.options.logger.error(
          { migration: name, code: isFerryError(error) ? error.code : undefined, retryable, err: error },
          `shadow pass failed: ${(error as Error).message}`,
        );
        soon(now.getTime() + RETRY_MS);
        failed.push(name);
      }
    }
    this.options.onPass?.(now);
    return { wake: wake === undefined ? undefined : new Date(wake), failed };
  }

  /** Passes until the signal stops them. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const { wake } = await this.pass(new Date());
      const ms = wake === undefined ? RETRY_MS : Math.max(1000, wake.getTime() - Date.now());
      // Bounded sleeps: a long wait is taken in steps so a changed clock (suspend, NTP) is noticed.
      await sleep(Math.min(ms, 5 * 60_000), signal).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const ledgers = [...this.ledgers.values()];
    this.ledgers.clear();
    for (const ledger of ledgers) await (await ledger.catch(() => undefined))?.close();
  }
}
