// `ferry api <api.yaml>`: consume canonical event streams into the API store (SQLite or PostgreSQL) and serve
// the latest state of each entity over HTTP (@ferry/api). The store keeps each stream's position with the
// state it produced, so a restart (or a SIGKILL) resumes exactly after what was applied. With --once it
// consumes what the streams hold now and exits, serving nothing.
import type { Command } from 'commander';
import { Option } from 'commander';
import type { CommandContext } from './context.js';

interface ApiOptions {
  once: boolean;
  logLevel: string;
}

export function registerApiCommand(program: Command, ctx: CommandContext): void {
  program
    .command('api')
    .description(
      'Serve canonical entities over HTTP: consume event streams into a store (SQLite or PostgreSQL) and serve the latest state per entity, with an OpenAPI document generated from the contracts (docs/api.md).',
    )
    .argument('<config>', 'the read API’s YAML file (api.yaml)')
    .option('--once', 'consume what the streams hold now, then exit without serving', false)
    .addOption(
      new Option('--log-level <level>', 'log level for the JSON logs on stderr')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default(process.env.FERRY_LOG_LEVEL ?? 'info'),
    )
    .action(async (file: string, opts: ApiOptions) => {
      const { runApi } = await import('../internal/api-run.js');
      await runApi(file, opts, ctx);
    });
}
