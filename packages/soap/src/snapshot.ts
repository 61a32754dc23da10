// Snapshot polling of a SOAP list operation, one pass per read: each pass lists every record (all pages) and
// core's diff engine compares it with the previous pass, so only creates, updates and deletes become events.
// The previous pass is kept in a SQLite file in stateDir; the batch that ends a pass hands it to the runtime,
// which makes it the baseline once that batch is committed.
import { join, resolve } from 'node:path';
import {
  type Batch,
  type ChangeRecord,
  type DiffDeletion,
  openStateDatabase,
  type ReadContext,
  type RejectedInput,
  SnapshotDiff,
  type StateDatabase,
  type StreamInfo,
  sequenceOf,
  stableStringify,
} from '@ferry/core/sdk';
import type { SoapSnapshotConfig } from './config.js';
import { refuseOtherMode } from './errors.js';
import { type PageChunk, readPages } from './internal/pager.js';
import { SoapPassSource } from './internal/source-base.js';
import { type SoapSnapshotPosition, soapSnapshotPositionSchema } from './positions.js';

/**
 * The batch's `sourceTime`: when its pass started, from the pass's name (`pass@<ISO>`, `+` added when the
 * clock did not move on). Records of a listing carry no change time, so this is their `time`; it is part of
 * every position of the pass, so a re-read of the pass stamps the same time (a replay is byte-identical).
 */
export function passTime(generation: string): { sourceTime?: Date } {
  const at = Date.parse(generation.replace(/^pass@/, '').replace(/\+*$/, ''));
  return Number.isNaN(at) ? {} : { sourceTime: new Date(at) };
}

export class SoapSnapshotSource extends SoapPassSource<SoapSnapshotPosition, SoapSnapshotConfig> {
  private db: StateDatabase | undefined;

  private database(): StateDatabase {
    if (this.db === undefined) {
      const dir = resolve(this.context.baseDir ?? process.cwd(), this.config.stateDir);
      const name = (this.context.pipeline ?? 'soap').replace(/[^A-Za-z0-9._-]/g, '_');
      this.db = openStateDatabase(join(dir, `${name}.soap-snapshot.sqlite`));
    }
    return this.db;
  }

  async discover(): Promise<StreamInfo[]> {
    const client = await this.open();
    return client.describe();
  }

  async *read(ctx: ReadContext<SoapSnapshotPosition>): AsyncIterable<Batch<SoapSnapshotPosition>> {
    const from = ctx.from;
    if (from !== undefined) refuseOtherMode(from, soapSnapshotPositionSchema, 'snapshot');
    const client = await this.open();
    const signal = this.stopping(ctx);
    const stream = this.streamName(client);
    // Settles a baseline a crash left staged, against the checkpoint this read starts from.
    const diff = new SnapshotDiff(this.database(), stream, from);
    const resuming = from !== undefined && from.state !== 'done';
    const generation = resuming ? from.generation : this.nextGeneration(diff, from?.generation);
    diff.begin(generation);
    if (resuming && from.state === 'deleting') {
      yield* this.deletions(diff, stream, generation, from.afterKey, signal);
      return;
    }
    const start = resuming && from.page !== undefined ? { page: from.page, skip: from.skip ?? 0 } : undefined;
    const label = `${stream} (pass ${generation})`;
    for await (const chunk of readPages(client, this.config, { since: '', from: start, label, signal })) {
      const batch = { ...this.observe(diff, chunk, stream, generation), ...passTime(generation) };
      if (chunk.next !== undefined) {
        yield { ...batch, position: { generation, state: 'listing', ...chunk.next } };
        continue;
      }
      // The listing is complete: what the baseline has and this pass lacks is deleted.
      if (diff.deletions(generation, undefined, 1).length === 0) {
        yield { ...batch, ...this.ending(diff, generation) };
      } else {
        yield { ...batch, position: { generation, state: 'deleting' } };
        yield* this.deletions(diff, stream, generation, undefined, signal);
      }
    }
  }

  /**
   * A new pass is named by the time it starts (from the injected clock), so names sort like passes and the
   * events of one pass are told apart from another's. It must sort after the pass it follows and differ
   * from the baseline, even when the clock says otherwise.
   */
  private nextGeneration(diff: SnapshotDiff, previous: string | undefined): string {
    const now = new Date(this.context.clock?.now() ?? Date.now()).toISOString();
    let generation = `pass@${now}`;
    for (const before of [previous, diff.baseline()]) {
      if (before !== undefined && generation <= before) generation = `${before}+`;
    }
    return generation;
  }

  /** Deleted rows in key order after `afterKey`; the last batch ends the pass. */
  private *deletions(
    diff: SnapshotDiff,
    stream: string,
    generation: string,
    afterKey: string | undefined,
    signal: AbortSignal,
  ): Generator<Batch<SoapSnapshotPosition>> {
    let gone = diff.deletions(generation, afterKey, this.config.batchSize);
    for (;;) {
      if (signal.aborted) return;
      const lastKey = gone.at(-1)?.key;
      const following =
        lastKey === undefined ? [] : diff.deletions(generation, lastKey, this.config.batchSize);
      const records = gone.map((deleted) => this.deleteRecord(deleted, stream, generation));
      if (following.length === 0) {
        yield { records, ...this.ending(diff, generation), ...passTime(generation) };
        return;
      }
      yield {
        records,
        position: { generation, state: 'deleting', afterKey: lastKey! },
        ...passTime(generation),
      };
      gone = following;
    }
  }

  /** The end of a pass: its position, and the pass as the next baseline once the runtime commits it. */
  private ending(
    diff: SnapshotDiff,
    generation: string,
  ): Pick<Batch<SoapSnapshotPosition>, 'position' | 'baseline'> {
    return { position: { generation, state: 'done' }, baseline: diff.handoff(generation) };
  }

  private deleteRecord(deleted: DiffDeletion, stream: string, generation: string): ChangeRecord {
    return {
      stream,
      op: 'delete',
      key: JSON.parse(deleted.key) as Record<string, unknown>,
      before: deleted.before,
      origin: { operation: this.config.operation, generation, deleted: true },
      // Deletes are found after the listing: they come after the pass's creates and updates.
      sequence: sequenceOf(generation, 1),
    };
  }

  private observe(
    diff: SnapshotDiff,
    chunk: PageChunk,
    stream: string,
    generation: string,
  ): { records: ChangeRecord[]; rejected: RejectedInput[] } {
    const rejected: RejectedInput[] = [];
    const rows: { key: string; row: Record<string, unknown>; record: ChangeRecord; replay: boolean }[] = [];
    const { page } = chunk;
    for (const [offset, item] of chunk.items.entries()) {
      const index = chunk.index + offset;
      const replay = index < chunk.skip;
      const origin = { operation: this.config.operation, generation, page, index };
      const { key, missing } = this.keyOf(item);
      if (missing.length > 0) {
        if (!replay) rejected.push(this.rejection(stream, item, origin, missing));
        continue;
      }
      const row = item as Record<string, unknown>;
      // Replayed rows are observed again (harmless) so the generation is complete, but not emitted twice.
      rows.push({
        key: stableStringify(key),
        row,
        record: {
          stream,
          op: 'read',
          key,
          after: row,
          origin,
          sequence: sequenceOf(generation, 0, page, index),
        },
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

  override async close(): Promise<void> {
    await super.close();
    this.db?.close();
    this.db = undefined;
  }
}
