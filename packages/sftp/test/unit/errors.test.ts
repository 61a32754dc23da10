// classifySftpError: which native failures are retryable and which code each gets; and how the transport's
// timeouts read.
import { FerryError, silentLogger } from '@ferry/core/sdk';
import { describe, expect, it } from 'vitest';
import { classifySftpError, sftpSourceConfigSchema } from '../../src/index.js';
import { SftpConnection } from '../../src/internal/transport.js';

const err = (message: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), extra);

describe('classifySftpError', () => {
  it.each([
    ['ECONNRESET', err('read ECONNRESET', { code: 'ECONNRESET' }), 'SFTP_CONNECTION_FAILED', true],
    ['ECONNREFUSED', err('connect ECONNREFUSED', { code: 'ECONNREFUSED' }), 'SFTP_CONNECTION_FAILED', true],
    ['socket level', err('socket hang up', { level: 'client-socket' }), 'SFTP_CONNECTION_FAILED', true],
    [
      'unexpected close',
      err('get: Unexpected close event', { code: 'ERR_GENERIC_CLIENT' }),
      'SFTP_CONNECTION_FAILED',
      true,
    ],
    [
      'handshake timeout',
      err('Timed out while waiting for handshake', { level: 'client-timeout' }),
      'SFTP_TIMEOUT',
      true,
    ],
    [
      'auth',
      err('All configured authentication methods failed', { level: 'client-authentication' }),
      'SFTP_AUTH_FAILED',
      false,
    ],
    ['host key', err('Host denied (verification failed)'), 'SFTP_HOST_KEY_MISMATCH', false],
    ['no such file', err('_xstat: No such file: /x', { code: 'ENOENT' }), 'SFTP_NO_SUCH_FILE', false],
    ['permission', err('rename: Permission denied /x', { code: 3 }), 'SFTP_PERMISSION_DENIED', false],
    [
      'unknown host',
      err('getaddrinfo ENOTFOUND nowhere', { code: 'ENOTFOUND' }),
      'SFTP_CONNECTION_FAILED',
      false,
    ],
    ['unparsable key', err('Cannot parse privateKey: Unsupported key format'), 'SFTP_KEY_INVALID', false],
    [
      'encrypted key, no passphrase',
      err('Cannot parse privateKey: Encrypted private OpenSSH key detected, but no passphrase given'),
      'SFTP_KEY_INVALID',
      false,
    ],
    ['other', err('Failure'), 'SFTP_OPERATION_FAILED', false],
    ['programmer error', new TypeError('x is not a function'), 'SFTP_OPERATION_FAILED', false],
  ])('%s', (_name, error, code, retryable) => {
    const classified = classifySftpError(error, { operation: 'list', path: '/upload', target: 'u@h:22' });
    expect(classified).toMatchObject({ code, retryable });
    expect(classified.message).toContain('list /upload on u@h:22');
  });

  it('passes FerryErrors through', () => {
    const original = new FerryError('SFTP_HOST_KEY_UNKNOWN', 'x');
    expect(classifySftpError(original)).toBe(original);
  });

  // Judged by core's kit since the move to it: causes are walked, Node's codes mean the same everywhere.
  it.each([
    [
      'a reset wrapped by ssh2-sftp-client',
      new Error('list: failed', { cause: err('read ECONNRESET', { code: 'ECONNRESET' }) }),
      'SFTP_CONNECTION_FAILED',
      true,
    ],
    [
      'a missing file inside an AggregateError',
      new AggregateError([err('No such file', { code: 2 })], 'rename failed'),
      'SFTP_NO_SUCH_FILE',
      false,
    ],
    [
      'an unknown host reported at socket level',
      err('getaddrinfo ENOTFOUND nowhere', { code: 'ENOTFOUND', level: 'client-socket' }),
      'SFTP_CONNECTION_FAILED',
      false,
    ],
    ['a socket timeout', err('connect ETIMEDOUT', { code: 'ETIMEDOUT' }), 'SFTP_TIMEOUT', true],
    [
      'no connection',
      err('list: No SFTP connection', { code: 'ERR_NOT_CONNECTED' }),
      'SFTP_CONNECTION_FAILED',
      true,
    ],
  ])('%s', (_name, error, code, retryable) => {
    expect(classifySftpError(error, { operation: 'list' })).toMatchObject({ code, retryable });
  });

  it('finds a FerryError inside a cause chain and names a wrapped cause in the message', () => {
    const inner = new FerryError('SFTP_HOST_KEY_MISMATCH', 'changed key');
    expect(classifySftpError(new Error('connect failed', { cause: inner }))).toBe(inner);
    const wrapped = classifySftpError(
      new Error('download failed', { cause: err('_get: Permission denied', { code: 3 }) }),
      { operation: 'download', path: '/x.csv' },
    );
    expect(wrapped.message).toBe(
      'download /x.csv: download failed: _get: Permission denied (grant the SFTP user access to this path)',
    );
    expect(wrapped).toMatchObject({ details: { nativeCode: '3', operation: 'download' } });
  });
});

describe('SftpConnection timeouts', () => {
  it('say what timed out without gaps where no path applies (a connect)', async () => {
    const { connection } = sftpSourceConfigSchema.parse({
      connection: {
        host: '127.0.0.1',
        username: 'ferry',
        password: 'x',
        hostKeyFingerprint: `SHA256:${'A'.repeat(43)}`,
      },
      paths: ['/upload/*.csv'],
      format: { type: 'csv' },
      key: ['id'],
    });
    const conn = new SftpConnection(connection, '/tmp', silentLogger());
    const never = () => new Promise<never>(() => undefined);
    const connect = await conn.withTimeout('connect', undefined, 5, never).catch((e: unknown) => e);
    expect(connect).toMatchObject({ code: 'SFTP_TIMEOUT', retryable: true });
    expect((connect as Error).message).toBe('connect on ferry@127.0.0.1:22 timed out after 5 ms');
    const list = await conn.withTimeout('list', '/upload', 5, never).catch((e: unknown) => e);
    expect((list as Error).message).toBe('list /upload on ferry@127.0.0.1:22 timed out after 5 ms');
  });
});
