// The read API's OpenAPI 3.1 document, generated from the collections (and so from the contracts): one path
// set per entity and major version, the item schemas being the contract JSON Schemas (references resolved),
// RFC 9457 problem responses, bearer authentication with the scope each collection needs, and an older major
// marked deprecated with its Sunset.
import type { Collection } from './collections.js';

const PROBLEM = { $ref: '#/components/schemas/Problem' };

function problem(description: string) {
  return { description, content: { 'application/problem+json': { schema: PROBLEM } } };
}

/** The component name of a collection's item schema: `OffenderV1`. */
export function schemaName(collection: Collection): string {
  const title = collection.title.replace(/[^A-Za-z0-9]/g, '') || 'Entity';
  return `${title}V${collection.major}`;
}

const FRESHNESS = {
  'Ferry-Applied-At': {
    description: 'When the store last applied an event (ISO 8601): how fresh the data is.',
    schema: { type: 'string', format: 'date-time' },
  },
  'Ferry-Position': {
    description: 'The stream positions applied so far, as `stream=position` pairs separated by commas.',
    schema: { type: 'string' },
  },
};

export function openApiDocument(
  collections: readonly Collection[],
  info: { title: string; version: string; bearer: boolean },
): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {
    Problem: {
      type: 'object',
      description: 'RFC 9457 problem details, with a stable `code`.',
      required: ['type', 'title', 'status', 'code'],
      properties: {
        type: { type: 'string' },
        title: { type: 'string' },
        status: { type: 'integer' },
        detail: { type: 'string' },
        instance: { type: 'string' },
        code: { type: 'string', description: 'Stable error code (docs/api.md).' },
        parameter: { type: 'string', description: 'The query parameter at fault, for a 400.' },
      },
    },
  };
  for (const collection of collections) {
    const name = schemaName(collection);
    const { $schema: _s, $id: _i, examples: _e, ...schema } = collection.schema;
    schemas[name] = schema;
    const item = { $ref: `#/components/schemas/${name}` };
    const base = `/v${collection.major}/${collection.path}`;
    const sunsetHeaders = collection.deprecated
      ? {
          Deprecation: { description: 'This major version is deprecated.', schema: { type: 'string' } },
          ...(collection.sunset === undefined
            ? {}
            : {
                Sunset: { description: 'When it stops being served (RFC 8594).', schema: { type: 'string' } },
              }),
        }
      : {};
    const common = {
      tags: [collection.path],
      ...(collection.deprecated ? { deprecated: true } : {}),
      // Without auth (auth.mode none) the operations say so: no security requirement at all.
      security: info.bearer ? [{ bearer: [] }] : [],
    };
    const auth = info.bearer
      ? {
          '401': problem(
            'No valid bearer token (missing, expired, wrong issuer or audience, bad signature).',
          ),
          '403': problem(`The token lacks the scope \`${collection.scope}\`.`),
        }
      : {};
    const limits = { '429': problem('Too many requests: wait for `Retry-After` seconds.') };
    const filterParameters = collection.filters.flatMap((field) => {
      const schema =
        field.kind === 'number'
          ? { type: 'number' }
          : field.kind === 'boolean'
            ? { type: 'boolean' }
            : { type: 'string' };
      const equal = {
        name: field.name,
        in: 'query',
        required: false,
        description: `Only items whose \`${field.name}\` equals this.`,
        schema,
      };
      if (!field.ranges) return [equal];
      return [
        equal,
        ...(['gt', 'gte', 'lt', 'lte'] as const).map((op) => ({
          name: `${field.name}[${op}]`,
          in: 'query',
          required: false,
          description: `Only items whose \`${field.name}\` is ${{ gt: 'after', gte: 'at or after', lt: 'before', lte: 'at or before' }[op]} this.`,
          schema,
        })),
      ];
    });
    const fields = {
      name: 'fields',
      in: 'query',
      required: false,
      description: 'Comma-separated top-level fields to return (a sparse fieldset); default all.',
      schema: { type: 'string' },
    };
    paths[base] = {
      get: {
        ...common,
        operationId: `list${name}`,
        summary: `List ${collection.path} (${collection.type} ${collection.major}.x), in id order`,
        description: `Scope: \`${collection.scope}\`. Pages are stable under concurrent updates: pass \`next\` as \`cursor\`.`,
        parameters: [
          {
            name: 'cursor',
            in: 'query',
            required: false,
            description: 'The `next` of the previous page.',
            schema: { type: 'string' },
          },
          {
            name: 'limit',
            in: 'query',
            required: false,
            description: 'Items per page.',
            schema: { type: 'integer', minimum: 1 },
          },
          fields,
          ...filterParameters,
        ],
        responses: {
          '200': {
            description: 'A page of items.',
            headers: { ...FRESHNESS, ...sunsetHeaders },
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['items', 'next'],
                  properties: {
                    items: { type: 'array', items: item },
                    next: {
                      type: ['string', 'null'],
                      description: 'Cursor of the next page; null at the end.',
                    },
                  },
                },
              },
            },
          },
          '400': problem('A query parameter is not valid (named in `parameter`).'),
          ...auth,
          ...limits,
        },
      },
    };
    paths[`${base}/{id}`] = {
      get: {
        ...common,
        operationId: `get${name}`,
        summary: `Get one ${collection.type} (${collection.major}.x) by id`,
        description: `Scope: \`${collection.scope}\`.`,
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
          fields,
          {
            name: 'If-None-Match',
            in: 'header',
            required: false,
            description: 'An ETag from an earlier response: 304 when unchanged.',
            schema: { type: 'string' },
          },
        ],
        responses: {
          '200': {
            description: 'The entity’s latest state.',
            headers: {
              ETag: { description: 'Changes whenever the entity does.', schema: { type: 'string' } },
              'Last-Modified': {
                description: 'When the entity last changed in the legacy system.',
                schema: { type: 'string' },
              },
              ...FRESHNESS,
              ...sunsetHeaders,
            },
            content: { 'application/json': { schema: item } },
          },
          '304': { description: 'Not modified since the ETag given.' },
          '400': problem('A query parameter is not valid.'),
          '404': problem('No such entity.'),
          '410': problem('The entity was deleted recently.'),
          ...auth,
          ...limits,
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: info.title,
      version: info.version,
      description:
        'Canonical data objects, materialised from Ferry’s event streams: the latest state of each entity. See docs/api.md.',
    },
    servers: [{ url: '/' }],
    tags: collections
      .filter((c, i, all) => all.findIndex((o) => o.path === c.path) === i)
      .map((c) => ({ name: c.path, description: `${c.type}` })),
    paths,
    components: {
      schemas,
      ...(info.bearer
        ? { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } }
        : {}),
    },
  };
}
