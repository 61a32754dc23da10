// `ferry docs`: the option tables of connectors, rendered from their zod schemas by the same code as
// docs/configuration.md, for a pipeline file's components (plugins included), one type, or everything.
import {
  ConfigError,
  importPlugin,
  isFerryError,
  optionTable,
  PLUGIN_KINDS,
  type PluginKind,
  parseConfigYaml,
  pipelineFileSchema,
  pluginExport,
  pluginReferences,
  readConfigFile,
  registerPipelinePlugins,
  registerPlugin,
  registryDocs,
  SECTION_OF,
} from '@ferry/core';
import type { Command } from 'commander';
import type { CommandContext } from './context.js';

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * The type of each component a pipeline file names (the embedded `file` parts when it names none). Read
 * from the YAML as it is, so the docs can be read while the file does not validate yet.
 */
function componentTypes(data: unknown): Map<PluginKind, string> {
  const out = new Map<PluginKind, string>();
  const top = isRecord(data) ? data : {};
  for (const kind of PLUGIN_KINDS) {
    const component = top[SECTION_OF[kind]];
    const type = isRecord(component) ? component.type : undefined;
    if (typeof type === 'string') out.set(kind, type);
    else if (kind !== 'sources') out.set(kind, 'file');
  }
  return out;
}

export function registerDocsCommand(program: Command, ctx: CommandContext): void {
  program
    .command('docs')
    .description(
      "Print the options of a pipeline's components (plugins included), of one type, or of every registered type, as Markdown tables.",
    )
    .argument('[pipeline]', 'pipeline YAML file: document the types it uses, with the plugins it names')
    .option('--type <type>', 'only this type (a source, sink, dead-letter or checkpoint type)')
    .option(
      '--plugin <package...>',
      'also load these plugin packages, resolved from the current folder (without a pipeline file)',
    )
    .action(async (file: string | undefined, opts: { type?: string; plugin?: string[] }) => {
      const { registry } = ctx;
      for (const specifier of opts.plugin ?? []) {
        try {
          const imported = await importPlugin(specifier, process.cwd());
          registerPlugin(registry, pluginExport(specifier, imported), {
            path: imported.path,
            ...(imported.version ? { version: imported.version } : {}),
          });
        } catch (error) {
          if (!isFerryError(error)) throw error;
          throw new ConfigError(undefined, [{ path: '--plugin', message: error.message }], error.code);
        }
      }

      let wanted: Map<PluginKind, string> | undefined;
      if (file !== undefined) {
        const { path, text } = await readConfigFile(file);
        const document = parseConfigYaml(text, path);
        await registerPipelinePlugins(registry, pluginReferences(document.data), path, document.issue);
        wanted = componentTypes(document.data);
        const unknown = [...wanted].filter(([kind, type]) => !registry[kind].has(type));
        if (unknown.length > 0) {
          throw new ConfigError(
            path,
            unknown.map(([kind, type]) =>
              document.issue(
                [SECTION_OF[kind], 'type'],
                `unknown ${SECTION_OF[kind]} type '${type}'; expected one of: ${[...registry[kind].keys()].sort().join(', ') || '(none registered)'}`,
              ),
            ),
          );
        }
      }

      const sections = registryDocs(
        registry,
        (kind, type) => (wanted === undefined || wanted.get(kind) === type) && (opts.type ?? type) === type,
      );
      if (sections.length === 0) {
        const known = [...new Set(PLUGIN_KINDS.flatMap((kind) => [...registry[kind].keys()]))].sort();
        throw new ConfigError(
          file,
          [
            {
              path: '--type',
              message: `no ${wanted ? 'component of this pipeline has' : 'registered part has'} type '${opts.type}'; registered types: ${known.join(', ')}`,
            },
          ],
          'USAGE',
        );
      }
      if (file === undefined && opts.type === undefined) {
        ctx.io.out(['# Pipeline file', '', optionTable(pipelineFileSchema), ''].join('\n'));
      }
      ctx.io.out(sections.join('\n\n'));
    });
}
