// `ferry catalog <pipeline.yaml…>`: Backstage catalogue entities for the pipelines, the topics they write,
// their event streams (AsyncAPI) and the read API (OpenAPI), so the deployment is published to the central
// API catalogue. The entities are built by internal/catalog.ts, imported when the command runs.
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { type LoadedPipeline, loadPipelineFile } from '@ferry/core';
import type { Command } from 'commander';
import type { CommandContext } from './context.js';

interface CatalogFlags {
  out?: string;
  owner?: string;
  system?: string;
  lifecycle: string;
  api?: string;
  apiName?: string;
}

export function registerCatalogCommand(program: Command, ctx: CommandContext): void {
  program
    .command('catalog')
    .description(
      'Write Backstage catalogue entities (YAML, backstage.io/v1alpha1) for these pipelines: a Component each, a Resource per topic or event-log file they write, an AsyncAPI API per event stream, owners from contract.yaml, and the read API (--api).',
    )
    .argument('<pipelines...>', 'pipeline YAML files (each with contract.repository)')
    .option(
      '--out <file|dir>',
      'write to this file; to a folder (an existing one, or a path ending in /): one file per entity and a catalog-info.yaml Location listing them (default: stdout)',
    )
    .option(
      '--owner <owner>',
      "owner where contract.yaml names none, and of the System and read API: a name (a Group is written) or a ref such as group:default/platform (default: a placeholder group 'unassigned')",
    )
    .option(
      '--system <name>',
      'System every entity is part of (a System entity is written unless a system: ref)',
    )
    .option('--lifecycle <stage>', 'lifecycle of the pipelines and APIs', 'production')
    .option(
      '--api <file|url>',
      'OpenAPI document of the read API (ferry api), JSON or YAML, to add as an API',
    )
    .option('--api-name <name>', "entity name of the read API (default: the document's info.title)")
    .action(async (files: string[], flags: CatalogFlags) => {
      const pipelines: LoadedPipeline[] = [];
      for (const file of files) pipelines.push(await loadPipelineFile(file, ctx.registry));
      const catalog = await import('../internal/catalog.js');
      const readApi = flags.api ? await catalog.readOpenApi(flags.api) : undefined;
      const folder = flags.out !== undefined && (await isFolder(flags.out));
      const out = flags.out === undefined ? undefined : resolve(flags.out);
      const entities = await catalog.catalogEntities(pipelines, {
        lifecycle: flags.lifecycle,
        pathsRelativeTo: out === undefined ? process.cwd() : folder ? out : dirname(out),
        ...(flags.owner ? { defaultOwner: flags.owner } : {}),
        ...(flags.system ? { system: flags.system } : {}),
        ...(readApi ? { readApi: { ...readApi, ...(flags.apiName ? { name: flags.apiName } : {}) } } : {}),
      });
      const comment = `Written by ferry catalog from ${pipelines.map((p) => p.name).join(', ')}; run it again rather than editing.`;
      if (out === undefined) {
        ctx.io.out(catalog.catalogYaml(entities, comment).trimEnd());
        return;
      }
      if (!folder) {
        await mkdir(dirname(out), { recursive: true });
        await writeFile(out, catalog.catalogYaml(entities, comment));
        ctx.io.out(`${out}: ${countsOf(entities)}`);
        return;
      }
      await mkdir(out, { recursive: true });
      const names = entities.map(catalog.entityFileName);
      for (const [i, entity] of entities.entries()) {
        await writeFile(join(out, names[i]!), catalog.catalogYaml([entity], comment));
      }
      const location = catalog.locationEntity(
        flags.system
          ? `${flags.system}-ferry-catalog`
          : `ferry-catalog-${pipelines.map((p) => p.name).join('-')}`,
        names,
      );
      await writeFile(join(out, 'catalog-info.yaml'), catalog.catalogYaml([location], comment));
      ctx.io.out(
        `${join(out, 'catalog-info.yaml')}: a Location of ${names.length} files; ${countsOf(entities)}`,
      );
    });
}

async function isFolder(path: string): Promise<boolean> {
  if (/[\\/]$/.test(path)) return true;
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** `7 entities: 4 Component, 3 API, …` */
function countsOf(entities: ReadonlyArray<{ kind: string }>): string {
  const counts = new Map<string, number>();
  for (const { kind } of entities) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  const parts = [...counts].map(([kind, n]) => `${n} ${kind}`);
  return `${entities.length} entities (${parts.join(', ')})`;
}
