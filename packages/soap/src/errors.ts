// Turns what a SOAP call can fail with (sockets, HTTP statuses, SOAP 1.1/1.2 faults, hostile or oversized XML,
// node-soap's WSDL errors, which are sometimes plain objects rather than Errors) into FerryErrors with stable
// codes and a verdict on whether retrying can help. The runtime retries; this package never does.
import { FerryError, isFerryError, isProgrammerError, TRANSIENT_NETWORK_CODES } from '@ferry/core/sdk';

export const SoapErrorCodes = {
  /** The WSDL (or one of its imports) could not be read or understood. */
  SOAP_WSDL_FAILED: 'SOAP_WSDL_FAILED',
  /** The configured service, port or operation is not in the WSDL. */
  SOAP_OPERATION_NOT_FOUND: 'SOAP_OPERATION_NOT_FOUND',
  /** The service could not be reached or dropped the connection (retryable). */
  SOAP_CONNECTION_FAILED: 'SOAP_CONNECTION_FAILED',
  /** No complete answer within timeoutMs (retryable). */
  SOAP_TIMEOUT: 'SOAP_TIMEOUT',
  /** An HTTP error status without a SOAP fault: 5xx, 408 and 429 are retryable, other 4xx are not. */
  SOAP_HTTP_ERROR: 'SOAP_HTTP_ERROR',
  /** HTTP 401 or 403: the credentials were refused. */
  SOAP_AUTH_FAILED: 'SOAP_AUTH_FAILED',
  /** A SOAP Server (1.1) or Receiver (1.2) fault: the service failed, the request may succeed later (retryable). */
  SOAP_FAULT_SERVER: 'SOAP_FAULT_SERVER',
  /** A SOAP Client (1.1) or Sender (1.2) fault: the request itself is wrong. */
  SOAP_FAULT_CLIENT: 'SOAP_FAULT_CLIENT',
  /** Any other SOAP fault (VersionMismatch, MustUnderstand, DataEncodingUnknown). */
  SOAP_FAULT: 'SOAP_FAULT',
  /** The response carries a DOCTYPE or entity declaration (XXE, entity expansion): refused unparsed. */
  SOAP_XML_FORBIDDEN: 'SOAP_XML_FORBIDDEN',
  /** The response is larger than maxResponseBytes or nests deeper than allowed. */
  SOAP_RESPONSE_TOO_LARGE: 'SOAP_RESPONSE_TOO_LARGE',
  /** The response is not a SOAP envelope (malformed XML, no Body, HTML). */
  SOAP_RESPONSE_INVALID: 'SOAP_RESPONSE_INVALID',
  /** TLS material could not be read, or the TLS handshake failed (certificate not trusted, client certificate refused). */
  /** A configured private key (security.keyFile, tls.keyFile) cannot be used: not a key, or the passphrase does not decrypt it. */
  SOAP_KEY_INVALID: 'SOAP_KEY_INVALID',
  SOAP_TLS_FAILED: 'SOAP_TLS_FAILED',
  /** The circuit breaker is open after repeated failures; calls resume after its cooldown (retryable). */
  SOAP_CIRCUIT_OPEN: 'SOAP_CIRCUIT_OPEN',
  /** Pagination did not end: a next-page token repeated or maxPages was reached. */
  SOAP_PAGINATION_LOOP: 'SOAP_PAGINATION_LOOP',
  /** A record lacks a key or watermark field (the record goes to the dead-letter sink). */
  SOAP_RECORD_INVALID: 'SOAP_RECORD_INVALID',
  /** The saved checkpoint is not a position this source wrote. */
  SOAP_POSITION_INVALID: 'SOAP_POSITION_INVALID',
} as const;

export type SoapErrorCode = (typeof SoapErrorCodes)[keyof typeof SoapErrorCodes];

/** Where a SOAP error happened; every field optional so each caller says what it knows. */
export interface SoapErrorContext {
  /** The operation called, as `Service.Port.Operation` or the operation name. */
  operation?: string;
  /** The endpoint URL (credentials never appear in it). */
  endpoint?: string;
  /** What Ferry was doing: `wsdl`, `call`, `discover`, `probe`. */
  phase?: string;
}

export class SoapError extends FerryError {
  override readonly name = 'SoapError';
}

/** An HTTP status that came back without a SOAP fault in its body. */
export interface HttpStatusFailure {
  kind: 'http';
  status: number;
  /** Retry-After header as sent (seconds or an HTTP date). */
  retryAfter?: string | undefined;
  /** The first bytes of the body, for the message. */
  bodySnippet?: string;
}

/** A SOAP fault parsed from a response, in either SOAP version. */
export interface SoapFaultFailure {
  kind: 'fault';
  /** The fault code as sent, e.g. `soap:Server`, `env:Sender`. */
  code: string;
  /** SOAP 1.2 Subcode value, if any. */
  subcode?: string;
  reason: string;
  status?: number;
  retryAfter?: string | undefined;
}

type Verdict = { code: SoapErrorCode; retryable: boolean };

const RETRYABLE_NETWORK = new Set([
  ...TRANSIENT_NETWORK_CODES,
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

// Certificate verification failures and handshake alerts (a refused client certificate).
const TLS_CODES =
  /^(ERR_TLS_|ERR_SSL_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|CERT_|HOSTNAME_MISMATCH)/;

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object';
}

function isHttpFailure(value: unknown): value is HttpStatusFailure {
  return isObject(value) && value.kind === 'http' && typeof value.status === 'number';
}

function isFaultFailure(value: unknown): value is SoapFaultFailure {
  return isObject(value) && value.kind === 'fault' && typeof value.code === 'string';
}

/** Milliseconds to wait from a Retry-After header (delta-seconds or HTTP date); undefined when absent or bad. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** The fault code without its namespace prefix: `soap:Server.Busy` -> `Server.Busy`. */
function localFaultCode(code: string): string {
  const colon = code.lastIndexOf(':');
  return colon === -1 ? code : code.slice(colon + 1);
}

function faultVerdict(fault: SoapFaultFailure): Verdict {
  // SOAP 1.1 allows dotted refinements ("Server.Database"); the part before the first dot decides.
  const head = localFaultCode(fault.code).split('.')[0]?.toLowerCase();
  if (head === 'server' || head === 'receiver')
    return { code: SoapErrorCodes.SOAP_FAULT_SERVER, retryable: true };
  if (head === 'client' || head === 'sender')
    return { code: SoapErrorCodes.SOAP_FAULT_CLIENT, retryable: false };
  return { code: SoapErrorCodes.SOAP_FAULT, retryable: false };
}

function httpVerdict(status: number): Verdict {
  if (status === 401 || status === 403) return { code: SoapErrorCodes.SOAP_AUTH_FAILED, retryable: false };
  // 408 and 429 are the server asking for a later attempt, not a wrong request.
  if (status >= 500 || status === 408 || status === 429) {
    return { code: SoapErrorCodes.SOAP_HTTP_ERROR, retryable: true };
  }
  return { code: SoapErrorCodes.SOAP_HTTP_ERROR, retryable: false };
}

function nativeCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && isObject(current); depth += 1) {
    if (typeof current.code === 'string') return current.code;
    if (Array.isArray(current.errors) && current.errors.length > 0) {
      current = current.errors[0];
      continue;
    }
    current = current.cause;
  }
  return undefined;
}

function textOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (isObject(error)) {
    // node-soap rejects some XML with a plain object: its text sits in message, Fault or root.
    for (const key of ['message', 'faultstring', 'reason', 'body']) {
      const value = error[key];
      if (typeof value === 'string' && value !== '') return value;
    }
    try {
      return JSON.stringify(error).slice(0, 300);
    } catch {
      return String(error);
    }
  }
  return String(error);
}

/**
 * Classify anything a SOAP call threw or produced. FerryErrors pass through unchanged; plain objects
 * (node-soap's XML rejections), HTTP statuses and parsed faults become SoapErrors.
 */
export function classifySoapError(error: unknown, context: SoapErrorContext = {}): FerryError {
  if (isFerryError(error)) return error;
  const where = describe(context);
  const details: Record<string, unknown> = { ...context };

  if (isFaultFailure(error)) {
    const verdict = faultVerdict(error);
    details.faultCode = error.code;
    if (error.subcode !== undefined) details.faultSubcode = error.subcode;
    if (error.status !== undefined) details.status = error.status;
    const retryAfterMs = parseRetryAfter(error.retryAfter);
    const sub = error.subcode === undefined ? '' : ` (subcode ${error.subcode})`;
    const advice = verdict.retryable
      ? ' The service failed; Ferry retries with backoff.'
      : verdict.code === 'SOAP_FAULT_CLIENT'
        ? ' The service rejected the request: check the operation arguments in the pipeline file.'
        : '';
    return new SoapError(
      verdict.code,
      `SOAP fault ${error.code}${sub} from ${where}: ${error.reason}.${advice}`,
      { retryable: verdict.retryable, details, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
    );
  }

  if (isHttpFailure(error)) {
    const verdict = httpVerdict(error.status);
    details.status = error.status;
    const retryAfterMs = parseRetryAfter(error.retryAfter);
    const snippet = error.bodySnippet ? `: ${error.bodySnippet.slice(0, 200)}` : '';
    const advice =
      verdict.code === 'SOAP_AUTH_FAILED'
        ? ' Check the security settings (username, password) of the source.'
        : verdict.retryable
          ? ' Ferry retries with backoff.'
          : ' Check the endpoint and the operation.';
    return new SoapError(verdict.code, `HTTP ${error.status} from ${where}${snippet}.${advice}`, {
      retryable: verdict.retryable,
      details,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }

  const code = nativeCode(error);
  const text = textOf(error);
  if (code !== undefined) details.nativeCode = code;
  if (isProgrammerError(error)) {
    return new SoapError(SoapErrorCodes.SOAP_RESPONSE_INVALID, `${where}: ${text}`, {
      cause: error,
      details,
    });
  }
  if (code === 'ETIMEDOUT' && /timed out|timeout/i.test(text)) {
    return new SoapError(
      SoapErrorCodes.SOAP_TIMEOUT,
      `no answer from ${where} in time (${text}). Ferry retries.`,
      {
        retryable: true,
        cause: error,
        details,
      },
    );
  }
  if (code !== undefined && RETRYABLE_NETWORK.has(code)) {
    return new SoapError(
      SoapErrorCodes.SOAP_CONNECTION_FAILED,
      `cannot use the connection to ${where} (${code}: ${text}). Check that the service is running; Ferry retries.`,
      { retryable: true, cause: error, details },
    );
  }
  if (code !== undefined && TLS_CODES.test(code)) {
    return new SoapError(
      SoapErrorCodes.SOAP_TLS_FAILED,
      `TLS with ${where} failed (${code}: ${text}). Check tls.caFile, tls.certFile and tls.keyFile.`,
      { cause: error, details },
    );
  }
  if (code === 'ENOTFOUND' || code === 'ERR_INVALID_URL') {
    return new SoapError(
      SoapErrorCodes.SOAP_CONNECTION_FAILED,
      `cannot reach ${where} (${code}: ${text}). Check the endpoint or the WSDL address.`,
      { cause: error, details },
    );
  }
  if (/DOCTYPE|ENTITY/i.test(text)) {
    return new SoapError(
      SoapErrorCodes.SOAP_XML_FORBIDDEN,
      `${where} sent XML with a DOCTYPE or entity declaration, which Ferry refuses (XXE and entity expansion): ${text}`,
      { cause: error, details },
    );
  }
  if (context.phase === 'wsdl') {
    return new SoapError(SoapErrorCodes.SOAP_WSDL_FAILED, `cannot load the WSDL ${where}: ${text}`, {
      cause: error,
      details,
    });
  }
  return new SoapError(SoapErrorCodes.SOAP_RESPONSE_INVALID, `unusable answer from ${where}: ${text}`, {
    cause: error,
    details,
  });
}

function describe(context: SoapErrorContext): string {
  const op = context.operation === undefined ? 'the SOAP service' : `operation ${context.operation}`;
  return context.endpoint === undefined ? op : `${op} at ${context.endpoint}`;
}
