// `ferry catalog`: Backstage catalogue entities (descriptor format, backstage.io/v1alpha1) for what a Ferry
// deployment offers: a Component per pipeline, a Resource per topic or event-log file it writes (events and
// dead letters), an AsyncAPI API per event stream, an OpenAPI API for the read API, and the Groups and
// System those point at, so that every relation resolves inside the output.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { relative, resolve, sep } from 'node:path';
import { asyncApiDocument, type ContractRepository, loadContractRepository } from '@ferry/contracts';
import {
  ConfigError,
  createFileDeadLetterSink,
  createFileSink,
  type LoadedPipeline,
  parseConfigYaml,
  readConfigFile,
  topicName,
} from '@ferry/core';
import { parse as parseYaml, stringify } from 'yaml';

export const CATALOG_API_VERSION = 'backstage.io/v1alpha1';

/** Owner of what no contract.yaml (and no `defaultOwner`) gives an owner to. */
export const PLACEHOLDER_OWNER = 'unassigned';

/** Prefix of Ferry's annotations (`ferry/topic`, `ferry/owner-source`, …). */
const A = 'ferry/';

export type CatalogKind = 'System' | 'Group' | 'Component' | 'API' | 'Resource' | 'Location';

export interface CatalogEntity {
  apiVersion: typeof CATALOG_API_VERSION;
  kind: CatalogKind;
  metadata: {
    name: string;
    title?: string;
    description?: string;
    annotations?: Record<string, string>;
    tags?: string[];
  };
  spec: Record<string, unknown>;
}

/** The read API (`ferry api`) to publish: its OpenAPI document, and the name to publish it under. */
export interface ReadApi {
  document: Record<string, unknown>;
  /** Entity name (sanitised); default the document's `info.title`. */
  name?: string;
  /** Where the document was read from, for an annotation. */
  source?: string;
}

export interface CatalogOptions {
  /**
   * Owner of what no contract.yaml gives an owner to, of the System and of the read API: a name (a Group is
   * written for it) or an entity ref (`group:default/platform`, used as it is). Default `unassigned`.
   */
  defaultOwner?: string;
  /** System every entity is part of (a System entity is written unless it is given as `system:` ref). */
  system?: string;
  /** Lifecycle of the pipelines and APIs (default `production`; a deprecated contract's API is `deprecated`). */
  lifecycle?: string;
  readApi?: ReadApi;
  /** Folder the file paths in annotations are relative to (default: the working directory). */
  pathsRelativeTo?: string;
}

const KIND_ORDER: readonly CatalogKind[] = ['Location', 'System', 'Group', 'Component', 'API', 'Resource'];
const NAME_MAX = 63;
const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

const hash = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 8);

/**
 * A valid Backstage entity name for `text`: lower case, runs of other characters as `-`, trimmed to start
 * and end with a letter or digit; over 63 characters, cut and ended with a hash of the whole text.
 */
export function catalogName(text: string): string {
  const name = text
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  if (name === '') return `x-${hash(text)}`;
  if (name.length <= NAME_MAX) return name;
  return withSuffix(name, hash(text));
}

function withSuffix(name: string, suffix: string): string {
  const room = NAME_MAX - suffix.length - 1;
  return `${name.slice(0, room).replace(/[^a-z0-9]+$/, '')}-${suffix}`;
}

/** `text` as written when it is already an entity ref of one of `kinds` (`group:default/x`), else undefined. */
function givenRef(text: string, kinds: readonly string[]): string | undefined {
  const match = /^([A-Za-z]+):(?:([a-z0-9-]+)\/)?(.+)$/.exec(text.trim());
  if (!match || !kinds.includes(match[1]!.toLowerCase()) || !NAME.test(match[3]!)) return undefined;
  return `${match[1]!.toLowerCase()}:${match[2] ?? 'default'}/${match[3]}`;
}

const ref = (kind: CatalogKind, name: string): string => `${kind.toLowerCase()}:default/${name}`;

/** One topic or file a pipeline writes. */
interface Place {
  /** Equal for the same topic on the same cluster, or the same file. */
  identity: string;
  /** Its name before sanitising and de-duplication (the topic, or `<pipeline>.dlq`). */
  natural: string;
  resourceType: string;
  title: string;
  /** The place in a sentence: `Kafka topic x`, `the event log file x`. */
  where: string;
  annotations: Record<string, string>;
  tags: string[];
}

interface Owner {
  ref: string;
  /** Where the owner came from, for the `ferry/owner-source` annotation. */
  source: string;
  steward?: string;
}

interface ResourceDraft extends Place {
  role: 'events' | 'dead-letters';
  owner: Owner;
  pipelines: string[];
}

/** An event stream: one canonical type on one topic or file, written by one or more pipelines. */
interface StreamDraft {
  identity: string;
  natural: string;
  place: Place;
  type: string;
  version: string;
  repo: ContractRepository;
  owner: Owner;
  producers: string[];
}

interface ComponentDraft {
  pipeline: LoadedPipeline;
  owner: Owner;
  stream: string;
  places: string[];
}

/** What the pipelines offer, before names are made unique. */
interface Drafts {
  components: ComponentDraft[];
  streams: Map<string, StreamDraft>;
  resources: Map<string, ResourceDraft>;
}

/** What every entity builder needs: paths relative to the catalogue, lifecycle, system, owners. */
interface Context {
  rel: (file: string) => string;
  lifecycle: string;
  partOf: { system?: string };
  owners: Owners;
}

/**
 * The owners named so far: a Group for each name (an owner given as a `group:`/`user:` ref is used as it
 * is), and the default owner for what names none.
 */
class Owners {
  private readonly groups = new Map<string, { title: string; roles: Set<string> }>();

  constructor(
    private readonly rel: (file: string) => string,
    private readonly fallback: string | undefined,
  ) {}

  ref(text: string, role: string): string {
    const given = givenRef(text, ['group', 'user']);
    if (given) return given;
    const name = catalogName(text);
    const group = this.groups.get(name) ?? { title: text.trim(), roles: new Set<string>() };
    group.roles.add(role);
    this.groups.set(name, group);
    return ref('Group', name);
  }

  /** The default owner, with `why` no other owner applies. */
  byDefault(why: string): Owner {
    if (this.fallback) {
      return { ref: this.ref(this.fallback, 'default owner'), source: `${why}; the default owner is used` };
    }
    return {
      ref: this.ref(PLACEHOLDER_OWNER, 'placeholder owner: nothing named an owner'),
      source: `${why}, and no default owner was given (ferry catalog --owner): '${PLACEHOLDER_OWNER}' is a placeholder`,
    };
  }

  /** The owner contract.yaml names for `type` (dataOwner, else steward), else the default owner. */
  ofContract(repo: ContractRepository, type: string): Owner {
    const contract = repo.types.get(type);
    const meta = contract?.owner;
    const file = contract
      ? this.rel(resolve(contract.dir, 'contract.yaml'))
      : `${type} in ${this.rel(repo.dir)}`;
    const steward = meta?.steward ? { steward: meta.steward } : {};
    if (meta?.dataOwner) {
      const ref = this.ref(meta.dataOwner, `data owner of ${type} (contract.yaml)`);
      return { ref, source: `owner.dataOwner in ${file}`, ...steward };
    }
    if (meta?.steward) {
      const ref = this.ref(meta.steward, `steward of ${type} (contract.yaml)`);
      return { ref, source: `owner.steward in ${file} (it names no dataOwner)`, ...steward };
    }
    return this.byDefault(`${file} names no owner (set owner.dataOwner there)`);
  }

  entities(): CatalogEntity[] {
    return [...this.groups].map(([name, group]) =>
      entity('Group', {
        metadata: {
          name,
          ...(group.title !== name ? { title: group.title } : {}),
          description: `Owner of Ferry catalogue entities: ${[...group.roles].join('; ')}.`,
        },
        spec: { type: 'team', children: [] },
      }),
    );
  }
}

const entity = (kind: CatalogKind, body: Pick<CatalogEntity, 'metadata' | 'spec'>): CatalogEntity => ({
  apiVersion: CATALOG_API_VERSION,
  kind,
  ...body,
});

/**
 * The catalogue entities for these pipelines (loaded and validated with `loadPipelineFile`). Every pipeline
 * needs `contract.repository`: the AsyncAPI definitions and the owners come from it.
 */
export async function catalogEntities(
  pipelines: readonly LoadedPipeline[],
  options: CatalogOptions = {},
): Promise<CatalogEntity[]> {
  const base = options.pathsRelativeTo ?? process.cwd();
  const rel = (file: string): string => relative(base, file).split(sep).join('/') || '.';
  const owners = new Owners(rel, options.defaultOwner);
  const system = options.system === undefined ? undefined : systemOf(options.system);
  const ctx: Context = {
    rel,
    lifecycle: options.lifecycle ?? 'production',
    partOf: system ? { system: system.ref } : {},
    owners,
  };

  const drafts = await collect(pipelines, ctx);
  const resourceNames = uniqueNames([...drafts.resources.values()]);
  const apiNames = uniqueNames([
    ...drafts.streams.values(),
    ...(options.readApi ? [{ identity: READ_API, natural: readApiName(options.readApi) }] : []),
  ]);
  const entities = [
    ...drafts.components.map((c) =>
      componentEntity(
        c,
        apiNames.get(c.stream)!,
        c.places.map((p) => resourceNames.get(p)!),
        ctx,
      ),
    ),
    ...[...drafts.streams.values()].map((s) => streamApiEntity(s, apiNames.get(s.identity)!, ctx)),
    ...(options.readApi ? [readApiEntity(options.readApi, apiNames.get(READ_API)!, ctx)] : []),
    ...[...drafts.resources.values()].map((r) => resourceEntity(r, resourceNames.get(r.identity)!, ctx)),
  ];
  if (system?.entity) {
    const owner = owners.byDefault('a System has no contract');
    entities.push(
      entity('System', {
        metadata: {
          name: system.entity.name,
          ...(system.entity.title ? { title: system.entity.title } : {}),
          description: 'Ferry pipelines, the canonical event streams they publish and the topics they write.',
          annotations: ownerAnnotations(owner),
        },
        spec: { owner: owner.ref },
      }),
    );
  }
  return sortEntities([...entities, ...owners.entities()]);
}

/** The identity of the read API among the APIs. */
const READ_API = 'openapi';

/** The pipelines, their event streams and the places they write, each place and stream once. */
async function collect(pipelines: readonly LoadedPipeline[], ctx: Context): Promise<Drafts> {
  const repos = new Map<string, Promise<ContractRepository>>();
  const drafts: Drafts = { components: [], streams: new Map(), resources: new Map() };
  const files = new Map<string, string>();
  for (const pipeline of pipelines) {
    const earlier = files.get(pipeline.name);
    if (earlier === pipeline.file) continue;
    if (earlier !== undefined) {
      throw await issueIn(
        pipeline.file,
        ['pipeline'],
        `'${pipeline.name}' is also the pipeline in ${earlier}; a catalogue names each pipeline once`,
      );
    }
    files.set(pipeline.name, pipeline.file);
    const { repository, type, version } = pipeline.contract;
    if (!repository) {
      throw await issueIn(
        pipeline.file,
        ['contract', 'repository'],
        'needed by ferry catalog: the AsyncAPI definition and the owners come from the contract repository',
      );
    }
    if (!repos.has(repository)) repos.set(repository, loadContractRepository(repository));
    const repo = await repos.get(repository)!;
    const owner = ctx.owners.ofContract(repo, type);

    const events = eventsPlace(pipeline, ctx.rel);
    const letters = await deadLetterPlace(pipeline, ctx.rel);
    for (const [place, role] of [
      [events, 'events'],
      [letters, 'dead-letters'],
    ] as const) {
      const draft = drafts.resources.get(place.identity) ?? { ...place, role, owner, pipelines: [] };
      draft.pipelines.push(pipeline.name);
      drafts.resources.set(place.identity, draft);
    }
    const identity = `${events.identity}#${type}`;
    const stream = drafts.streams.get(identity) ?? {
      identity,
      natural: events.natural,
      place: events,
      ...{ type, version, repo, owner },
      producers: [],
    };
    // Pipelines writing one stream at different minor versions: the newest describes it.
    if (newer(version, stream.version)) Object.assign(stream, { version, repo });
    stream.producers.push(pipeline.name);
    drafts.streams.set(identity, stream);
    drafts.components.push({
      pipeline,
      owner,
      stream: identity,
      places: [events.identity, letters.identity],
    });
  }
  return drafts;
}

function componentEntity(
  draft: ComponentDraft,
  api: string,
  resources: string[],
  ctx: Context,
): CatalogEntity {
  const { pipeline, owner } = draft;
  return entity('Component', {
    metadata: {
      name: catalogName(pipeline.name),
      ...(pipeline.raw.description ? { description: pipeline.raw.description } : {}),
      annotations: {
        [`${A}pipeline`]: pipeline.name,
        [`${A}pipeline-file`]: ctx.rel(pipeline.file),
        [`${A}source-type`]: pipeline.source.type,
        [`${A}sink-type`]: pipeline.sink.type,
        [`${A}dead-letters-type`]: pipeline.deadLetters.type,
        [`${A}contract`]: `${pipeline.contract.type} ${pipeline.contract.version}`,
        [`${A}dataschema`]: pipeline.contract.schema,
        ...ownerAnnotations(owner),
      },
      tags: tags(['ferry', 'pipeline', pipeline.source.type, pipeline.sink.type]),
    },
    spec: {
      type: 'service',
      lifecycle: ctx.lifecycle,
      owner: owner.ref,
      ...ctx.partOf,
      providesApis: [ref('API', api)],
      dependsOn: resources.map((name) => ref('Resource', name)),
    },
  });
}

/** An event stream as an AsyncAPI API: its definition is `asyncApiDocument`'s, as `ferry contracts asyncapi`. */
function streamApiEntity(stream: StreamDraft, name: string, ctx: Context): CatalogEntity {
  const contract = stream.repo.types.get(stream.type);
  const version = contract?.versions.find((v) => v.version === stream.version);
  const topic = stream.place.annotations[`${A}topic`]!;
  const description =
    `${stream.type} ${stream.version} CloudEvents in ${stream.place.where}, written by ${stream.producers.join(', ')}.` +
    (contract?.description ? ` ${contract.description}` : '');
  const document = asyncApiDocument(
    stream.repo,
    [{ topic, type: stream.type, version: stream.version, producers: stream.producers }],
    { title: `${stream.type} events`, version: stream.version, description },
  );
  return entity('API', {
    metadata: {
      name,
      title: `${stream.type} events (${topic})`,
      description,
      annotations: {
        [`${A}topic`]: topic,
        [`${A}contract`]: `${stream.type} ${stream.version}`,
        ...(version ? { [`${A}dataschema`]: version.id } : {}),
        ...(version?.sunset ? { [`${A}sunset`]: version.sunset } : {}),
        ...ownerAnnotations(stream.owner),
      },
      tags: tags(['ferry', 'cloudevents', ...stream.place.tags]),
    },
    spec: {
      type: 'asyncapi',
      lifecycle: version?.status === 'deprecated' ? 'deprecated' : ctx.lifecycle,
      owner: stream.owner.ref,
      ...ctx.partOf,
      definition: stringify(document, { lineWidth: 0 }),
    },
  });
}

function readApiEntity(api: ReadApi, name: string, ctx: Context): CatalogEntity {
  const owner = ctx.owners.byDefault('the read API serves every contract, so no one contract.yaml owns it');
  const info = (api.document.info ?? {}) as Record<string, unknown>;
  return entity('API', {
    metadata: {
      name,
      ...(typeof info.title === 'string' ? { title: info.title } : {}),
      ...(typeof info.description === 'string' ? { description: info.description } : {}),
      annotations: {
        ...(api.source ? { [`${A}definition-source`]: sourceText(api.source, ctx.rel) } : {}),
        ...(typeof info.version === 'string' ? { [`${A}api-version`]: info.version } : {}),
        ...ownerAnnotations(owner),
      },
      tags: ['ferry', 'openapi', 'read-api'],
    },
    spec: {
      type: 'openapi',
      lifecycle: ctx.lifecycle,
      owner: owner.ref,
      ...ctx.partOf,
      definition: stringify(api.document, { lineWidth: 0 }),
    },
  });
}

function resourceEntity(resource: ResourceDraft, name: string, ctx: Context): CatalogEntity {
  const writers = resource.pipelines.join(', ');
  return entity('Resource', {
    metadata: {
      name,
      title: resource.title,
      description:
        resource.role === 'events'
          ? `Canonical events written by ${writers}.`
          : `Dead letters (records that could not become events) of ${writers}.`,
      annotations: {
        ...resource.annotations,
        [`${A}role`]: resource.role,
        ...ownerAnnotations(resource.owner),
      },
      tags: tags(['ferry', resource.role, ...resource.tags]),
    },
    spec: { type: resource.resourceType, owner: resource.owner.ref, ...ctx.partOf },
  });
}

function ownerAnnotations(owner: Owner): Record<string, string> {
  return {
    [`${A}owner-source`]: owner.source,
    ...(owner.steward ? { [`${A}data-steward`]: owner.steward } : {}),
  };
}

function systemOf(text: string): { ref: string; entity?: { name: string; title?: string } } {
  const given = givenRef(text, ['system']);
  if (given) return { ref: given };
  const name = catalogName(text);
  return { ref: ref('System', name), entity: { name, ...(name !== text ? { title: text } : {}) } };
}

/** Where the sink writes a pipeline's events, computed as the sink does (`topicName`, `pathFor`). */
function eventsPlace(pipeline: LoadedPipeline, rel: (file: string) => string): Place {
  const { type, schema } = pipeline.contract;
  const options = pipeline.sink.options;
  const template = typeof options.topic === 'string' ? options.topic : undefined;
  const topic = topicName(type, schema, template);
  if (pipeline.sink.type === 'kafka') return kafkaPlace(pipeline, 'sink', topic);
  if (pipeline.sink.type === 'file') {
    const dir = resolve(pipeline.baseDir, String(options.dir));
    const file = createFileSink({ dir, ...(template ? { topic: template } : {}) }).pathFor(topic);
    return {
      identity: `file:${file}`,
      natural: topic,
      resourceType: 'event-log',
      title: `Event log ${rel(file)}`,
      where: `the event log file ${rel(file)}`,
      annotations: { [`${A}topic`]: topic, [`${A}event-log-file`]: rel(file) },
      tags: ['event-log'],
    };
  }
  // A plugin's sink: the topic its template gives, in a place only that sink knows.
  return {
    identity: `${pipeline.sink.type}:${pipeline.file}:${topic}`,
    natural: topic,
    resourceType: 'event-stream',
    title: `${pipeline.sink.type} stream ${topic}`,
    where: `the ${pipeline.sink.type} sink's stream ${topic}`,
    annotations: { [`${A}topic`]: topic, [`${A}sink-type`]: pipeline.sink.type },
    tags: [pipeline.sink.type],
  };
}

/** Where a pipeline's dead letters go: the Kafka topic (`dlqTopicName`) or the file the file sink appends to. */
async function deadLetterPlace(pipeline: LoadedPipeline, rel: (file: string) => string): Promise<Place> {
  const { type, options } = pipeline.deadLetters;
  if (type === 'kafka') {
    // @ferry/kafka (and kafkajs with it) only for a pipeline that has a dead-letter topic.
    const { dlqTopicName } = await import('@ferry/kafka');
    return kafkaPlace(pipeline, 'deadLetters', dlqTopicName(String(options.topic), pipeline.name));
  }
  if (type === 'file') {
    const dir = resolve(pipeline.baseDir, String(options.dir));
    const file = createFileDeadLetterSink({ dir, pipeline: pipeline.name }).path;
    return {
      identity: `file:${file}`,
      natural: `${pipeline.name}.dlq`,
      resourceType: 'dead-letter-log',
      title: `Dead-letter file ${rel(file)}`,
      where: `the dead-letter file ${rel(file)}`,
      annotations: { [`${A}dead-letter-file`]: rel(file) },
      tags: ['file'],
    };
  }
  return {
    identity: `${type}:${pipeline.file}:dead-letters`,
    natural: `${pipeline.name}.dead-letters`,
    resourceType: 'dead-letter-store',
    title: `${type} dead letters of ${pipeline.name}`,
    where: `the ${type} dead letters of ${pipeline.name}`,
    annotations: { [`${A}dead-letters-type`]: type },
    tags: [type],
  };
}

/**
 * A topic on the brokers of a pipeline's sink or dead-letter topic. The same topic on the same cluster is
 * one place however a file orders the brokers; brokers that came from a secret reference are not published.
 */
function kafkaPlace(pipeline: LoadedPipeline, section: 'sink' | 'deadLetters', topic: string): Place {
  const options = pipeline[section].options;
  const brokers = Array.isArray(options.brokers) ? options.brokers.map(String) : [];
  const secret = pipeline.secretPaths.some((path) => path.startsWith(`${section}.brokers`));
  return {
    identity: `kafka:${[...brokers].sort().join(',')}/${topic}`,
    natural: topic,
    resourceType: 'kafka-topic',
    title: `Kafka topic ${topic}`,
    where: `Kafka topic ${topic}`,
    annotations: {
      [`${A}topic`]: topic,
      ...(secret || brokers.length === 0 ? {} : { [`${A}kafka-brokers`]: brokers.join(',') }),
    },
    tags: ['kafka'],
  };
}

/**
 * A name per identity: the sanitised natural name, or, when different identities would share it (the same
 * topic name on two clusters), that name with a hash of each identity.
 */
function uniqueNames(items: ReadonlyArray<{ identity: string; natural: string }>): Map<string, string> {
  const byName = new Map<string, Set<string>>();
  for (const { identity, natural } of items) {
    const name = catalogName(natural);
    byName.set(name, (byName.get(name) ?? new Set()).add(identity));
  }
  const out = new Map<string, string>();
  for (const [name, identities] of byName) {
    for (const identity of identities) {
      out.set(identity, identities.size === 1 ? name : withSuffix(name, hash(identity)));
    }
  }
  return out;
}

function readApiName(api: ReadApi): string {
  const title = (api.document.info as Record<string, unknown> | undefined)?.title;
  return api.name ?? (typeof title === 'string' ? title : 'ferry-read-api');
}

function sourceText(source: string, rel: (file: string) => string): string {
  return /^https?:\/\//i.test(source) ? source : rel(resolve(source));
}

/** Backstage tags: lower case, `[a-z0-9:+#]` words joined by `-`, unique. */
function tags(words: readonly string[]): string[] {
  const out = words
    .map((w) =>
      w
        .toLowerCase()
        .replace(/[^a-z0-9:+#]+/g, '-')
        .replace(/^-+|-+$/g, '')
        .slice(0, NAME_MAX)
        .replace(/-+$/, ''),
    )
    .filter((w) => w !== '');
  return [...new Set(out)];
}

function newer(a: string, b: string): boolean {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number)) as [number[], number[]];
  for (let i = 0; i < 3; i += 1) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
  return false;
}

function sortEntities(entities: CatalogEntity[]): CatalogEntity[] {
  return entities.sort(
    (a, b) =>
      KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) ||
      a.metadata.name.localeCompare(b.metadata.name),
  );
}

/** A ConfigError at `path` of a pipeline file, with its line when the file says where. */
async function issueIn(file: string, path: readonly string[], message: string): Promise<ConfigError> {
  const { text } = await readConfigFile(file);
  return new ConfigError(file, [parseConfigYaml(text, file).issue(path, message)]);
}

/** Entities as one multi-document YAML text (`---` between documents), after a comment line. */
export function catalogYaml(entities: readonly CatalogEntity[], comment?: string): string {
  const docs = entities.map((entity) => stringify(entity, { lineWidth: 0 }));
  return `${comment ? `# ${comment}\n` : ''}${docs.join('---\n')}`;
}

/** A file name per entity (`component-quickstart.yaml`) for a catalogue written to a folder. */
export function entityFileName(entity: CatalogEntity): string {
  return `${entity.kind.toLowerCase()}-${entity.metadata.name}.yaml`;
}

/** The Location that registers a folder of entity files with Backstage (`catalog-info.yaml`). */
export function locationEntity(name: string, files: readonly string[]): CatalogEntity {
  return {
    apiVersion: CATALOG_API_VERSION,
    kind: 'Location',
    metadata: {
      name: catalogName(name),
      description: 'The entities written by ferry catalog, one file each.',
    },
    spec: { targets: files.map((file) => `./${file}`) },
  };
}

/** An OpenAPI (3.x, or Swagger 2.0) document from a file or an http(s) URL, JSON or YAML. */
export async function readOpenApi(where: string, timeoutMs = 30_000): Promise<ReadApi> {
  const problem = (message: string) =>
    new ConfigError(undefined, [{ path: '--api', message: `${where}: ${message}` }], 'USAGE');
  let text: string;
  try {
    if (/^https?:\/\//i.test(where)) {
      const response = await fetch(where, { signal: AbortSignal.timeout(timeoutMs) });
      if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
      text = await response.text();
    } else {
      text = await readFile(where, 'utf8');
    }
  } catch (error) {
    throw problem(`cannot read the OpenAPI document (${(error as Error).message})`);
  }
  let document: unknown;
  try {
    document = /^\s*[{[]/.test(text) ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw problem(`not JSON or YAML (${(error as Error).message.split('\n')[0]})`);
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw problem('not an OpenAPI document (expected an object)');
  }
  const record = document as Record<string, unknown>;
  const openapi = typeof record.openapi === 'string' && /^3\./.test(record.openapi);
  if (!openapi && record.swagger !== '2.0') {
    throw problem('not an OpenAPI document (no openapi: 3.x or swagger: 2.0 field)');
  }
  return { document: record, source: where };
}
