// The SOAP client Ferry calls services with: node-soap reads the WSDL, builds the envelope and applies the
// security (basic, WS-Security UsernameToken or X.509 signature); Ferry sends it itself (with mutual TLS if
// configured) and streams the answer through a hardened SAX reader, so a large page is never buffered whole
// and hostile XML is refused before parsing.
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isAbsolute, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { type SourceContext, type StreamInfo, silentLogger } from '@ferry/core/sdk';
import * as soap from 'soap';
import type { SoapConnectionConfig } from './config.js';
import { classifySoapError, SoapError, SoapErrorCodes } from './errors.js';
import { CallClock } from './internal/call-clock.js';
import { CallGuard } from './internal/guard.js';
import { probeHttp } from './internal/probe.js';
import { type ReaderResult, SoapResponseReader, type XmlObject } from './internal/xml-stream.js';

/** `baseDir`: the directory a relative WSDL, key or certificate path is resolved against (the pipeline file's). */
export type SoapClientOptions = Pick<SourceContext, 'baseDir' | 'logger'>;

export interface SoapCallOptions {
  /** Dotted path of the record elements below the response element; `[]` marks the repeated one. */
  recordPath?: string;
  /** Dotted paths whose text to capture (a next-page token). */
  scalarPaths?: readonly string[];
  /** Records handed out per yielded array. */
  chunkSize?: number;
  signal?: AbortSignal;
}

export interface SoapCallResult extends ReaderResult {
  status: number;
  bytes: number;
}

interface CapturedRequest {
  xml: string;
  headers: Record<string, string>;
}

/** Thrown by the capturing HTTP client: node-soap built the request, Ferry sends it. */
class Captured extends Error {
  constructor(readonly request: CapturedRequest) {
    super('captured');
  }
}

type SoapMethod = (args: unknown, callback: (error: unknown) => void) => void;

/** A WSDL-described SOAP service, ready to call. */
export class SoapClient {
  readonly endpoint: string;
  readonly service: string;
  readonly port: string;
  private readonly guard: CallGuard;
  private readonly agent: HttpAgent | HttpsAgent;

  private constructor(
    private readonly client: soap.Client,
    private readonly config: SoapConnectionConfig,
    service: string,
    port: string,
    endpoint: string,
    tls: TlsMaterial,
  ) {
    this.service = service;
    this.port = port;
    this.endpoint = endpoint;
    this.guard = new CallGuard(config.rateLimit);
    const agentOptions = { keepAlive: true, maxSockets: config.rateLimit.concurrency };
    this.agent = endpoint.startsWith('https:')
      ? new HttpsAgent({ ...agentOptions, ...tls })
      : new HttpAgent(agentOptions);
  }

  /** Read the WSDL (and its imports) and choose the service, port and endpoint. */
  static async open(config: SoapConnectionConfig, options: SoapClientOptions = {}): Promise<SoapClient> {
    const log = options.logger ?? silentLogger();
    // node-soap's own debug switch prints secrets: say so.
    if (/node-soap|\*/.test(process.env.DEBUG ?? '')) {
      log.warn(
        'DEBUG enables node-soap tracing, which prints WS-Security passwords and Authorization headers',
      );
    }
    const wsdl = /^https?:\/\//i.test(config.wsdl)
      ? config.wsdl
      : isAbsolute(config.wsdl)
        ? config.wsdl
        : resolve(options.baseDir ?? process.cwd(), config.wsdl);
    const tls = readTls(config, options.baseDir ?? process.cwd());
    let client: soap.Client;
    try {
      client = await soap.createClientAsync(wsdl, {
        forceSoap12Headers: config.soapVersion === '1.2',
        wsdl_options: {
          timeout: config.timeoutMs,
          ...(Object.keys(tls).length > 0 ? { httpsAgent: new HttpsAgent(tls) } : {}),
        },
        disableCache: true,
      });
    } catch (error) {
      throw classifySoapError(error, { phase: 'wsdl', operation: `WSDL ${redactUrl(config.wsdl)}` });
    }
    const services = client.wsdl.definitions.services;
    const service = config.service ?? Object.keys(services)[0];
    if (service === undefined || services[service] === undefined) {
      throw notFound(`service ${service ?? '(none)'}`, Object.keys(services));
    }
    const ports = services[service].ports;
    const port = config.port ?? Object.keys(ports)[0];
    if (port === undefined || ports[port] === undefined) {
      throw notFound(`port ${service}.${port ?? '(none)'}`, Object.keys(ports));
    }
    const endpoint = config.endpoint ?? ports[port].location;
    if (typeof endpoint !== 'string' || !/^https?:\/\//i.test(endpoint)) {
      throw new SoapError(
        SoapErrorCodes.SOAP_OPERATION_NOT_FOUND,
        `port ${service}.${port} has no http(s) soap:address; set endpoint in the pipeline file.`,
      );
    }
    const security = config.security;
    if (security?.type === 'basic') {
      client.setSecurity(new soap.BasicAuthSecurity(security.username, security.password));
    } else if (security?.type === 'wsse-username') {
      client.setSecurity(
        new soap.WSSecurity(security.username, security.password, {
          passwordType: security.passwordType === 'digest' ? 'PasswordDigest' : 'PasswordText',
          hasTimeStamp: security.timestamp,
          hasTokenCreated: true,
        }),
      );
    } else if (security?.type === 'wsse-x509') {
      const base = options.baseDir ?? process.cwd();
      const readPem = (file: string, option: string): string => {
        try {
          return readFileSync(resolve(base, file), 'utf8');
        } catch (error) {
          throw new SoapError(
            SoapErrorCodes.SOAP_TLS_FAILED,
            `cannot read security.${option} ${file}: ${(error as Error).message}`,
            { cause: error },
          );
        }
      };
      const key = readPem(security.keyFile, 'keyFile');
      usablePrivateKey(key, security.passphrase, 'security');
      client.setSecurity(
        new soap.WSSecurityCert(key, readPem(security.certFile, 'certFile'), security.passphrase ?? '', {
          hasTimeStamp: true,
          signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
        }),
      );
    }
    // Envelopes go to this client instead of the network; the WSDL was read before it was set.
    const capturing = {
      request(
        _url: string,
        data: unknown,
        callback: (error: unknown) => void,
        headers?: Record<string, string>,
      ) {
        callback(new Captured({ xml: String(data), headers: { ...(headers ?? {}) } }));
      },
    };
    // node-soap declares `httpClient` private, hence the cast. Handing the capturing client over as
    // `options.httpClient` instead would also capture the WSDL fetch, which must reach the network.
    (client as unknown as { httpClient: unknown }).httpClient = capturing;
    return new SoapClient(client, config, service, port, endpoint, tls);
  }

  /** Operations of every service and port, with their input and output shapes. */
  describe(): StreamInfo[] {
    const described = this.client.describe() as Record<
      string,
      Record<string, Record<string, OperationShape>>
    >;
    const streams: StreamInfo[] = [];
    for (const [service, ports] of Object.entries(described)) {
      for (const [port, operations] of Object.entries(ports)) {
        for (const [operation, shape] of Object.entries(operations)) {
          streams.push({
            name: `${service}.${port}.${operation}`,
            fields: flattenShape(shape.output),
            notes: [
              `input: ${flattenShape(shape.input)
                .map((f) => `${f.name}: ${f.type}`)
                .join(', ')}`,
            ],
            details: {
              input: cleanShape(shape.input),
              output: cleanShape(shape.output),
              selected: service === this.service && port === this.port,
              endpoint: service === this.service && port === this.port ? redactUrl(this.endpoint) : undefined,
            },
          });
        }
      }
    }
    return streams;
  }

  /** The envelope and headers node-soap builds for `operation(args)`, security applied. */
  async buildRequest(operation: string, args: unknown): Promise<CapturedRequest> {
    // node-soap types its generated methods as an `any` index signature; name what they are.
    const port = this.client[this.service]?.[this.port] as Record<string, SoapMethod> | undefined;
    const method = port?.[operation];
    if (typeof method !== 'function') {
      throw notFound(`operation ${operation} in ${this.service}.${this.port}`, Object.keys(port ?? {}));
    }
    return await new Promise<CapturedRequest>((resolvePromise, reject) => {
      try {
        method(args, (error) => {
          if (error instanceof Captured) resolvePromise(error.request);
          else reject(classifySoapError(error, { operation, phase: 'envelope' }));
        });
      } catch (error) {
        reject(classifySoapError(error, { operation, phase: 'envelope' }));
      }
    });
  }

  /**
   * Call `operation(args)` and stream the records at `recordPath` out of the answer in arrays of at most
   * `chunkSize`; the generator's return value says how the answer ended (scalars captured, record count).
   * Faults, HTTP errors and hostile XML are thrown as classified SoapErrors.
   */
  async *stream(
    operation: string,
    args: unknown,
    options: SoapCallOptions = {},
  ): AsyncGenerator<XmlObject[], SoapCallResult, undefined> {
    const what = `${this.service}.${operation}`;
    const context = { operation: what, endpoint: redactUrl(this.endpoint) };
    const built = await this.buildRequest(operation, args);
    const release = await this.guard.begin(options.signal);
    try {
      return yield* this.exchange(built, options, context);
    } catch (error) {
      throw classifySoapError(error, { ...context, phase: 'call' });
    } finally {
      release();
    }
  }

  /** Call and collect every record (small answers, tests). */
  async call(
    operation: string,
    args: unknown,
    options: SoapCallOptions = {},
  ): Promise<SoapCallResult & { items: XmlObject[] }> {
    const items: XmlObject[] = [];
    const generator = this.stream(operation, args, options);
    for (;;) {
      const step = await generator.next();
      if (step.done) return { ...step.value, items };
      items.push(...step.value);
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private async *exchange(
    built: CapturedRequest,
    options: SoapCallOptions,
    context: { operation: string; endpoint: string },
  ): AsyncGenerator<XmlObject[], SoapCallResult, undefined> {
    const body = Buffer.from(built.xml, 'utf8');
    const headers: Record<string, string | number> = { ...built.headers, 'Content-Length': body.length };
    const url = new URL(this.endpoint);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { method: 'POST', headers, agent: this.agent });
    req.on('error', () => {
      // Errors reach the caller through the response promise or the body iterator.
    });
    // Abort by hand rather than through the request's `signal`, which outlives the exchange and would
    // destroy a pooled request long after it ended.
    const onAbort = () =>
      req.destroy(Object.assign(new Error('the call was stopped'), { code: 'ABORT_ERR' }));
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const clock = new CallClock(this.config);
    let received = 0;
    const progress = () => `${received} bytes of it received`;
    let response: IncomingMessage;
    try {
      response = await clock.wait(
        new Promise<IncomingMessage>((resolvePromise, reject) => {
          req.once('response', resolvePromise);
          req.once('error', reject);
          req.end(body);
        }),
        'the response headers',
        () => 'no response headers yet',
        (error) => req.destroy(error),
      );
    } catch (error) {
      options.signal?.removeEventListener('abort', onAbort);
      throw error;
    }
    const status = response.statusCode ?? 0;
    const retryAfter = header(response, 'retry-after');
    const contentType = header(response, 'content-type') ?? '';
    const chunks = response[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const nextChunk = async (): Promise<IteratorResult<Buffer>> => {
      const next = await clock.wait(chunks.next(), 'the next bytes of the answer', progress, (error) =>
        response.destroy(error),
      );
      if (!next.done) received += next.value.length;
      return next;
    };
    try {
      if (status >= 400 && !/xml/i.test(contentType)) {
        const snippet = await readSnippet(nextChunk, 512);
        throw { kind: 'http', status, retryAfter, bodySnippet: snippet };
      }
      const maxBytes = this.config.maxResponseBytes;
      const declared = Number(header(response, 'content-length'));
      if (Number.isFinite(declared) && declared > maxBytes) {
        // Refused on the header alone; the finally below drops the connection with the body unread.
        throw new SoapError(
          SoapErrorCodes.SOAP_RESPONSE_TOO_LARGE,
          `operation ${context.operation} at ${context.endpoint} announced an answer of ${declared} bytes (Content-Length), more than maxResponseBytes (${maxBytes} bytes); refused unread. Raise maxResponseBytes or ask for smaller pages.`,
          { details: { ...context, maxBytes, contentLength: declared } },
        );
      }
      const pending: XmlObject[] = [];
      const chunkSize = options.chunkSize ?? 1000;
      const reader = new SoapResponseReader({
        recordPath: options.recordPath,
        scalarPaths: options.scalarPaths ?? [],
        maxBytes,
        maxDepth: this.config.maxDepth,
        onRecord: (record) => pending.push(record),
        where: `operation ${context.operation} at ${context.endpoint}`,
      });
      const decoder = new StringDecoder('utf8');
      for (;;) {
        const next = await nextChunk();
        if (next.done) break;
        reader.write(decoder.write(next.value), next.value.length);
        while (pending.length >= chunkSize && status < 400) yield pending.splice(0, chunkSize);
      }
      reader.write(decoder.end(), 0);
      const result = reader.finish();
      if (result.fault !== undefined) {
        throw { kind: 'fault', ...result.fault, status, retryAfter };
      }
      if (status >= 400) throw { kind: 'http', status, retryAfter, bodySnippet: '' };
      while (pending.length > 0) yield pending.splice(0, chunkSize);
      return { ...result, status, bytes: reader.bytesRead };
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      if (!response.complete) {
        // Abandoned mid-body (a consumer stopped, an error): drop the connection rather than drain it.
        response.on('error', () => {});
        response.destroy();
        req.destroy();
      }
    }
  }
}

interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  passphrase?: string;
}

/** Longest a readiness probe waits for an answer (less when timeoutMs is shorter). */
const PROBE_TIMEOUT_MS = 5000;

/**
 * Readiness check of the service without calling an operation: one GET, with the configured TLS material, to
 * the endpoint (`endpoint`, once a client has chosen it, or the configured one), else to a remote WSDL, else
 * to the soap:address of the local WSDL. Any HTTP answer counts; failures are classified SoapErrors.
 */
export async function probeService(
  config: SoapConnectionConfig,
  options: SoapClientOptions,
  signal: AbortSignal,
  endpoint?: string,
): Promise<void> {
  let url = endpoint ?? config.endpoint;
  if (url === undefined && /^https?:\/\//i.test(config.wsdl)) url = config.wsdl;
  if (url === undefined) {
    // Reading a local WSDL calls nothing; the throwaway client has opened no socket yet.
    const client = await SoapClient.open(config, options);
    url = client.endpoint;
    client.close();
  }
  const tls = readTls(config, options.baseDir ?? process.cwd());
  try {
    await probeHttp(url, tls, Math.min(config.timeoutMs, PROBE_TIMEOUT_MS), signal);
  } catch (error) {
    throw classifySoapError(error, { phase: 'probe', endpoint: redactUrl(url) });
  }
}

function readTls(config: SoapConnectionConfig, baseDir: string): TlsMaterial {
  const tls = config.tls;
  if (tls === undefined) return {};
  const read = (file: string, option: string): Buffer => {
    try {
      return readFileSync(resolve(baseDir, file));
    } catch (error) {
      throw new SoapError(
        SoapErrorCodes.SOAP_TLS_FAILED,
        `cannot read tls.${option} ${file}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  };
  const material: TlsMaterial = {};
  if (tls.caFile !== undefined) material.ca = read(tls.caFile, 'caFile');
  if (tls.certFile !== undefined) material.cert = read(tls.certFile, 'certFile');
  if (tls.keyFile !== undefined) material.key = read(tls.keyFile, 'keyFile');
  if (tls.passphrase !== undefined) material.passphrase = tls.passphrase;
  if (material.key !== undefined) usablePrivateKey(material.key, tls.passphrase, 'tls');
  return material;
}

/**
 * Open a configured private key once at start, so a wrong passphrase or a file that is not a key is a
 * configuration error naming the option, not an odd failure on the first call. The passphrase is never
 * part of the message.
 */
function usablePrivateKey(
  key: string | Buffer,
  passphrase: string | undefined,
  section: 'security' | 'tls',
): void {
  try {
    createPrivateKey(passphrase === undefined ? { key } : { key, passphrase });
  } catch (error) {
    const reason = /bad decrypt|passphrase/i.test((error as Error).message)
      ? `${section}.passphrase does not decrypt it`
      : 'it is not a PEM private key';
    throw new SoapError(SoapErrorCodes.SOAP_KEY_INVALID, `${section}.keyFile cannot be used: ${reason}`, {
      retryable: false,
      cause: error,
    });
  }
}

interface OperationShape {
  input?: unknown;
  output?: unknown;
}

function flattenShape(shape: unknown, prefix = ''): { name: string; type: string }[] {
  if (shape === null || typeof shape !== 'object') return [];
  const fields: { name: string; type: string }[] = [];
  for (const [name, value] of Object.entries(shape as Record<string, unknown>)) {
    if (name === 'targetNSAlias' || name === 'targetNamespace') continue;
    const path = prefix === '' ? name : `${prefix}.${name}`;
    if (typeof value === 'string') fields.push({ name: path, type: value });
    else fields.push(...flattenShape(value, path));
  }
  return fields;
}

/** A node-soap shape without its namespace bookkeeping, for display. */
function cleanShape(shape: unknown): unknown {
  if (shape === null || typeof shape !== 'object') return shape ?? null;
  return Object.fromEntries(
    Object.entries(shape as Record<string, unknown>)
      .filter(([name]) => name !== 'targetNSAlias' && name !== 'targetNamespace')
      .map(([name, value]) => [name, cleanShape(value)]),
  );
}

function header(response: IncomingMessage, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readSnippet(next: () => Promise<IteratorResult<Buffer>>, limit: number): Promise<string> {
  let text = '';
  while (text.length < limit) {
    const step = await next();
    if (step.done) break;
    text += step.value.toString('utf8');
  }
  return text.slice(0, limit).replace(/\s+/g, ' ').trim();
}

/** A URL without user info, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url;
  }
}

function notFound(what: string, known: string[]): SoapError {
  return new SoapError(
    SoapErrorCodes.SOAP_OPERATION_NOT_FOUND,
    `the WSDL has no ${what} (it has: ${known.join(', ') || 'none'}). Check the pipeline file; \`ferry discover\` lists what the WSDL offers.`,
  );
}
