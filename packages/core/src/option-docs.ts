// Option tables (Markdown) rendered from the zod schemas that validate pipeline files: one renderer for
// docs/configuration.md (scripts/config-docs.mjs) and `ferry docs`, so a plugin's options are documented
// exactly like a built-in's.
import { z } from 'zod';
import { PLUGIN_KINDS, type PluginKind, pluginOwning } from './plugins.js';
import type { Factory, Registry } from './registry.js';

interface JsonSchema {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  default?: unknown;
  description?: string;
}

function typeOf(schema: JsonSchema | undefined): string {
  if (!schema || typeof schema !== 'object') return 'any';
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  const union = schema.anyOf ?? schema.oneOf;
  if (union) return union.map(typeOf).join(' \\| ');
  if (schema.type === 'array') return `${typeOf(schema.items)}[]`;
  if (
    schema.type === 'object' &&
    schema.additionalProperties &&
    typeof schema.additionalProperties === 'object' &&
    !schema.properties
  ) {
    return `map of ${typeOf(schema.additionalProperties)}`;
  }
  return schema.type ?? 'any';
}

function rows(schema: JsonSchema | undefined, prefix: string, out: string[]): string[] {
  const properties = schema?.properties ?? {};
  const required = new Set(schema?.required ?? []);
  for (const [name, prop] of Object.entries(properties)) {
    const path = prefix ? `${prefix}.${name}` : name;
    const def =
      prop.default !== undefined
        ? `\`${JSON.stringify(prop.default)}\``
        : required.has(name)
          ? 'required'
          : '';
    const description = (prop.description ?? '').replace(/\|/g, '\\|');
    out.push(`| \`${path}\` | ${typeOf(prop)} | ${def} | ${description} |`);
    const nested = prop.type === 'array' ? prop.items : prop;
    const at = prop.type === 'array' ? `${path}[]` : path;
    if (nested?.properties) rows(nested, at, out);
    // A union of option objects (e.g. one per connection type): list each variant's options.
    for (const variant of [...(nested?.anyOf ?? []), ...(nested?.oneOf ?? [])]) {
      if (variant.properties) rows(variant, at, out);
    }
  }
  return out;
}

const HEAD = ['| option | type | default | description |', '| --- | --- | --- | --- |'];

/**
 * The options of a schema as a Markdown table, each path under `prefix` (`source.tables[].key`). A schema
 * that is a union of option objects (a connector's modes) gets one table per variant, titled by its
 * discriminating constant.
 */
export function optionTable(schema: z.ZodType, prefix = ''): string {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const variants = json.oneOf ?? json.anyOf;
  if (!json.properties && variants) {
    return variants
      .map((variant) => {
        const tag = Object.entries(variant.properties ?? {}).find(([, p]) => p.const !== undefined);
        const title = tag ? `\`${prefix}.${tag[0]}: ${String(tag[1].const)}\`` : 'variant';
        return [`### ${title}`, '', ...HEAD, ...rows(variant, prefix, [])].join('\n');
      })
      .join('\n\n');
  }
  return [...HEAD, ...rows(json, prefix, [])].join('\n');
}

/** The pipeline-file section each kind of factory is configured under. */
export const SECTION_OF: Record<PluginKind, string> = {
  sources: 'source',
  sinks: 'sink',
  deadLetters: 'deadLetters',
  checkpoints: 'checkpoints',
};

/** A factory's documentation: a heading with its section and type, its description, its option table. */
export function factoryDocs(
  kind: PluginKind,
  factory: Factory<z.ZodType, unknown>,
  options: { plugin?: string } = {},
): string {
  const section = SECTION_OF[kind];
  const from = options.plugin ? ` (plugin \`${options.plugin}\`)` : '';
  return [
    `## \`${section}.type: ${factory.type}\``,
    '',
    `${factory.description}${from}`,
    '',
    optionTable(factory.configSchema, section),
  ].join('\n');
}

/**
 * The documentation of registered factories, by kind then type; `select` keeps some (a pipeline's
 * components, one type). Factories of a plugin imported from disk are marked with its name.
 */
export function registryDocs(
  registry: Registry,
  select: (kind: PluginKind, type: string) => boolean = () => true,
): string[] {
  const out: string[] = [];
  for (const kind of PLUGIN_KINDS) {
    const factories = [...registry[kind].values()].sort((a, b) => a.type.localeCompare(b.type));
    for (const factory of factories) {
      if (!select(kind, factory.type)) continue;
      const owner = pluginOwning(registry, kind, factory);
      out.push(factoryDocs(kind, factory, owner?.path ? { plugin: owner.name } : {}));
    }
  }
  return out;
}
