// Turns what ssh2, ssh2-sftp-client, Node's sockets and the file parsers throw into FerryErrors with stable
// SFTP_* codes, saying whether retrying can help and what a person should do.
import { FerryError, isFerryError, isProgrammerError } from '@ferry/core/sdk';

export const SftpErrorCodes = {
  /** The server cannot be reached, or the connection dropped (retryable). */
  SFTP_CONNECTION_FAILED: 'SFTP_CONNECTION_FAILED',
  /** A connect or a file operation took longer than its timeout (retryable). */
  SFTP_TIMEOUT: 'SFTP_TIMEOUT',
  /** The server refused the user, password or key. */
  SFTP_AUTH_FAILED: 'SFTP_AUTH_FAILED',
  /** The configured private key cannot be read: not a key, or encrypted and the passphrase is missing or wrong. */
  SFTP_KEY_INVALID: 'SFTP_KEY_INVALID',
  /** The server's host key is not in known_hosts (and no fingerprint is pinned for it). */
  SFTP_HOST_KEY_UNKNOWN: 'SFTP_HOST_KEY_UNKNOWN',
  /** The server presented a host key different from the known or pinned one. */
  SFTP_HOST_KEY_MISMATCH: 'SFTP_HOST_KEY_MISMATCH',
  /** A configured directory or file does not exist on the server. */
  SFTP_NO_SUCH_FILE: 'SFTP_NO_SUCH_FILE',
  /** The SFTP user may not read, rename or delete a path. */
  SFTP_PERMISSION_DENIED: 'SFTP_PERMISSION_DENIED',
  /** The downloaded copy does not match the size, or the content changed while it was read (retryable). */
  SFTP_TRANSFER_CORRUPT: 'SFTP_TRANSFER_CORRUPT',
  /** Any other failure of an SFTP operation. */
  SFTP_OPERATION_FAILED: 'SFTP_OPERATION_FAILED',
  /** Row-level: a CSV row whose column count differs from the header (dead letter). */
  CSV_COLUMN_COUNT: 'CSV_COLUMN_COUNT',
  /** Row-level: a CSV row csv-parse could not read (quotes, record size) (dead letter). */
  CSV_PARSE_ERROR: 'CSV_PARSE_ERROR',
  /** Row-level: a fixed-width record too short, of unknown type, or with an unparseable value (dead letter). */
  FIXED_WIDTH_INVALID: 'FIXED_WIDTH_INVALID',
  /** Row-level: a JSON Lines line that is not a JSON object (dead letter). */
  JSONL_INVALID: 'JSONL_INVALID',
  /** Row-level: a row lacks a configured key column (dead letter). */
  SFTP_KEY_MISSING: 'SFTP_KEY_MISSING',
  /** File-level: the file failed its trailer count or rejection threshold and was moved to the error directory. */
  SFTP_FILE_REJECTED: 'SFTP_FILE_REJECTED',
  /** The saved checkpoint is not a position this source wrote. */
  SFTP_POSITION_INVALID: 'SFTP_POSITION_INVALID',
  /** The local state store (processed-file registry, diff state) cannot be used. */
  SFTP_STATE_FAILED: 'SFTP_STATE_FAILED',
} as const;

export type SftpErrorCode = (typeof SftpErrorCodes)[keyof typeof SftpErrorCodes];

export interface SftpErrorContext {
  /** What Ferry was doing: `connect`, `list`, `stat`, `download`, `rename`. */
  operation?: string;
  /** The remote path concerned. */
  path?: string;
  /** `user@host:port`, never a secret. */
  target?: string;
}

export class SftpError extends FerryError {
  override readonly name = 'SftpError';
}

const RETRYABLE_NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ECONNABORTED',
  'EAI_AGAIN',
  'ERR_NOT_CONNECTED',
]);

type Verdict = { code: SftpErrorCode; retryable: boolean; hint: string };

/** Classify anything an SFTP call threw. FerryErrors pass through unchanged. */
export function classifySftpError(error: unknown, context: SftpErrorContext = {}): FerryError {
  if (isFerryError(error)) return error;
  const record = error !== null && typeof error === 'object' ? (error as Record<string, unknown>) : {};
  const code = typeof record.code === 'string' || typeof record.code === 'number' ? String(record.code) : '';
  const level = typeof record.level === 'string' ? record.level : '';
  const text = error instanceof Error ? error.message : String(error);
  const verdict: Verdict = isProgrammerError(error)
    ? { code: SftpErrorCodes.SFTP_OPERATION_FAILED, retryable: false, hint: 'this is a bug in Ferry' }
    : classify(code, level, text);
  const where = [context.operation, context.path, context.target ? `on ${context.target}` : undefined]
    .filter(Boolean)
    .join(' ');
  const details: Record<string, unknown> = { ...context };
  if (code !== '') details.nativeCode = code;
  if (level !== '') details.level = level;
  return new SftpError(verdict.code, `${where ? `${where}: ` : ''}${text} (${verdict.hint})`, {
    retryable: verdict.retryable,
    cause: error,
    details,
  });
}

function classify(code: string, level: string, text: string): Verdict {
  // ssh2 reads the key before connecting: a key it cannot parse or decrypt is the pipeline file's mistake.
  if (/cannot parse privatekey|no passphrase given|bad passphrase|encrypted private .*key/i.test(text))
    return {
      code: SftpErrorCodes.SFTP_KEY_INVALID,
      retryable: false,
      hint: 'source.connection.privateKey/privateKeyPath must be an OpenSSH or PEM private key, and passphrase must decrypt it',
    };
  if (
    level === 'client-authentication' ||
    code === 'ERR_BAD_AUTH' ||
    /authentication methods failed/i.test(text)
  )
    return {
      code: SftpErrorCodes.SFTP_AUTH_FAILED,
      retryable: false,
      hint: 'check username, key, passphrase or password',
    };
  if (/host denied|verification failed/i.test(text))
    return {
      code: SftpErrorCodes.SFTP_HOST_KEY_MISMATCH,
      retryable: false,
      hint: 'the server host key was not accepted; check knownHosts or hostKeyFingerprint',
    };
  if (level === 'client-timeout' || /timed out/i.test(text))
    return { code: SftpErrorCodes.SFTP_TIMEOUT, retryable: true, hint: 'will retry' };
  if (code === 'ENOENT' || code === '2' || /no such file/i.test(text))
    return {
      code: SftpErrorCodes.SFTP_NO_SUCH_FILE,
      retryable: false,
      hint: 'check the path and that the file was not moved away',
    };
  if (code === 'EACCES' || code === '3' || /permission denied/i.test(text))
    return {
      code: SftpErrorCodes.SFTP_PERMISSION_DENIED,
      retryable: false,
      hint: 'grant the SFTP user access to this path',
    };
  if (code === 'ENOTFOUND')
    return { code: SftpErrorCodes.SFTP_CONNECTION_FAILED, retryable: false, hint: 'check the host name' };
  if (
    RETRYABLE_NETWORK.has(code) ||
    level === 'client-socket' ||
    /unexpected (end|close)|not connected|no sftp connection|connection lost/i.test(text)
  )
    return { code: SftpErrorCodes.SFTP_CONNECTION_FAILED, retryable: true, hint: 'will retry' };
  return { code: SftpErrorCodes.SFTP_OPERATION_FAILED, retryable: false, hint: 'see the cause' };
}
