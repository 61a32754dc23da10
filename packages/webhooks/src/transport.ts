// One subscriber endpoint over HTTP(S) with undici: connect and whole-request timeouts, the subscription's CA
// and client certificate, no redirects unless asked, and the address policy applied where the connection is
// made (a literal IP, or every address a name resolves to), so neither a redirect nor a DNS answer can lead
// a delivery to an internal address.
import { isIP } from 'node:net';
import { Agent, buildConnector, type Dispatcher, interceptors, request } from 'undici';
import type { SubscriptionConfig } from './config.js';
import { WebhookError } from './errors.js';
import { type AddressPolicy, guardedLookup, isRefusedAddress } from './guard.js';

/** An endpoint's answer: its status, the headers a retry needs, and the start of its body. */
export interface Answer {
  status: number;
  retryAfterMs: number | undefined;
  location: string | undefined;
  /** At most EXCERPT_BYTES of the body, as text (for dead letters and logs). */
  excerpt: string;
  ms: number;
}

const EXCERPT_BYTES = 1024;

/** Node's codes for a certificate that does not verify: trying again cannot help until someone acts. */
const TLS_CODES =
  /^(ERR_TLS_CERT_ALTNAME_INVALID|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|CERT_REVOKED|CERT_UNTRUSTED|CERT_SIGNATURE_FAILURE)$/;

export class Endpoint {
  private readonly dispatcher: Dispatcher;
  private readonly agent: Agent;

  constructor(
    private readonly subscription: SubscriptionConfig,
    policy: AddressPolicy,
  ) {
    const connector = buildConnector({
      timeout: subscription.timeouts.connectMs,
      lookup: guardedLookup(policy),
      ...(subscription.tls?.ca === undefined ? {} : { ca: subscription.tls.ca }),
      ...(subscription.tls?.cert === undefined ? {} : { cert: subscription.tls.cert }),
      ...(subscription.tls?.key === undefined ? {} : { key: subscription.tls.key }),
    } as buildConnector.BuildOptions);
    this.agent = new Agent({
      // A name is resolved (and checked) by the lookup; an address in the URL never is, so check it here.
      connect: (options, callback) => {
        const host = options.hostname.replace(/^\[|\]$/g, '');
        const refused = isIP(host) === 0 ? undefined : isRefusedAddress(host, policy);
        if (refused !== undefined) {
          callback(
            new WebhookError(
              'WEBHOOK_ADDRESS_REFUSED',
              `${subscription.name}: ${host} is a ${refused} address, which webhooks may not reach; add it to \`allow\` if it is meant`,
              { retryable: false, details: { host, reason: refused } },
            ),
            null,
          );
          return;
        }
        connector(options, callback);
      },
      headersTimeout: subscription.timeouts.requestMs,
      bodyTimeout: subscription.timeouts.requestMs,
    });
    this.dispatcher = subscription.followRedirects
      ? this.agent.compose(interceptors.redirect({ maxRedirections: 5 }))
      : this.agent;
  }

  /** POST `body`; an answer of any status resolves, a failure to get one throws a WebhookError. */
  async post(headers: Record<string, string>, body: string): Promise<Answer> {
    const started = performance.now();
    const url = this.subscription.url;
    try {
      const response = await request(url, {
        method: 'POST',
        headers,
        body,
        dispatcher: this.dispatcher,
      });
      // The body matters only when the answer is a failure (dead letters, logs): otherwise drop it unread.
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      const excerpt = ok ? '' : await readExcerpt(response.body);
      if (ok) await response.body.dump();
      const header = (name: string) => {
        const value = response.headers[name];
        return Array.isArray(value) ? value[0] : value;
      };
      return {
        status: response.statusCode,
        retryAfterMs: retryAfterMs(header('retry-after')),
        location: header('location'),
        excerpt,
        ms: performance.now() - started,
      };
    } catch (error) {
      throw failure(this.subscription, error, performance.now() - started);
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/** The start of a body as text; the rest is read and dropped so the connection can be reused. */
async function readExcerpt(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < EXCERPT_BYTES) chunks.push(chunk.subarray(0, EXCERPT_BYTES - size));
    size += chunk.length;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return size > EXCERPT_BYTES ? `${text}…` : text;
}

/** `Retry-After` as milliseconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A request that got no answer, as a WebhookError saying whether another try can help. */
function failure(subscription: SubscriptionConfig, error: unknown, ms: number): WebhookError {
  const cause = (error as { cause?: unknown }).cause;
  const refused = [error, cause].find(
    (e): e is WebhookError => e instanceof WebhookError && e.code === 'WEBHOOK_ADDRESS_REFUSED',
  );
  if (refused !== undefined) return refused;
  const code = String((error as { code?: unknown }).code ?? (error as Error).name ?? '');
  const tls = [error, cause].find((e) => TLS_CODES.test(String((e as { code?: unknown })?.code ?? '')));
  if (tls !== undefined)
    return new WebhookError(
      'WEBHOOK_TLS_FAILED',
      `${subscription.name}: ${subscription.url}'s certificate is not trusted (${(tls as Error).message}); give the CA that signs it as tls.ca, or fix the endpoint's certificate`,
      {
        retryable: false,
        cause: error,
        details: { url: subscription.url, code: (tls as { code: string }).code },
      },
    );
  const timedOut =
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'TimeoutError' ||
    (error as Error).name === 'TimeoutError';
  return new WebhookError(
    timedOut ? 'WEBHOOK_TIMEOUT' : 'WEBHOOK_CONNECTION_FAILED',
    timedOut
      ? `${subscription.name}: ${subscription.url} did not answer within ${code === 'UND_ERR_CONNECT_TIMEOUT' ? `${subscription.timeouts.connectMs} ms (connect)` : `${subscription.timeouts.requestMs} ms`}`
      : `${subscription.name}: cannot reach ${subscription.url}: ${(error as Error).message}`,
    { retryable: true, cause: error, details: { url: subscription.url, ms: Math.round(ms) } },
  );
}
