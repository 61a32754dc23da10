// `ferry serve --migration <file>`: shadow runs next to the pipelines (one ShadowRunner over every file, in
// the same metrics and the same shutdown), and the admin routes that show each migration's cut-over gate
// and runs. @ferry/server knows nothing of migrations: the routes are a plugin of the admin server,
// declared like its own (access, OpenAPI schema, every status they can answer); the server's error handler
// answers for them, given `migrationsErrorStatuses`.
//
// Routes and metrics read a cached view of each ledger, never the ledger itself: the view is rebuilt after
// every pass (asking the broker for the consumer groups of the migration's Kafka topics, for the inventory)
// and every 60 s without the broker (the gate and the phase move with the clock alone: a slot falls due, a
// day passes); that refresh keeps the consumer groups of the last pass, so a scrape or a request never
// waits for Kafka or the ledger.
import {
  ConfigError,
  FerryError,
  isFerryError,
  type Logger,
  type Redactor,
  type Registry,
} from '@ferry/core';
import type { FerryMetrics } from '@ferry/ops';
import type { AdminServerOptions, ServerConfig } from '@ferry/server';
import { type LoadedMigration, loadMigrationFile } from '../migration/config.js';
import type { MigrationView, RunSummary } from '../migration/model.js';
import { ShadowRunner } from '../migration/runner.js';
import { migrationView } from '../migration/views.js';
import { percent } from '../output.js';
import { pluginRouteSchemas } from './plugin-routes.js';

type AdminPlugin = NonNullable<AdminServerOptions['plugins']>[number];
type AdminApp = Parameters<AdminPlugin>[0];

/** How often the views are rebuilt between passes. */
const VIEW_REFRESH_MS = 60_000;

export interface HostedMigrationsOptions {
  logger: Logger;
  metrics: FerryMetrics;
  /** The serve logger's redactor: each file's secrets are added to it as the file is loaded. */
  redactor: Redactor;
  /** For the inventory: the replacing pipelines' files are read with it. */
  registry: Registry;
}

/** A migration's view as served: the ledger's view when it was last rebuilt. */
export interface ServedMigration extends MigrationView {
  refreshedAt: string;
  /** The last rebuild failed (the view is the one before it). */
  refreshError?: { code: string; message: string; retryable: boolean; at: string };
}

/** One line of `GET /migrations`. */
export interface MigrationSummary {
  name: string;
  description?: string;
  legacyJob: string;
  phase: MigrationView['phase'];
  status: string;
  gate: MigrationView['gate'];
  /** The newest run, complete or missed. */
  lastRun?: RunSummary;
  refreshedAt: string;
  refreshError?: ServedMigration['refreshError'];
}

interface Cached {
  view?: ServedMigration;
  /** Why there is no view, or why the last rebuild failed. */
  error?: { error: unknown; at: string };
}

/** The migration files one `ferry serve` runs; a migration name is unique across them. */
export class HostedMigrations {
  private readonly stopping = new AbortController();
  private readonly cache = new Map<string, Cached>();
  private running: Promise<void> | undefined;
  private failure: { error: unknown } | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The rebuilds, one after another; `waiting` counts those not begun. */
  private rebuilds: Promise<void> = Promise.resolve();
  private waiting = 0;
  /** Settled once the first views are built (or `ferry serve` stops first): the routes wait for it. */
  private readonly first: Promise<void>;
  private firstBuilt: () => void = () => undefined;
  private readonly runner: ShadowRunner;

  private constructor(
    private readonly migrations: readonly LoadedMigration[],
    private readonly options: HostedMigrationsOptions,
  ) {
    this.first = new Promise<void>((resolve) => {
      this.firstBuilt = resolve;
    });
    const metrics = migrations.length === 0 ? undefined : options.metrics.migrations();
    this.runner = new ShadowRunner([...migrations], {
      logger: options.logger,
      onRun: (migration, run) => {
        metrics?.runRecorded(migration, run);
        options.logger.info(
          { migration, slot: run.slot, status: run.status, parity: run.parity, clean: run.clean },
          `shadow run of ${migration} for ${run.slot}: ${run.status === 'complete' ? `parity ${percent(run.parity)}, ${run.clean ? 'clean' : 'not clean'}` : `missed (${run.reason ?? 'no comparison'})`}`,
        );
      },
      onPass: () => void this.rebuild(true),
    });
    metrics?.watch(
      migrations.map((m) => m.config.migration),
      () => [...this.cache.values()].flatMap((c) => (c.view === undefined ? [] : [c.view])),
    );
  }

  /** Load every file (a configuration mistake fails here, before anything runs). */
  static async load(files: readonly string[], options: HostedMigrationsOptions): Promise<HostedMigrations> {
    const migrations: LoadedMigration[] = [];
    const owner = new Map<string, string>();
    for (const file of files) {
      const loaded = await loadMigrationFile(file);
      options.redactor.addAll(loaded.redactor);
      const name = loaded.config.migration;
      const first = owner.get(name);
      if (first !== undefined)
        throw new ConfigError(loaded.file, [
          {
            path: 'migration',
            message: `${name} is already the migration of ${first}; names must differ across the --migration files (they name the admin routes, the metrics and the ledger's rows)`,
          },
        ]);
      owner.set(name, loaded.file);
      migrations.push(loaded);
    }
    return new HostedMigrations(migrations, options);
  }

  get size(): number {
    return this.migrations.length;
  }

  names(): string[] {
    return this.migrations.map((m) => m.config.migration);
  }

  /**
   * Build the first views and start the passes. A pass that fails is logged by the runner and tried again
   * at its next poll; the pipelines and the other migrations go on.
   */
  start(): void {
    void this.rebuild(false).finally(() => this.firstBuilt());
    this.running = this.runner.run(this.stopping.signal).catch((error: unknown) => {
      this.failure ??= { error };
      this.options.logger.error({ err: error }, 'shadow runner stopped');
    });
    this.timer = setInterval(() => void this.rebuild(false), VIEW_REFRESH_MS);
    this.timer.unref();
  }

  /** The runner's failure, if it stopped on its own (serve then exits 1). A failed pass is not one. */
  failed(): unknown {
    return this.failure?.error;
  }

  /** Stop the passes (one under way finishes), wait for a rebuild under way, then close the ledgers. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.stopping.abort();
    this.firstBuilt();
    await this.running;
    await this.rebuilds;
    await this.runner.close();
  }

  /** Every migration's summary, in the order of the files. */
  async list(): Promise<MigrationSummary[]> {
    await this.first;
    return this.names().map((name) => {
      const view = this.served(name);
      const last = view.runs.at(-1);
      return {
        name: view.name,
        ...(view.description === undefined ? {} : { description: view.description }),
        legacyJob: view.legacyJob,
        phase: view.phase,
        status: view.inventory.status,
        gate: view.gate,
        ...(last === undefined ? {} : { lastRun: last }),
        refreshedAt: view.refreshedAt,
        ...(view.refreshError === undefined ? {} : { refreshError: view.refreshError }),
      };
    });
  }

  async get(name: string): Promise<ServedMigration> {
    if (!this.names().includes(name)) {
      const known = this.names();
      throw new FerryError(
        'SHADOW_MIGRATION_NOT_FOUND',
        `no migration '${name}' here; serving ${known.length === 0 ? 'none' : known.join(', ')}`,
        { retryable: false },
      );
    }
    await this.first;
    return this.served(name);
  }

  /** The cached view; without one (the ledger could not be read yet), the error that prevented it. */
  private served(name: string): ServedMigration {
    const cached = this.cache.get(name);
    if (cached?.view !== undefined) return cached.view;
    throw cached?.error?.error ?? new Error(`no view of migration ${name} yet`);
  }

  /**
   * Rebuild every view, after the rebuilds already asked for. A rebuild without the broker is dropped when
   * one is already waiting (it would see the same ledger); one after a pass always runs.
   */
  private rebuild(consumers: boolean): Promise<void> {
    if (!consumers && this.waiting > 0) return this.rebuilds;
    this.waiting += 1;
    this.rebuilds = this.rebuilds.then(async () => {
      this.waiting -= 1;
      if (this.stopping.signal.aborted) return;
      for (const migration of this.migrations) await this.rebuildOne(migration, consumers);
    });
    return this.rebuilds;
  }

  private async rebuildOne(migration: LoadedMigration, consumers: boolean): Promise<void> {
    const name = migration.config.migration;
    const before = this.cache.get(name)?.view;
    const at = new Date();
    try {
      const ledger = await this.runner.ledger(migration);
      const view = await migrationView(migration, ledger, {
        now: at,
        consumers,
        registry: this.options.registry,
      });
      // Without the broker, the consumer groups are those the last pass's rebuild read.
      const inventory =
        consumers || before === undefined
          ? view.inventory
          : (({ consumersError: _e, ...rest }) => ({
              ...rest,
              consumers: before.inventory.consumers,
              ...(before.inventory.consumersError === undefined
                ? {}
                : { consumersError: before.inventory.consumersError }),
            }))(view.inventory);
      this.cache.set(name, { view: { ...view, inventory, refreshedAt: at.toISOString() } });
    } catch (error) {
      this.options.logger.warn(
        { migration: name, code: isFerryError(error) ? error.code : undefined, err: error },
        `cannot read the ledger of migration ${name}: ${(error as Error).message}`,
      );
      const failed = {
        code: isFerryError(error) ? error.code : 'INTERNAL',
        message: (error as Error).message,
        retryable: isFerryError(error) ? error.retryable : false,
        at: at.toISOString(),
      };
      this.cache.set(name, {
        ...(before === undefined ? {} : { view: { ...before, refreshError: failed } }),
        error: { error, at: at.toISOString() },
      });
    }
  }
}

/** Statuses of the codes the migrations routes throw, for the admin server's error handler. */
export const migrationsErrorStatuses: Readonly<Record<string, number>> = {
  SHADOW_MIGRATION_NOT_FOUND: 404,
};

const timestamp = { type: 'string', format: 'date-time' } as const;
const nullableText = { type: ['string', 'null'] } as const;
const phaseSchema = {
  type: 'string',
  enum: ['not started', 'shadowing', 'gate open', 'cut over', 'retired'],
  description: 'Where the migration stands, from the ledger.',
} as const;

const gateSchema = {
  type: 'object',
  description: 'The cut-over gate: the last `required` slots due must each have a clean run.',
  required: ['open', 'required', 'threshold', 'cleanRuns', 'cleanDays', 'reasons'],
  additionalProperties: false,
  properties: {
    open: { type: 'boolean' },
    required: { type: 'integer', description: 'Consecutive clean runs needed (gate.runs).' },
    threshold: { type: 'number', description: 'Lowest parity of a clean run (gate.threshold).' },
    cleanRuns: { type: 'integer', description: 'Consecutive clean runs ending with the latest due slot.' },
    cleanDays: { type: 'integer', description: 'The days those clean runs span: days of clean parity.' },
    reasons: {
      type: 'array',
      items: { type: 'string' },
      description:
        'Why the gate is closed, one sentence each (a slot missed, a parity below the threshold, differences not explained); empty when open.',
    },
  },
} as const;

const runSchema = {
  type: 'object',
  description: 'One shadow run: a legacy run (a schedule slot) compared with the stream as of its cut-off.',
  required: [
    'slot',
    'cutoff',
    'status',
    'parity',
    'threshold',
    'keys',
    'matching',
    'missing',
    'extra',
    'differing',
    'unexplained',
    'afterCutoff',
    'clean',
    'fields',
  ],
  additionalProperties: false,
  properties: {
    slot: { ...timestamp, description: 'The legacy job’s scheduled time this run stands for.' },
    cutoff: { ...timestamp, description: 'The stream was compared as of this moment.' },
    status: {
      type: 'string',
      enum: ['complete', 'missed'],
      description: '`missed`: no comparison was possible for the slot (`reason` says why).',
    },
    reason: { type: 'string' },
    trigger: { type: 'string', enum: ['schedule', 'freshness', 'catch-up'] },
    startedAt: timestamp,
    durationMs: { type: 'number' },
    parity: { type: 'number', description: 'Matching keys over all keys, 0 to 1.' },
    threshold: { type: 'number' },
    keys: { type: 'integer' },
    matching: { type: 'integer' },
    missing: { type: 'integer', description: 'Keys in the legacy output and not in the stream.' },
    extra: { type: 'integer', description: 'Keys in the stream and not in the legacy output.' },
    differing: { type: 'integer' },
    unexplained: { type: 'integer', description: 'Mismatches no operator note explains.' },
    afterCutoff: { type: 'integer', description: 'Events after the cut-off, held back for the next run.' },
    clean: { type: 'boolean', description: 'Parity at or above the threshold and every mismatch explained.' },
    fields: {
      type: 'object',
      description: 'Per canonical field: its reference column and how many keys differ in it.',
      additionalProperties: {
        type: 'object',
        required: ['column', 'differing'],
        additionalProperties: false,
        properties: { column: { type: 'string' }, differing: { type: 'integer' } },
      },
    },
    positions: {
      type: 'object',
      additionalProperties: true,
      description:
        'What was compared: the reference’s rows and keys, the event log’s lines or the Kafka topic’s next offset per partition, and the window.',
    },
    lastEventTime: timestamp,
  },
} as const;

const noteSchema = {
  type: 'object',
  description: 'An operator’s explanation of a known difference (`ferry shadow explain`).',
  required: ['id', 'reason', 'author', 'at'],
  additionalProperties: false,
  properties: {
    id: { type: 'integer' },
    key: { type: 'string' },
    field: { type: 'string' },
    kind: { type: 'string', enum: ['missing', 'extra', 'differs'] },
    reason: { type: 'string' },
    author: { type: 'string' },
    at: timestamp,
  },
} as const;

const topFieldSchema = {
  type: 'object',
  required: ['field', 'column', 'differing', 'samples'],
  additionalProperties: false,
  properties: {
    field: { type: 'string' },
    column: { type: 'string' },
    differing: { type: 'integer', description: 'Differences in this field over the runs shown.' },
    samples: {
      type: 'array',
      items: {
        type: 'object',
        required: ['slot', 'key', 'reference', 'stream', 'explained'],
        additionalProperties: false,
        properties: {
          slot: timestamp,
          key: { type: 'string' },
          reference: nullableText,
          stream: nullableText,
          explained: { type: 'boolean' },
        },
      },
    },
  },
} as const;

const inventorySchema = {
  type: 'object',
  description: 'The migration’s line in the inventory (`ferry inventory`).',
  required: [
    'migration',
    'legacyJob',
    'schedule',
    'pipelines',
    'topics',
    'contracts',
    'consumers',
    'phase',
    'status',
    'freshness',
  ],
  additionalProperties: false,
  properties: {
    migration: { type: 'string' },
    description: { type: 'string' },
    legacyJob: { type: 'string' },
    schedule: { type: 'string' },
    pipelines: { type: 'array', items: { type: 'string' } },
    topics: { type: 'array', items: { type: 'string' } },
    contracts: { type: 'array', items: { type: 'string' } },
    consumers: {
      type: 'array',
      description: 'Consumer groups of its Kafka topics, as the broker said after the last pass.',
      items: {
        type: 'object',
        required: ['group', 'state', 'members', 'topics'],
        additionalProperties: false,
        properties: {
          group: { type: 'string' },
          state: { type: 'string' },
          members: { type: 'integer' },
          topics: {
            type: 'array',
            items: {
              type: 'object',
              required: ['topic', 'lag'],
              additionalProperties: false,
              properties: { topic: { type: 'string' }, lag: { type: ['integer', 'null'] } },
            },
          },
        },
      },
    },
    consumersError: { type: 'string' },
    phase: phaseSchema,
    status: { type: 'string' },
    freshness: {
      type: 'object',
      additionalProperties: false,
      properties: {
        lastRun: timestamp,
        lastCutoff: timestamp,
        lastEventTime: timestamp,
        ageMs: { type: 'number' },
      },
    },
  },
} as const;

const refreshErrorSchema = {
  type: 'object',
  description: 'The last rebuild of the view failed (the ledger could not be read); the view is older.',
  required: ['code', 'message', 'retryable', 'at'],
  additionalProperties: false,
  properties: {
    code: { type: 'string' },
    message: { type: 'string' },
    retryable: { type: 'boolean' },
    at: timestamp,
  },
} as const;

const refreshedAt = {
  ...timestamp,
  description: 'When the view was read from the ledger (after every pass, and every 60 s).',
} as const;

const viewSchema = {
  type: 'object',
  description:
    'A migration of a `--migration` file: its gate, every run judged with today’s notes, the fields that differ most, the notes and its inventory line.',
  required: [
    'name',
    'legacyJob',
    'schedule',
    'phase',
    'gate',
    'runs',
    'topFields',
    'notes',
    'inventory',
    'refreshedAt',
  ],
  additionalProperties: false,
  properties: {
    name: { type: 'string' },
    description: { type: 'string' },
    legacyJob: { type: 'string' },
    schedule: {
      type: 'object',
      required: ['cron', 'timezone'],
      additionalProperties: false,
      properties: { cron: { type: 'string' }, timezone: { type: 'string' } },
    },
    phase: phaseSchema,
    gate: gateSchema,
    runs: { type: 'array', items: runSchema, description: 'Oldest first.' },
    topFields: { type: 'array', items: topFieldSchema },
    notes: { type: 'array', items: noteSchema },
    inventory: inventorySchema,
    refreshedAt,
    refreshError: refreshErrorSchema,
  },
} as const;

const summarySchema = {
  type: 'object',
  description: 'A migration of a `--migration` file: where it stands, its gate and its newest run.',
  required: ['name', 'legacyJob', 'phase', 'status', 'gate', 'refreshedAt'],
  additionalProperties: false,
  properties: {
    name: { type: 'string' },
    description: { type: 'string' },
    legacyJob: { type: 'string' },
    phase: phaseSchema,
    status: {
      type: 'string',
      description: '"shadowing 6 days", "gate open (14 clean runs, …)", "cut over …".',
    },
    gate: gateSchema,
    lastRun: { ...runSchema, description: 'The newest run, complete or missed (absent before the first).' },
    refreshedAt,
    refreshError: refreshErrorSchema,
  },
} as const;

const migrationParams = {
  type: 'object',
  required: ['migration'],
  additionalProperties: false,
  properties: {
    migration: {
      type: 'string',
      pattern: '^[a-z][a-z0-9-]*$',
      maxLength: 63,
      description: 'Migration name, as in the migration file.',
    },
  },
} as const;

/** Every string in a value, scrubbed of the files' secrets (a reference or broker message may hold one). */
function scrubbed<T>(value: T, scrub: (text: string) => string): T {
  if (typeof value === 'string') return scrub(value) as T;
  if (Array.isArray(value)) return value.map((v) => scrubbed(v, scrub)) as T;
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubbed(v, scrub)])) as T;
  return value;
}

/**
 * The admin routes of the migrations: `GET /migrations` and `GET /migrations/{migration}` (read). Each
 * documents the statuses it can answer with, as the built-in routes do (auth failures only in oauth2 mode).
 */
export function migrationsRoutes(
  migrations: HostedMigrations,
  options: { config: ServerConfig; redactor?: Redactor },
): AdminPlugin {
  const { config, redactor } = options;
  const shown = <T>(value: T): T => (redactor ? scrubbed(value, (t) => redactor.scrub(t)) : value);
  const schemaOf = pluginRouteSchemas(config, 'migrations');
  const named = {
    params: migrationParams,
    badRequest: 'The request does not match the schema (a migration name that cannot be).',
    notFound: 'No migration of that name (SHADOW_MIGRATION_NOT_FOUND).',
  };
  const serverError = 'SHADOW_LEDGER_UNAVAILABLE: the ledger could not be read since `ferry serve` started';
  const nameOf = (params: unknown) => (params as { migration: string }).migration;

  return async (app: AdminApp) => {
    app.get(
      '/migrations',
      {
        config: { access: 'read' },
        schema: schemaOf({
          access: 'read',
          serverError,
          operationId: 'listMigrations',
          summary: 'Every migration with its phase, cut-over gate (open, and why not) and newest shadow run',
          description:
            'Read from a view of each ledger rebuilt after every shadow pass and every 60 s (`refreshedAt`), not from the ledger at each request.',
          ok: {
            description: 'The migrations, in the order of the `--migration` files.',
            type: 'object',
            required: ['migrations'],
            additionalProperties: false,
            properties: { migrations: { type: 'array', items: summarySchema } },
          },
        }),
      },
      async () => ({ migrations: shown(await migrations.list()) }),
    );
    app.get(
      '/migrations/:migration',
      {
        config: { access: 'read' },
        schema: schemaOf({
          access: 'read',
          serverError,
          operationId: 'getMigration',
          summary: 'One migration: its gate, runs, most differing fields, notes and inventory line',
          description:
            'As `ferry shadow status --json` and the report page say it, from the view rebuilt after every shadow pass and every 60 s (`refreshedAt`).',
          named,
          ok: { ...viewSchema, description: 'The migration.' },
        }),
      },
      async (request) => shown(await migrations.get(nameOf(request.params))),
    );
  };
}
