// classifySoapError as a table: what is retried (5xx, 503 with Retry-After, resets, timeouts, Server and
// Receiver faults) and what is not (4xx, Client and Sender faults, hostile XML), plus node-soap's plain objects.
import { FerryError } from '@ferry/core/sdk';
import { describe, expect, it } from 'vitest';
import { classifySoapError, parseRetryAfter, SoapError } from '../../src/index.js';

const netError = (code: string, message = code) => Object.assign(new Error(message), { code });

describe('classifySoapError', () => {
  it.each([
    [
      'HTTP 503 with Retry-After 7',
      { kind: 'http', status: 503, retryAfter: '7' },
      'SOAP_HTTP_ERROR',
      true,
      7000,
    ],
    ['HTTP 500 without a fault', { kind: 'http', status: 500 }, 'SOAP_HTTP_ERROR', true, undefined],
    ['HTTP 502', { kind: 'http', status: 502 }, 'SOAP_HTTP_ERROR', true, undefined],
    ['HTTP 429', { kind: 'http', status: 429, retryAfter: '1' }, 'SOAP_HTTP_ERROR', true, 1000],
    ['HTTP 404', { kind: 'http', status: 404 }, 'SOAP_HTTP_ERROR', false, undefined],
    ['HTTP 400', { kind: 'http', status: 400 }, 'SOAP_HTTP_ERROR', false, undefined],
    ['HTTP 401', { kind: 'http', status: 401 }, 'SOAP_AUTH_FAILED', false, undefined],
    ['HTTP 403', { kind: 'http', status: 403 }, 'SOAP_AUTH_FAILED', false, undefined],
    [
      'SOAP 1.1 Server fault',
      { kind: 'fault', code: 'soap:Server', reason: 'db down' },
      'SOAP_FAULT_SERVER',
      true,
      undefined,
    ],
    [
      'SOAP 1.1 Server.Database fault',
      { kind: 'fault', code: 'SOAP-ENV:Server.Database', reason: 'x' },
      'SOAP_FAULT_SERVER',
      true,
      undefined,
    ],
    [
      'SOAP 1.2 Receiver fault',
      { kind: 'fault', code: 'env:Receiver', reason: 'busy' },
      'SOAP_FAULT_SERVER',
      true,
      undefined,
    ],
    [
      'SOAP 1.1 Client fault',
      { kind: 'fault', code: 'soap:Client', reason: 'bad since' },
      'SOAP_FAULT_CLIENT',
      false,
      undefined,
    ],
    [
      'SOAP 1.2 Sender fault',
      { kind: 'fault', code: 'env:Sender', subcode: 'app:BadDate', reason: 'bad' },
      'SOAP_FAULT_CLIENT',
      false,
      undefined,
    ],
    [
      'SOAP 1.2 MustUnderstand',
      { kind: 'fault', code: 'env:MustUnderstand', reason: 'hdr' },
      'SOAP_FAULT',
      false,
      undefined,
    ],
    [
      'Server fault with Retry-After',
      { kind: 'fault', code: 'soap:Server', reason: 'x', status: 503, retryAfter: '2' },
      'SOAP_FAULT_SERVER',
      true,
      2000,
    ],
    ['ECONNRESET', netError('ECONNRESET', 'socket hang up'), 'SOAP_CONNECTION_FAILED', true, undefined],
    ['ECONNREFUSED', netError('ECONNREFUSED'), 'SOAP_CONNECTION_FAILED', true, undefined],
    [
      'refused, wrapped in an AggregateError',
      Object.assign(new AggregateError([netError('ECONNREFUSED')]), {}),
      'SOAP_CONNECTION_FAILED',
      true,
      undefined,
    ],
    [
      'reset, wrapped as the cause of another error',
      new Error('call failed', { cause: netError('ECONNRESET') }),
      'SOAP_CONNECTION_FAILED',
      true,
      undefined,
    ],
    [
      'timeout',
      netError('ETIMEDOUT', 'no answer within timeoutMs (30000 ms)'),
      'SOAP_TIMEOUT',
      true,
      undefined,
    ],
    [
      'whole-answer deadline (the client cuts off a slow drip)',
      netError(
        'SOAP_DEADLINE_EXCEEDED',
        'the answer was not complete within deadlineMs (300000 ms) of waiting',
      ),
      'SOAP_DEADLINE_EXCEEDED',
      true,
      undefined,
    ],
    [
      'whole-answer deadline, wrapped as a cause',
      new Error('read failed', { cause: netError('SOAP_DEADLINE_EXCEEDED', 'deadlineMs passed') }),
      'SOAP_DEADLINE_EXCEEDED',
      true,
      undefined,
    ],
    ['ENOTFOUND', netError('ENOTFOUND'), 'SOAP_CONNECTION_FAILED', false, undefined],
    [
      'untrusted server certificate',
      netError('DEPTH_ZERO_SELF_SIGNED_CERT'),
      'SOAP_TLS_FAILED',
      false,
      undefined,
    ],
    [
      'client certificate refused',
      netError('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'),
      'SOAP_TLS_FAILED',
      false,
      undefined,
    ],
    [
      'node-soap DOCTYPE rejection as a plain object',
      { message: 'DOCTYPE is not allowed' },
      'SOAP_XML_FORBIDDEN',
      false,
      undefined,
    ],
    ['an unknown plain object', { weird: true }, 'SOAP_RESPONSE_INVALID', false, undefined],
    ['a string', 'boom', 'SOAP_RESPONSE_INVALID', false, undefined],
    ['a TypeError', new TypeError('x is not a function'), 'SOAP_RESPONSE_INVALID', false, undefined],
  ])('%s -> %s (retryable %s)', (_name, input, code, retryable, retryAfterMs) => {
    const error = classifySoapError(input, { operation: 'CaseService.GetChangedCases' });
    expect(error).toBeInstanceOf(SoapError);
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(retryable);
    expect(error.retryAfterMs).toBe(retryAfterMs);
    expect(error.message).toContain('CaseService.GetChangedCases');
  });

  it('says the fault code and string', () => {
    const error = classifySoapError({ kind: 'fault', code: 'soap:Client', reason: 'since is not a date' });
    expect(error.message).toContain('soap:Client');
    expect(error.message).toContain('since is not a date');
    expect(error.details.faultCode).toBe('soap:Client');
  });

  it('classifies WSDL failures as SOAP_WSDL_FAILED and passes FerryErrors through', () => {
    expect(classifySoapError(new Error('bad wsdl'), { phase: 'wsdl' }).code).toBe('SOAP_WSDL_FAILED');
    const own = new FerryError('X', 'x', { retryable: true });
    expect(classifySoapError(own)).toBe(own);
    expect(classifySoapError(new Error('while reading', { cause: own }))).toBe(own);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('0')).toBe(0);
    expect(parseRetryAfter('120')).toBe(120_000);
    const now = Date.parse('2024-01-01T00:00:00Z');
    expect(parseRetryAfter('Mon, 01 Jan 2024 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
