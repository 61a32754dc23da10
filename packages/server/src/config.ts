// The admin API's own YAML file (`ferry serve --config admin.yaml`): where it listens, how callers prove who
// they are, and TLS. Mistakes are ConfigErrors naming the file, the line and the path (`auth.audience`).
import { access } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError, type ConfigIssue, parseConfigYaml, readConfigFile, zodConfigIssues } from '@ferry/core';
import { z } from 'zod';

/** Asymmetric JWS algorithms only: a JWKS publishes public keys, so a shared-secret algorithm is forgeable. */
const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

const algorithmSchema = z.string().superRefine((alg, ctx) => {
  if (alg.toLowerCase() === 'none') {
    ctx.addIssue({ code: 'custom', message: "'none' means an unsigned token: anyone could write one" });
  } else if (/^HS\d+$/i.test(alg)) {
    ctx.addIssue({
      code: 'custom',
      message: `${alg} is a shared-secret algorithm: a token "signed" with the public key from the JWKS would pass`,
    });
  } else if (!(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) {
    ctx.addIssue({ code: 'custom', message: `expected one of ${ASYMMETRIC_ALGORITHMS.join(', ')}` });
  }
});

const httpUrl = z
  .url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
  .describe('Where the issuer publishes its JSON Web Key Set.');

/** OAuth2 bearer tokens checked against an issuer's JWKS: also the read API's (`@ferry/api`). */
export const oauth2Schema = z
  .object({
    mode: z.literal('oauth2'),
    issuer: z.string().min(1).describe('Expected `iss` claim, exactly as the issuer writes it.'),
    jwksUri: httpUrl,
    audience: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
        error: 'expected a string or a non-empty list of strings',
      })
      .describe('Expected `aud` claim: the token must name at least one of these.'),
    algorithms: z
      .array(algorithmSchema)
      .min(1)
      .default(['RS256', 'PS256', 'ES256', 'EdDSA'])
      .describe('Signature algorithms accepted (asymmetric only).'),
    clockToleranceSeconds: z
      .number()
      .int()
      .min(0)
      .max(300)
      .default(30)
      .describe('Clock skew allowed when checking `exp` and `nbf`.'),
    scopes: z
      .object({
        read: z.string().min(1).default('ferry:read').describe('Scope needed by the read routes.'),
        operate: z.string().min(1).default('ferry:operate').describe('Scope needed by the operate routes.'),
      })
      .strict()
      .default({ read: 'ferry:read', operate: 'ferry:operate' }),
    publicMetrics: z
      .boolean()
      .default(false)
      .describe('Serve /metrics without a token (for a Prometheus that cannot fetch tokens).'),
  })
  .strict();

const noneSchema = z
  .object({
    mode: z.literal('none'),
    acknowledgeUnauthenticated: z.literal(true, {
      error:
        'must be true: with auth.mode none anyone who can reach the port can pause pipelines, reset offsets and replay dead letters; set it only on a machine nobody else can reach',
    }),
  })
  .strict();

const tlsSchema = z
  .object({
    cert: z.string().min(1).describe('PEM certificate chain of the server, relative to the config file.'),
    key: z.string().min(1).describe('PEM private key of the server, relative to the config file.'),
    ca: z.string().min(1).optional().describe('PEM CA bundle that client certificates must chain to (mTLS).'),
    clientCertificate: z
      .enum(['off', 'require'])
      .default('off')
      .describe('`require`: refuse any connection without a client certificate signed by `ca`.'),
  })
  .strict()
  .superRefine((tls, ctx) => {
    if (tls.clientCertificate === 'require' && tls.ca === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['ca'],
        message: 'required when clientCertificate is require: the CA that signs client certificates',
      });
    }
  });

export const serverConfigSchema = z
  .object({
    listen: z
      .object({
        host: z.string().min(1).default('127.0.0.1').describe('Interface to listen on.'),
        port: z.number().int().min(0).max(65_535).default(9464).describe('TCP port (0: any free port).'),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 9464 }),
    auth: z
      .discriminatedUnion('mode', [oauth2Schema, noneSchema], {
        error: (issue) =>
          issue.code === 'invalid_union'
            ? "expected mode 'oauth2' or 'none'"
            : "expected an object with mode 'oauth2' or 'none'",
      })
      .describe('How callers are authenticated; there is no default.'),
    tls: tlsSchema.optional().describe('Serve https; with clientCertificate require, also mTLS.'),
  })
  .strict();

export type ServerConfig = z.output<typeof serverConfigSchema>;

/** Read and validate the admin config; TLS file paths come back absolute and are checked to be readable. */
export async function loadServerConfig(file: string): Promise<ServerConfig> {
  const { path, text } = await readConfigFile(file);
  const document = parseConfigYaml(text, path);
  const issue = (keys: readonly PropertyKey[], message: string): ConfigIssue => document.issue(keys, message);

  const data: unknown = document.data ?? {};
  const references = findReferences(data, []);
  if (references.length > 0) {
    throw new ConfigError(
      path,
      references.map((keys) =>
        issue(
          keys,
          '${env:…} and ${file:…} references are not supported in the admin config; write the value',
        ),
      ),
    );
  }
  const parsed = serverConfigSchema.safeParse(data);
  if (!parsed.success) {
    throw new ConfigError(
      path,
      zodConfigIssues(parsed.error, serverConfigSchema, data, (keys, message, at) =>
        document.issue(keys, message, at),
      ),
    );
  }
  const config = parsed.data;
  if (config.tls === undefined) return config;

  const base = dirname(path);
  const tls = {
    ...config.tls,
    cert: resolve(base, config.tls.cert),
    key: resolve(base, config.tls.key),
    ...(config.tls.ca === undefined ? {} : { ca: resolve(base, config.tls.ca) }),
  };
  const unreadable: ConfigIssue[] = [];
  for (const field of ['cert', 'key', 'ca'] as const) {
    const target = tls[field];
    if (target === undefined) continue;
    try {
      await access(target);
    } catch (error) {
      unreadable.push(
        issue(['tls', field], `cannot read ${target} (${(error as NodeJS.ErrnoException).code})`),
      );
    }
  }
  if (unreadable.length > 0) throw new ConfigError(path, unreadable, 'CONFIG_FILE_NOT_FOUND');
  return { ...config, tls };
}

function findReferences(value: unknown, path: (string | number)[]): (string | number)[][] {
  if (typeof value === 'string') return /\$\{(env|file):/.test(value) ? [path] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => findReferences(v, [...path, i]));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => findReferences(v, [...path, k]));
  }
  return [];
}
