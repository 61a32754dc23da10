// What both modes share: a pass source (the runtime runs a pass every pollIntervalMs or on the pipeline's
// schedule), the client opened at the first read, the readiness probe, the stream name and closing.
import {
  type Batch,
  getPath,
  type ReadContext,
  type RejectedInput,
  type Source,
  type SourceCadence,
  type SourceContext,
} from '@ferry/core/sdk';
import { probeService, SoapClient } from '../client.js';
import type { SoapSourceConfig } from '../config.js';
import { SoapErrorCodes } from '../errors.js';
import type { XmlObject } from './xml-stream.js';

export abstract class SoapPassSource<P, C extends SoapSourceConfig> implements Source<P> {
  readonly type = 'soap';
  readonly cadence: SourceCadence;
  private client: SoapClient | undefined;
  private readonly closed = new AbortController();

  constructor(
    protected readonly config: C,
    protected readonly context: SourceContext = {},
  ) {
    this.cadence = { kind: 'passes', intervalMs: config.pollIntervalMs };
  }

  abstract read(ctx: ReadContext<P>): AsyncIterable<Batch<P>>;

  protected async open(): Promise<SoapClient> {
    this.client ??= await SoapClient.open(this.config, this.context);
    return this.client;
  }

  /** The read's signal, also aborted by close(). */
  protected stopping(ctx: ReadContext<P>): AbortSignal {
    return AbortSignal.any([ctx.signal, this.closed.signal]);
  }

  protected streamName(client: SoapClient): string {
    return this.config.stream ?? `${client.service}.${this.config.operation}`;
  }

  /** The record's key, and the key fields it lacks (absent, nil or empty). */
  protected keyOf(item: XmlObject): { key: Record<string, unknown>; missing: string[] } {
    const key: Record<string, unknown> = {};
    const missing: string[] = [];
    for (const name of this.config.key) {
      const value = getPath(item, name);
      if (value === undefined || value === null || value === '') missing.push(name);
      else key[name] = value;
    }
    return { key, missing };
  }

  /** A record without a key (or watermark) field, for the dead-letter sink. */
  protected rejection(
    stream: string,
    item: XmlObject,
    origin: { page: number | string; index: number },
    missing: string[],
  ): RejectedInput {
    return {
      stream,
      code: SoapErrorCodes.SOAP_RECORD_INVALID,
      message: `record ${origin.index} of page ${origin.page} has no ${missing.join(', ')}`,
      raw: item,
      origin,
    };
  }

  /** Readiness: one GET of the service on a connection of its own (see probeService); calls no operation. */
  async probe(signal: AbortSignal): Promise<void> {
    await probeService(this.config, this.context, signal, this.client?.endpoint);
  }

  async close(): Promise<void> {
    this.closed.abort();
    this.client?.close();
  }
}
