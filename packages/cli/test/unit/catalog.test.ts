// `ferry catalog`: the entities it writes for the examples are judged by Backstage's own catalogue model
// (@backstage/catalog-model): the policies the catalogue backend enforces on every entity, the kind
// validators of the built-in kinds, and the relation fields each kind declares, whose every target must be
// an entity of the same output.

import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
// Its ES module build imports lodash subpaths without extensions (made for bundlers): plain Node refuses
// it, vitest loads it through its own resolver.
import * as backstage from '@backstage/catalog-model';
import { compileCatalogModel, defaultCatalogEntityModel } from '@backstage/catalog-model/alpha';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { seedLegacyDatabase } from '../../../../examples/quickstart/seed.mjs';
import { quickstartCopy, repoRoot } from '../../../../examples/quickstart/test/cli.js';
import { restoreConsole } from '../../src/console.js';
import { catalogName } from '../../src/internal/catalog.js';
import { type CliIo, main } from '../../src/program.js';

type Entity = backstage.Entity;

// What the catalogue backend enforces on every entity it ingests (its default policy set)…
const policy = backstage.EntityPolicies.allOf([
  new backstage.SchemaValidEntityPolicy(),
  new backstage.DefaultNamespaceEntityPolicy(),
  new backstage.NoForeignRootFieldsEntityPolicy(),
  new backstage.FieldFormatEntityPolicy(),
]);
// …then the kind validators of the built-in kinds: exactly one must claim the entity, and it must pass.
const kindValidators = [
  backstage.apiEntityV1alpha1Validator,
  backstage.componentEntityV1alpha1Validator,
  backstage.domainEntityV1alpha1Validator,
  backstage.groupEntityV1alpha1Validator,
  backstage.locationEntityV1alpha1Validator,
  backstage.resourceEntityV1alpha1Validator,
  backstage.systemEntityV1alpha1Validator,
  backstage.userEntityV1alpha1Validator,
];
// The relation fields each kind declares (spec.owner → ownedBy, spec.providesApis → providesApi, …).
const catalogModel = compileCatalogModel([defaultCatalogEntityModel]);

const examples = {
  prisonRoll: join(repoRoot, 'examples', 'prison-roll-cdc', 'pipeline.yaml'),
  quickstart: join(repoRoot, 'examples', 'quickstart', 'pipeline.yaml'),
  courtLists: join(repoRoot, 'examples', 'court-lists-sftp', 'pipeline.yaml'),
  courtListsFixedWidth: join(repoRoot, 'examples', 'court-lists-sftp', 'pipeline-fixed-width.yaml'),
  caseService: join(repoRoot, 'examples', 'case-service-soap', 'pipeline.yaml'),
};

function capture(): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t) };
}

async function ferry(args: string[]) {
  const io = capture();
  const code = await main(args, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

/** The documents of a multi-document YAML text. */
function documents(text: string): Entity[] {
  return parseAllDocuments(text).map((doc) => {
    expect(doc.errors).toEqual([]);
    return doc.toJS() as Entity;
  });
}

async function catalog(args: string[]): Promise<Entity[]> {
  const result = await ferry(['catalog', ...args]);
  expect(result.err).toBe('');
  expect(result.code).toBe(0);
  return documents(result.out);
}

const refOf = (entity: Entity): string => backstage.stringifyEntityRef(entity).toLowerCase();

function find(entities: Entity[], kind: string, name: string): Entity {
  const found = entities.find((e) => e.kind === kind && e.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in ${entities.map(refOf).join(', ')}`);
  return found;
}

/** Each relation an entity declares, as the catalogue model's relation fields read it. */
function relationsOf(entity: Entity): Array<{ type: string; target: string }> {
  const kind = catalogModel.getKind({
    kind: entity.kind,
    apiVersion: entity.apiVersion,
    ...(entity.spec ? { spec: entity.spec as { type?: string } } : {}),
  });
  expect(kind, `${entity.kind} is a kind of the catalogue model`).toBeDefined();
  const out: Array<{ type: string; target: string }> = [];
  for (const field of kind!.relationFields) {
    let value: unknown = entity;
    for (const part of field.path.split('.')) value = (value as Record<string, unknown> | undefined)?.[part];
    for (const text of [value].flat().filter((v) => v !== undefined)) {
      const target = backstage.parseEntityRef(String(text), {
        ...(field.defaultKind ? { defaultKind: field.defaultKind } : {}),
        defaultNamespace: entity.metadata.namespace ?? 'default',
      });
      if (field.allowedKinds) {
        expect(field.allowedKinds.map((k) => k.toLowerCase())).toContain(target.kind.toLowerCase());
      }
      out.push({ type: field.relation, target: backstage.stringifyEntityRef(target).toLowerCase() });
    }
  }
  return out;
}

/** Every entity passes the policies and its kind's validator; every relation's target is in `entities`. */
async function expectValidCatalogue(entities: Entity[], outside: readonly string[] = []): Promise<void> {
  const refs = new Set(entities.map(refOf));
  expect(refs.size, 'no two entities share a kind and name').toBe(entities.length);
  for (const entity of entities) {
    const what = `${entity.kind} ${entity.metadata.name}`;
    expect(await policy.enforce(structuredClone(entity)), what).toBeDefined();
    const claimed = await Promise.all(kindValidators.map((v) => v.check(structuredClone(entity))));
    expect(claimed.filter(Boolean), what).toHaveLength(1);
    expect(backstage.KubernetesValidatorFunctions.isValidObjectName(entity.metadata.name), what).toBe(true);
    for (const { type, target } of relationsOf(entity)) {
      if (outside.includes(target)) continue;
      expect(refs.has(target), `${what} ${type} ${target}: not in the output`).toBe(true);
    }
  }
}

beforeEach(() => {
  vi.stubEnv('PRISON_ROLL_PG_PASSWORD', 'not-used-by-the-catalogue');
});

afterEach(() => {
  vi.unstubAllEnvs();
  restoreConsole();
});

describe('the catalogue check itself', () => {
  // So that a pass above means something: each of these breaks one rule the checks enforce.
  const component = (): Entity => ({
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: { name: 'p' },
    spec: { type: 'service', lifecycle: 'production', owner: 'group:default/o' },
  });
  const owner: Entity = {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Group',
    metadata: { name: 'o' },
    spec: { type: 'team', children: [] },
  };

  it.each([
    ['an invalid name', (e: Entity) => Object.assign(e.metadata, { name: 'Prison Roll' })],
    ['an invalid tag', (e: Entity) => Object.assign(e.metadata, { tags: ['Kafka Topic'] })],
    ['a missing lifecycle', (e: Entity) => delete (e.spec as Record<string, unknown>).lifecycle],
    [
      'a relation to an entity not in the output',
      (e: Entity) => Object.assign(e.spec!, { dependsOn: ['resource:default/t'] }),
    ],
    [
      'a relation without a kind where the field has no default',
      (e: Entity) => Object.assign(e.spec!, { dependsOn: ['t'] }),
    ],
  ])('refuses %s', async (_what, breakIt) => {
    await expectValidCatalogue([component(), owner]);
    const broken = component();
    breakIt(broken);
    await expect(expectValidCatalogue([broken, owner])).rejects.toThrow();
  });
});

describe('ferry catalog for the examples', () => {
  it('writes entities every one of which the catalogue model accepts, related only to each other', async () => {
    const entities = await catalog(Object.values(examples));
    await expectValidCatalogue(entities);
    expect(entities.every((e) => e.apiVersion === 'backstage.io/v1alpha1')).toBe(true);
    expect(
      entities
        .filter((e) => e.kind === 'Component')
        .map((e) => e.metadata.name)
        .sort(),
    ).toEqual(['case-service', 'court-lists', 'court-lists-fixed-width', 'prison-roll', 'quickstart']);

    // A pipeline provides its event stream and depends on the topics it writes.
    const prisonRoll = find(entities, 'Component', 'prison-roll');
    expect(prisonRoll.spec).toMatchObject({
      type: 'service',
      lifecycle: 'production',
      owner: 'group:default/hmpps-prison-operations',
      providesApis: ['api:default/prison-roll.offenders'],
      dependsOn: ['resource:default/prison-roll.offenders', 'resource:default/prison-roll.dlq'],
    });
    expect(prisonRoll.metadata.annotations).toMatchObject({
      'ferry/pipeline-file': 'examples/prison-roll-cdc/pipeline.yaml',
      'ferry/source-type': 'database',
      'ferry/owner-source':
        'owner.dataOwner in examples/justice-model/contracts/justice/offender/contract.yaml',
      'ferry/data-steward': 'Prison Data steward (NOMIS)',
    });
    // The secret the file references is resolved to load it, and never written out.
    expect(JSON.stringify(entities)).not.toContain('not-used-by-the-catalogue');

    // The topics as the Kafka sink and dead-letter topic name them (`topic`, `{pipeline}.dlq`).
    expect(find(entities, 'Resource', 'prison-roll.offenders')).toMatchObject({
      spec: { type: 'kafka-topic', owner: 'group:default/hmpps-prison-operations' },
      metadata: {
        annotations: {
          'ferry/topic': 'prison-roll.offenders',
          'ferry/kafka-brokers': '127.0.0.1:59092',
          'ferry/role': 'events',
        },
      },
    });
    expect(find(entities, 'Resource', 'prison-roll.dlq').metadata.annotations).toMatchObject({
      'ferry/topic': 'prison-roll.dlq',
      'ferry/role': 'dead-letters',
    });

    // The two court-list pipelines append to one event-log file: one Resource, one API, two providers.
    const hearings = find(entities, 'Resource', 'justice.hearing.v1');
    expect(hearings.spec).toMatchObject({ type: 'event-log', owner: 'group:default/hmcts' });
    expect(hearings.metadata.annotations?.['ferry/event-log-file']).toBe(
      'examples/court-lists-sftp/.ferry/events/justice.hearing.v1.jsonl',
    );
    for (const name of ['court-lists', 'court-lists-fixed-width']) {
      expect(find(entities, 'Component', name).spec?.providesApis).toEqual([
        'api:default/justice.hearing.v1',
      ]);
    }
    const hearingApi = find(entities, 'API', 'justice.hearing.v1');
    expect(hearingApi.spec).toMatchObject({ type: 'asyncapi', owner: 'group:default/hmcts' });
    const channels = parseYaml(String(hearingApi.spec?.definition)).channels as Record<string, unknown>;
    expect(channels['justice.hearing.v1']).toMatchObject({
      address: 'justice.hearing.v1',
      description: 'justice.hearing events from court-lists, court-lists-fixed-width.',
    });

    // Owners come from contract.yaml: a Group per owner named there.
    const groups = entities.filter((e) => e.kind === 'Group');
    expect(groups.map((g) => [g.metadata.name, g.metadata.title])).toEqual([
      ['hmcts', 'HMCTS'],
      ['hmpps-prison-operations', 'HMPPS Prison Operations'],
    ]);
  });

  it('defines each event stream by the AsyncAPI document `ferry contracts asyncapi` exports', async () => {
    const entities = await catalog([examples.prisonRoll]);
    const exported = JSON.parse((await ferry(['contracts', 'asyncapi', examples.prisonRoll])).out);
    const definition = parseYaml(String(find(entities, 'API', 'prison-roll.offenders').spec?.definition));
    expect(definition.asyncapi).toBe('3.0.0');
    expect(definition.channels).toEqual(exported.channels);
    expect(definition.operations).toEqual(exported.operations);
    expect(definition.components).toEqual(exported.components);
  });

  it('names the event-log and dead-letter files a run of the pipeline writes', async () => {
    const q = await quickstartCopy();
    seedLegacyDatabase(q.db, { rows: 50, badEvery: 10 });
    expect((await ferry(['run', q.pipeline, '--once', '--log-level', 'silent'])).code).toBe(0);
    const out = join(q.dir, 'catalog', 'catalog-info.yaml');
    const result = await ferry(['catalog', q.pipeline, '--out', out]);
    expect(result.code).toBe(0);
    expect(result.out).toBe(`${out}: 5 entities (1 Group, 1 Component, 1 API, 2 Resource)`);
    const entities = documents(await readFile(out, 'utf8'));
    await expectValidCatalogue(entities);
    // Paths in annotations are relative to the catalogue file.
    const events = find(entities, 'Resource', 'justice.offender.v1').metadata.annotations!;
    expect(events['ferry/event-log-file']).toBe('../.ferry/events/justice.offender.v1.jsonl');
    const letters = find(entities, 'Resource', 'quickstart.dlq').metadata.annotations!;
    expect(letters['ferry/dead-letter-file']).toBe('../.ferry/dead-letters/quickstart.dlq.jsonl');
    for (const file of [events['ferry/event-log-file']!, letters['ferry/dead-letter-file']!]) {
      expect((await stat(join(q.dir, 'catalog', file))).size).toBeGreaterThan(0);
    }
  });
});

/** A contract repository whose type has no contract.yaml, and a pipeline to Kafka with a topic template. */
async function unownedPipeline(
  schema: Record<string, unknown> = {},
): Promise<{ dir: string; pipeline: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-catalog-'));
  await mkdir(join(dir, 'contracts', 'test', 'widget'), { recursive: true });
  await writeFile(
    join(dir, 'contracts', 'test', 'widget', '2.0.0.json'),
    JSON.stringify({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      description: 'A widget.',
      type: 'object',
      properties: { id: { type: 'string' } },
      ...schema,
    }),
  );
  const pipeline = join(dir, 'widgets.yaml');
  await writeFile(
    pipeline,
    [
      'pipeline: widgets',
      'source:',
      '  type: database',
      '  mode: polling',
      '  connection: { type: better-sqlite3, database: ./legacy.db }',
      '  tables:',
      '    - { name: WIDGETS, key: [ID], incrementingColumn: ID }',
      'mapping:',
      '  subject: id',
      '  fields:',
      '    id: { from: ID, required: true }',
      'contract:',
      '  type: test.widget',
      '  version: 2.0.0',
      '  repository: ./contracts',
      'sink:',
      '  type: kafka',
      '  brokers: [127.0.0.1:1]',
      "  topic: 'legacy.{entity}.v{major}'",
      'deadLetters:',
      '  type: kafka',
      '  brokers: [127.0.0.1:1]',
      '',
    ].join('\n'),
  );
  return { dir, pipeline };
}

describe('ferry catalog options', () => {
  it('owns what contract.yaml does not by a placeholder, and says so in an annotation', async () => {
    const { pipeline } = await unownedPipeline();
    const entities = await catalog([pipeline]);
    await expectValidCatalogue(entities);
    const component = find(entities, 'Component', 'widgets');
    expect(component.spec).toMatchObject({
      owner: 'group:default/unassigned',
      providesApis: ['api:default/legacy.widget.v2'],
      dependsOn: ['resource:default/legacy.widget.v2', 'resource:default/widgets.dlq'],
    });
    expect(component.metadata.annotations?.['ferry/owner-source']).toMatch(
      /contracts\/test\/widget\/contract\.yaml names no owner \(set owner\.dataOwner there\), and no default owner was given \(ferry catalog --owner\): 'unassigned' is a placeholder$/,
    );
    expect(find(entities, 'Group', 'unassigned').metadata.description).toContain('placeholder');
  });

  it('marks the stream of a deprecated contract version deprecated, with its sunset', async () => {
    const { pipeline } = await unownedPipeline({ 'x-status': 'deprecated', 'x-sunset': '2027-06-30' });
    const entities = await catalog([pipeline]);
    await expectValidCatalogue(entities);
    const api = find(entities, 'API', 'legacy.widget.v2');
    expect(api.spec?.lifecycle).toBe('deprecated');
    expect(api.metadata.annotations?.['ferry/sunset']).toBe('2027-06-30');
    expect(find(entities, 'Component', 'widgets').spec?.lifecycle).toBe('production');
  });

  it('publishes no broker address that came from a secret reference', async () => {
    const { pipeline } = await unownedPipeline();
    const text = await readFile(pipeline, 'utf8');
    await writeFile(
      pipeline,
      text.replace('  brokers: [127.0.0.1:1]\n  topic', '  brokers: ["${env:WIDGET_BROKER}"]\n  topic'),
    );
    vi.stubEnv('WIDGET_BROKER', 'kafka-secret.internal:9093');
    const entities = await catalog([pipeline]);
    await expectValidCatalogue(entities);
    expect(find(entities, 'Resource', 'legacy.widget.v2').metadata.annotations).not.toHaveProperty(
      'ferry/kafka-brokers',
    );
    expect(find(entities, 'Resource', 'widgets.dlq').metadata.annotations?.['ferry/kafka-brokers']).toBe(
      '127.0.0.1:1',
    );
    expect(JSON.stringify(entities)).not.toContain('kafka-secret');
  });

  it('gives one topic name on two clusters two entities, each named with a hash of where it is', async () => {
    const { dir, pipeline } = await unownedPipeline();
    const other = join(dir, 'widgets-dr.yaml');
    await writeFile(
      other,
      (await readFile(pipeline, 'utf8'))
        .replace('pipeline: widgets', 'pipeline: widgets-dr')
        .replaceAll('127.0.0.1:1', '127.0.0.2:1'),
    );
    const entities = await catalog([pipeline, other]);
    await expectValidCatalogue(entities);
    const topics = entities.filter(
      (e) => e.kind === 'Resource' && e.metadata.annotations?.['ferry/topic'] === 'legacy.widget.v2',
    );
    expect(topics).toHaveLength(2);
    for (const topic of topics) expect(topic.metadata.name).toMatch(/^legacy\.widget\.v2-[0-9a-f]{8}$/);
    const [a, b] = ['widgets', 'widgets-dr'].map((name) => find(entities, 'Component', name).spec!);
    expect(a!.providesApis).not.toEqual(b!.providesApis);
    expect(a!.dependsOn).not.toEqual(b!.dependsOn);
  });

  it('uses --owner, --system and --lifecycle; an owner or system given as a ref is used as it is', async () => {
    const { pipeline } = await unownedPipeline();
    const named = await catalog([
      pipeline,
      examples.quickstart,
      '--owner',
      'Integration Platform',
      '--system',
      'Justice Data Exchange',
      '--lifecycle',
      'experimental',
    ]);
    await expectValidCatalogue(named);
    const system = find(named, 'System', 'justice-data-exchange');
    expect(system.metadata.title).toBe('Justice Data Exchange');
    expect(system.spec?.owner).toBe('group:default/integration-platform');
    for (const entity of named.filter((e) => ['Component', 'API', 'Resource'].includes(e.kind))) {
      expect(entity.spec?.system, `${entity.kind} ${entity.metadata.name}`).toBe(
        'system:default/justice-data-exchange',
      );
    }
    expect(find(named, 'Component', 'widgets').spec).toMatchObject({
      owner: 'group:default/integration-platform',
      lifecycle: 'experimental',
    });
    // The quickstart's contract names its owner: the default does not replace it.
    expect(find(named, 'Component', 'quickstart').spec?.owner).toBe('group:default/hmpps-prison-operations');

    const refs = await catalog([
      pipeline,
      '--owner',
      'group:platform',
      '--system',
      'system:default/exchange',
    ]);
    await expectValidCatalogue(refs, ['group:default/platform', 'system:default/exchange']);
    expect(refs.filter((e) => e.kind === 'Group' || e.kind === 'System')).toEqual([]);
    expect(find(refs, 'Component', 'widgets').spec).toMatchObject({
      owner: 'group:default/platform',
      system: 'system:default/exchange',
    });
  });

  describe('--api', () => {
    const openapi = {
      openapi: '3.1.0',
      info: { title: 'Ferry Read API', version: '1.0.0', description: 'Canonical objects, as served.' },
      paths: { '/v1/offenders/{id}': { get: { responses: { '200': { description: 'The offender.' } } } } },
    };

    it('adds the read API as an OpenAPI API whose definition is the document', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ferry-catalog-api-'));
      const file = join(dir, 'openapi.json');
      await writeFile(file, JSON.stringify(openapi));
      const entities = await catalog([examples.quickstart, '--api', file, '--owner', 'Platform']);
      await expectValidCatalogue(entities);
      const api = find(entities, 'API', 'ferry-read-api');
      expect(api.metadata.title).toBe('Ferry Read API');
      expect(api.spec).toMatchObject({
        type: 'openapi',
        lifecycle: 'production',
        owner: 'group:default/platform',
      });
      expect(parseYaml(String(api.spec?.definition))).toEqual(openapi);

      const renamed = await catalog([examples.quickstart, '--api', file, '--api-name', 'Offender API']);
      expect(find(renamed, 'API', 'offender-api').spec?.type).toBe('openapi');
    });

    it('reads the document from a URL, such as the /openapi.json a running ferry api serves', async () => {
      const server = createServer((request, response) => {
        if (request.url !== '/openapi.json') return void response.writeHead(404).end();
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(openapi));
      });
      await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
      try {
        const { port } = server.address() as AddressInfo;
        const url = `http://127.0.0.1:${port}/openapi.json`;
        const entities = await catalog([examples.quickstart, '--api', url]);
        await expectValidCatalogue(entities);
        const api = find(entities, 'API', 'ferry-read-api');
        expect(api.metadata.annotations?.['ferry/definition-source']).toBe(url);
        expect(parseYaml(String(api.spec?.definition))).toEqual(openapi);
        const missing = await ferry([
          'catalog',
          examples.quickstart,
          '--api',
          `http://127.0.0.1:${port}/nope`,
        ]);
        expect(missing.code).toBe(2);
        expect(missing.err).toContain(`ferry: USAGE: --api: http://127.0.0.1:${port}/nope: cannot read`);
        expect(missing.err).toContain('HTTP 404');
      } finally {
        await new Promise((done) => server.close(done));
      }
    });

    it('refuses a document that is not OpenAPI, naming it', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ferry-catalog-api-'));
      const file = join(dir, 'asyncapi.json');
      await writeFile(file, JSON.stringify({ asyncapi: '3.0.0', info: { title: 'x', version: '1' } }));
      const result = await ferry(['catalog', examples.quickstart, '--api', file]);
      expect(result.code).toBe(2);
      expect(result.err).toBe(
        `ferry: USAGE: --api: ${file}: not an OpenAPI document (no openapi: 3.x or swagger: 2.0 field)`,
      );
    });
  });

  it('writes a folder as one file per entity and a catalog-info.yaml Location that lists them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-catalog-out-'));
    const out = join(dir, 'catalog');
    const result = await ferry(['catalog', examples.quickstart, examples.courtLists, '--out', `${out}/`]);
    expect(result.code).toBe(0);
    const files = (await readdir(out)).sort();
    expect(files).toContain('catalog-info.yaml');
    const [location] = documents(await readFile(join(out, 'catalog-info.yaml'), 'utf8'));
    expect(location!.kind).toBe('Location');
    const targets = location!.spec?.targets as string[];
    expect(targets.map((t) => t.replace('./', '')).sort()).toEqual(
      files.filter((f) => f !== 'catalog-info.yaml'),
    );
    const entities = [location!];
    for (const target of targets) {
      const docs = documents(await readFile(join(out, target), 'utf8'));
      expect(docs).toHaveLength(1);
      entities.push(docs[0]!);
    }
    await expectValidCatalogue(entities);
    expect(targets).toContain('./component-court-lists.yaml');
    // Paths in annotations are relative to the folder.
    expect(
      find(entities, 'Resource', 'justice.offender.v1').metadata.annotations?.['ferry/event-log-file'],
    ).toBe(
      relative(
        out,
        join(repoRoot, 'examples', 'quickstart', '.ferry', 'events', 'justice.offender.v1.jsonl'),
      ),
    );
  });
});

describe('ferry catalog refuses what it cannot describe', () => {
  it('fails on a pipeline file with an error, naming the file, line and path, like every command', async () => {
    const { pipeline } = await unownedPipeline();
    const text = await readFile(pipeline, 'utf8');
    await writeFile(
      pipeline,
      text.replace('  brokers: [127.0.0.1:1]\n  topic', '  brokers: [localhost]\n  topic'),
    );
    const result = await ferry(['catalog', examples.quickstart, pipeline]);
    expect(result.code).toBe(2);
    expect(result.out).toBe('');
    const line = text.split('\n').indexOf('  brokers: [127.0.0.1:1]') + 1;
    expect(result.err).toContain(`ferry: CONFIG_INVALID: 1 problem in ${pipeline}:`);
    expect(result.err).toMatch(new RegExp(`${pipeline}:${line}:\\d+ sink\\.brokers\\[0\\]: .*host:port`));
  });

  it('fails on a pipeline without contract.repository, naming the file, line and path', async () => {
    const { pipeline } = await unownedPipeline();
    const text = await readFile(pipeline, 'utf8');
    await writeFile(pipeline, text.replace('  repository: ./contracts\n', ''));
    const result = await ferry(['catalog', pipeline]);
    expect(result.code).toBe(2);
    // A missing key is located at its parent: the contract mapping, which starts at its first key.
    const line = text.split('\n').indexOf('  type: test.widget') + 1;
    expect(result.err).toContain(
      `${pipeline}:${line}:3 contract.repository: needed by ferry catalog: the AsyncAPI definition and the owners come from the contract repository`,
    );
  });

  it('fails when two files name the same pipeline', async () => {
    const q = await quickstartCopy();
    const result = await ferry(['catalog', examples.quickstart, q.pipeline]);
    expect(result.code).toBe(2);
    expect(result.err).toContain(
      `${q.pipeline}:3:11 pipeline: 'quickstart' is also the pipeline in ${examples.quickstart}; a catalogue names each pipeline once`,
    );
  });
});

describe('catalogName', () => {
  it.each([
    ['HMPPS Prison Operations', 'hmpps-prison-operations'],
    ['prison-roll.offenders', 'prison-roll.offenders'],
    ['  Case data steward (NOMIS) ', 'case-data-steward-nomis'],
    ['_leading.and.trailing_', 'leading.and.trailing'],
    ['Données / Ürün', 'donn-es-r-n'],
  ])('%s → %s', (text, name) => {
    expect(catalogName(text)).toBe(name);
    expect(backstage.KubernetesValidatorFunctions.isValidObjectName(name)).toBe(true);
  });

  it('cuts a long name to 63 characters, ending it with a hash so that two long names stay apart', () => {
    const a = catalogName(`${'very-long-topic-name.'.repeat(5)}a`);
    const b = catalogName(`${'very-long-topic-name.'.repeat(5)}b`);
    expect(a).toHaveLength(63);
    expect(a).not.toBe(b);
    expect(backstage.KubernetesValidatorFunctions.isValidObjectName(a)).toBe(true);
    expect(backstage.KubernetesValidatorFunctions.isValidObjectName(catalogName('!!!'))).toBe(true);
  });
});
