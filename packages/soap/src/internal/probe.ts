// One bare HTTP(S) GET for readiness checks: it proves that a server answers at a URL, on a connection of its
// own (never a pooled socket a running call uses), and throws the native error for the caller to classify.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ConnectionOptions } from 'node:tls';

/**
 * Resolve as soon as response headers arrive, whatever the status: a SOAP endpoint answering a GET with 405 or
 * 500 is reachable. Connection errors, TLS failures, `timeoutMs` without an answer and `signal` reject. The
 * body is never read, and the socket is closed either way.
 */
export function probeHttp(
  url: string,
  tls: Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'passphrase'>,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<number> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const send = secure ? httpsRequest : httpRequest;
  return new Promise<number>((resolvePromise, reject) => {
    const req = send(target, {
      method: 'GET',
      agent: false,
      headers: { Connection: 'close' },
      ...(secure ? tls : {}),
    });
    // Shaped so classifySoapError reads it as SOAP_TIMEOUT (retryable): a stopped probe had no answer in time.
    const stop = (why: string) =>
      req.destroy(Object.assign(new Error(`probe timed out ${why}`), { code: 'ETIMEDOUT' }));
    const timer = setTimeout(() => stop(`after ${timeoutMs} ms without an answer`), timeoutMs);
    const onAbort = () => stop('(stopped by its caller) before an answer');
    let settled = false;
    const settle = () => {
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    req.once('response', (response) => {
      settle();
      response.on('error', () => {});
      response.destroy();
      req.destroy();
      resolvePromise(response.statusCode ?? 0);
    });
    // Kept after the answer too: closing the socket may still report an error, which must not go unheard.
    req.on('error', (error) => {
      if (settled) return;
      settle();
      reject(error);
    });
    if (signal.aborted) onAbort();
    req.end();
  });
}
