// The prose pages of docs/ (and the database and kafka READMEs) restate options that docs/configuration.md
// generates from the zod schemas (test/unit/config-docs.test.ts). This keeps the restatements true: every
// option table lists only options its component's schema has, with the schema's default where the schema
// has one and `required` only where the schema requires it; a sentence that gives an option's default
// ("`bom` (default true)") gives the schema's; and every YAML example in docs/*.md validates with the real
// schemas, completed into a whole pipeline file and parsed by `parsePipelineConfig` with the default
// registry, as `ferry validate` would. A page need not repeat every option: configuration.md lists them
// all, from the schemas themselves (the admin config, which has no generated table, must be complete in
// docs/admin-api.md).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { apiConfigSchema } from '@ferry/api';
import { defaultRegistry } from '@ferry/cli';
import { parsePipelineConfig, pipelineFileSchema } from '@ferry/core';
import { serverConfigSchema } from '@ferry/server';
import { subscriptionSchema, webhooksFileSchema } from '@ferry/webhooks';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import { migrationFileSchema } from '../../packages/cli/src/migration/config.js';

const root = join(import.meta.dirname, '..', '..');
const docs = join(root, 'docs');

interface Json {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  anyOf?: Json[];
  oneOf?: Json[];
  items?: Json;
  properties?: Record<string, Json>;
  required?: string[];
  default?: unknown;
}

interface Option {
  schema: Json;
  required: boolean;
  /** Its defaults: more than one when a union of nested objects gives the path different ones. */
  defaults: unknown[];
  /** The mode (or other discriminating constant) of the variant it belongs to, for messages. */
  variant: string;
}

/** One schema variant: its discriminating constant and its options by path (`tables.key`, no `[]`). */
interface Variant {
  tag: string;
  options: Map<string, Option>;
}

function collect(schema: Json, prefix: string, variant: string, out: Map<string, Option[]>): void {
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${name}` : name;
    const list = out.get(path) ?? [];
    list.push({
      schema: prop,
      required: (schema.required ?? []).includes(name),
      defaults: prop.default === undefined ? [] : [prop.default],
      variant,
    });
    out.set(path, list);
    const inner = prop.type === 'array' && prop.items ? prop.items : prop;
    for (const node of [inner, ...(inner.anyOf ?? []), ...(inner.oneOf ?? [])]) {
      if (node.properties) collect(node, path, variant, out);
    }
  }
}

/** A component's schema as variants (one per mode when the schema is a union of option objects). */
function variantsOf(schema: z.ZodType): Variant[] {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json;
  const roots = !json.properties && (json.oneOf ?? json.anyOf) ? (json.oneOf ?? json.anyOf)! : [json];
  return roots.map((root) => {
    const tag = Object.values(root.properties ?? {}).find((p) => typeof p.const === 'string')?.const;
    const all = new Map<string, Option[]>();
    collect(root, '', String(tag ?? ''), all);
    // Within one variant a path can still have several shapes (a union of nested objects): the table may
    // describe any of them.
    const options = new Map<string, Option>();
    for (const [path, list] of all) {
      const withDefault = list.find((o) => o.schema.default !== undefined);
      const schema: Json =
        list.length === 1
          ? list[0]!.schema
          : { anyOf: list.map((o) => o.schema), default: withDefault?.schema.default };
      options.set(path, {
        schema,
        required: list.some((o) => o.required),
        defaults: list.flatMap((o) => o.defaults),
        variant: list[0]!.variant,
      });
    }
    return { tag: String(tag ?? ''), options };
  });
}

const registry = defaultRegistry();
const sourceSchema = (type: string) => registry.sources.get(type)!.configSchema;

/**
 * Pages whose option tables are checked, and the schema those tables describe. `variantTables` are tables
 * with one row per variant of a nested option (the SOAP pagination types, the SFTP stability modes).
 */
const BINDINGS: Record<
  string,
  { schema: () => z.ZodType; prefix?: string; mode?: string; variantTables?: Record<string, string> }
> = {
  'docs/soap.md': { schema: () => sourceSchema('soap'), variantTables: { '`type`': 'pagination' } },
  'docs/sftp.md': { schema: () => sourceSchema('sftp'), variantTables: { mode: 'stability' } },
  'docs/database.md': { schema: () => sourceSchema('database') },
  'docs/kafka.md': { schema: () => registry.sinks.get('kafka')!.configSchema },
  'docs/admin-api.md': { schema: () => serverConfigSchema },
  // Its table is one subscription of webhooks.yaml.
  'docs/webhooks.md': { schema: () => subscriptionSchema },
  // Its table is migration.yaml (`ferry shadow`, `ferry cutover`, `ferry inventory`).
  'docs/migration.md': { schema: () => migrationFileSchema },
  // Its table is the retry policy, `runtime.retry` of the pipeline file.
  'docs/runtime.md': { schema: () => pipelineFileSchema.shape.runtime, prefix: 'retry' },
  // The README documents polling; docs/database.md the other modes.
  'packages/database/README.md': { schema: () => sourceSchema('database'), mode: 'polling' },
  'packages/kafka/README.md': { schema: () => registry.sinks.get('kafka')!.configSchema },
};
// configuration.md's tables are generated from the schemas and checked by config-docs.test.ts.
const GENERATED = new Set(['docs/configuration.md']);

interface Table {
  line: number;
  headings: string[];
  /** The paragraph line right before the table ("Each entry of `tables`:"), if any. */
  intro: string;
  header: string[];
  rows: { line: number; cells: string[] }[];
}

/** Split a Markdown table row into cells (a `\|` inside a cell is not a separator). */
function cellsOf(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim().replace(/\\\|/g, '|'));
}

function tablesOf(text: string): Table[] {
  const lines = text.split('\n');
  const tables: Table[] = [];
  const headings: string[] = [];
  let fenced = false;
  let intro = '';
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!;
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced) continue;
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      headings.length = heading[1]!.length - 1;
      headings.push(heading[2]!);
      intro = '';
      continue;
    }
    if (line.startsWith('|') && /^\|[\s:|-]+\|$/.test(lines[i + 1]?.trim() ?? '')) {
      const table: Table = {
        line: i + 1,
        headings: headings.filter(Boolean),
        intro,
        header: cellsOf(line),
        rows: [],
      };
      i += 2;
      while (i < lines.length && lines[i]!.startsWith('|')) {
        table.rows.push({ line: i + 1, cells: cellsOf(lines[i]!) });
        i += 1;
      }
      i -= 1;
      tables.push(table);
      intro = '';
    } else if (line.trim() !== '') intro = line.trim();
  }
  return tables;
}

const backticked = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

/** Split a cell at commas outside backticks and braces: one part per option of a `a`, `b` row. */
function splitParts(cell: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let current = '';
  for (const ch of cell) {
    if (ch === '`') quoted = !quoted;
    if (!quoted && (ch === '{' || ch === '[' || ch === '(')) depth += 1;
    if (!quoted && (ch === '}' || ch === ']' || ch === ')')) depth -= 1;
    if (ch === ',' && !quoted && depth === 0) {
      parts.push(current.trim());
      current = '';
    } else current += ch;
  }
  parts.push(current.trim());
  return parts;
}

type Stated = { kind: 'none' } | { kind: 'required' } | { kind: 'value'; text: string } | { kind: 'prose' };

/** What a default cell states: nothing, "required", a value (`x`, a number, true/false) or prose. */
function stated(part: string): Stated {
  const text = part.trim();
  if (text === '') return { kind: 'none' };
  if (/^\(?required\b/i.test(text)) return { kind: 'required' };
  const value = text.replace(/\s+\([^)]*\)$/, '').trim();
  const code = /^`([^`]+)`$/.exec(value);
  if (code) return { kind: 'value', text: code[1]! };
  if (/^(-?[\d,_]+(\.\d+)?|true|false|\{.*\}|\[.*\])$/.test(value)) return { kind: 'value', text: value };
  return { kind: 'prose' };
}

/** Does the text a page states for a default mean the schema's default? */
function sameDefault(text: string, value: unknown): boolean {
  const t = text.trim();
  if (typeof value === 'string') return t === value || t === JSON.stringify(value) || t === `'${value}'`;
  if (typeof value === 'number') return Number(t.replace(/[,_]/g, '')) === value;
  if (typeof value === 'boolean') return t === String(value);
  let parsed: unknown;
  try {
    parsed = parseYaml(t);
  } catch {
    return false;
  }
  if (isDeepStrictEqual(parsed, value)) return true;
  // A union-of-objects default stated by its discriminating constant (`none` for {type: none}).
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const tagged = value as { type?: unknown; mode?: unknown };
    return tagged.type === t || tagged.mode === t;
  }
  return false;
}

function jsonTypes(schema: Json): Set<string> {
  const out = new Set<string>();
  const visit = (s: Json) => {
    if (s.const !== undefined) out.add(typeof s.const);
    for (const v of s.enum ?? []) out.add(typeof v);
    for (const t of Array.isArray(s.type) ? s.type : s.type ? [s.type] : []) {
      out.add(t === 'array' ? `${[...jsonTypes(s.items ?? {})].join('|')}[]` : t);
    }
    for (const v of [...(s.anyOf ?? []), ...(s.oneOf ?? [])]) visit(v);
  };
  visit(schema);
  if (out.has('integer')) out.add('number');
  return out;
}

function constants(schema: Json): unknown[] {
  return [
    ...(schema.const !== undefined ? [schema.const] : []),
    ...(schema.enum ?? []),
    ...[...(schema.anyOf ?? []), ...(schema.oneOf ?? [])].flatMap(constants),
  ];
}

/** The variants a table speaks of: those its headings name (`## Trigger mode`), else every variant. */
function scopeOf(variants: Variant[], headings: string[]): Variant[] {
  const named = variants.filter((v) =>
    headings.some((h) => v.tag !== '' && new RegExp(`\\b${v.tag}\\b`, 'i').test(h)),
  );
  return named.length > 0 ? named : variants;
}

/** Does leaving `name` out mean writing `name: value`? (database's `mode` defaults to polling.) */
function omittedMeans(schema: z.ZodType, name: string, value: string): boolean {
  const issues = (input: object) =>
    (schema.safeParse(input).error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`).sort();
  return isDeepStrictEqual(issues({}), issues({ [name]: value }));
}

function checkOptionTable(
  page: string,
  table: Table,
  schema: z.ZodType,
  fixedPrefix: string,
  problems: string[],
  mode?: string,
): void {
  const variants = variantsOf(schema).filter((v) => mode === undefined || v.tag === mode);
  const scope = scopeOf(variants, table.headings);
  // A table introduced by "`connection` for …:" or "Each entry of `tables`:" lists that option's options.
  const nested = /^(?:`([\w.]+)`\s+for\b|Each entry of `([\w.]+)`)/.exec(table.intro);
  const under = nested?.[1] ?? nested?.[2];
  const prefix = fixedPrefix || (under !== undefined && scope.some((v) => v.options.has(under)) ? under : '');
  const defaultAt = table.header.findIndex((h) => /^default$/i.test(h));
  const typeAt = table.header.findIndex((h) => /^type$/i.test(h));
  for (const row of table.rows) {
    const names = backticked(row.cells[0] ?? '').map(
      (n) => (prefix ? `${prefix}.` : '') + n.replace(/\[\]/g, ''),
    );
    if (names.length === 0) problems.push(`${page}:${row.line}: no \`option\` in the first cell`);
    const defaults = defaultAt >= 0 ? splitParts(row.cells[defaultAt] ?? '') : [];
    names.forEach((name, index) => {
      const where = `${page}:${row.line} \`${name}\``;
      const found = scope.flatMap((v) => (v.options.has(name) ? [v.options.get(name)!] : []));
      if (found.length === 0) {
        const modes = scope.map((v) => v.tag).filter(Boolean);
        problems.push(`${where}: no such option${modes.length ? ` in mode ${modes.join(' or ')}` : ''}`);
        return;
      }
      if (defaultAt >= 0) {
        const says = stated(defaults.length === names.length ? defaults[index]! : defaults.join(', '));
        for (const option of found) {
          const inMode = option.variant ? ` (mode ${option.variant})` : '';
          if (option.defaults.length > 0) {
            if (says.kind !== 'value' || !option.defaults.some((d) => sameDefault(says.text, d))) {
              problems.push(
                `${where}: default is ${option.defaults.map((d) => JSON.stringify(d)).join(' or ')}${inMode}, ` +
                  `the table says '${row.cells[defaultAt]}'`,
              );
            }
          } else if (says.kind === 'required' && !found.some((o) => o.required)) {
            problems.push(`${where}: the table says required, the schema does not${inMode}`);
          } else if (
            option.required &&
            says.kind === 'value' &&
            option.schema.const === says.text &&
            !prefix &&
            omittedMeans(schema, name, says.text)
          ) {
            // The discriminator of a mode that is taken when `mode` is left out.
          } else if (option.required && says.kind !== 'required' && says.kind !== 'none') {
            problems.push(`${where}: required${inMode}, the table says '${row.cells[defaultAt]}'`);
          }
        }
      }
      if (typeAt >= 0) checkType(where, row.cells[typeAt] ?? '', found, problems);
    });
  }
}

/** The type column: each type word must be one the schema accepts, each `value` one of its constants. */
function checkType(where: string, cell: string, found: Option[], problems: string[]): void {
  const types = new Set(found.flatMap((o) => [...jsonTypes(o.schema)]));
  const words = cell.replace(/`[^`]*`/g, '').match(/\b(string|integer|number|boolean|object|path)\b(\[\])?/g);
  for (const word of words ?? []) {
    const type = word.replace(/^path/, 'string');
    if (!types.has(type))
      problems.push(`${where}: type '${word}', the schema takes ${[...types].join(' | ')}`);
  }
  const values = found.flatMap((o) => constants(o.schema));
  for (const value of backticked(cell)) {
    if (!values.some((v) => String(v) === value)) {
      problems.push(`${where}: type lists \`${value}\`, the schema's values are ${JSON.stringify(values)}`);
    }
  }
}

/**
 * A table with one row per variant of a nested option: the first cell names the variant; each `name`
 * (with `(default x)` after it, or written `name: x`) in the cells before the last must be an option of that
 * variant with that default.
 */
function checkVariantTable(
  page: string,
  table: Table,
  option: string,
  variants: Variant[],
  problems: string[],
) {
  const json = variants.flatMap((v) => (v.options.has(option) ? [v.options.get(option)!.schema] : []))[0];
  if (!json) {
    problems.push(`${page}:${table.line}: no option \`${option}\` for this table`);
    return;
  }
  const shapes = [...(json.anyOf ?? []), ...(json.oneOf ?? [])].filter((s) => s.properties);
  for (const row of table.rows) {
    const tag = backticked(row.cells[0] ?? '')[0];
    const shape = shapes.find((s) => Object.values(s.properties!).some((p) => p.const === tag));
    if (!shape) {
      problems.push(`${page}:${row.line}: \`${option}\` has no variant \`${tag}\``);
      continue;
    }
    if (/^`[^`]+`\s*\(default\b/.test(row.cells[0] ?? '') && !sameDefault(tag!, json.default)) {
      problems.push(
        `${page}:${row.line}: \`${tag}\` is called the default; it is ${JSON.stringify(json.default)}`,
      );
    }
    const text = row.cells.slice(0, Math.max(1, row.cells.length - 1)).join(' | ');
    const mentions = text.matchAll(/`([A-Za-z]\w*)(?::\s*([^`]+))?`(?:\s*\(default:?\s+([^)]*)\))?/g);
    for (const [, name, inline, after] of mentions) {
      if (name === tag) continue;
      const prop = shape.properties![name!];
      if (!prop) {
        problems.push(`${page}:${row.line}: \`${option}\` \`${tag}\` has no option \`${name}\``);
        continue;
      }
      const value = inline ?? (after === undefined ? undefined : (stated(after) as { text?: string }).text);
      if (value !== undefined && !sameDefault(value, prop.default)) {
        problems.push(
          `${page}:${row.line}: \`${option}.${name}\` default is ${JSON.stringify(prop.default)}, the table says ${value}`,
        );
      }
    }
  }
}

/** Components a page speaks of by section (`sink.transactionalId` on kafka.md is the Kafka sink's). */
const SECTIONS: Record<string, Partial<Record<'source' | 'sink' | 'deadLetters' | 'checkpoints', string>>> = {
  'docs/soap.md': { source: 'soap' },
  'docs/sftp.md': { source: 'sftp' },
  'docs/database.md': { source: 'database' },
  'docs/kafka.md': { sink: 'kafka', deadLetters: 'kafka', checkpoints: 'kafka' },
  'packages/kafka/README.md': { sink: 'kafka', deadLetters: 'kafka', checkpoints: 'kafka' },
};

/**
 * The options a name in a sentence can mean on a page: a `section.option` path of a component the page is
 * about or of the pipeline file, else an option of the page's schema whose path is or ends with the name.
 */
function resolver(page: string): (name: string, within?: string) => Option[] {
  const file = variantsOf(pipelineFileSchema);
  const own = BINDINGS[page] ? variantsOf(BINDINGS[page].schema()) : [];
  const sections = Object.entries(SECTIONS[page] ?? {}).map(([section, type]) => {
    const kind = section === 'source' ? 'sources' : section === 'sink' ? 'sinks' : section;
    const factory = registry[kind as 'sources' | 'sinks' | 'deadLetters' | 'checkpoints'].get(type!)!;
    return { section, variants: variantsOf(factory.configSchema) };
  });
  const lookup = (variants: Variant[], match: (path: string) => boolean) =>
    variants.flatMap((v) => [...v.options].filter(([path]) => match(path)).map(([, o]) => o));
  return (name, within) => {
    // In a paragraph about one section ("`deadLetters` (`type: kafka`): … `topic` (default …)").
    const inSection = within ? sections.find((s) => s.section === within) : undefined;
    if (inSection) {
      const found = lookup(inSection.variants, (p) => p === name || p.endsWith(`.${name}`));
      if (found.length > 0) return found;
    }
    const [head, ...rest] = name.split('.');
    const section = sections.find((s) => s.section === head);
    if (section && rest.length > 0) return lookup(section.variants, (p) => p === rest.join('.'));
    const exact = lookup(file, (p) => p === name);
    if (name.includes('.') && exact.length > 0) return exact;
    const mine = lookup(own, (p) => p === name || p.endsWith(`.${name}`));
    return mine.length > 0 ? mine : lookup(file, (p) => p === name || p.endsWith(`.${name}`));
  };
}

const UNITS: Record<string, number> = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** The value a sentence gives after "default": `a`, `b` (a list), `x`, 1 MiB, 100,000, true. */
function proseValue(text: string): unknown {
  const list = /^(`[^`]+`(?:,\s*`[^`]+`)+)/.exec(text);
  if (list) return backticked(list[1]!);
  const code = /^`([^`]+)`/.exec(text);
  if (code) return code[1]!.replace(/(.)\/$/, '$1');
  const size = /^(\d+)\s*(KiB|MiB|GiB)\b/.exec(text);
  if (size) return Number(size[1]) * UNITS[size[2]!]!;
  // 100,000 is one number; in "4, times the batch size" the comma ends it.
  const number = /^-?\d{1,3}(,\d{3})+(?!\d)|^-?\d+(\.\d+)?/.exec(text);
  if (number) return Number(number[0].replace(/,/g, ''));
  const word = /^(true|false)\b/.exec(text);
  if (word) return word[1] === 'true';
  return undefined;
}

// Package READMEs restate options too (docs/kafka.md sends readers to packages/kafka/README.md for them).
const pages = [
  ...readdirSync(docs)
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
  'packages/database/README.md',
  'packages/kafka/README.md',
];
const read = (page: string) => readFileSync(join(root, page), 'utf8');

describe('option tables in docs/', () => {
  it('list only real options, with the schema’s defaults', () => {
    const problems: string[] = [];
    for (const page of pages) {
      if (GENERATED.has(page)) continue;
      const binding = BINDINGS[page];
      for (const table of tablesOf(read(page))) {
        const first = table.header[0] ?? '';
        const variantOption = binding?.variantTables?.[first];
        if (/^option$/i.test(first)) {
          if (!binding)
            problems.push(`${page}:${table.line}: an option table with no schema bound in this test`);
          else checkOptionTable(page, table, binding.schema(), binding.prefix ?? '', problems, binding.mode);
        } else if (binding && variantOption) {
          checkVariantTable(page, table, variantOption, variantsOf(binding.schema()), problems);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('docs/admin-api.md lists every option of the admin config (no generated table has them)', () => {
    const listed = new Set(
      tablesOf(read('docs/admin-api.md'))
        .filter((t) => /^option$/i.test(t.header[0] ?? ''))
        .flatMap((t) => t.rows.flatMap((r) => backticked(r.cells[0] ?? ''))),
    );
    // Leaves only: an object option is listed through its own options (`listen.host`, `auth.mode`).
    const missing = variantsOf(serverConfigSchema)
      .flatMap((v) =>
        [...v.options.keys()].filter((path) => ![...v.options.keys()].some((p) => p.startsWith(`${path}.`))),
      )
      .filter((path) => !listed.has(path));
    expect([...new Set(missing)].sort()).toEqual([]);
  });
});

describe('defaults stated in sentences of docs/', () => {
  // "`bom` (default true)", "`archiveDir`, default `archive/`", "`topic` (default `{pipeline}.dlq`)".
  it('match the schema where the option has a default', () => {
    const problems: string[] = [];
    let checked = 0;
    for (const page of pages) {
      if (GENERATED.has(page)) continue;
      const resolve = resolver(page);
      const lines = read(page).split('\n');
      let fenced = false;
      let within: string | undefined;
      lines.forEach((line, index) => {
        if (line.startsWith('```')) fenced = !fenced;
        if (fenced) return;
        // A paragraph that starts by naming a section (`deadLetters`, `checkpoints`) speaks of its options.
        if (line.trim() === '') within = undefined;
        else if (index === 0 || lines[index - 1]!.trim() === '') {
          within = /^`(source|sink|deadLetters|checkpoints)`/.exec(line)?.[1];
        }
        for (const m of line.matchAll(/`([A-Za-z][\w.]*)`(?:,\s*|\s*\(|\s+)default:?\s+(.*)$/g)) {
          const value = proseValue(m[2]!);
          if (value === undefined) continue;
          const options = resolve(m[1]!, within).filter((o) => o.defaults.length > 0);
          if (options.length === 0) continue;
          checked += 1;
          const same = (o: Option) =>
            o.defaults.some(
              (d) => isDeepStrictEqual(value, d) || (typeof value === 'string' && sameDefault(value, d)),
            );
          if (!options.some(same)) {
            const defaults = [
              ...new Set(options.flatMap((o) => o.defaults.map((d) => JSON.stringify(d)))),
            ].join(' or ');
            problems.push(
              `${page}:${index + 1} \`${m[1]}\`: default is ${defaults}, the text says ${JSON.stringify(value)}`,
            );
          }
        }
      });
    }
    expect(checked).toBeGreaterThan(10);
    expect(problems).toEqual([]);
  });
});

interface Block {
  page: string;
  line: number;
  text: string;
}

function yamlBlocks(page: string): Block[] {
  const lines = read(page).split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    if (!/^```ya?ml\s*$/.test(lines[i]!)) continue;
    const start = i + 1;
    while (i + 1 < lines.length && !lines[i + 1]!.startsWith('```')) i += 1;
    blocks.push({ page, line: start + 1, text: lines.slice(start, i + 1).join('\n') });
    i += 1;
  }
  return blocks;
}

/** `ferry serve --help`, read once: the options a manifest may give. */
let serveHelp: string | undefined;

function kubernetesProblems(where: string, manifest: Record<string, unknown>): string[] {
  serveHelp ??= execFileSync(process.execPath, [join(root, 'packages/cli/dist/bin.js'), 'serve', '--help'], {
    encoding: 'utf8',
  });
  const spec = (manifest.spec as { template?: { spec?: { containers?: Record<string, unknown>[] } } })
    ?.template?.spec;
  const containers = spec?.containers ?? [];
  if (containers.length === 0) return [`${where}: a manifest without containers`];
  const problems: string[] = [];
  for (const container of containers) {
    const args = (container.args ?? []) as string[];
    if (args[0] !== 'serve') problems.push(`${where}: the container does not run \`ferry serve\``);
    for (const option of args.filter((a) => a.startsWith('--'))) {
      if (!new RegExp(`(^|[\\s,])${option}\\b`, 'm').test(serveHelp))
        problems.push(`${where}: ferry serve has no ${option}`);
    }
    for (const probe of ['livenessProbe', 'readinessProbe']) {
      const path = (container[probe] as { httpGet?: { path?: string } } | undefined)?.httpGet?.path;
      if (path !== '/healthz' && path !== '/readyz') problems.push(`${where}: ${probe} asks ${path}`);
    }
  }
  return problems;
}

/** What a fragment lacks to be a pipeline file; its own keys replace these. */
const FILLER = {
  pipeline: 'docs-example',
  source: {
    type: 'database',
    connection: { type: 'better-sqlite3', database: 'legacy.sqlite' },
    tables: [{ name: 'example', key: ['id'], incrementingColumn: 'id' }],
  },
  mapping: { module: './mapping.js' },
  contract: { type: 'docs.example', version: '1.0.0' },
};
// Secrets are resolved before validation; an example's references name variables and files of its own.
const REFERENCE = /\$\{(env|file):[^}]+\}/g;

describe('YAML examples in docs/', () => {
  // Importing every connector's schemas (the default registry) is already done at the top of the file; each
  // parse is milliseconds. 30 s covers a loaded two-core machine.
  it('validate with the real schemas, as `ferry validate` reads them', { timeout: 30_000 }, async () => {
    const problems: string[] = [];
    const keys = new Set(Object.keys(pipelineFileSchema.shape));
    let checked = 0;
    for (const page of pages) {
      let previous: Record<string, unknown> | undefined;
      for (const block of yamlBlocks(page)) {
        const where = `${page}:${block.line}`;
        const text = block.text.replace(REFERENCE, 'docs-example-secret');
        if (page === 'docs/admin-api.md') {
          const parsed = serverConfigSchema.safeParse(parseYaml(text));
          if (!parsed.success) problems.push(`${where}: ${z.prettifyError(parsed.error)}`);
          checked += 1;
          continue;
        }
        // The read API's api.yaml (docs/api.md), validated by its own schema.
        if (page === 'docs/api.md') {
          const parsed = apiConfigSchema.safeParse(parseYaml(text));
          if (!parsed.success) problems.push(`${where}: ${z.prettifyError(parsed.error)}`);
          checked += 1;
          continue;
        }
        let data = parseYaml(text) as Record<string, unknown>;
        // A webhooks file (docs/webhooks.md, `ferry webhooks run`), validated by its own schema.
        if (data !== null && typeof data === 'object' && 'webhooks' in data && !('pipeline' in data)) {
          const parsed = webhooksFileSchema.safeParse(data);
          if (!parsed.success) problems.push(`${where}: ${z.prettifyError(parsed.error)}`);
          checked += 1;
          continue;
        }
        // A migration file (docs/migration.md, `ferry shadow run`), validated by its own schema.
        if (data !== null && typeof data === 'object' && 'migration' in data && !('pipeline' in data)) {
          const parsed = migrationFileSchema.safeParse(data);
          if (!parsed.success) problems.push(`${where}: ${z.prettifyError(parsed.error)}`);
          checked += 1;
          continue;
        }
        // A Kubernetes manifest (docs/cluster.md): its container runs `ferry serve` with options serve has,
        // and its probes ask routes the admin API serves.
        if ('apiVersion' in data && 'kind' in data) {
          problems.push(...kubernetesProblems(where, data));
          checked += 1;
          continue;
        }
        // An indented fragment continues the page's previous example's source (`  order: mtime`).
        if (/^\s/.test(block.text) && previous) {
          const source = { ...(previous.source as object), ...data };
          data = { ...previous, source };
        }
        previous = data;
        const unknown = Object.keys(data).filter((k) => !keys.has(k));
        if (unknown.length > 0) {
          problems.push(`${where}: not pipeline-file keys: ${unknown.join(', ')}`);
          continue;
        }
        // A plugin's example names a package not installed here: its keys are checked, not its options.
        if (
          'plugins' in data ||
          Object.values(data).some((v) => v && typeof v === 'object' && 'plugin' in v)
        ) {
          continue;
        }
        try {
          await parsePipelineConfig(
            stringifyYaml({ ...FILLER, ...data }),
            join(docs, 'example.yaml'),
            registry,
          );
          checked += 1;
        } catch (error) {
          problems.push(`${where}: ${(error as Error).message}`);
        }
      }
    }
    expect(checked).toBeGreaterThan(8);
    expect(problems).toEqual([]);
  });
});
