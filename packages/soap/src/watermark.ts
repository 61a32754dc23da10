// Watermark polling of a SOAP operation: call it with the last watermark and a page, follow the pages to the
// end, and only then move the checkpoint's watermark to the highest value seen. Until then the checkpoint
// holds a cursor (since, page, records of the page already emitted), so a crash mid-sequence resumes where it
// stopped and skips nothing.
import { runSchedule, waitForNextRun } from '@ferry/core';
import {
  type Batch,
  type ChangeRecord,
  getPath,
  type ReadContext,
  type RejectedInput,
  type Source,
  type StreamInfo,
} from '@ferry/core/sdk';
import { probeService, SoapClient, type SoapClientOptions } from './client.js';
import type { SoapWatermarkConfig } from './config.js';
import { SoapError, SoapErrorCodes } from './errors.js';
import type { XmlObject } from './internal/xml-stream.js';

export type WatermarkValue = string;

/** Where a watermark source is: the highest watermark fully emitted, and a cursor inside a page sequence. */
export interface SoapWatermarkPosition {
  watermark: WatermarkValue;
  cursor?: {
    /** The {{since}} of the sequence under way. */
    since: WatermarkValue;
    /** The page to call next ({{page}}). */
    page: number | string;
    /** Records of that page already emitted. */
    skip: number;
    /** The highest watermark seen in the sequence so far. */
    high: WatermarkValue;
  };
}

export type SoapSourceContext = SoapClientOptions;

export class SoapWatermarkSource implements Source<SoapWatermarkPosition> {
  readonly type = 'soap';
  private client: SoapClient | undefined;
  private readonly closed = new AbortController();

  constructor(
    private readonly config: SoapWatermarkConfig,
    private readonly context: SoapSourceContext = {},
  ) {}

  private async open(): Promise<SoapClient> {
    this.client ??= await SoapClient.open(this.config, this.context);
    return this.client;
  }

  /** Readiness: one GET of the service on a connection of its own (see probeService); calls no operation. */
  async probe(signal: AbortSignal): Promise<void> {
    await probeService(this.config, this.context, signal, this.client?.endpoint);
  }

  async discover(): Promise<StreamInfo[]> {
    const client = await this.open();
    return client.describe().map((info) =>
      info.name === `${client.service}.${client.port}.${this.config.operation}`
        ? {
            ...info,
            key: this.config.key,
            notes: [
              ...(info.notes ?? []),
              `polled as stream ${this.streamName(client)} by watermark ${this.config.watermark.field}; records at ${this.config.records}`,
            ],
          }
        : info,
    );
  }

  async *read(ctx: ReadContext<SoapWatermarkPosition>): AsyncIterable<Batch<SoapWatermarkPosition>> {
    const client = await this.open();
    const stop = AbortSignal.any([ctx.signal, this.closed.signal]);
    const schedule = runSchedule(this.context.schedule, this.config.pollIntervalMs);
    const stream = this.streamName(client);
    let position = parsePosition(ctx.from, this.config.watermark.initial);
    const { pagination } = this.config;
    const nextPath = pagination.type === 'token' ? pagination.nextPath : undefined;
    for (;;) {
      const since = position.cursor?.since ?? position.watermark;
      let page: number | string =
        position.cursor?.page ??
        (pagination.type === 'page-number'
          ? pagination.first
          : pagination.type === 'token'
            ? pagination.first
            : 1);
      let skip = position.cursor?.skip ?? 0;
      let high = position.cursor?.high ?? position.watermark;
      const seenTokens = new Set<string>();
      for (let pages = 0; ; pages += 1) {
        if (stop.aborted) return;
        if (pages >= this.config.maxPages) {
          throw new SoapError(
            SoapErrorCodes.SOAP_PAGINATION_LOOP,
            `${stream}: still paging after maxPages (${this.config.maxPages}) pages since ${since}; raise maxPages or check the pagination settings.`,
          );
        }
        const args = templateArguments(this.config.arguments, { since, page });
        const generator = client.stream(this.config.operation, args, {
          recordPath: this.config.records,
          scalarPaths: nextPath === undefined ? [] : [nextPath],
          chunkSize: this.config.batchSize,
          signal: stop,
        });
        let index = 0;
        let held: Batch<SoapWatermarkPosition> | undefined;
        let result: Awaited<ReturnType<typeof generator.next>>;
        try {
          for (;;) {
            result = await generator.next();
            if (result.done) break;
            const converted = this.convert(result.value, stream, since, page, index, skip, high);
            index += result.value.length;
            high = converted.high;
            // A batch is held back one step: the last one of the page carries the position after the page.
            if (held !== undefined) yield held;
            held = {
              records: converted.records,
              rejected: converted.rejected,
              position: {
                watermark: position.watermark,
                cursor: { since, page, skip: Math.max(skip, index), high },
              },
            };
          }
        } finally {
          // Closes the call (and frees its slot) when the consumer stops mid-page.
          await generator.return(undefined as never);
        }
        const answer = result.value;
        const count = answer.records;
        let next: number | string | undefined;
        if (pagination.type === 'page-number') {
          const last = pagination.pageSize === undefined ? count === 0 : count < pagination.pageSize;
          next = last ? undefined : Number(page) + 1;
        } else if (pagination.type === 'token' && nextPath !== undefined) {
          const token = answer.scalars.get(nextPath);
          if (token !== undefined && token !== '') {
            if (seenTokens.has(token) || token === String(page)) {
              throw new SoapError(
                SoapErrorCodes.SOAP_PAGINATION_LOOP,
                `${stream}: the service returned next-page token ${token} again; refusing to loop.`,
              );
            }
            seenTokens.add(token);
            next = token;
          }
        }
        const after: SoapWatermarkPosition =
          next === undefined
            ? { watermark: high }
            : { watermark: position.watermark, cursor: { since, page: next, skip: 0, high } };
        const last = held ?? { records: [], rejected: [], position: after };
        last.position = after;
        yield last;
        position = after;
        if (next === undefined) break;
        page = next;
        skip = 0;
      }
      ctx.caughtUp?.();
      if (ctx.once || stop.aborted) return;
      // Passes never overlap: the wait for the next run starts when this pass has ended.
      if ((await waitForNextRun(new Date(), schedule, stop, undefined, ctx.wake)) === undefined) return;
    }
  }

  private convert(
    items: XmlObject[],
    stream: string,
    since: WatermarkValue,
    page: number | string,
    start: number,
    skip: number,
    high: WatermarkValue,
  ): { records: ChangeRecord[]; rejected: RejectedInput[]; high: WatermarkValue } {
    const records: ChangeRecord[] = [];
    const rejected: RejectedInput[] = [];
    const { field, type } = this.config.watermark;
    let highest = high;
    for (const [offset, item] of items.entries()) {
      const index = start + offset;
      if (index < skip) continue;
      const origin = { operation: this.config.operation, since, page, index };
      const key: Record<string, unknown> = {};
      const missing: string[] = [];
      for (const name of this.config.key) {
        const value = getPath(item, name);
        if (value === undefined || value === null || value === '') missing.push(name);
        else key[name] = value;
      }
      const mark = getPath(item, field);
      if (typeof mark !== 'string' || mark === '') missing.push(field);
      if (missing.length > 0) {
        rejected.push({
          stream,
          code: SoapErrorCodes.SOAP_RECORD_INVALID,
          message: `record ${index} of page ${page} has no ${missing.join(', ')}`,
          raw: item,
          origin,
        });
        continue;
      }
      const watermark = mark as string;
      if (compareWatermarks(watermark, highest, type) > 0) highest = watermark;
      const record: ChangeRecord = {
        stream,
        op: 'update',
        key,
        after: item as Record<string, unknown>,
        origin,
      };
      if (type === 'timestamp') {
        const at = new Date(watermark);
        if (!Number.isNaN(at.getTime())) record.occurredAt = at;
      }
      records.push(record);
    }
    return { records, rejected, high: highest };
  }

  private streamName(client: SoapClient): string {
    return this.config.stream ?? `${client.service}.${this.config.operation}`;
  }

  async close(): Promise<void> {
    this.closed.abort();
    this.client?.close();
  }
}

/** Compare two watermarks of the configured type; the empty string is lower than everything. */
export function compareWatermarks(a: string, b: string, type: 'timestamp' | 'number' | 'string'): number {
  if (a === b) return 0;
  if (b === '') return 1;
  if (a === '') return -1;
  if (type === 'number') return Number(a) - Number(b);
  if (type === 'timestamp') {
    const delta = Date.parse(a) - Date.parse(b);
    if (!Number.isNaN(delta) && delta !== 0) return delta;
  }
  return a < b ? -1 : 1;
}

const PLACEHOLDER = /\{\{\s*(since|page)\s*\}\}/g;

/** Replace {{since}} and {{page}} in every string of the arguments, recursively. */
export function templateArguments(args: unknown, values: { since: string; page: number | string }): unknown {
  if (typeof args === 'string') {
    const whole = /^\{\{\s*(since|page)\s*\}\}$/.exec(args);
    if (whole) return values[whole[1] as 'since' | 'page'];
    return args.replace(PLACEHOLDER, (_, name: 'since' | 'page') => String(values[name]));
  }
  if (Array.isArray(args)) return args.map((item) => templateArguments(item, values));
  if (args !== null && typeof args === 'object') {
    return Object.fromEntries(Object.entries(args).map(([k, v]) => [k, templateArguments(v, values)]));
  }
  return args;
}

function parsePosition(from: unknown, initial: string): SoapWatermarkPosition {
  if (from === undefined || from === null) return { watermark: initial };
  const value = from as Partial<SoapWatermarkPosition>;
  const cursor = value.cursor;
  const cursorOk =
    cursor === undefined ||
    (typeof cursor === 'object' &&
      cursor !== null &&
      typeof cursor.since === 'string' &&
      (typeof cursor.page === 'string' || typeof cursor.page === 'number') &&
      typeof cursor.skip === 'number' &&
      typeof cursor.high === 'string');
  if (typeof value !== 'object' || typeof value.watermark !== 'string' || !cursorOk) {
    throw new SoapError(
      SoapErrorCodes.SOAP_POSITION_INVALID,
      `the saved checkpoint ${JSON.stringify(from)} is not a SOAP watermark position; clear the checkpoint to start over.`,
    );
  }
  return cursor === undefined ? { watermark: value.watermark } : { watermark: value.watermark, cursor };
}
