// `ferry contracts …`: check compatibility across versions, diff two schemas, generate TypeScript types
// and the AsyncAPI catalogue entry.
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  asyncApiDocument,
  breakingUnder,
  type ChannelEntry,
  type CompatibilityMode,
  type ContractRepository,
  checkRepository,
  compatibilityModes,
  diffSchemas,
  formatCheckReport,
  generateTypes,
  loadContractRepository,
  repositoryChannels,
  requiredBump,
  resolveRefs,
} from '@ferry/contracts';
import { ConfigError, type LoadedPipeline, loadPipelineFile, topicName } from '@ferry/core';
import { type Command, Option } from 'commander';
import type { CommandContext } from './context.js';

export function registerContractsCommands(program: Command, ctx: CommandContext): void {
  const contracts = program
    .command('contracts')
    .description('Canonical data contracts: compatibility checks, diffs, generated types and AsyncAPI.');

  contracts
    .command('check')
    .description(
      "Compare every version of every type with the version(s) before it under the type's compatibility mode. " +
        'Exit 1 when a breaking change is not a new major version, or an example does not validate.',
    )
    .argument('[dir]', 'contract repository folder', 'contracts')
    .option('--json', 'print the report as JSON', false)
    .action(async (dir: string, opts: { json: boolean }) => {
      const report = checkRepository(await loadContractRepository(resolve(dir)));
      ctx.io.out(opts.json ? JSON.stringify(report, null, 2) : formatCheckReport(report));
      if (!report.ok) ctx.setExit(1);
    });

  contracts
    .command('diff')
    .description('Show every change between two schema files and whether it breaks each direction.')
    .argument('<old>', 'older schema file')
    .argument('<new>', 'newer schema file')
    .addOption(
      new Option('--mode <mode>', 'compatibility mode to judge by')
        .choices(compatibilityModes)
        .default('BACKWARD'),
    )
    .option('--repository <dir>', 'contract repository to resolve $refs against')
    .action(
      async (oldFile: string, newFile: string, opts: { mode: CompatibilityMode; repository?: string }) => {
        const [before, after] = await Promise.all([readSchema(oldFile), readSchema(newFile)]);
        const repo = opts.repository
          ? await loadContractRepository(resolve(opts.repository))
          : emptyRepository();
        const changes = diffSchemas(resolveRefs(repo, before), resolveRefs(repo, after));
        const breaking = breakingUnder(opts.mode, changes);
        for (const change of changes) {
          const mark = breaking.includes(change) ? 'breaking  ' : 'compatible';
          const dirs = `${change.breaksBackward ? 'B' : '-'}${change.breaksForward ? 'F' : '-'}`;
          ctx.io.out(`${mark} [${dirs}] ${change.path} ${change.rule}: ${change.description}`);
        }
        ctx.io.out(
          `${changes.length} changes, ${breaking.length} breaking under ${opts.mode}; needs a ${requiredBump(opts.mode, changes)} version bump`,
        );
      },
    );

  contracts
    .command('types')
    .description(
      'Generate TypeScript interfaces (one per type and major version) so mappings are type-checked.',
    )
    .argument('[dir]', 'contract repository folder', 'contracts')
    .option('--out <file>', 'write to this file instead of stdout')
    .action(async (dir: string, opts: { out?: string }) => {
      const code = await generateTypes(await loadContractRepository(resolve(dir)));
      if (opts.out) await writeFile(opts.out, code);
      else ctx.io.out(code);
    });

  contracts
    .command('asyncapi')
    .description(
      'Generate an AsyncAPI 3.0 document: for a contract repository (every type, topic <type>.v<major>) or for pipeline files.',
    )
    .argument(
      '<inputs...>',
      'a contract repository folder, or pipeline YAML files whose contract.repository is set',
    )
    .option('--title <title>', 'document title', 'Ferry canonical events')
    .option('--version <version>', 'document version', '1.0.0')
    .option('--out <file>', 'write to this file instead of stdout')
    .action(async (inputs: string[], opts: { title: string; version: string; out?: string }) => {
      const { repo, entries } = await channelsFor(inputs, ctx);
      const doc = asyncApiDocument(repo, entries, { title: opts.title, version: opts.version });
      const text = JSON.stringify(doc, null, 2);
      if (opts.out) await writeFile(opts.out, `${text}\n`);
      else ctx.io.out(text);
    });
}

async function readSchema(file: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(
      file,
      [{ path: '', message: `not a readable JSON schema (${(error as Error).message})` }],
      'USAGE',
    );
  }
}

function emptyRepository(): ContractRepository {
  return { dir: '', types: new Map(), schemas: new Map() };
}

async function channelsFor(
  inputs: string[],
  ctx: CommandContext,
): Promise<{ repo: ContractRepository; entries: ChannelEntry[] }> {
  const pipelines = inputs.filter((i) => /\.ya?ml$/.test(i));
  if (pipelines.length === 0) {
    const repo = await loadContractRepository(resolve(inputs[0]!));
    return { repo, entries: repositoryChannels(repo) };
  }
  const loaded = [];
  for (const file of pipelines) loaded.push(await loadPipelineFile(file, ctx.registry));
  return pipelineChannels(loaded);
}

/** The channels of the events these pipelines publish (one per topic), from their contract repository. */
export async function pipelineChannels(
  pipelines: readonly LoadedPipeline[],
): Promise<{ repo: ContractRepository; entries: ChannelEntry[] }> {
  let repo: ContractRepository | undefined;
  const byTopic = new Map<string, ChannelEntry>();
  for (const pipeline of pipelines) {
    const { repository, type, version, schema } = pipeline.contract;
    if (!repository) {
      throw new ConfigError(pipeline.file, [
        { path: 'contract.repository', message: 'needed to describe the events in AsyncAPI' },
      ]);
    }
    repo ??= await loadContractRepository(repository);
    const template =
      typeof pipeline.sink.options.topic === 'string' ? pipeline.sink.options.topic : undefined;
    const topic = topicName(type, schema, template);
    const entry = byTopic.get(topic) ?? { topic, type, version, producers: [] };
    entry.producers!.push(pipeline.name);
    byTopic.set(topic, entry);
  }
  return { repo: repo!, entries: [...byTopic.values()] };
}
