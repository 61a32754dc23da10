// Turns what a SOAP call can fail with (sockets, HTTP statuses, SOAP 1.1/1.2 faults, hostile or oversized XML,
// node-soap's WSDL errors, which are sometimes plain objects rather than Errors) into FerryErrors with stable
// codes and a verdict on whether retrying can help. Core's classifier kit walks the cause chain, maps socket
// codes and timeouts and passes FerryErrors through; this file is the SOAP table. The runtime retries.
import {
  type Classified,
  createErrorClassifier,
  type ErrorLink,
  type ErrorRule,
  FerryError,
} from '@ferry/core/sdk';
import type { z } from 'zod';

export const SoapErrorCodes = {
  /** The WSDL (or one of its imports) could not be read or understood. */
  SOAP_WSDL_FAILED: 'SOAP_WSDL_FAILED',
  /** The configured service, port or operation is not in the WSDL. */
  SOAP_OPERATION_NOT_FOUND: 'SOAP_OPERATION_NOT_FOUND',
  /** The service could not be reached or dropped the connection (retryable). */
  SOAP_CONNECTION_FAILED: 'SOAP_CONNECTION_FAILED',
  /** The service stayed silent for timeoutMs: no response headers, or no further body bytes (retryable). */
  SOAP_TIMEOUT: 'SOAP_TIMEOUT',
  /** The service kept sending but did not finish its answer within deadlineMs (retryable). */
  SOAP_DEADLINE_EXCEEDED: 'SOAP_DEADLINE_EXCEEDED',
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
  /** A configured private key (security.keyFile, tls.keyFile) cannot be used: not a key, or the passphrase does not decrypt it. */
  SOAP_KEY_INVALID: 'SOAP_KEY_INVALID',
  /** TLS material could not be read, or the TLS handshake failed (certificate not trusted, client certificate refused). */
  SOAP_TLS_FAILED: 'SOAP_TLS_FAILED',
  /** Pagination did not end: a next-page token repeated or maxPages was reached. */
  SOAP_PAGINATION_LOOP: 'SOAP_PAGINATION_LOOP',
  /** A record lacks a key or watermark field (the record goes to the dead-letter sink). */
  SOAP_RECORD_INVALID: 'SOAP_RECORD_INVALID',
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

const C = SoapErrorCodes;

/** The `code` the client gives the error it cuts a call off with when deadlineMs has passed. */
export const DEADLINE_EXCEEDED = C.SOAP_DEADLINE_EXCEEDED;
const DEADLINE_HINT =
  'Ferry retries; if the service is only slow for large answers, raise deadlineMs or ask for smaller pages.';

// Certificate verification failures and handshake alerts (a refused client certificate).
const TLS_CODES =
  /^(ERR_TLS_|ERR_SSL_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|CERT_|HOSTNAME_MISMATCH)/;

/** Milliseconds to wait from a Retry-After header (delta-seconds or HTTP date); undefined when absent or bad. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

function retryAfterOf(link: ErrorLink): { retryAfterMs?: number } {
  const header = link.prop('retryAfter');
  const ms = parseRetryAfter(typeof header === 'string' ? header : undefined);
  return ms === undefined ? {} : { retryAfterMs: ms };
}

/** The client throws a parsed fault or a bare HTTP status as data (see client.ts), told apart by `kind`. */
function kindOf(link: ErrorLink): 'fault' | 'http' | undefined {
  const kind = link.prop('kind');
  if (kind === 'fault' && typeof link.prop('code') === 'string') return 'fault';
  if (kind === 'http' && typeof link.prop('status') === 'number') return 'http';
  return undefined;
}

/** The fault code without its namespace prefix: `soap:Server.Busy` -> `Server.Busy`. */
function localFaultCode(code: string): string {
  return code.slice(code.lastIndexOf(':') + 1);
}

const rules: ErrorRule<SoapErrorCode>[] = [
  (link) => {
    if (kindOf(link) !== 'fault') return undefined;
    // SOAP 1.1 allows dotted refinements ("Server.Database"); the part before the first dot decides.
    const head = localFaultCode(String(link.prop('code')))
      .split('.')[0]
      ?.toLowerCase();
    if (head === 'server' || head === 'receiver') {
      return {
        code: C.SOAP_FAULT_SERVER,
        retryable: true,
        hint: 'The service failed; Ferry retries with backoff.',
        ...retryAfterOf(link),
      };
    }
    if (head === 'client' || head === 'sender') {
      return {
        code: C.SOAP_FAULT_CLIENT,
        retryable: false,
        hint: 'The service rejected the request: check the operation arguments in the pipeline file.',
        ...retryAfterOf(link),
      };
    }
    return { code: C.SOAP_FAULT, retryable: false, ...retryAfterOf(link) };
  },
  (link) => {
    if (kindOf(link) !== 'http') return undefined;
    const status = link.prop('status') as number;
    if (status === 401 || status === 403) {
      return {
        code: C.SOAP_AUTH_FAILED,
        retryable: false,
        hint: 'Check the security settings (username, password) of the source.',
      };
    }
    // 408 and 429 are the server asking for a later attempt, not a wrong request.
    const retryable = status >= 500 || status === 408 || status === 429;
    const hint = retryable ? 'Ferry retries with backoff.' : 'Check the endpoint and the operation.';
    return { code: C.SOAP_HTTP_ERROR, retryable, hint, ...retryAfterOf(link) };
  },
  (link) =>
    link.code !== undefined && TLS_CODES.test(link.code)
      ? { code: C.SOAP_TLS_FAILED, retryable: false }
      : undefined,
  (link) =>
    link.code === 'ERR_INVALID_URL' ? { code: C.SOAP_CONNECTION_FAILED, retryable: false } : undefined,
  // The client's whole-answer deadline (client.ts), told apart from an idle timeout, which the kit maps.
  (link) =>
    link.code === DEADLINE_EXCEEDED
      ? { code: C.SOAP_DEADLINE_EXCEEDED, retryable: true, hint: DEADLINE_HINT }
      : undefined,
  // A streamed answer cut off mid-body: the connection dropped.
  (link) =>
    link.code === 'ERR_STREAM_PREMATURE_CLOSE'
      ? { code: C.SOAP_CONNECTION_FAILED, retryable: true }
      : undefined,
  // node-soap refuses a DOCTYPE or entity in a WSDL or answer, sometimes with a plain object.
  (link) =>
    /DOCTYPE|ENTITY/i.test(textOf(link)) ? { code: C.SOAP_XML_FORBIDDEN, retryable: false } : undefined,
];

/** What an error says: an Error's message, or the text node-soap put in a plain object. */
function textOf(link: ErrorLink): string {
  const { error } = link;
  if (error instanceof Error || error === null || typeof error !== 'object') return link.message;
  for (const key of ['message', 'faultstring', 'reason', 'body']) {
    const value = link.prop(key);
    if (typeof value === 'string' && value !== '') return value;
  }
  try {
    return JSON.stringify(error).slice(0, 300);
  } catch {
    return link.message;
  }
}

function describe(context: SoapErrorContext): string {
  const op = context.operation === undefined ? 'the SOAP service' : `operation ${context.operation}`;
  return context.endpoint === undefined ? op : `${op} at ${context.endpoint}`;
}

interface Wording {
  where: string;
  text: string;
  /** The text with the native code in front, when there is one. */
  native: string;
  retryable: boolean;
}

const WORDING: Partial<Record<SoapErrorCode, (w: Wording) => string>> = {
  SOAP_TIMEOUT: (w) => `no answer from ${w.where} in time (${w.text}). Ferry retries.`,
  SOAP_DEADLINE_EXCEEDED: (w) => `${w.where}: ${w.text}. ${DEADLINE_HINT}`,
  SOAP_CONNECTION_FAILED: (w) =>
    w.retryable
      ? `cannot use the connection to ${w.where} (${w.native}). Check that the service is running; Ferry retries.`
      : `cannot reach ${w.where} (${w.native}). Check the endpoint or the WSDL address.`,
  SOAP_TLS_FAILED: (w) =>
    `TLS with ${w.where} failed (${w.native}). Check tls.caFile, tls.certFile and tls.keyFile.`,
  SOAP_XML_FORBIDDEN: (w) =>
    `${w.where} sent XML with a DOCTYPE or entity declaration, which Ferry refuses (XXE and entity expansion): ${w.text}`,
  SOAP_WSDL_FAILED: (w) => `cannot load the WSDL ${w.where}: ${w.text}`,
};

function build(found: Classified<SoapErrorCode>, context: SoapErrorContext): FerryError {
  const { verdict, source, chain, error } = found;
  const link = found.link ?? chain[0];
  const where = describe(context);
  const text = link === undefined ? String(error) : textOf(link);
  const hint = verdict.hint === undefined ? '' : ` ${verdict.hint}`;
  const details: Record<string, unknown> = { ...context };
  // Nothing in the table knew it: a failure while reading the WSDL is a WSDL failure.
  const code = source === 'fallback' && context.phase === 'wsdl' ? C.SOAP_WSDL_FAILED : verdict.code;
  const kind = link === undefined ? undefined : kindOf(link);
  let message: string;
  if (kind === 'fault' && link !== undefined) {
    const subcode = link.prop('subcode');
    const status = link.prop('status');
    details.faultCode = link.prop('code');
    if (typeof subcode === 'string') details.faultSubcode = subcode;
    if (typeof status === 'number') details.status = status;
    const sub = typeof subcode === 'string' ? ` (subcode ${subcode})` : '';
    message = `SOAP fault ${String(link.prop('code'))}${sub} from ${where}: ${String(link.prop('reason'))}.${hint}`;
  } else if (kind === 'http' && link !== undefined) {
    details.status = link.prop('status');
    const body = link.prop('bodySnippet');
    const snippet = typeof body === 'string' && body !== '' ? `: ${body.slice(0, 200)}` : '';
    message = `HTTP ${String(link.prop('status'))} from ${where}${snippet}.${hint}`;
  } else {
    if (link?.code !== undefined) details.nativeCode = link.code;
    const native = link?.code === undefined ? text : `${link.code}: ${text}`;
    const words = WORDING[code];
    message =
      source === 'programmer'
        ? `${where}: ${text} (${verdict.hint})`
        : words !== undefined
          ? words({ where, text, native, retryable: verdict.retryable })
          : `unusable answer from ${where}: ${text}`;
  }
  return new SoapError(code, message, {
    retryable: verdict.retryable,
    details,
    // A fault or a status is data the client read, not an error worth keeping as a cause.
    ...(kind === undefined ? { cause: error } : {}),
    ...(verdict.retryAfterMs === undefined ? {} : { retryAfterMs: verdict.retryAfterMs }),
  });
}

/**
 * Classify anything a SOAP call threw or produced. FerryErrors pass through unchanged; plain objects
 * (node-soap's XML rejections), HTTP statuses and parsed faults become SoapErrors.
 */
export const classifySoapError: (error: unknown, context?: SoapErrorContext) => FerryError =
  createErrorClassifier<SoapErrorCode, SoapErrorContext>({
    rules,
    network: { connection: C.SOAP_CONNECTION_FAILED, timeout: C.SOAP_TIMEOUT },
    fallback: { code: C.SOAP_RESPONSE_INVALID, retryable: false },
    build,
  });

/**
 * A checkpoint of the other mode (the pipeline file's `mode` changed under a saved checkpoint) fits the
 * factory's position schema, which accepts both modes; this source cannot resume from it.
 */
export function refuseOtherMode(position: unknown, schema: z.ZodType, mode: string): void {
  if (schema.safeParse(position).success) return;
  throw new FerryError(
    'CHECKPOINT_INVALID',
    `the saved checkpoint ${JSON.stringify(position)} was not written by a SOAP source in ${mode} mode (was the mode changed?); start over with \`ferry offsets reset\`.`,
  );
}
