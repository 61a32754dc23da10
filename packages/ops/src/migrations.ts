// Prometheus metrics of shadow runs (`ferry serve --migration`): the cut-over gate and the last comparison
// read at scrape time from the views the host keeps of each ledger, and a counter of the runs recorded,
// fed by the shadow runner as each run is recorded. The types are structural, so @ferry/ops does not
// depend on @ferry/cli: its `MigrationView` and `RunSummary` fit them.
import { Counter, Gauge, type Registry } from 'prom-client';

/** A migration as its last view of the ledger says (`MigrationView` of the CLI has these fields). */
export interface MigrationSample {
  name: string;
  gate: { open: boolean; cleanRuns: number; cleanDays: number };
  /** Oldest first. */
  runs: readonly { status: string; parity: number; cutoff: string }[];
}

export interface MigrationMetrics {
  /** A run was recorded in the ledger: give it the shadow runner's `onRun`. */
  runRecorded(migration: string, run: { status: string; clean: boolean }): void;
  /**
   * Read `list` at every scrape for the gauges: one sample per migration that has a view (a migration
   * without one yet has no gauge series). `migrations` are all the names, so each counter starts at 0.
   */
  watch(migrations: readonly string[], list: () => readonly MigrationSample[]): void;
}

/** The shadow-run metrics, in `registry`. FerryMetrics.migrations() makes them once per registry. */
export function createMigrationMetrics(registry: Registry): MigrationMetrics {
  const registers = [registry];
  const lists: (() => readonly MigrationSample[])[] = [];
  const samples = () => lists.flatMap((list) => list());
  const lastComplete = (s: MigrationSample) => s.runs.filter((r) => r.status === 'complete').at(-1);

  const runs = new Counter({
    name: 'ferry_migration_runs_total',
    help: 'Shadow runs this process recorded in the ledger, by status (complete, missed) and whether clean.',
    labelNames: ['migration', 'status', 'clean'] as const,
    registers,
  });
  const gauge = (name: string, help: string, value: (s: MigrationSample) => number | undefined) =>
    new Gauge({
      name,
      help: `${help} (computed at scrape time).`,
      labelNames: ['migration'] as const,
      registers,
      collect() {
        for (const s of samples()) {
          const v = value(s);
          if (v !== undefined) this.set({ migration: s.name }, v);
        }
      },
    });
  gauge(
    'ferry_migration_clean_parity_days',
    'Days of clean parity: the days spanned by the consecutive clean runs ending with the latest due slot',
    (s) => s.gate.cleanDays,
  );
  gauge(
    'ferry_migration_clean_runs',
    'Consecutive clean runs ending with the latest due slot',
    (s) => s.gate.cleanRuns,
  );
  gauge('ferry_migration_gate_open', 'Whether the cut-over gate is open (1) or closed (0)', (s) =>
    s.gate.open ? 1 : 0,
  );
  gauge(
    'ferry_migration_parity',
    'Parity ratio (0 to 1) of the last complete shadow run; absent before one',
    (s) => lastComplete(s)?.parity,
  );
  gauge(
    'ferry_migration_last_cutoff_timestamp_seconds',
    'Unix time of the cut-off of the last complete shadow run (the stream was compared as of it)',
    (s) => {
      const run = lastComplete(s);
      return run === undefined ? undefined : Date.parse(run.cutoff) / 1000;
    },
  );

  return {
    runRecorded(migration, run) {
      runs.inc({ migration, status: run.status, clean: String(run.clean) });
    },
    watch(migrations, list) {
      lists.push(list);
      // Every series a run can have from 0, so that an increase counts the first run too (a missed run is
      // never clean).
      for (const migration of migrations) {
        runs.inc({ migration, status: 'complete', clean: 'true' }, 0);
        runs.inc({ migration, status: 'complete', clean: 'false' }, 0);
        runs.inc({ migration, status: 'missed', clean: 'false' }, 0);
      }
    },
  };
}
