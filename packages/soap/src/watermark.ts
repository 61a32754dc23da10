// Watermark polling of a SOAP operation, one pass per read: call it with the last watermark, follow the pages
// to the end, and only then move the checkpoint's watermark to the highest value seen. Until then the
// checkpoint holds a cursor (since, page, records of the page already emitted), so a crash mid-sequence resumes
// where it stopped and skips nothing. When the next pass runs is the runtime's business.
import {
  type Batch,
  type ChangeRecord,
  getPath,
  type ReadContext,
  type RejectedInput,
  type StreamInfo,
  sequenceOf,
} from '@ferry/core/sdk';
import type { SoapWatermarkConfig } from './config.js';
import { refuseOtherMode } from './errors.js';
import { type PageChunk, readPages } from './internal/pager.js';
import { SoapPassSource } from './internal/source-base.js';
import { type SoapWatermarkPosition, soapWatermarkPositionSchema } from './positions.js';

export type WatermarkValue = string;

export class SoapWatermarkSource extends SoapPassSource<SoapWatermarkPosition, SoapWatermarkConfig> {
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
    const from = ctx.from ?? { watermark: this.config.watermark.initial };
    refuseOtherMode(from, soapWatermarkPositionSchema, 'watermark');
    const client = await this.open();
    const signal = this.stopping(ctx);
    const stream = this.streamName(client);
    const since = from.cursor?.since ?? from.watermark;
    let high = from.cursor?.high ?? from.watermark;
    // The `time` of records without one of their own: when this sequence started, kept in its positions so
    // that reading any of its pages again stamps the same time (a replay is byte-identical).
    let startedAt = from.startedAt;
    // Where reading resumes before the next batch: the position a late `startedAt` is committed with.
    let at: SoapWatermarkPosition = from;
    const label = `${stream} since ${since === '' ? '(the start)' : since}`;
    for await (const chunk of readPages(client, this.config, { since, from: from.cursor, label, signal })) {
      const converted = this.convert(chunk, stream, since, high);
      high = converted.high;
      if (startedAt === undefined && converted.records.some((r) => r.occurredAt === undefined)) {
        // The first records that need it: the start time is committed, alone, before any of them is written
        // (a boundary ends the commit group), so a crash cannot write them with a time a rerun would not give.
        startedAt = new Date(this.context.clock?.now() ?? Date.now()).toISOString();
        yield { records: [], position: { ...at, startedAt }, boundary: true };
      }
      // The watermark moves only once the last page is read; until then a cursor says where the pass is.
      const position: SoapWatermarkPosition =
        chunk.next === undefined
          ? { watermark: high }
          : {
              watermark: from.watermark,
              cursor: { since, ...chunk.next, high },
              ...(startedAt === undefined ? {} : { startedAt }),
            };
      at = position;
      yield {
        records: converted.records,
        rejected: converted.rejected,
        position,
        ...sourceTime(converted.records, startedAt),
      };
    }
  }

  private convert(
    chunk: PageChunk,
    stream: string,
    since: WatermarkValue,
    high: WatermarkValue,
  ): { records: ChangeRecord[]; rejected: RejectedInput[]; high: WatermarkValue } {
    const records: ChangeRecord[] = [];
    const rejected: RejectedInput[] = [];
    const { field, type } = this.config.watermark;
    const { page } = chunk;
    let highest = high;
    for (const [offset, item] of chunk.items.entries()) {
      const index = chunk.index + offset;
      if (index < chunk.skip) continue;
      const origin = { operation: this.config.operation, since, page, index };
      const { key, missing } = this.keyOf(item);
      const mark = getPath(item, field);
      if (typeof mark !== 'string' || mark === '') missing.push(field);
      if (missing.length > 0) {
        rejected.push(this.rejection(stream, item, origin, missing));
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
        sequence: sequenceOf(sortableWatermark(watermark, type), page, index),
      };
      if (type === 'timestamp') {
        const at = new Date(watermark);
        if (!Number.isNaN(at.getTime())) record.occurredAt = at;
      }
      records.push(record);
    }
    return { records, rejected, high: highest };
  }
}

/**
 * The batch's `sourceTime`: the sequence's start when a record has no time of its own (so the runtime stamps
 * it with a time a re-read reproduces), otherwise the newest watermark instant of the batch (the source lag);
 * a batch without records keeps the sequence's start when it has one.
 */
function sourceTime(records: ChangeRecord[], startedAt: string | undefined): { sourceTime?: Date } {
  let newest: Date | undefined;
  for (const record of records) {
    if (record.occurredAt === undefined)
      return startedAt === undefined ? {} : { sourceTime: new Date(startedAt) };
    if (newest === undefined || record.occurredAt > newest) newest = record.occurredAt;
  }
  if (newest !== undefined) return { sourceTime: newest };
  return startedAt === undefined ? {} : { sourceTime: new Date(startedAt) };
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

/**
 * A watermark as text whose plain string order is its order: instants as ISO-8601 UTC, whole (or decimal)
 * numbers zero-padded; anything else (strings, negative numbers, unparseable instants) as it is.
 */
export function sortableWatermark(value: string, type: 'timestamp' | 'number' | 'string'): string {
  if (type === 'timestamp') {
    const at = Date.parse(value);
    return Number.isNaN(at) ? value : new Date(at).toISOString();
  }
  const number = type === 'number' ? /^\s*(\d+)(\.\d+)?\s*$/.exec(value) : null;
  return number === null ? value : `${sequenceOf(BigInt(number[1]!))}${number[2] ?? ''}`;
}
