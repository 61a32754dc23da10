// Turns what ssh2, ssh2-sftp-client, Node's sockets and the file parsers throw into FerryErrors with stable
// SFTP_* codes: core's classifier kit walks the cause chain and judges Node's network codes; this file holds
// only the SFTP rules and how the messages read.
import {
  createErrorClassifier,
  type ErrorLink,
  type ErrorRule,
  FerryError,
  networkVerdict,
} from '@ferry/core/sdk';

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

const NETWORK = { connection: SftpErrorCodes.SFTP_CONNECTION_FAILED, timeout: SftpErrorCodes.SFTP_TIMEOUT };
const C = SftpErrorCodes;

/** The SFTP table: [does it match this link of the cause chain, code, retryable, what to do], in order. */
const table: [(link: ErrorLink) => boolean, SftpErrorCode, boolean, string][] = [
  // ssh2 reads the key before connecting: a key it cannot parse or decrypt is the pipeline file's mistake.
  [
    (l) =>
      /cannot parse privatekey|no passphrase given|bad passphrase|encrypted private .*key/i.test(l.message),
    C.SFTP_KEY_INVALID,
    false,
    'source.connection.privateKey/privateKeyPath must be an OpenSSH or PEM private key, and passphrase must decrypt it',
  ],
  [
    (l) =>
      l.prop('level') === 'client-authentication' ||
      l.code === 'ERR_BAD_AUTH' ||
      /authentication methods failed/i.test(l.message),
    C.SFTP_AUTH_FAILED,
    false,
    'check username, key, passphrase or password',
  ],
  [
    (l) => /host denied|verification failed/i.test(l.message),
    C.SFTP_HOST_KEY_MISMATCH,
    false,
    'the server host key was not accepted; check knownHosts or hostKeyFingerprint',
  ],
  [
    (l) => l.prop('level') === 'client-timeout' || /timed out/i.test(l.message),
    C.SFTP_TIMEOUT,
    true,
    'will retry',
  ],
  // SFTP status codes arrive as numbers: 2 is NO_SUCH_FILE, 3 PERMISSION_DENIED.
  [
    (l) => l.code === 'ENOENT' || l.code === '2' || /no such file/i.test(l.message),
    C.SFTP_NO_SUCH_FILE,
    false,
    'check the path and that the file was not moved away',
  ],
  [
    (l) => l.code === 'EACCES' || l.code === '3' || /permission denied/i.test(l.message),
    C.SFTP_PERMISSION_DENIED,
    false,
    'grant the SFTP user access to this path',
  ],
];

const rules: ErrorRule<SftpErrorCode>[] = [
  ...table.map(
    ([matches, code, retryable, hint]): ErrorRule<SftpErrorCode> =>
      (link) =>
        matches(link) ? { code, retryable, hint } : undefined,
  ),
  // ssh2's socket errors and ssh2-sftp-client's lost sessions: Node's verdict when the socket says more (an
  // unknown host name is not retryable), otherwise a dropped connection.
  (link) =>
    link.code === 'ERR_NOT_CONNECTED' ||
    link.prop('level') === 'client-socket' ||
    /unexpected (end|close)|not connected|no sftp connection|connection lost/i.test(link.message)
      ? (networkVerdict(link, NETWORK) ?? {
          code: C.SFTP_CONNECTION_FAILED,
          retryable: true,
          hint: 'will retry',
        })
      : undefined,
];

/** Classify anything an SFTP call threw. FerryErrors (also inside a cause chain) pass through unchanged. */
export const classifySftpError = createErrorClassifier<SftpErrorCode, SftpErrorContext>({
  rules,
  network: NETWORK,
  fallback: { code: C.SFTP_OPERATION_FAILED, retryable: false, hint: 'see the cause' },
  build({ verdict, link, chain, error }, context) {
    const outer = chain[0];
    const found = link ?? outer;
    let text = outer?.message ?? String(error);
    // A wrapped cause the outer message does not repeat is what a person needs to read.
    if (link !== undefined && link !== outer && !text.includes(link.message)) text += `: ${link.message}`;
    const where = [context.operation, context.path, context.target && `on ${context.target}`]
      .filter(Boolean)
      .join(' ');
    const level = found?.prop('level');
    const details = {
      ...context,
      ...(found?.code === undefined ? {} : { nativeCode: found.code }),
      ...(typeof level === 'string' ? { level } : {}),
    };
    const message = `${where ? `${where}: ` : ''}${text} (${verdict.hint ?? 'see the cause'})`;
    return new SftpError(verdict.code, message, { retryable: verdict.retryable, cause: error, details });
  },
});
