// The admin config file: defaults, and every mistake reported as a ConfigError naming the file, the line and
// the path inside it, with what was expected.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@ferry/core';
import { afterAll, describe, expect, it } from 'vitest';
import { loadServerConfig } from '../../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-admin-config-'));
let counter = 0;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(text: string): string {
  counter += 1;
  const file = join(dir, `admin-${counter}.yaml`);
  writeFileSync(file, text);
  return file;
}

const oauth2 = [
  'auth:',
  '  mode: oauth2',
  '  issuer: https://login.example.test/realms/ferry',
  '  jwksUri: https://login.example.test/realms/ferry/certs',
  '  audience: ferry-admin',
].join('\n');

async function configError(text: string): Promise<ConfigError> {
  const file = write(text);
  const error = await loadServerConfig(file).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).file).toBe(file);
  return error as ConfigError;
}

describe('loadServerConfig', () => {
  it('fills in the defaults', async () => {
    expect(await loadServerConfig(write(oauth2))).toEqual({
      listen: { host: '127.0.0.1', port: 9464 },
      auth: {
        mode: 'oauth2',
        issuer: 'https://login.example.test/realms/ferry',
        jwksUri: 'https://login.example.test/realms/ferry/certs',
        audience: 'ferry-admin',
        algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
        clockToleranceSeconds: 30,
        scopes: { read: 'ferry:read', operate: 'ferry:operate' },
        publicMetrics: false,
      },
    });
  });

  it('names the path and the line of a missing audience', async () => {
    const error = await configError(oauth2.replace('  audience: ferry-admin', ''));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues).toEqual([expect.objectContaining({ path: 'auth.audience', line: 2 })]);
    expect(error.message).toMatch(
      /admin-\d+\.yaml:2:\d+ auth\.audience: expected a string or a non-empty list of strings/,
    );
  });

  it.each([
    ['none', /unsigned token/],
    ['HS256', /HS256 is a shared-secret algorithm/],
    ['RS1', /expected one of RS256/],
  ])('refuses the algorithm %s', async (alg, message) => {
    const error = await configError(`${oauth2}\n  algorithms: [RS256, ${alg}]`);
    expect(error.issues).toEqual([expect.objectContaining({ path: 'auth.algorithms[1]', line: 6 })]);
    expect(error.issues[0]!.message).toMatch(message);
  });

  it.each([
    [
      'a clock tolerance over five minutes',
      '  clockToleranceSeconds: 600',
      'auth.clockToleranceSeconds',
      /<=300/,
    ],
    [
      'a JWKS that is not http(s)',
      '  jwksUri: ftp://login.example.test/certs',
      'auth.jwksUri',
      /http\(s\) URL/,
    ],
    ['an empty audience list', '  audience: []', 'auth.audience', />=1 items/],
    ['an unknown option', '  scope: ferry', 'auth.scope', /unknown option 'scope'; did you mean 'scopes'\?/],
  ])('refuses %s', async (_case, line, path, message) => {
    const text =
      line.includes('jwksUri') || line.includes('audience')
        ? oauth2.replace(new RegExp(`  ${line.trim().split(':')[0]}: .*`), line)
        : `${oauth2}\n${line}`;
    const error = await configError(text);
    expect(error.issues).toEqual([expect.objectContaining({ path })]);
    expect(error.issues[0]!.message).toMatch(message);
  });

  it('wants an explicit acknowledgement before running without auth', async () => {
    for (const extra of [
      '',
      '\n  acknowledgeUnauthenticated: yes',
      '\n  acknowledgeUnauthenticated: false',
    ]) {
      const error = await configError(`auth:\n  mode: none${extra}`);
      expect(error.issues).toEqual([expect.objectContaining({ path: 'auth.acknowledgeUnauthenticated' })]);
      expect(error.issues[0]!.message).toMatch(/must be true: .*anyone who can reach the port/);
    }
    const config = await loadServerConfig(write('auth:\n  mode: none\n  acknowledgeUnauthenticated: true'));
    expect(config.auth).toEqual({ mode: 'none', acknowledgeUnauthenticated: true });
  });

  it('has no default auth mode', async () => {
    expect((await configError('listen:\n  port: 9000')).issues).toEqual([
      expect.objectContaining({ path: 'auth', message: expect.stringMatching(/mode 'oauth2' or 'none'/) }),
    ]);
    expect((await configError('auth:\n  mode: basic')).issues).toEqual([
      expect.objectContaining({ path: 'auth.mode', message: expect.stringMatching(/'oauth2' or 'none'/) }),
    ]);
  });

  it('resolves TLS files next to the config file and checks they exist', async () => {
    writeFileSync(join(dir, 'server.crt'), 'cert');
    writeFileSync(join(dir, 'server.key'), 'key');
    const config = await loadServerConfig(write(`${oauth2}\ntls:\n  cert: server.crt\n  key: ./server.key`));
    expect(config.tls).toEqual({
      cert: join(dir, 'server.crt'),
      key: join(dir, 'server.key'),
      clientCertificate: 'off',
    });
    const missing = await configError(`${oauth2}\ntls:\n  cert: server.crt\n  key: nowhere.key`);
    expect(missing.code).toBe('CONFIG_FILE_NOT_FOUND');
    expect(missing.issues).toEqual([
      expect.objectContaining({
        path: 'tls.key',
        line: 8,
        message: expect.stringMatching(/nowhere\.key \(ENOENT\)/),
      }),
    ]);
  });

  it('wants the client CA when client certificates are required', async () => {
    const error = await configError(
      `${oauth2}\ntls:\n  cert: a.crt\n  key: a.key\n  clientCertificate: require`,
    );
    expect(error.issues).toEqual([
      expect.objectContaining({ path: 'tls.ca', message: expect.stringMatching(/CA/) }),
    ]);
  });

  it('refuses ${env:…} references rather than using them literally', async () => {
    const error = await configError(oauth2.replace('ferry-admin', '${env:FERRY_AUDIENCE}'));
    expect(error.issues).toEqual([
      expect.objectContaining({ path: 'auth.audience', message: expect.stringMatching(/not supported/) }),
    ]);
  });

  it('reports an unreadable file and bad YAML with their own codes', async () => {
    const absent = await loadServerConfig(join(dir, 'absent.yaml')).catch((e: unknown) => e);
    expect(absent).toMatchObject({ code: 'CONFIG_FILE_NOT_FOUND', file: join(dir, 'absent.yaml') });
    const syntax = await configError('auth:\n  mode: oauth2\n  mode: none');
    expect(syntax.code).toBe('CONFIG_YAML_SYNTAX');
    expect(syntax.issues[0]).toMatchObject({ line: 3 });
  });
});
