// `ferry discover`: what the source can see (tables and columns, matching files, operations).
import type { Command } from 'commander';
import { type CommandContext, openPipeline } from './context.js';

export function registerDiscoverCommand(program: Command, ctx: CommandContext): void {
  program
    .command('discover')
    .description(
      "List what the pipeline's source can see: tables with columns and keys, matching files, operations.",
    )
    .argument('<pipeline>', 'pipeline YAML file')
    .option('--json', 'print the result as JSON', false)
    .action(async (file: string, opts: { json: boolean }) => {
      const { pipeline, factoryContext } = await openPipeline(file, ctx);
      const factory = ctx.registry.sources.get(pipeline.source.type)!;
      const source = await factory.create(pipeline.source.options, factoryContext);
      try {
        if (!source.discover) {
          ctx.io.err(`ferry: source type '${source.type}' cannot discover its streams`);
          ctx.setExit(1);
          return;
        }
        const streams = await source.discover();
        if (opts.json) {
          ctx.io.out(JSON.stringify({ pipeline: pipeline.name, source: source.type, streams }, null, 2));
          return;
        }
        for (const stream of streams) {
          ctx.io.out(`${stream.name}${stream.key ? `  key: ${stream.key.join(', ')}` : ''}`);
          for (const field of stream.fields ?? []) {
            ctx.io.out(`  ${field.name}: ${field.type}${field.nullable ? ' (nullable)' : ''}`);
          }
          for (const [k, v] of Object.entries(stream.details ?? {}))
            ctx.io.out(`  ${k}: ${JSON.stringify(v)}`);
          for (const note of stream.notes ?? []) ctx.io.out(`  note: ${note}`);
        }
        for (const note of pipeline.notes) ctx.io.out(`note: ${note}`);
      } finally {
        await source.close();
      }
    });
}
