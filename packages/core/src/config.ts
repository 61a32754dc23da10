// Pipeline files: one YAML file per pipeline, validated at start. Every problem names the file, the line,
// the path inside it (`source.tables[2].key`) and what was expected. `${env:NAME}` and `${file:PATH}`
// references resolve secrets, whose values are registered with the redactor so they never reach a log.
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type Document,
  isMap,
  isNode,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  type YAMLError,
} from 'yaml';
import { z } from 'zod';
import { type BreakerPolicy, defaultBreakerPolicy } from './breaker.js';
import { closest, type IssueAt, zodConfigIssues } from './config-issues.js';
import { scheduleProblem } from './cron.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import { Redactor, SAFE_SECRET_LENGTH } from './logging.js';
import { fieldMapping, fieldMapSchema, type Mapping, type MappingFunction } from './mapping.js';
import { DEFAULT_MAX_IN_FLIGHT_BYTES, type DeadLetterThreshold } from './pipeline.js';
import {
  componentPluginProblem,
  pluginNote,
  pluginReferences,
  type RegisteredPlugin,
  registerPipelinePlugins,
} from './plugins.js';
import type { Factory, Registry } from './registry.js';
import { defaultRetryPolicy, type RetryPolicy } from './retry.js';

const pluginOption = z
  .string()
  .min(1)
  .optional()
  .describe(
    'npm package (or path) of the plugin that provides this `type`, resolved from the pipeline file’s folder (docs/plugins.md).',
  );

const componentSchema = z
  .object({
    type: z.string().min(1).describe('Which registered implementation to use.'),
    plugin: pluginOption,
  })
  .loose();

const retrySchema = z
  .object({
    retries: z
      .number()
      .int()
      .min(0)
      .max(100)
      .default(defaultRetryPolicy.retries)
      .describe('Retries after the first attempt.'),
    minTimeoutMs: z.number().int().min(0).default(defaultRetryPolicy.minTimeoutMs).describe('First delay.'),
    maxTimeoutMs: z
      .number()
      .int()
      .min(1)
      .default(defaultRetryPolicy.maxTimeoutMs)
      .describe('Longest single delay.'),
    factor: z.number().min(1).default(defaultRetryPolicy.factor).describe('Exponential backoff factor.'),
    maxRetryTimeMs: z
      .number()
      .int()
      .min(1)
      .default(defaultRetryPolicy.maxRetryTimeMs)
      .describe('Give up after failing for this long.'),
    startupMaxRetryTimeMs: z
      .number()
      .int()
      .min(1)
      .default(defaultRetryPolicy.startupMaxRetryTimeMs)
      .describe(
        'Until the source has answered once in a run (a batch, or a read with nothing new), give up after failing for this long: a wrong address or a system that is down fails the start in about this time. After that, maxRetryTimeMs applies.',
      ),
    jitter: z
      .boolean()
      .default(defaultRetryPolicy.jitter)
      .describe('Randomise delays (x1 to x2) so workers do not retry in step.'),
  })
  .strict();

const breakerSchema = z
  .object({
    failureThreshold: z
      .number()
      .int()
      .min(1)
      .default(defaultBreakerPolicy.failureThreshold)
      .describe('Consecutive source failures that open the circuit.'),
    failureRatio: z
      .number()
      .min(0)
      .max(1)
      .default(defaultBreakerPolicy.failureRatio)
      .describe('Open also when more than this share of the last `window` outcomes failed.'),
    window: z
      .number()
      .int()
      .min(1)
      .default(defaultBreakerPolicy.window)
      .describe('Recent outcomes (batches received, failures) the share is judged over.'),
    cooldownMs: z
      .number()
      .int()
      .min(0)
      .default(defaultBreakerPolicy.cooldownMs)
      .describe('How long an open circuit leaves the source alone before one trial read.'),
  })
  .strict();

const thresholdSchema = z
  .object({
    windowSize: z.number().int().min(1).default(1000).describe('Records the share is measured over.'),
    maxRatio: z.number().min(0).max(1).default(0.5).describe('Largest share of dead letters allowed (0..1).'),
    minRecords: z.number().int().min(0).default(100).describe('Records seen before the share is judged.'),
  })
  .strict();

const expectationSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore')
      .describe('Names the expectation in metrics, logs and the admin API.'),
    description: z.string().optional().describe('What the legacy schedule promises, for people.'),
    deadline: z
      .object({
        cron: z.string().min(1).describe('When the delivery must have arrived, e.g. `30 2 * * 1-5`.'),
        timezone: z.string().min(1).default('UTC').describe('IANA time zone of the cron expression.'),
      })
      .strict()
      .describe('Checked at each tick: what arrived since the previous tick must meet the expectation.'),
    stream: z
      .string()
      .min(1)
      .optional()
      .describe('Count only records of this stream (default: every stream of the pipeline).'),
    records: z
      .object({
        min: z.number().int().min(0).default(1).describe('Fewest records expected per delivery window.'),
        max: z.number().int().min(1).optional().describe('Most records expected per delivery window.'),
      })
      .strict()
      .default({ min: 1 })
      .describe('How many records a complete delivery has.'),
  })
  .strict();

export type Expectation = z.output<typeof expectationSchema>;

export const pipelineFileSchema = z
  .object({
    pipeline: z
      .string()
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
        'letters, digits, dot, dash and underscore, starting with a letter or digit',
      )
      .describe('Pipeline name: names the checkpoint, the event source URI and the dead-letter file.'),
    description: z.string().optional().describe('What the pipeline is for, for people reading the file.'),
    plugins: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Plugin packages (or paths) whose connectors this file uses, resolved from the pipeline file’s folder (docs/plugins.md).',
      ),
    source: componentSchema.describe('The legacy system to read: `type` plus that connector’s options.'),
    mapping: z
      .union([
        fieldMapSchema,
        z
          .object({
            module: z.string().min(1).describe('JavaScript module, relative to the pipeline file.'),
            export: z.string().min(1).default('mapping').describe('Name of the exported mapping function.'),
          })
          .strict(),
      ])
      .describe('A declarative field map, or a module exporting a mapping function.'),
    contract: z
      .object({
        type: z
          .string()
          .regex(
            /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/,
            'a dotted lower-case canonical type such as justice.offender',
          ),
        version: z
          .string()
          .regex(/^\d+\.\d+\.\d+$/, 'a semantic version such as 1.0.0')
          .describe('Version of the canonical type; its major version names the topic.'),
        schema: z
          .string()
          .min(1)
          .optional()
          .describe('URI of the canonical schema (default urn:ferry:contract:<type>:<version>).'),
        repository: z
          .string()
          .min(1)
          .optional()
          .describe(
            'Contract repository folder (relative to the pipeline file): events are validated against it.',
          ),
      })
      .strict()
      .describe('The canonical data object the events carry.'),
    sink: componentSchema
      .default({ type: 'file' })
      .describe('Where events go: `type` plus that sink’s options.'),
    deadLetters: z
      .object({
        type: z.string().min(1),
        plugin: pluginOption,
        threshold: z.union([thresholdSchema, z.literal(false)]).optional(),
      })
      .loose()
      .default({ type: 'file' })
      .describe('Where rejected records go, and when too many of them stop the run.'),
    checkpoints: componentSchema.default({ type: 'file' }).describe('Where source positions are saved.'),
    runtime: z
      .object({
        maxInFlightBatches: z
          .number()
          .int()
          .min(1)
          .max(64)
          .default(4)
          .describe('Batches read but not yet committed before the reader waits (backpressure).'),
        maxInFlightBytes: z
          .number()
          .int()
          .min(1024 * 1024)
          .max(2 ** 31)
          .default(DEFAULT_MAX_IN_FLIGHT_BYTES)
          .describe(
            'Bytes of encoded events read but not yet committed before the reader waits (backpressure by size, so big rows cannot fill memory); a source sizes its read buffers to it. One batch is always let through, however big.',
          ),
        retry: retrySchema.default(retrySchema.parse({})).describe('Retry policy for retryable errors.'),
        breaker: breakerSchema
          .default(breakerSchema.parse({}))
          .describe(
            'The source’s circuit breaker: after a run of failures, or when failures dominate, the legacy system is left alone for a cool-down, then one trial read goes through.',
          ),
      })
      .strict()
      .describe('How the runtime drives the pipeline.')
      .default({
        maxInFlightBatches: 4,
        maxInFlightBytes: DEFAULT_MAX_IN_FLIGHT_BYTES,
        retry: retrySchema.parse({}),
        breaker: breakerSchema.parse({}),
      }),
    schedule: z
      .object({ cron: z.string().min(1), timezone: z.string().min(1).default('UTC') })
      .strict()
      .optional()
      .describe(
        'When a pass source (polling, files, SOAP) runs: cron expression and IANA time zone. Without it, a pass source runs every pollIntervalMs.',
      ),
    expectations: z
      .array(expectationSchema)
      .default([])
      .describe(
        'Freshness and completeness promises of the legacy schedule: a missing or short delivery raises a metric and a log event at the deadline.',
      ),
    cluster: z
      .object({
        weight: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .default(1)
          .describe('How much of a worker the pipeline takes, relative to others (1 each by default).'),
        requires: z
          .array(z.string().min(1))
          .default([])
          .describe('Worker labels (`ferry serve --label`) a worker must have to run it, e.g. [host-x].'),
      })
      .strict()
      .default({ weight: 1, requires: [] })
      .describe('With `ferry serve --cluster`: where the pipeline may run and how heavy it is.'),
  })
  .strict();

export type PipelineFile = z.output<typeof pipelineFileSchema>;

export interface ComponentConfig {
  type: string;
  options: Record<string, unknown>;
}

export interface LoadedPipeline {
  file: string;
  baseDir: string;
  name: string;
  raw: PipelineFile;
  source: ComponentConfig;
  sink: ComponentConfig;
  deadLetters: ComponentConfig & { threshold: DeadLetterThreshold | false };
  checkpoints: ComponentConfig;
  runtime: {
    maxInFlightBatches: number;
    maxInFlightBytes: number;
    retry: RetryPolicy;
    breaker: BreakerPolicy;
  };
  contract: { type: string; version: string; schema: string; repository?: string };
  redactor: Redactor;
  /** Paths whose values came from `${env:…}`/`${file:…}` references. */
  secretPaths: string[];
  /**
   * Of those, the ones holding a secret too short to hide everywhere (isWeakSecret): logs hide it only where
   * it stands as a value. Say so at start (WEAK_SECRET_WARNING).
   */
  weakSecretPaths: string[];
  /** What `ferry validate` should tell a person about this configuration. */
  notes: string[];
  /** The plugins this file names, as registered in the registry it was loaded with. */
  plugins: RegisteredPlugin[];
}

const REFERENCE = /\$\{(env|file):([^}]+)\}/g;

/** What to tell an operator about each of `weakSecretPaths`: logs can hide that secret only as a value. */
export const WEAK_SECRET_WARNING = `the secret is too short to hide everywhere (under ${SAFE_SECRET_LENGTH} letters and digits, or under 4 characters), so logs and messages hide it only where it stands as a value (after = or :, in quotes, before @); use a longer secret`;

/** Read, resolve and validate a pipeline file against the registry's factories. */
export async function loadPipelineFile(file: string, registry: Registry): Promise<LoadedPipeline> {
  const { path, text } = await readConfigFile(file);
  return parsePipelineConfig(text, path, registry);
}

/**
 * A YAML config file of a command other than a pipeline (`api.yaml`, `webhooks.yaml`): read, its
 * `${env:…}`/`${file:…}` references resolved, validated by `schema`. A mistake is a ConfigError naming the
 * file, the line and the path.
 */
export async function loadConfigFile<S extends z.ZodType>(
  file: string,
  schema: S,
): Promise<{ path: string; config: z.output<S>; redactor: Redactor }> {
  const { path, text } = await readConfigFile(file);
  const document = parseConfigYaml(text, path);
  const { data, redactor } = await resolveSecrets(document, path);
  const parsed = schema.safeParse(data ?? {});
  if (!parsed.success) {
    throw new ConfigError(
      path,
      zodConfigIssues(parsed.error, schema, data, (keys, message, at) => document.issue(keys, message, at)),
    );
  }
  return { path, config: parsed.data, redactor };
}

/** A config file's text, or CONFIG_FILE_NOT_FOUND naming it. */
export async function readConfigFile(file: string): Promise<{ path: string; text: string }> {
  const path = resolve(file);
  try {
    return { path, text: await readFile(path, 'utf8') };
  } catch (error) {
    throw new ConfigError(
      path,
      [{ path: '', message: `cannot read the file (${(error as Error).message})` }],
      'CONFIG_FILE_NOT_FOUND',
    );
  }
}

export interface ConfigDocument {
  /** The YAML as plain data. */
  data: unknown;
  /**
   * A problem at `path`, with the line and column of its value (or, with `at: 'key'`, of its key: where an
   * unknown option is written); a path that does not exist points at the deepest node on it that does.
   */
  issue(path: readonly PropertyKey[], message: string, at?: 'key' | 'value'): ConfigIssue;
}

/** Parse a YAML config (duplicate keys refused); a syntax error is CONFIG_YAML_SYNTAX with its line. */
export function parseConfigYaml(text: string, file: string): ConfigDocument {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): { line: number; column: number } => {
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(file, yamlSyntaxIssues(text, doc.errors, at), 'CONFIG_YAML_SYNTAX');
  }
  return {
    data: doc.toJS(),
    issue(path, message, where = 'value') {
      if (where === 'key' && path.length > 0) {
        const key = keyNode(doc, path);
        if (key?.range) return { path: formatPath(path), message, ...at(key.range[0]) };
      }
      // A missing key points at its parent.
      for (let n = path.length; n >= 0; n -= 1) {
        const node = (n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true)) as Node | null | undefined;
        if (node && typeof node === 'object' && 'range' in node && node.range) {
          return { path: formatPath(path), message, ...at(node.range[0]) };
        }
      }
      return { path: formatPath(path), message };
    },
  };
}

/** The node of the last key of `path` as written (a map's key, or a sequence's item). */
function keyNode(doc: Document, path: readonly PropertyKey[]): Node | undefined {
  const parentPath = path.slice(0, -1);
  const parent = parentPath.length === 0 ? doc.contents : doc.getIn(parentPath, true);
  const last = path.at(-1);
  if (isMap(parent)) {
    const pair = parent.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === last);
    return isNode(pair?.key) ? pair.key : undefined;
  }
  if (isSeq(parent) && typeof last === 'number') {
    const item = parent.items[last];
    return isNode(item) ? item : undefined;
  }
  return undefined;
}

/**
 * YAML syntax errors at the line a person has to fix. A line indented deeper than the key above it
 * (`type: database` then `   mode: polling`) reads to the parser as a plain value running over two lines
 * and then a colon, reported where that value starts, a line early, and twice; it is reported once, at
 * the deeper line.
 */
function yamlSyntaxIssues(
  text: string,
  errors: readonly YAMLError[],
  at: (offset: number) => { line: number; column: number },
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  const overIndented = new Set<number>();
  for (const e of errors) {
    if (e.code !== 'MULTILINE_IMPLICIT_KEY') continue;
    const [start, end] = e.pos;
    const lineStart = text.lastIndexOf('\n', start - 1) + 1;
    // The "key" starts after other text on its line: it is the value of `key:`, continued below.
    if (text.slice(lineStart, start).trim() !== '' && text.slice(start, end).includes('\n')) {
      overIndented.add(start);
      const keyLine = text.lastIndexOf('\n', end - 1) + 1;
      const indent = keyLine + (text.slice(keyLine).length - text.slice(keyLine).trimStart().length);
      const above = at(lineStart).line;
      issues.push({
        path: '',
        message:
          `YAML syntax: this line is indented deeper than the key on line ${above}; keys of one mapping ` +
          'start in the same column (and a value that has keys of its own goes on the lines below its key)',
        ...at(indent),
      });
    }
  }
  for (const e of errors) {
    if (overIndented.has(e.pos[0])) continue;
    // An unclosed quote is noticed where the text ends (or the next key starts); the quote that opened it
    // is the last one of its kind before that, since none after it closed it.
    const quote = e.code === 'MISSING_CHAR' ? /closing (["'])quote/.exec(e.message)?.[1] : undefined;
    const opened = quote === undefined ? -1 : text.lastIndexOf(quote, e.pos[0] - 1);
    if (quote !== undefined && opened >= 0) {
      issues.push({
        path: '',
        message: `YAML syntax: this ${quote}-quoted string is never closed (the parser reached line ${at(e.pos[0]).line} looking for its closing ${quote})`,
        ...at(opened),
      });
      continue;
    }
    const hint = e.code === 'MULTILINE_IMPLICIT_KEY' ? " (is the ':' after a key missing on this line?)" : '';
    const issue = { path: '', message: `YAML syntax: ${e.message.split('\n')[0]}${hint}`, ...at(e.pos[0]) };
    const id = `${issue.line}:${issue.message}`;
    if (!seen.has(id)) issues.push(issue);
    seen.add(id);
  }
  return issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

export async function parsePipelineConfig(
  text: string,
  file: string,
  registry: Registry,
): Promise<LoadedPipeline> {
  const document = parseConfigYaml(text, file);
  const issue: IssueAt = (path, message, at) => document.issue(path, message, at);

  const baseDir = dirname(file);
  const { data, redactor, secretPaths, weakSecretPaths } = await resolveSecrets(document, file);

  const top = pipelineFileSchema.safeParse(data ?? {});
  if (!top.success) throw new ConfigError(file, zodConfigIssues(top.error, pipelineFileSchema, data, issue));
  const raw = top.data;

  // Plugins first: their factories validate the components below.
  const loaded = await registerPipelinePlugins(registry, pluginReferences(raw), file, issue);
  const issues: ConfigIssue[] = [];
  const notes: string[] = loaded.plugins.map(pluginNote);
  if (raw.schedule !== undefined) {
    const problem = scheduleProblem(raw.schedule.cron, raw.schedule.timezone);
    if (problem) issues.push(issue(['schedule'], problem));
  }
  for (const [index, expectation] of raw.expectations.entries()) {
    const problem = scheduleProblem(expectation.deadline.cron, expectation.deadline.timezone);
    if (problem) issues.push(issue(['expectations', index, 'deadline'], problem));
    const { min, max } = expectation.records;
    if (max !== undefined && max < min) {
      issues.push(issue(['expectations', index, 'records', 'max'], `expected at least records.min (${min})`));
    }
  }
  const component = (
    section: 'source' | 'sink' | 'deadLetters' | 'checkpoints',
    registryKey: 'sources' | 'sinks' | 'deadLetters' | 'checkpoints',
    value: Record<string, unknown> & { type: string },
    omit: string[] = [],
  ): ComponentConfig => {
    const factory: Factory<z.ZodType, unknown> | undefined = registry[registryKey].get(value.type);
    const named = loaded.bySection[section];
    const problem = componentPluginProblem(registry, registryKey, value.type, factory, named, loaded);
    if (problem) {
      issues.push(issue([section, 'type'], problem));
      return { type: value.type, options: {} };
    }
    if (!factory) {
      const types = [...registry[registryKey].keys()].sort();
      const near = closest(value.type, types);
      const hint = near === undefined ? '' : ` did you mean '${near}'?`;
      issues.push(
        issue(
          [section, 'type'],
          `unknown ${section} type '${value.type}';${hint} expected one of: ${types.join(', ') || '(none registered)'}`,
        ),
      );
      return { type: value.type, options: {} };
    }
    const { type: _type, plugin: _plugin, ...rest } = value;
    for (const key of omit) delete rest[key];
    const parsed = factory.configSchema.safeParse(rest);
    if (!parsed.success) {
      issues.push(...zodConfigIssues(parsed.error, factory.configSchema, rest, issue, [section]));
      return { type: value.type, options: {} };
    }
    notes.push(...(factory.notes?.(parsed.data) ?? []).map((n) => `${section} (${value.type}): ${n}`));
    return { type: value.type, options: parsed.data as Record<string, unknown> };
  };

  const source = component('source', 'sources', raw.source);
  const sink = component('sink', 'sinks', raw.sink);
  const deadLetters = component('deadLetters', 'deadLetters', raw.deadLetters, ['threshold']);
  const checkpoints = component('checkpoints', 'checkpoints', raw.checkpoints);
  if (issues.length > 0) throw new ConfigError(file, issues);

  return {
    file,
    baseDir,
    name: raw.pipeline,
    raw,
    source,
    sink,
    deadLetters: { ...deadLetters, threshold: resolveThreshold(raw.deadLetters.threshold) },
    checkpoints,
    runtime: raw.runtime,
    contract: {
      type: raw.contract.type,
      version: raw.contract.version,
      schema: raw.contract.schema ?? `urn:ferry:contract:${raw.contract.type}:${raw.contract.version}`,
      ...(raw.contract.repository ? { repository: resolve(baseDir, raw.contract.repository) } : {}),
    },
    redactor,
    secretPaths,
    weakSecretPaths,
    notes,
    plugins: loaded.plugins,
  };
}

function resolveThreshold(value: unknown): DeadLetterThreshold | false {
  if (value === false) return false;
  return thresholdSchema.parse(value ?? {});
}

/** Build the mapping a pipeline file declares: a field map, or a function from a module. */
export async function loadMapping(pipeline: LoadedPipeline): Promise<Mapping> {
  const spec = pipeline.raw.mapping;
  const base = { canonicalType: pipeline.contract.type, dataschema: pipeline.contract.schema };
  if ('fields' in spec) return { ...base, map: fieldMapping(spec) };
  const target = resolve(pipeline.baseDir, spec.module);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(target).href)) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(
      pipeline.file,
      [{ path: 'mapping.module', message: `cannot import ${target}: ${(error as Error).message}` }],
      'MAPPING_MODULE_INVALID',
    );
  }
  const fn = module[spec.export];
  if (typeof fn !== 'function') {
    throw new ConfigError(
      pipeline.file,
      [{ path: 'mapping.export', message: `${target} has no exported function '${spec.export}'` }],
      'MAPPING_MODULE_INVALID',
    );
  }
  return { ...base, map: fn as MappingFunction };
}

/** What `resolveSecrets` gives: the data with every reference replaced, and what it learnt about secrets. */
export interface ResolvedSecrets {
  data: unknown;
  /** Knows every secret value, to hide it in logs and messages. */
  redactor: Redactor;
  /** Paths (`source.connection.password`) whose values came from references. */
  secretPaths: string[];
  /** Those of them too short to hide everywhere. */
  weakSecretPaths: string[];
}

/**
 * Replace every `${env:NAME}` and `${file:path}` reference in a parsed config file (file paths relative to
 * the file); a variable that is not set or a file that cannot be read is a CONFIG_SECRET_UNRESOLVED error
 * naming the path. The pipeline loader and other config files (`ferry api`'s) share this.
 */
export async function resolveSecrets(document: ConfigDocument, file: string): Promise<ResolvedSecrets> {
  const issue: IssueAt = (path, message, at) => document.issue(path, message, at);
  const baseDir = dirname(file);
  const redactor = new Redactor();
  const secretPaths: string[] = [];
  const weakSecretPaths: string[] = [];
  const secretIssues: ConfigIssue[] = [];
  const data = await resolveReferences(document.data, [], async (value, path) => {
    let failed = false;
    const parts: Promise<string>[] = [];
    value.replace(REFERENCE, (_match, kind: string, name: string) => {
      parts.push(
        (async () => {
          if (kind === 'env') {
            const v = process.env[name];
            if (v === undefined) {
              failed = true;
              secretIssues.push(
                issue(path, `environment variable ${name} is not set (referenced as \${env:${name}})`),
              );
              return '';
            }
            return v;
          }
          const target = isAbsolute(name) ? name : resolve(baseDir, name);
          try {
            return (await readFile(target, 'utf8')).replace(/\r?\n$/, '');
          } catch (error) {
            failed = true;
            secretIssues.push(
              issue(path, `cannot read secret file ${target} (${(error as NodeJS.ErrnoException).code})`),
            );
            return '';
          }
        })(),
      );
      return '';
    });
    const resolved = await Promise.all(parts);
    let index = 0;
    const out = value.replace(REFERENCE, () => resolved[index++] ?? '');
    if (!failed) {
      const strong = resolved.map((secret) => redactor.add(secret));
      secretPaths.push(formatPath(path));
      if (strong.includes(false)) weakSecretPaths.push(formatPath(path));
    }
    return out;
  });
  if (secretIssues.length > 0) throw new ConfigError(file, secretIssues, 'CONFIG_SECRET_UNRESOLVED');
  return { data, redactor, secretPaths, weakSecretPaths };
}

async function resolveReferences(
  value: unknown,
  path: (string | number)[],
  resolveString: (value: string, path: (string | number)[]) => Promise<string>,
): Promise<unknown> {
  if (typeof value === 'string') {
    REFERENCE.lastIndex = 0;
    return REFERENCE.test(value) ? resolveString(value, path) : value;
  }
  if (Array.isArray(value)) {
    return Promise.all(value.map((v, i) => resolveReferences(v, [...path, i], resolveString)));
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      out[k] = await resolveReferences(v, [...path, k], resolveString);
    return out;
  }
  return value;
}

/**
 * Validate a component's options outside a pipeline file (a connector's own factory function): the same
 * ConfigError, with paths such as `source.tables[0].name`.
 */
export function parseComponentOptions<T>(schema: z.ZodType<T>, options: unknown, section: string): T {
  const parsed = schema.safeParse(options);
  if (parsed.success) return parsed.data;
  throw new ConfigError(
    undefined,
    zodConfigIssues(parsed.error, schema, options, (path, message) => ({ path: formatPath(path), message }), [
      section,
    ]),
  );
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** The pipeline file as data, with every secret value replaced. */
export function redactedConfig(pipeline: LoadedPipeline): unknown {
  return pipeline.redactor.scrubValue(pipeline.raw);
}
