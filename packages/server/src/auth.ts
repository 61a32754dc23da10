// Who may call what. Every route declares `config.access`; a route that does not is refused when the server
// is built (deny by default). Bearer tokens are JWTs checked against the issuer's JWKS with jose: signature,
// algorithm allow-list, iss, aud, exp (required) and nbf with a small clock tolerance, then the route's scope.
import type { Logger } from '@ferry/core';
import type { FastifyInstance, FastifyReply, RouteOptions } from 'fastify';
import { createRemoteJWKSet, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import type { ServerConfig } from './config.js';
import { type ErrorBody, ServerErrorCodes } from './errors.js';

export type Access = 'public' | 'read' | 'operate';

export interface Principal {
  /** The token's `sub`, for the request log. */
  subject: string | undefined;
  scopes: ReadonlySet<string>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

type OAuth2Config = Extract<ServerConfig['auth'], { mode: 'oauth2' }>;

/** Verify a compact JWT; throws jose's errors (or a fetch error when the JWKS cannot be reached). */
export function createTokenVerifier(
  auth: Pick<OAuth2Config, 'jwksUri' | 'issuer' | 'audience' | 'algorithms' | 'clockToleranceSeconds'>,
  options: TokenCacheOptions = {},
): (token: string) => Promise<Principal> {
  const jwks = createRemoteJWKSet(new URL(auth.jwksUri));
  const verify = async (token: string) => {
    const { payload } = await jwtVerify(token, jwks, {
      issuer: auth.issuer,
      audience: auth.audience,
      algorithms: auth.algorithms,
      clockTolerance: auth.clockToleranceSeconds,
      requiredClaims: ['exp'],
    });
    return { principal: { subject: payload.sub, scopes: scopesOf(payload) }, exp: Number(payload.exp) };
  };
  const { entries = 0, seconds = 0 } = options;
  if (entries <= 0 || seconds <= 0) return async (token) => (await verify(token)).principal;
  // Tokens verified lately, oldest first (a Map keeps insertion order): a refused token is never kept.
  const verified = new Map<string, { principal: Principal; until: number }>();
  return async (token) => {
    const now = Date.now();
    const hit = verified.get(token);
    if (hit !== undefined && hit.until > now) return hit.principal;
    verified.delete(token);
    const { principal, exp } = await verify(token);
    if (verified.size >= entries) verified.delete(verified.keys().next().value as string);
    verified.set(token, { principal, until: Math.min(now + seconds * 1000, exp * 1000) });
    return principal;
  };
}

/**
 * Keep the principal of a verified token for a while, so that a client sending the same token again is not
 * verified again (a signature check costs more than the rest of a small request). A token is kept at most
 * `seconds` and never past its `exp`; a key removed from the JWKS meanwhile is noticed when the entry ends.
 */
export interface TokenCacheOptions {
  /** How many tokens at most (the oldest goes first); 0 keeps none. */
  entries?: number;
  /** How long a verified token is kept, at most. */
  seconds?: number;
}

/** OAuth2 scopes: `scope` as a space-separated string (RFC 9068), or `scp` as an array (Azure AD, Okta). */
export function scopesOf(payload: JWTPayload): Set<string> {
  const words = (value: unknown): unknown[] => (typeof value === 'string' ? value.split(' ') : []);
  const scp = payload.scp;
  const all = [...words(payload.scope), ...(Array.isArray(scp) ? scp : words(scp))];
  return new Set(all.filter((s): s is string => typeof s === 'string' && s !== ''));
}

/**
 * Collect every route as it is registered; the returned function lists those without `config.access` once
 * all plugins have loaded (a plugin may set it from its own onRoute hook after ours has run).
 */
export function trackRouteAccess(app: FastifyInstance): () => string[] {
  const routes: RouteOptions[] = [];
  app.addHook('onRoute', (route) => {
    routes.push(route);
  });
  return () =>
    routes
      .filter((route) => !['public', 'read', 'operate'].includes(String(route.config?.access)))
      .map((route) => `${String(route.method)} ${route.url}`);
}

/** JWKS unreachable or broken: the caller is not at fault and may try again. */
/** The token could not be checked (the issuer's JWKS unreachable or not a key set), as opposed to refused. */
export function isJwksUnavailable(error: unknown): boolean {
  if (!(error instanceof joseErrors.JOSEError)) return true;
  return (
    error instanceof joseErrors.JWKSTimeout ||
    error instanceof joseErrors.JWKSInvalid ||
    error.code === joseErrors.JOSEError.code
  );
}

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

export function installAuth(app: FastifyInstance, config: ServerConfig, logger: Logger): void {
  app.decorateRequest('principal', null);
  const auth = config.auth;
  const verify = auth.mode === 'oauth2' ? createTokenVerifier(auth) : undefined;
  const refuse = (reply: FastifyReply, status: number, challenge: string | undefined, body: ErrorBody) => {
    if (challenge !== undefined) reply.header('www-authenticate', challenge);
    return reply.code(status).send(body);
  };

  app.addHook('onRequest', async (request, reply) => {
    if (request.is404) return;
    const access = request.routeOptions.config.access;
    if (access === 'public') return;
    if (access !== 'read' && access !== 'operate') {
      // Unreachable through buildAdminServer, which refuses such routes; kept so a gap fails closed.
      return refuse(reply, 500, undefined, {
        code: 'INTERNAL',
        message: 'route has no access rule',
        retryable: false,
      });
    }
    if (auth.mode === 'none' || verify === undefined) return;

    const route = `${request.method} ${request.routeOptions.url}`;
    const header = request.headers.authorization;
    const match = header === undefined ? null : BEARER.exec(header);
    if (match === null) {
      // RFC 6750 §3.1: no error code when the request carried no credentials at all.
      const challenge =
        header === undefined ? 'Bearer realm="ferry"' : 'Bearer realm="ferry", error="invalid_token"';
      logger.debug({ route, malformed: header !== undefined }, 'admin API: request without a bearer token');
      return refuse(reply, 401, challenge, {
        code: ServerErrorCodes.SERVER_UNAUTHENTICATED,
        message:
          header === undefined
            ? 'a bearer token is required'
            : 'the Authorization header is not a bearer token',
        retryable: false,
      });
    }
    let principal: Principal;
    try {
      principal = await verify(match[1]!);
    } catch (error) {
      if (isJwksUnavailable(error)) {
        logger.error({ route, err: error, jwksUri: auth.jwksUri }, 'admin API: cannot fetch the JWKS');
        return refuse(reply, 503, undefined, {
          code: ServerErrorCodes.SERVER_AUTH_UNAVAILABLE,
          message: 'cannot fetch the token issuer keys; try again later',
          retryable: true,
        });
      }
      const reason = (error as joseErrors.JOSEError).code;
      logger.warn({ route, reason }, 'admin API: bearer token refused');
      return refuse(reply, 401, 'Bearer realm="ferry", error="invalid_token"', {
        code: ServerErrorCodes.SERVER_UNAUTHENTICATED,
        message: `bearer token refused: ${(error as Error).message}`,
        retryable: false,
      });
    }
    const scope = auth.scopes[access];
    if (!principal.scopes.has(scope)) {
      logger.warn({ route, subject: principal.subject, scope }, 'admin API: token lacks the scope');
      return refuse(reply, 403, `Bearer realm="ferry", error="insufficient_scope", scope="${scope}"`, {
        code: ServerErrorCodes.SERVER_FORBIDDEN,
        message: `this route needs the scope ${scope}`,
        retryable: false,
      });
    }
    request.principal = principal;
  });
}
