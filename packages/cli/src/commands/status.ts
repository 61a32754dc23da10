// `ferry status`: how each pipeline is doing, from a running `ferry serve` (its admin API) or, without
// --url, from the files a pipeline keeps on disk (checkpoint, run lock, dead letters). Both print the same
// columns, and `--json` gives the admin API's status shape with what the files cannot tell set to null.
import { readFile } from 'node:fs/promises';
import {
  ConfigError,
  createCheckpointStore,
  createDeadLetterSink,
  FerryError,
  FileCheckpointStore,
} from '@ferry/core';
import type { ClusterStatus } from '@ferry/server';
import type { Command } from 'commander';
import { runningPid } from '../lock.js';
import { type CommandContext, openPipeline } from './context.js';

/**
 * One pipeline's status: the admin API's `PipelineStatus` (packages/server/src/host.ts), with null for what
 * is unknown. Local reads add where the pipeline file is, the pid of a run holding the lock, and the dead
 * letters waiting for replay.
 */
export interface StatusRow {
  name: string;
  state: string;
  source: string;
  sink: string;
  error: { code: string; message: string; retryable: boolean; at: string } | null;
  lastCheckpoint: { position: unknown; at: string | null } | null;
  lagSeconds: number | null;
  counts: {
    recordsRead: number | null;
    eventsWritten: number | null;
    deadLetters: number | null;
    retries: number | null;
  };
  scheduled: boolean;
  progress: { label: string; done: number; total?: number; unit: string } | null;
  expectations: { name: string; status: string | null; deadline: { cron: string; timezone: string } }[];
  file?: string;
  pid?: number | null;
  deadLettersPending?: number | null;
}

interface StatusOptions {
  url?: string;
  token?: string;
  tokenFile?: string;
  json: boolean;
  cluster: boolean;
}

export function registerStatusCommand(program: Command, ctx: CommandContext): void {
  program
    .command('status')
    .description(
      'Show each pipeline’s state, last checkpoint, lag and counts: from a running `ferry serve` (--url), or from the pipeline files’ checkpoints, run locks and dead letters.',
    )
    .argument('[pipelines...]', 'pipeline YAML files; with --url, pipeline names to show (default: all)')
    .option('--url <url>', 'admin API of a running `ferry serve`, e.g. http://127.0.0.1:8080')
    .option('--token <token>', 'admin API bearer token (default: $FERRY_ADMIN_TOKEN)')
    .option('--token-file <path>', 'read the admin API bearer token from a file')
    .option(
      '--json',
      'print one JSON document { pipelines: [...] } (with --cluster: the cluster status)',
      false,
    )
    .option(
      '--cluster',
      'with --url: the whole cluster of a `ferry serve --cluster` worker: every worker, the pipelines it runs, their state, lag and last commit, and the pipelines no worker can take',
      false,
    )
    .addHelpText(
      'after',
      '\nWithout --url the state is `running` when a live process holds the pipeline’s run lock, else `stopped`;\n' +
        'what only a running process knows (lag, counts, errors) is null. Exit 1 when serve is not reachable or\n' +
        'refuses the token.',
    )
    .action(async (pipelines: string[], opts: StatusOptions) => {
      if (opts.cluster) {
        if (opts.url === undefined)
          throw usage('--cluster', '--cluster asks a running worker: give its admin address with --url');
        const view = (await getAdmin(opts, '/cluster', 'mode')) as ClusterStatus;
        if (opts.json) ctx.io.out(JSON.stringify(view, null, 2));
        else for (const line of clusterTable(view)) ctx.io.out(line);
        return;
      }
      const rows =
        opts.url === undefined
          ? await localStatus(pipelines, opts, ctx)
          : await remoteStatus(pipelines, opts, ctx);
      // The webhook subscriptions of a `ferry serve --webhooks`, when no pipeline was asked for by name.
      const webhooks =
        opts.url !== undefined && pipelines.length === 0 ? await remoteWebhooks(opts) : undefined;
      // And the migrations of a `ferry serve --migration`, with their cut-over gates.
      const migrations =
        opts.url !== undefined && pipelines.length === 0 ? await remoteMigrations(opts) : undefined;
      if (opts.json)
        ctx.io.out(
          JSON.stringify(
            { pipelines: rows, ...(webhooks ? { webhooks } : {}), ...(migrations ? { migrations } : {}) },
            null,
            2,
          ),
        );
      else {
        for (const line of statusTable(rows)) ctx.io.out(line);
        if (webhooks) for (const line of ['', ...webhooksTable(webhooks)]) ctx.io.out(line);
        if (migrations) for (const line of ['', ...migrationsTable(migrations)]) ctx.io.out(line);
      }
    });
}

async function localStatus(files: string[], opts: StatusOptions, ctx: CommandContext): Promise<StatusRow[]> {
  if (opts.token !== undefined || opts.tokenFile !== undefined)
    throw usage('--token', '--token and --token-file are for --url; local status reads the files directly');
  if (files.length === 0)
    throw usage('pipelines', 'give the pipeline files to read, or --url for a running `ferry serve`');
  const rows: StatusRow[] = [];
  for (const file of files) {
    const { pipeline, factoryContext } = await openPipeline(file, ctx);
    const store = await createCheckpointStore(pipeline, ctx.registry, factoryContext);
    const savedFile = store instanceof FileCheckpointStore ? store.pathFor(pipeline.name) : undefined;
    let position: unknown;
    let savedAt: string | null = null;
    try {
      position = await store.load(pipeline.name);
      if (savedFile !== undefined) savedAt = await fileSavedAt(savedFile);
    } finally {
      await store.close?.();
    }
    const pid = (await runningPid(pipeline.baseDir, pipeline.name)) ?? null;
    const letters = await createDeadLetterSink(pipeline, ctx.registry, factoryContext);
    let pending: number | null = null;
    try {
      if (letters.list) {
        pending = 0;
        for await (const _ of letters.list()) pending += 1;
      }
    } finally {
      await letters.close();
    }
    rows.push({
      name: pipeline.name,
      state: pid === null ? 'stopped' : 'running',
      source: pipeline.source.type,
      sink: pipeline.sink.type,
      error: null,
      lastCheckpoint: position === undefined || position === null ? null : { position, at: savedAt },
      lagSeconds: null,
      counts: { recordsRead: null, eventsWritten: null, deadLetters: null, retries: null },
      scheduled: pipeline.raw.schedule !== undefined,
      progress: null,
      expectations: pipeline.raw.expectations.map((e) => ({
        name: e.name,
        status: null,
        deadline: e.deadline,
      })),
      file: pipeline.file,
      pid,
      deadLettersPending: pending,
    });
  }
  return rows;
}

/** The time the file store wrote next to the position; null when the file does not say. */
async function fileSavedAt(path: string): Promise<string | null> {
  try {
    const saved = JSON.parse(await readFile(path, 'utf8')) as { savedAt?: unknown };
    return typeof saved.savedAt === 'string' ? saved.savedAt : null;
  } catch {
    return null;
  }
}

async function remoteStatus(names: string[], opts: StatusOptions, ctx: CommandContext): Promise<StatusRow[]> {
  const base = opts.url!.replace(/\/+$/, '');
  const body = (await getAdmin(opts, '/pipelines', 'pipelines')) as { pipelines: unknown };
  const rows = (body.pipelines as Partial<StatusRow>[]).map(normaliseRemote);
  if (names.length === 0) return rows;
  const unknown = names.filter((n) => !rows.some((r) => r.name === n));
  if (unknown.length > 0) {
    ctx.io.err(`ferry: no pipeline named ${unknown.join(', ')} at ${base}`);
    ctx.setExit(1);
  }
  return rows.filter((r) => names.includes(r.name));
}

/** The admin API leaves out what it does not know; status prints null for it, as the local mode does. */
function normaliseRemote(row: Partial<StatusRow>): StatusRow {
  return {
    ...row,
    name: String(row.name),
    state: String(row.state),
    source: String(row.source ?? ''),
    sink: String(row.sink ?? ''),
    error: row.error ?? null,
    lastCheckpoint: row.lastCheckpoint ?? null,
    lagSeconds: row.lagSeconds ?? null,
    counts: {
      recordsRead: row.counts?.recordsRead ?? null,
      eventsWritten: row.counts?.eventsWritten ?? null,
      deadLetters: row.counts?.deadLetters ?? null,
      retries: row.counts?.retries ?? null,
    },
    scheduled: row.scheduled ?? false,
    progress: row.progress ?? null,
    expectations: row.expectations ?? [],
  };
}

async function tokenOf(opts: StatusOptions): Promise<string | undefined> {
  if (opts.token !== undefined && opts.tokenFile !== undefined)
    throw usage('--token', 'give at most one of --token and --token-file');
  if (opts.tokenFile !== undefined) {
    try {
      return (await readFile(opts.tokenFile, 'utf8')).trim();
    } catch (error) {
      throw usage('--token-file', `cannot read ${opts.tokenFile} (${(error as NodeJS.ErrnoException).code})`);
    }
  }
  return opts.token ?? (process.env.FERRY_ADMIN_TOKEN || undefined);
}

/** A webhook subscription as `GET /webhooks` answers it (SubscriptionStatus of @ferry/webhooks). */
export interface WebhookRow {
  name: string;
  state: string;
  error?: { code: string; message: string };
  delivered: number;
  deadLettered: number;
  retries: number;
  pending: number;
  oldestPendingMs: number;
  paused: boolean;
  pausedReason?: string;
  circuit: string;
}

/** The subscriptions of a `ferry serve --webhooks`; undefined from one without (404). */
async function remoteWebhooks(opts: StatusOptions): Promise<WebhookRow[] | undefined> {
  const body = (await getAdmin(opts, '/webhooks', 'subscriptions', true)) as
    | { subscriptions: WebhookRow[] }
    | undefined;
  return body?.subscriptions;
}

/** A migration as `GET /migrations` answers it (MigrationSummary of the serve command). */
export interface MigrationRow {
  name: string;
  legacyJob: string;
  phase: string;
  status: string;
  gate: {
    open: boolean;
    required: number;
    threshold: number;
    cleanRuns: number;
    cleanDays: number;
    reasons: string[];
  };
  lastRun?: { slot: string; status: string; parity: number; clean: boolean };
  refreshedAt: string;
}

/** The migrations of a `ferry serve --migration`; undefined from one without (404). */
async function remoteMigrations(opts: StatusOptions): Promise<MigrationRow[] | undefined> {
  const body = (await getAdmin(opts, '/migrations', 'migrations', true)) as
    | { migrations: MigrationRow[] }
    | undefined;
  return body?.migrations;
}

/** GET a path of the admin API at --url; the answer must be a JSON object with property `expect`. */
async function getAdmin(
  opts: StatusOptions,
  path: string,
  expect: string,
  /** A 404 (a server without this route) answers undefined. */
  optional = false,
): Promise<unknown> {
  const base = opts.url!.replace(/\/+$/, '');
  const url = `${base}${path}`;
  const token = await tokenOf(opts);
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    throw new FerryError(
      'PIPELINE_STATUS_UNREACHABLE',
      `ferry serve is not reachable at ${base} (${cause}): is it running, and is --url its admin address?`,
      { retryable: true, cause: error, details: { url: base } },
    );
  }
  if (response.status === 401 || response.status === 403) {
    throw new FerryError(
      'PIPELINE_STATUS_UNAUTHORIZED',
      `the admin API at ${base} refused the request (HTTP ${response.status}): ${
        token ? 'the token is wrong or lacks access' : 'it needs a token'
      }; give it with --token, --token-file or FERRY_ADMIN_TOKEN`,
      { details: { url: base, status: response.status } },
    );
  }
  if (optional && response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  const body = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
  const usable = expect === 'mode' ? body?.[expect] !== undefined : Array.isArray(body?.[expect]);
  if (!response.ok || body === undefined || !usable) {
    const what = { pipelines: 'a pipelines list', mode: 'a cluster status' }[expect] ?? `a ${expect} list`;
    throw new FerryError(
      'PIPELINE_STATUS_FAILED',
      `GET ${url} answered HTTP ${response.status}${response.ok ? ` without ${what}` : ''}; is --url a ferry serve admin address?`,
      { retryable: response.status >= 500, details: { url: base, status: response.status } },
    );
  }
  return body;
}

const CLUSTER_COLUMNS = ['WORKER', 'PIPELINE', 'STATE', 'SINCE', 'LAG', 'LAST COMMIT'];

/** The cluster as one worker sees it on the board: a line per pipeline, by worker, then what waits. */
export function clusterTable(view: ClusterStatus, now = Date.now()): string[] {
  if (view.mode !== 'cluster') return ['not a cluster: this ferry serve was started without --cluster'];
  const head =
    `cluster ${view.group}: worker ${view.worker} answering` +
    (view.plan
      ? `; plan of generation ${view.plan.generation} by ${view.plan.leader}, ${when(view.plan.at, now)}`
      : '; no plan on the board yet');
  const cells: string[][] = [];
  for (const member of view.members ?? []) {
    const labels = member.labels.length > 0 ? ` [${member.labels.join(', ')}]` : '';
    const name = `${member.worker}${labels}${member.draining ? ' (draining)' : ''}`;
    if (member.pipelines.length === 0) cells.push([name, '-', '-', '-', '-', '-']);
    for (const p of member.pipelines) {
      cells.push([
        name,
        p.pipeline,
        p.state ?? '-',
        p.since === null ? '-' : when(p.since, now),
        p.lagSeconds === null ? '-' : duration(p.lagSeconds),
        p.lastCommitAt === null ? 'never' : when(p.lastCommitAt, now),
      ]);
    }
  }
  const widths = CLUSTER_COLUMNS.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const waiting = (view.unassigned ?? []).map((u) => `unassigned: ${u.name}: ${u.reason}`);
  return [head, line(CLUSTER_COLUMNS), ...cells.map(line), ...waiting];
}

function usage(path: string, message: string): ConfigError {
  return new ConfigError(undefined, [{ path, message }], 'USAGE');
}

const COLUMNS = ['NAME', 'STATE', 'ERROR', 'LAST CHECKPOINT', 'LAG', 'RECORDS', 'EVENTS', 'DEAD LETTERS'];

/** Aligned columns; `-` where a value is unknown. Locally, dead letters are those pending replay. */
export function statusTable(rows: StatusRow[], now = Date.now()): string[] {
  const cells = rows.map((r) => [
    r.name,
    r.state === 'running' && r.pid ? `running (pid ${r.pid})` : r.state,
    r.error?.code ?? '-',
    r.lastCheckpoint === null
      ? 'never'
      : r.lastCheckpoint.at === null
        ? 'saved'
        : when(r.lastCheckpoint.at, now),
    r.lagSeconds === null ? '-' : duration(r.lagSeconds),
    count(r.counts.recordsRead),
    count(r.counts.eventsWritten),
    count(r.deadLettersPending !== undefined ? r.deadLettersPending : r.counts.deadLetters),
  ]);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(COLUMNS), ...cells.map(line)];
}

const WEBHOOK_COLUMNS = [
  'SUBSCRIPTION',
  'STATE',
  'DELIVERED',
  'DEAD LETTERS',
  'RETRIES',
  'PENDING',
  'OLDEST',
  'CIRCUIT',
];

/** The webhook subscriptions: their counts since `ferry serve` started, the oldest event waiting. */
export function webhooksTable(rows: WebhookRow[]): string[] {
  const cells = rows.map((r) => [
    r.name,
    r.state === 'failed'
      ? `failed (${r.error?.code ?? '?'})`
      : r.paused
        ? `paused (${r.pausedReason ?? 'no reason given'})`
        : r.state,
    String(r.delivered),
    String(r.deadLettered),
    String(r.retries),
    String(r.pending),
    r.pending === 0 ? '-' : duration(r.oldestPendingMs / 1000),
    r.circuit,
  ]);
  const widths = WEBHOOK_COLUMNS.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(WEBHOOK_COLUMNS), ...cells.map(line)];
}

const MIGRATION_COLUMNS = ['MIGRATION', 'STATUS', 'GATE', 'CLEAN RUNS', 'LAST RUN', 'PARITY'];
/** Reasons shown under a closed gate; the rest are counted (`ferry shadow status` has them all). */
const REASONS_SHOWN = 3;

/** The migrations: where each stands, its gate, its newest run; under a closed gate, why it is closed. */
export function migrationsTable(rows: MigrationRow[]): string[] {
  const cells = rows.map((r) => [
    r.name,
    r.status,
    r.gate.open ? 'open' : 'closed',
    `${r.gate.cleanRuns}/${r.gate.required} (${r.gate.cleanDays} d)`,
    r.lastRun === undefined
      ? 'none'
      : `${r.lastRun.slot} ${r.lastRun.status}${r.lastRun.clean ? ' clean' : ''}`,
    r.lastRun === undefined || r.lastRun.status !== 'complete' ? '-' : percent(r.lastRun.parity),
  ]);
  const widths = MIGRATION_COLUMNS.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const lines = [line(MIGRATION_COLUMNS)];
  for (const [i, r] of rows.entries()) {
    lines.push(line(cells[i]!));
    if (r.gate.open) continue;
    for (const reason of r.gate.reasons.slice(0, REASONS_SHOWN)) lines.push(`  gate closed: ${reason}`);
    const more = r.gate.reasons.length - REASONS_SHOWN;
    if (more > 0) lines.push(`  gate closed: and ${more} more (ferry shadow status)`);
  }
  return lines;
}

/** A ratio as a percentage, rounded down so 99.996% never shows as 100.00%. */
function percent(ratio: number): string {
  return `${(Math.floor(ratio * 10000) / 100).toFixed(2)}%`;
}

function count(value: number | null | undefined): string {
  return value === null || value === undefined ? '-' : String(value);
}

function when(at: string, now: number): string {
  const ms = Date.parse(at);
  return Number.isNaN(ms) ? at : `${at} (${duration((now - ms) / 1000)} ago)`;
}

function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}
