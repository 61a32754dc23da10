// The `ferry` command. Exit codes: 0 ok, 1 runtime failure, 2 bad configuration or usage.
import { readFile } from 'node:fs/promises';
import {
  assemblePipeline,
  ConfigError,
  combineObservers,
  createCheckpointStore,
  createLogger,
  FerryError,
  handleShutdownSignals,
  type LoadedPipeline,
  loadPipelineFile,
  positionProblems,
  type Registry,
  redactedConfig,
  runPipeline,
  WEAK_SECRET_WARNING,
} from '@ferry/core';
import { ExpectationMonitor, startTracing } from '@ferry/ops';
import { Command, CommanderError, Option } from 'commander';
import { checkMappedColumns, DEFAULT_DISCOVER_TIMEOUT_SECONDS } from './columns.js';
import { registerApiCommand } from './commands/api.js';
import { registerCatalogCommand } from './commands/catalog.js';
import { registerCheckCommand } from './commands/check.js';
import { type CliIo, type CommandContext, openPipeline } from './commands/context.js';
import { registerContractsCommands } from './commands/contracts.js';
import { registerDatabaseCommands } from './commands/database.js';
import { registerDiscoverCommand } from './commands/discover.js';
import { registerDlqCommands } from './commands/dlq.js';
import { registerDocsCommand } from './commands/docs.js';
import { registerNewCommands } from './commands/new.js';
import { registerReconcileCommands } from './commands/reconcile.js';
import { registerShadowCommands } from './commands/shadow.js';
import { registerStatusCommand } from './commands/status.js';
import { registerWebhooksCommands } from './commands/webhooks.js';
import { restoreConsole, routeConsoleToLog } from './console.js';
import { acquireRunLock } from './lock.js';
import { ExitCode, exitCodeFor, formatError, formatSummary } from './output.js';
import { progressIntervalOption, progressLog, progressObserver, secondsOption } from './progress.js';
import { defaultRegistry } from './registry.js';
import { registerServeCommand } from './serve/command.js';

const defaultIo: CliIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

export type { CliIo };

interface RunOptions {
  once: boolean;
  logLevel: string;
  otlpEndpoint?: string;
  progressInterval: number;
}

export async function main(
  argv: string[],
  io: CliIo = defaultIo,
  registry: Registry = defaultRegistry(),
): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const program = buildProgram(io, registry, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return ExitCode.ok;
      // `ferry help` asked for help (exit code 0); `ferry` or `ferry offsets` without a command is a usage
      // mistake: commander printed the help on stderr and says 1.
      if (error.code === 'commander.help') return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
      return ExitCode.usage;
    }
    io.err(formatError(error));
    return exitCodeFor(error);
  } finally {
    restoreConsole();
  }
  return exitCode;
}

function buildProgram(io: CliIo, registry: Registry, setExit: (code: number) => void): Command {
  const program = new Command('ferry')
    .description(
      'Ferry puts legacy systems on an event stream: legacy records in, canonical CloudEvents out.',
    )
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 runtime failure, 2 bad configuration or usage.\n' +
        'Docs: docs/cli.md (commands), docs/configuration.md (pipeline files), docs/errors.md (error codes).',
    );

  const logLevel = new Option('--log-level <level>', 'log level for the JSON logs on stderr')
    .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default(process.env.FERRY_LOG_LEVEL ?? 'info');

  program
    .command('run')
    .description('Run a pipeline: read the source, write canonical events to the sink, save checkpoints.')
    .argument('<pipeline>', 'pipeline YAML file')
    .option('--once', 'read what the source has now, then stop (batch sources, catch-up runs)', false)
    .option('--otlp-endpoint <url>', 'export traces over OTLP/HTTP (default: OTEL_EXPORTER_OTLP_* variables)')
    .addOption(logLevel)
    .addOption(progressIntervalOption())
    .addHelpText(
      'after',
      '\nThe first SIGINT/SIGTERM stops reading, flushes what was read and saves the checkpoint (exit 0);\n' +
        'a second one exits at once. A summary is printed when the run ends. At a terminal a status line\n' +
        'or bar shows records/s, lag, position and retries; otherwise a progress log line every interval.',
    )
    .action(async (file: string, opts: RunOptions) => {
      const pipeline = await loadPipelineFile(file, registry);
      // At a terminal, log lines are printed above the progress bar rather than through it.
      const progress = progressObserver(process.stderr);
      const logger = createLogger({
        redactor: pipeline.redactor,
        level: opts.logLevel,
        ...(progress ? { destination: progress.log } : {}),
      });
      routeConsoleToLog(logger);
      for (const path of pipeline.weakSecretPaths)
        logger.warn({ file: pipeline.file, path }, WEAK_SECRET_WARNING);
      const progressLines = progress ? undefined : progressLog(logger, opts.progressInterval * 1000);
      const shutdown = handleShutdownSignals((signal) =>
        logger.info({ signal }, 'stopping: flushing and saving the checkpoint'),
      );
      const release = await acquireRunLock(pipeline.baseDir, pipeline.name);
      const tracing = await startTracing({
        serviceName: 'ferry',
        ...(opts.otlpEndpoint ? { endpoint: opts.otlpEndpoint } : {}),
      });
      // A continuous run checks the pipeline's freshness expectations as it goes (log lines at each deadline).
      const monitor =
        !opts.once && pipeline.raw.expectations.length > 0
          ? new ExpectationMonitor({
              pipeline: pipeline.name,
              expectations: pipeline.raw.expectations,
              log: logger,
            })
          : undefined;
      const monitoring = new AbortController();
      void monitor?.start(AbortSignal.any([shutdown.signal, monitoring.signal]));
      const observers = [monitor, progress, progressLines].filter((o) => o !== undefined);
      try {
        const options = await assemblePipeline(pipeline, registry, {
          logger,
          signal: shutdown.signal,
          once: opts.once,
          ...(observers.length > 0 ? { observer: combineObservers(observers, logger) } : {}),
        });
        const summary = await runPipeline(options);
        io.out(formatSummary(summary));
      } catch (error) {
        io.err(formatError(error, pipeline.redactor));
        setExit(exitCodeFor(error));
      } finally {
        monitoring.abort();
        shutdown.dispose();
        await tracing.shutdown();
        await release();
      }
    });

  program
    .command('validate')
    .description(
      'Check a pipeline file without running it: options, secret references, and notes on what it can and cannot see.',
    )
    .argument('<pipeline>', 'pipeline YAML file')
    .option('--json', 'print the result as JSON', false)
    .addOption(
      new Option(
        '--discover-timeout <seconds>',
        "how long to wait for the source to list its streams, to check the mapping's columns (0: do not ask)",
      )
        .default(DEFAULT_DISCOVER_TIMEOUT_SECONDS)
        .argParser(secondsOption),
    )
    .action(async (file: string, opts: { json: boolean; discoverTimeout: number }) => {
      const { pipeline, factoryContext } = await openPipeline(file, { io, registry, setExit }, 'fatal');
      const secretWarnings = pipeline.weakSecretPaths.map((path) => ({ path, message: WEAK_SECRET_WARNING }));
      const columns = await checkMappedColumns(
        pipeline,
        registry,
        factoryContext,
        opts.discoverTimeout * 1000,
      );
      if (opts.json) {
        io.out(
          JSON.stringify(
            {
              ok: true,
              pipeline: pipeline.name,
              notes: pipeline.notes,
              warnings: [...secretWarnings, ...(columns.status === 'checked' ? columns.warnings : [])],
              columns:
                columns.status === 'checked'
                  ? { status: columns.status, streams: columns.streams }
                  : { status: columns.status, reason: columns.reason },
              config: redactedConfig(pipeline),
            },
            null,
            2,
          ),
        );
        return;
      }
      io.out(`${pipeline.file}: valid pipeline '${pipeline.name}'`);
      io.out(
        `  source: ${pipeline.source.type}   sink: ${pipeline.sink.type}   dead letters: ${pipeline.deadLetters.type}   checkpoints: ${pipeline.checkpoints.type}`,
      );
      io.out(
        `  contract: ${pipeline.contract.type} ${pipeline.contract.version} (${pipeline.contract.schema})`,
      );
      if (pipeline.secretPaths.length > 0)
        io.out(`  secrets by reference: ${pipeline.secretPaths.join(', ')}`);
      for (const w of secretWarnings) io.out(`  warning: ${pipeline.file} ${w.path}: ${w.message}`);
      for (const e of pipeline.raw.expectations) {
        const range =
          e.records.max === undefined ? `at least ${e.records.min}` : `${e.records.min}-${e.records.max}`;
        io.out(
          `  expectation ${e.name}: ${range} records${e.stream ? ` of ${e.stream}` : ''} by each '${e.deadline.cron}' (${e.deadline.timezone}), checked by ferry serve or a continuous ferry run`,
        );
      }
      for (const note of pipeline.notes) io.out(`  note: ${note}`);
      if (columns.status === 'checked') {
        for (const w of columns.warnings) {
          io.out(
            `  warning: ${pipeline.file}${w.line === undefined ? '' : `:${w.line}:${w.column}`} ${w.path}: ${w.message}`,
          );
        }
        if (columns.warnings.length === 0)
          io.out(`  mapping: every column it reads is in ${columns.streams.join(', ')}`);
      } else if (columns.status === 'not-checked') {
        io.out(`  mapping: columns not checked against the source: ${columns.reason}`);
      }
    });

  const offsets = program
    .command('offsets')
    .description(
      "Inspect or change a pipeline's checkpoint (its source position) while the pipeline is stopped.",
    );

  offsets
    .command('show')
    .description('Print the saved position as JSON (null when the pipeline has never committed).')
    .argument('<pipeline>', 'pipeline YAML file')
    .action(async (file: string) => {
      const { pipeline, store } = await openCheckpoints(file, registry);
      try {
        const position = await store.load(pipeline.name);
        io.out(JSON.stringify({ pipeline: pipeline.name, position: position ?? null }, null, 2));
      } finally {
        await store.close?.();
      }
    });

  offsets
    .command('set')
    .description('Replace the saved position. The next run resumes from it.')
    .argument('<pipeline>', 'pipeline YAML file')
    .option('--position <json>', 'the new position, as JSON (see `offsets show` for its shape)')
    .option('--from-file <path>', 'read the new position from a JSON file')
    .action(async (file: string, opts: { position?: string; fromFile?: string }) => {
      if ((opts.position === undefined) === (opts.fromFile === undefined)) {
        throw new ConfigError(
          undefined,
          [{ path: '--position', message: 'give exactly one of --position or --from-file' }],
          'USAGE',
        );
      }
      const text = opts.position ?? (await readFile(opts.fromFile!, 'utf8'));
      let position: unknown;
      try {
        position = JSON.parse(text);
      } catch (error) {
        throw new ConfigError(
          opts.fromFile,
          [{ path: '--position', message: `not valid JSON (${(error as Error).message})` }],
          'USAGE',
        );
      }
      const { pipeline, store } = await openCheckpoints(file, registry);
      try {
        const schema = registry.sources.get(pipeline.source.type)?.positionSchema;
        const problems = schema === undefined ? undefined : positionProblems(schema, position);
        if (problems !== undefined) {
          throw new FerryError(
            'CHECKPOINT_INVALID',
            `${JSON.stringify(position)} is not a position the ${pipeline.source.type} source writes: ${problems}. ` +
              'Nothing was changed; see `ferry offsets show` for the shape of a saved position.',
            { details: { problems } },
          );
        }
        await whileStopped(pipeline, () => store.save(pipeline.name, position));
        io.out(`${pipeline.name}: position set to ${JSON.stringify(position)}`);
      } finally {
        await store.close?.();
      }
    });

  offsets
    .command('reset')
    .description('Forget the saved position: the next run starts from the beginning of the source.')
    .argument('<pipeline>', 'pipeline YAML file')
    .action(async (file: string) => {
      const { pipeline, store } = await openCheckpoints(file, registry);
      try {
        await whileStopped(pipeline, () =>
          store.clear ? store.clear(pipeline.name) : store.save(pipeline.name, null),
        );
        io.out(`${pipeline.name}: position reset; the next run starts from the beginning`);
      } finally {
        await store.close?.();
      }
    });

  const ctx: CommandContext = { io, registry, setExit };
  registerDiscoverCommand(program, ctx);
  registerDocsCommand(program, ctx);
  registerDlqCommands(program, ctx);
  registerDatabaseCommands(program, ctx);
  registerContractsCommands(program, ctx);
  registerCatalogCommand(program, ctx);
  registerApiCommand(program, ctx);
  registerWebhooksCommands(program, ctx);
  registerNewCommands(program, ctx);
  registerReconcileCommands(program, ctx);
  registerShadowCommands(program, ctx);
  registerStatusCommand(program, ctx);
  registerServeCommand(program, ctx);
  registerCheckCommand(program, ctx);
  return program;
}

async function openCheckpoints(file: string, registry: Registry) {
  const { pipeline, factoryContext } = await openPipeline(file, {
    io: defaultIo,
    registry,
    setExit: () => {},
  });
  const store = await createCheckpointStore(pipeline, registry, factoryContext);
  return { pipeline, store };
}

/** Change offsets holding the run lock, so a run can neither be live now nor start halfway through. */
async function whileStopped(pipeline: LoadedPipeline, change: () => Promise<void>): Promise<void> {
  const release = await acquireRunLock(pipeline.baseDir, pipeline.name);
  try {
    await change();
  } finally {
    await release();
  }
}
