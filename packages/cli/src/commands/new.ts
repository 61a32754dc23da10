// `ferry new project|source|pipeline`: scaffolding. Prompts for what is missing when run in a terminal; in
// CI every answer comes from flags.
import { createInterface } from 'node:readline/promises';
import { ConfigError } from '@ferry/core';
import type { Command } from 'commander';
import { CONNECTORS, scaffoldPipeline, scaffoldProject, scaffoldSource } from '../scaffold.js';
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
  const scaffold = program
    .command('new')
    .description(
      'Scaffold an integration project, a source (connector plugin) package or a pipeline folder.',
    );

  scaffold
    .command('project')
    .description(
      'Create a standalone integration project: package.json depending on @ferry/cli and the connectors by version, a pipeline, a contract folder, sample data, a test and a README.',
    )
    .argument('[dir]', 'the new project folder (its name becomes the package name)')
    .option('--name <name>', 'package name (default: the folder name)')
    .option(
      '--connectors <list>',
      `built-in connectors to depend on, comma-separated (${CONNECTORS.join(', ')}); database is always in`,
      'database',
    )
    .action(async (dirArg: string | undefined, opts: { name?: string; connectors: string }) => {
      const dir = await need(dirArg, '<dir>', 'Project folder (e.g. legacy-integration)');
      const result = await scaffoldProject({
        dest: dir,
        connectors: opts.connectors
          .split(',')
          .map((c) => c.trim())
          .filter((c) => c !== ''),
        ...(opts.name ? { name: opts.name } : {}),
      });
      ctx.io.out(`created project in ${result.dest} (${result.files.length} files)`);
      ctx.io.out(`  next: cd ${dir} && npm install && npm start && npm test`);
      ctx.io.out('  your own connector: npx ferry new source <name> (inside the project)');
    });

  scaffold
    .command('source')
    .description(
      'Copy templates/source: inside a project, a connector plugin package in connectors/<name> with a pipeline that uses it; in the Ferry repository, packages/<name>.',
    )
    .argument('[name]', 'package name, lower-case words joined by dashes (e.g. legacy-crm)')
    .option('--dir <path>', 'where to put it (default: connectors/<name> in a project, packages/<name> here)')
    .action(async (nameArg: string | undefined, opts: { dir?: string }) => {
      const name = await need(nameArg, '<name>', 'Source name (e.g. legacy-crm)');
      const result = await scaffoldSource(name, opts.dir);
      if (result.kind === 'project') {
        ctx.io.out(
          `created plugin package ${result.packageName} in ${result.dest} (${result.files.length} files)`,
        );
        if (!result.wired) ctx.io.out('  outside the project: add it to its workspaces yourself');
        if (result.pipeline) ctx.io.out(`  ${result.pipeline} reads its sample data with it`);
        ctx.io.out(
          `  next: npm install && npm run build && npm test -w ${result.packageName}` +
            (result.pipeline ? ` && npx ferry run ${result.pipeline} --once` : ''),
        );
        return;
      }
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
