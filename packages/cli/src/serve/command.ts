// `ferry serve <pipelines...>`: run pipelines and the admin API in one process. Auth comes from an admin
// config file (OAuth2 bearer JWTs, optional mTLS); unauthenticated access needs an explicit flag and is
// only allowed on a loopback address.
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { ConfigError, createLogger, type FerryError, handleShutdownSignals, Redactor } from '@ferry/core';
import { createMetrics, startTracing } from '@ferry/ops';
import type { ServerConfig } from '@ferry/server';
import { type Command, Option } from 'commander';
import type { CommandContext } from '../commands/context.js';
import { routeConsoleToLog } from '../console.js';
import { formatError } from '../output.js';
import { progressIntervalOption, progressLog, progressObserver } from '../progress.js';

interface ServeOptions {
  config?: string;
  host?: string;
  port?: number;
  allowUnauthenticated: boolean;
  otlpEndpoint?: string;
  stallAfter: number;
  logLevel: string;
  progressInterval: number;
  cluster?: string;
  worker?: string;
  label: string[];
  webhooks: string[];
  migration: string[];
}

export function registerServeCommand(program: Command, ctx: CommandContext): void {
  program
    .command('serve')
    .description(
      'Run pipelines and the admin API (status, pause/resume, trigger, offsets, dead letters, /metrics, /healthz, /readyz, /openapi.json) in one process, webhook subscriptions with --webhooks, and shadow runs with --migration.',
    )
    .argument('<pipelines...>', 'pipeline YAML files')
    .option('--config <file>', 'admin API config: listen address, OAuth2 issuer/JWKS/audience, scopes, TLS')
    .option('--host <address>', 'listen address (overrides the config file)')
    .option('--port <port>', 'listen port, 0 for any free port (overrides the config file)', (v) =>
      Number.parseInt(v, 10),
    )
    .option(
      '--allow-unauthenticated',
      'no auth at all, for local use: only with a loopback listen address and no --config',
      false,
    )
    .option('--otlp-endpoint <url>', 'export traces over OTLP/HTTP (default: OTEL_EXPORTER_OTLP_* variables)')
    .option('--stall-after <seconds>', '/readyz fails when a batch waits or retries this long', (v) =>
      Number.parseInt(v, 10),
    )
    .addOption(
      new Option('--log-level <level>', 'log level for the JSON logs on stderr')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default(process.env.FERRY_LOG_LEVEL ?? 'info'),
    )
    .option(
      '--cluster <group>',
      'share the pipelines with every `ferry serve` started with the same group, through Kafka (each pipeline runs on one worker; needs Kafka checkpoints with fencing and a Kafka sink)',
    )
    .option('--worker <name>', 'with --cluster: this worker’s name in logs (default <host>-<pid>)')
    .option(
      '--label <label>',
      'with --cluster: a label of this worker (repeatable); a pipeline whose cluster.requires names it runs only on workers that have it',
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .option(
      '--webhooks <file>',
      'also deliver the subscriptions of this webhooks file (repeatable), watched and paused through the admin API (/webhooks)',
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .option(
      '--migration <file>',
      'also run the shadow runs of this migration file (repeatable), their cut-over gate shown through the admin API (/migrations) and /metrics',
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .addOption(progressIntervalOption())
    .addHelpText(
      'after',
      '\nThe first SIGINT/SIGTERM stops every pipeline (flush, checkpoint) and the API; a second exits at once.\n' +
        'Docs: docs/admin-api.md (routes, auth), docs/operations.md (metrics, traces, freshness).',
    )
    .action(async (files: string[], opts: ServeOptions) => {
      // The admin server, the pipeline host and the cluster client are imported by `ferry serve` alone:
      // every other command starts without them.
      const [server, { PipelineHost }, { clusterConnection, joinCluster }] = await Promise.all([
        import('@ferry/server'),
        import('./host.js'),
        import('./cluster.js'),
      ]);
      const config = await serverConfig(server, opts);
      const progress = progressObserver(process.stderr);
      // One logger for every hosted pipeline: the host adds each pipeline's secrets to its redactor.
      const redactor = new Redactor();
      const logger = createLogger({
        level: opts.logLevel,
        redactor,
        ...(progress ? { destination: progress.log } : {}),
      });
      routeConsoleToLog(logger);
      const observer = progress ?? progressLog(logger, opts.progressInterval * 1000);
      const tracing = await startTracing({
        serviceName: 'ferry',
        ...(opts.otlpEndpoint ? { endpoint: opts.otlpEndpoint } : {}),
      });
      const metrics = createMetrics();
      const worker = opts.worker ?? `${hostname()}-${process.pid}`;
      const host = await PipelineHost.open(files, {
        registry: ctx.registry,
        logger,
        metrics,
        redactor,
        ...(opts.stallAfter !== undefined ? { stallAfterSeconds: opts.stallAfter } : {}),
        ...(observer ? { observer } : {}),
        ...(opts.cluster !== undefined ? { cluster: { worker } } : {}),
      });
      // What a cluster needs of every pipeline is refused now, before the API listens.
      if (opts.cluster !== undefined) clusterConnection(host.loaded());
      // Webhooks files load here too, so that a mistake in one fails the start like a pipeline file's.
      const hooks =
        opts.webhooks.length === 0
          ? undefined
          : await import('./webhooks.js').then(
              async ({ HostedWebhooks, webhooksErrorStatuses, webhooksRoutes }) => {
                const hosted = await HostedWebhooks.load(opts.webhooks, { logger, metrics, redactor });
                return {
                  hosted,
                  routes: webhooksRoutes(hosted, { config, redactor }),
                  errorStatuses: webhooksErrorStatuses,
                };
              },
            );
      // Migration files too; their ledgers are opened once serving starts (a ledger that cannot be read is
      // logged and tried again, like a failed shadow pass).
      const shadows =
        opts.migration.length === 0
          ? undefined
          : await import('./migrations.js').then(
              async ({ HostedMigrations, migrationsErrorStatuses, migrationsRoutes }) => {
                const hosted = await HostedMigrations.load(opts.migration, {
                  logger,
                  metrics,
                  redactor,
                  registry: ctx.registry,
                });
                return {
                  hosted,
                  routes: migrationsRoutes(hosted, { config, redactor }),
                  errorStatuses: migrationsErrorStatuses,
                };
              },
            );
      const plugins = [hooks, shadows].filter((p) => p !== undefined);
      const app = await server.buildAdminServer({
        host,
        config,
        logger,
        redactor,
        ...(plugins.length === 0
          ? {}
          : {
              plugins: plugins.map((p) => p.routes),
              errorStatuses: Object.assign({}, ...plugins.map((p) => p.errorStatuses)),
            }),
      });
      const shutdown = handleShutdownSignals((signal) =>
        logger.info({ signal }, 'stopping: flushing every pipeline and saving checkpoints'),
      );
      let cluster: { stop(): Promise<void> } | undefined;
      try {
        const address = await app.listen({ host: config.listen.host, port: config.listen.port });
        host.start();
        hooks?.hosted.start();
        shadows?.hosted.start();
        if (opts.cluster !== undefined)
          cluster = await joinCluster(host, {
            group: opts.cluster,
            worker,
            labels: opts.label,
            url: address,
            logger,
            metrics,
          });
        const names = host.list().map((p) => p.name);
        const subscriptions = hooks?.hosted.list().map((s) => s.name);
        const migrations = shadows?.hosted.names();
        ctx.io.out(
          `ferry serve: admin API on ${address} (pipelines: ${names.join(', ')}${subscriptions ? `; webhooks: ${subscriptions.join(', ')}` : ''}${migrations ? `; migrations: ${migrations.join(', ')}` : ''})`,
        );
        logger.info(
          { address, pipelines: names, webhooks: subscriptions, migrations, tracing: tracing.enabled },
          'admin API listening',
        );
        await new Promise<void>((resolve) => {
          if (shutdown.signal.aborted) return resolve();
          shutdown.signal.addEventListener('abort', () => resolve(), { once: true });
        });
      } finally {
        await cluster?.stop();
        await Promise.all([host.close(), hooks?.hosted.close(), shadows?.hosted.close()]);
        await app.close();
        await tracing.shutdown();
        shutdown.dispose();
      }
      const failed = host.list().filter((p) => p.state === 'failed');
      if (failed.length > 0) {
        for (const p of failed) ctx.io.err(`${p.name}: failed with ${p.error?.code}: ${p.error?.message}`);
        ctx.setExit(1);
      }
      const hooksFailure = hooks?.hosted.failed();
      if (hooksFailure !== undefined) {
        ctx.io.err(`webhooks: ${formatError(hooksFailure, redactor)}`);
        ctx.setExit(1);
      }
      const shadowFailure = shadows?.hosted.failed();
      if (shadowFailure !== undefined) {
        ctx.io.err(`migrations: ${formatError(shadowFailure, redactor)}`);
        ctx.setExit(1);
      }
    });
}

async function serverConfig(
  { loadServerConfig, serverConfigSchema }: typeof import('@ferry/server'),
  opts: ServeOptions,
): Promise<ServerConfig> {
  const overrides = {
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
  };
  if (opts.config !== undefined) {
    if (opts.allowUnauthenticated) {
      throw usage('--allow-unauthenticated cannot be combined with --config; set auth.mode in the file');
    }
    const config = await loadServerConfig(opts.config);
    return { ...config, listen: { ...config.listen, ...overrides } };
  }
  if (!opts.allowUnauthenticated) {
    throw usage(
      'give --config <file> with the OAuth2 settings (issuer, jwksUri, audience), or --allow-unauthenticated for local use on a loopback address',
    );
  }
  const config = serverConfigSchema.parse({
    listen: overrides,
    auth: { mode: 'none', acknowledgeUnauthenticated: true },
  });
  if (!isLoopback(config.listen.host)) {
    throw usage(
      `--allow-unauthenticated only listens on loopback (127.0.0.1, ::1), not ${config.listen.host}`,
    );
  }
  return config;
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

function usage(message: string): FerryError {
  return new ConfigError(undefined, [{ path: 'ferry serve', message }], 'USAGE');
}
