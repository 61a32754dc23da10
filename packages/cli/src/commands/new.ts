// `ferry new source|pipeline`: scaffolding. Prompts for what is missing when run in a terminal; in CI every
// answer comes from flags.
import { createInterface } from 'node:readline/promises';
import { ConfigError } from '@ferry/core';
import type { Command } from 'commander';
import { scaffoldPipeline, scaffoldSource } from '../scaffold.js';
import type { CommandContext } from './context.js';

async function ask(question: string, fallback?: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${question}${fallback ? ` (${fallback})` : ''}: `)).trim();
    return answer || fallback || '';
  } finally {
    rl.close();
  }
}

async function need(
  value: string | undefined,
  flag: string,
  question: string,
  fallback?: string,
): Promise<string> {
  if (value) return value;
  if (process.stdin.isTTY && process.stderr.isTTY) {
    const answer = await ask(question, fallback);
    if (answer) return answer;
  } else if (fallback) {
    return fallback;
  }
  throw new ConfigError(undefined, [{ path: flag, message: 'required when not run in a terminal' }], 'USAGE');
}

export function registerNewCommands(program: Command, ctx: CommandContext): void {
  const scaffold = program.command('new').description('Scaffold a new source package or pipeline folder.');

  scaffold
    .command('source')
    .description(
      'Copy templates/source into packages/<name> (or --dir): a working Source, its conformance test, README.',
    )
    .argument('[name]', 'package name, lower-case words joined by dashes (e.g. legacy-crm)')
    .option('--dir <path>', 'where to put it (default: packages/<name>)')
    .action(async (nameArg: string | undefined, opts: { dir?: string }) => {
      const name = await need(nameArg, '<name>', 'Source name (e.g. legacy-crm)');
      const result = await scaffoldSource(name, opts.dir);
      ctx.io.out(`created source package ${name} in ${result.dest} (${result.files.length} files)`);
      ctx.io.out(
        result.wired
          ? '  added to the root tsconfig.json references; next: npm install && npm run build && npm test'
          : '  outside this repository: add it to your workspace and tsconfig references yourself',
      );
    });

  scaffold
    .command('pipeline')
    .description(
      'Generate a pipeline folder: pipeline.yaml, a typed mapping against a contract, sample data and a test.',
    )
    .argument('[name]', 'pipeline name, lower-case words joined by dashes')
    .option('--dir <path>', 'where to put it (default: pipelines/<name>)')
    .option(
      '--contract <type@version>',
      'canonical contract the mapping produces, e.g. justice.offender@1.0.0',
    )
    .option('--repository <dir>', 'contract repository', 'examples/justice-model/contracts')
    .action(
      async (nameArg: string | undefined, opts: { dir?: string; contract?: string; repository: string }) => {
        const name = await need(nameArg, '<name>', 'Pipeline name (e.g. prison-roll)');
        const contract = await need(
          opts.contract,
          '--contract',
          'Contract (type@version)',
          'justice.offender@1.0.0',
        );
        const result = await scaffoldPipeline({
          name,
          contract,
          repository: opts.repository,
          ...(opts.dir ? { dest: opts.dir } : {}),
        });
        ctx.io.out(`created pipeline ${name} in ${result.dest} (${result.files.length} files)`);
        ctx.io.out('  next: edit src/mapping.ts, then npm run build && npm test');
      },
    );
}
