// The OpenAPI schema of an admin route that `ferry serve` adds as a plugin (webhooks, migrations): the same
// access rule, security requirement and error answers the server's own routes declare, so each plugin only
// says what is its own (its path parameter, what a 404 means, its 200 body).
import type { ServerConfig } from '@ferry/server';

export interface PluginRoute {
  access: 'read' | 'operate';
  operationId: string;
  summary: string;
  description?: string;
  /** A POST: a body in another media type than JSON is refused (415). */
  post?: boolean;
  /** A route with a path parameter: its schema, and what a request the schema refuses or a 404 means. */
  named?: { params: Record<string, unknown>; badRequest: string; notFound: string };
  /** What a 500 can mean beyond the unexpected. */
  serverError?: string;
  ok: Record<string, unknown>;
}

const errorBody = { $ref: 'ErrorBody#' } as const;

/** A schema maker for one plugin's routes (`tag` groups them in the OpenAPI document). */
export function pluginRouteSchemas(config: ServerConfig, tag: string) {
  const bearer = config.auth.mode === 'oauth2';
  const scopes = config.auth.mode === 'oauth2' ? config.auth.scopes : undefined;
  const mtls = config.tls?.clientCertificate === 'require';
  return (route: PluginRoute) => {
    const error = (description: string) => ({ description, ...errorBody });
    const responses: Record<number, Record<string, unknown>> = { 200: route.ok };
    if (route.named) {
      responses[400] = error(route.named.badRequest);
      responses[404] = error(route.named.notFound);
      responses[414] = error('A path parameter is longer than 4096 characters (SERVER_URI_TOO_LONG).');
    }
    if (route.post)
      responses[415] = error(
        'A request body in a media type other than application/json (SERVER_BAD_REQUEST).',
      );
    if (bearer && scopes) {
      responses[401] = error(
        'No bearer token, or the token is not valid (signature, issuer, audience, expiry).',
      );
      responses[403] = error(`The token lacks the ${route.access} scope.`);
      responses[503] = error('The token issuer keys (JWKS) cannot be fetched; try again later.');
    }
    responses[500] = error(
      `An unexpected error; \`code\` is INTERNAL or the failing FerryError code${route.serverError === undefined ? '' : ` (${route.serverError})`}.`,
    );
    const requirement: Record<string, string[]> = mtls ? { mtls: [] } : {};
    if (scopes) requirement.bearer = [scopes[route.access]];
    return {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [tag],
      security: Object.keys(requirement).length === 0 ? [] : [requirement],
      ...(route.named ? { params: route.named.params } : {}),
      response: responses,
    };
  };
}
