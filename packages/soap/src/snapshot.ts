// Snapshot polling of a SOAP list operation: each pass lists every record (all pages) and core's diff engine
// compares it with the previous pass, so only creates, updates and deletes become events. The previous pass
// is kept in a SQLite file in stateDir; it becomes the baseline only once the pass's last batch is committed.
import { join, resolve } from 'node:path';
import { isRunDue, runSchedule, waitForNextRun } from '@ferry/core';
import {
  type Batch,
  type ChangeRecord,
  getPath,
  openStateDatabase,
  type ReadContext,
  type RejectedInput,
  SnapshotDiff,
  type Source,
  type StateDatabase,
  type StreamInfo,
  stableStringify,
} from '@ferry/core/sdk';
import { probeService, SoapClient } from './client.js';
import type { SoapSnapshotConfig } from './config.js';
import { SoapError, SoapErrorCodes } from './errors.js';
import type { XmlObject } from './internal/xml-stream.js';
import { type SoapSourceContext, templateArguments } from './watermark.js';

/** Where a snapshot pass is: listing pages, emitting deletes, or done (then the next pass is due later). */
export interface SoapSnapshotPosition {
  generation: string;
  state: 'listing' | 'deleting' | 'done';
  /** listing: the page to call next and the records of it already emitted. */
  page?: number | string;
  skip?: number;
  /** deleting: the last deleted key emitted. */
  afterKey?: string;
  /** done: when the pass ended (schedules run from it). */
  endedAt?: string;
}

export class SoapSnapshotSource implements Source<SoapSnapshotPosition> {
  readonly type = 'soap';
  private client: SoapClient | undefined;
  private db: StateDatabase | undefined;
  private readonly closed = new AbortController();
  private readonly committed = new Map<string, () => void>();

  constructor(
    private readonly config: SoapSnapshotConfig,
    private readonly context: SoapSourceContext & { pipeline?: string } = {},
  ) {}

  private async open(): Promise<SoapClient> {
    this.client ??= await SoapClient.open(this.config, this.context);
    return this.client;
  }

  private diff(stream: string): SnapshotDiff {
    if (this.db === undefined) {
      const dir = resolve(this.context.baseDir ?? process.cwd(), this.config.stateDir);
      const name = (this.context.pipeline ?? 'soap').replace(/[^A-Za-z0-9._-]/g, '_');
      this.db = openStateDatabase(join(dir, `${name}.soap-snapshot.sqlite`));
    }
    return new SnapshotDiff(this.db, stream);
  }

  /** Readiness: one GET of the service on a connection of its own (see probeService); calls no operation. */
  async probe(signal: AbortSignal): Promise<void> {
    await probeService(this.config, this.context, signal, this.client?.endpoint);
  }

  async discover(): Promise<StreamInfo[]> {
    const client = await this.open();
    return client.describe();
  }

  async *read(ctx: ReadContext<SoapSnapshotPosition>): AsyncIterable<Batch<SoapSnapshotPosition>> {
    const client = await this.open();
    const stop = AbortSignal.any([ctx.signal, this.closed.signal]);
    const stream = this.config.stream ?? `${client.service}.${this.config.operation}`;
    const diff = this.diff(stream);
    const next = runSchedule(this.context.schedule, this.config.pollIntervalMs);
    const from = parsePosition(ctx.from);
    let resume: SoapSnapshotPosition | undefined;
    let lastEnded: Date | undefined;
    if (from?.state === 'done') {
      // The pass was committed; acknowledge may not have run before a crash.
      diff.commit(from.generation);
      lastEnded = from.endedAt === undefined ? undefined : new Date(from.endedAt);
    } else if (from !== undefined) {
      resume = from;
    }
    if (!ctx.once && resume === undefined && !isRunDue(lastEnded, new Date(), next)) {
      if ((await waitForNextRun(lastEnded ?? new Date(), next, stop, undefined, ctx.wake)) === undefined)
        return;
    }
    for (;;) {
      const pass = resume ?? { generation: `pass@${new Date().toISOString()}`, state: 'listing' as const };
      resume = undefined;
      diff.begin(pass.generation);
      const acked = new Promise<void>((r) => this.committed.set(pass.generation, r));
      yield* this.pass(client, diff, stream, pass, stop);
      if (stop.aborted) return;
      ctx.caughtUp?.();
      if (ctx.once) return;
      // The next pass is diffed against this one: wait until it is committed and made the baseline.
      const stopped = new Promise<void>((r) => stop.addEventListener('abort', () => r(), { once: true }));
      await Promise.race([acked, stopped]);
      if ((await waitForNextRun(new Date(), next, stop, undefined, ctx.wake)) === undefined) return;
    }
  }

  private async *pass(
    client: SoapClient,
    diff: SnapshotDiff,
    stream: string,
    start: SoapSnapshotPosition,
    stop: AbortSignal,
  ): AsyncGenerator<Batch<SoapSnapshotPosition>> {
    const { generation } = start;
    const { pagination } = this.config;
    const nextPath = pagination.type === 'token' ? pagination.nextPath : undefined;
    let position = start;
    if (position.state === 'listing') {
      let page: number | string =
        position.page ??
        (pagination.type === 'page-number' || pagination.type === 'token' ? pagination.first : 1);
      let skip = position.skip ?? 0;
      const seenTokens = new Set<string>();
      for (let pages = 0; ; pages += 1) {
        if (stop.aborted) return;
        if (pages >= this.config.maxPages) {
          throw new SoapError(
            SoapErrorCodes.SOAP_PAGINATION_LOOP,
            `${stream}: still paging after maxPages (${this.config.maxPages}); raise maxPages or check the pagination settings.`,
          );
        }
        const generator = client.stream(
          this.config.operation,
          templateArguments(this.config.arguments, { since: '', page }),
          {
            recordPath: this.config.records,
            scalarPaths: nextPath === undefined ? [] : [nextPath],
            chunkSize: this.config.batchSize,
            signal: stop,
          },
        );
        let index = 0;
        let held: Batch<SoapSnapshotPosition> | undefined;
        let result: Awaited<ReturnType<typeof generator.next>>;
        try {
          for (;;) {
            result = await generator.next();
            if (result.done) break;
            const batch = this.observe(diff, result.value, stream, generation, page, index, skip);
            index += result.value.length;
            if (held !== undefined) yield held;
            held = {
              ...batch,
              position: { generation, state: 'listing', page, skip: Math.max(skip, index) },
            };
          }
        } finally {
          await generator.return(undefined as never);
        }
        const count = result.value.records;
        let after: number | string | undefined;
        if (pagination.type === 'page-number') {
          const last = pagination.pageSize === undefined ? count === 0 : count < pagination.pageSize;
          after = last ? undefined : Number(page) + 1;
        } else if (nextPath !== undefined) {
          const token = result.value.scalars.get(nextPath);
          if (token !== undefined && token !== '') {
            if (seenTokens.has(token) || token === String(page)) {
              throw new SoapError(
                SoapErrorCodes.SOAP_PAGINATION_LOOP,
                `${stream}: the service returned next-page token ${token} again; refusing to loop.`,
              );
            }
            seenTokens.add(token);
            after = token;
          }
        }
        position =
          after === undefined
            ? { generation, state: 'deleting' }
            : { generation, state: 'listing', page: after, skip: 0 };
        const last = held ?? { records: [], position };
        last.position = position;
        yield last;
        if (after === undefined) break;
        page = after;
        skip = 0;
      }
    }
    for (;;) {
      if (stop.aborted) return;
      const gone = diff.deletions(generation, position.afterKey, this.config.batchSize);
      if (gone.length === 0) break;
      const records: ChangeRecord[] = gone.map((d) => ({
        stream,
        op: 'delete',
        key: JSON.parse(d.key) as Record<string, unknown>,
        before: d.before,
        origin: { operation: this.config.operation, generation, deleted: true },
      }));
      position = { generation, state: 'deleting', afterKey: gone.at(-1)!.key };
      yield { records, position };
    }
    yield { records: [], position: { generation, state: 'done', endedAt: new Date().toISOString() } };
  }

  private observe(
    diff: SnapshotDiff,
    items: XmlObject[],
    stream: string,
    generation: string,
    page: number | string,
    start: number,
    skip: number,
  ): { records: ChangeRecord[]; rejected: RejectedInput[] } {
    const rejected: RejectedInput[] = [];
    const rows: { key: string; row: Record<string, unknown>; record: ChangeRecord; replay: boolean }[] = [];
    for (const [offset, item] of items.entries()) {
      const index = start + offset;
      const replay = index < skip;
      const origin = { operation: this.config.operation, generation, page, index };
      const key: Record<string, unknown> = {};
      const missing = this.config.key.filter((name) => {
        const value = getPath(item, name);
        if (value === undefined || value === null || value === '') return true;
        key[name] = value;
        return false;
      });
      if (missing.length > 0) {
        if (!replay) {
          rejected.push({
            stream,
            code: SoapErrorCodes.SOAP_RECORD_INVALID,
            message: `record ${index} of page ${page} has no ${missing.join(', ')}`,
            raw: item,
            origin,
          });
        }
        continue;
      }
      const row = item as Record<string, unknown>;
      // Replayed rows are observed again (harmless) so the generation is complete, but not emitted twice.
      rows.push({
        key: stableStringify(key),
        row,
        record: { stream, op: 'read', key, after: row, origin },
        replay,
      });
    }
    const records: ChangeRecord[] = [];
    const ops = rows.length === 0 ? [] : diff.observeMany(generation, rows);
    for (const [i, o] of ops.entries()) {
      const entry = rows[i]!;
      if (entry.replay || o.op === 'unchanged') continue;
      entry.record.op = o.op;
      if (o.before !== undefined) entry.record.before = o.before;
      records.push(entry.record);
    }
    return { records, rejected };
  }

  /** After the pass's last batch is committed, make it the baseline the next pass is compared with. */
  async acknowledge(position: SoapSnapshotPosition): Promise<void> {
    if (position.state !== 'done') return;
    const stream = this.config.stream ?? `${(await this.open()).service}.${this.config.operation}`;
    this.diff(stream).commit(position.generation);
    this.committed.get(position.generation)?.();
    this.committed.delete(position.generation);
  }

  async close(): Promise<void> {
    this.closed.abort();
    this.client?.close();
    this.db?.close();
    this.db = undefined;
  }
}

function parsePosition(from: unknown): SoapSnapshotPosition | undefined {
  if (from === undefined || from === null) return undefined;
  const value = from as Partial<SoapSnapshotPosition>;
  if (
    typeof value !== 'object' ||
    typeof value.generation !== 'string' ||
    !['listing', 'deleting', 'done'].includes(String(value.state))
  ) {
    throw new SoapError(
      SoapErrorCodes.SOAP_POSITION_INVALID,
      `the saved checkpoint ${JSON.stringify(from)} is not a SOAP snapshot position; clear the checkpoint to start over.`,
    );
  }
  return value as SoapSnapshotPosition;
}
