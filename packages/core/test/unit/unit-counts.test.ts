// Units of work: a closing notice (a file completed) carries what the unit's records became — events, dead
// letters, skips — counted by the runtime over the unit's batches, and still whole after a restart inside it.
import { describe, expect, it } from 'vitest';
import { FerryError, runPipeline } from '../../src/index.js';
import type {
  Batch,
  BatchNotice,
  CanonicalEvent,
  CheckpointStore,
  DeadLetter,
  DeadLetterSink,
  Sink,
  Source,
  UnitTallyState,
} from '../../src/sdk.js';
import { fastRetry } from './helpers.js';

/** A file's lines: a row the mapping turns into an event, drops (skip), fails on, or the parser rejects. */
type Line = 'ok' | 'skip' | 'fail' | 'reject' | 'invalid';
const FILE: Line[] = ['ok', 'reject', 'ok', 'skip', 'fail', 'ok', 'invalid', 'ok', 'reject', 'ok', 'ok'];

interface Position {
  line: number;
  done: boolean;
}

function notice(type: string, unit: BatchNotice['unit'], data: Record<string, unknown> = {}): BatchNotice {
  return {
    type,
    stream: 'lists',
    subject: '/in/a.csv',
    key: '/in/a.csv#abc',
    data: { file: '/in/a.csv', ...data },
    origin: { file: '/in/a.csv' },
    unit,
  };
}

interface FileSourceOptions {
  /** Throw this after yielding the batch that ends at this line (once per source instance). */
  failAfterLine?: { line: number; error: Error };
  batchSize?: number;
}

/** A pass over one file, resumable from a line, as the SFTP source reads: started, rows, completed. */
function fileSource(lines: Line[], options: FileSourceOptions = {}): Source<Position> {
  let failed = false;
  const size = options.batchSize ?? 3;
  return {
    type: 'test-file',
    cadence: { kind: 'stream' },
    async *read({ from }) {
      if (from?.done) return;
      let line = from?.line ?? 0;
      let opening: BatchNotice[] | undefined =
        line === 0 ? [notice('ferry.file.started', 'opens')] : undefined;
      while (line < lines.length) {
        const batch: Batch<Position> = { records: [], rejected: [], position: { line, done: false } };
        for (const kind of lines.slice(line, line + size)) {
          line += 1;
          const origin = { file: '/in/a.csv', line };
          if (kind === 'reject')
            batch.rejected!.push({
              stream: 'lists',
              code: 'ROW_RAGGED',
              message: 'ragged',
              raw: line,
              origin,
            });
          else
            batch.records.push({ stream: 'lists', op: 'read', key: { line }, after: { line, kind }, origin });
        }
        batch.position = { line, done: false };
        if (opening) batch.notices = opening;
        opening = undefined;
        yield batch;
        if (options.failAfterLine?.line === line && !failed) {
          failed = true;
          throw options.failAfterLine.error;
        }
      }
      const rejected = lines.filter((l) => l === 'reject').length;
      yield {
        records: [],
        notices: [
          notice('ferry.file.completed', 'closes', {
            rowsRead: lines.length - rejected,
            rowsRejected: rejected,
          }),
        ],
        position: { line, done: true },
        boundary: true,
      };
    },
    close: async () => {},
  };
}

interface Store {
  checkpoint: unknown;
  tally: UnitTallyState | undefined;
}

function parts(store: Store, options: { tallies?: boolean; failSave?: (position: unknown) => boolean } = {}) {
  const events: CanonicalEvent[] = [];
  const letters: DeadLetter[] = [];
  const sink: Sink = { type: 'memory', write: async (e) => void events.push(...e), close: async () => {} };
  const deadLetters: DeadLetterSink = {
    type: 'memory',
    write: async (l) => void letters.push(...l),
    close: async () => {},
  };
  const checkpoints: CheckpointStore = {
    type: 'memory',
    load: async () => store.checkpoint,
    save: async (_p, position) => {
      if (options.failSave?.(position))
        throw new FerryError('CHECKPOINT_WRITE_FAILED', 'disk gone', { retryable: false });
      store.checkpoint = JSON.parse(JSON.stringify(position));
    },
    ...(options.tallies === false
      ? {}
      : {
          loadUnitTally: async () => store.tally,
          saveUnitTally: async (_p: string, state: UnitTallyState) => {
            store.tally = JSON.parse(JSON.stringify(state));
          },
        }),
  };
  return { events, letters, sink, deadLetters, checkpoints };
}

async function run(source: Source<Position>, p: ReturnType<typeof parts>) {
  return runPipeline({
    name: 'p',
    source,
    mapping: {
      canonicalType: 'test.row',
      map: (record) => {
        const kind = record.after?.kind;
        if (kind === 'skip') return null;
        if (kind === 'fail') throw new FerryError('MAPPING_FAILED', 'cannot map');
        return { subject: String(record.key.line), data: record.after };
      },
    },
    validate: (event) =>
      (event.data as { kind?: string } | undefined)?.kind === 'invalid'
        ? { code: 'CONTRACT_VIOLATION', message: 'invalid' }
        : undefined,
    retry: fastRetry,
    sink: p.sink,
    deadLetters: p.deadLetters,
    checkpoints: p.checkpoints,
    deadLetterThreshold: false,
  });
}

const completed = (events: CanonicalEvent[]) => events.filter((e) => e.type === 'ferry.file.completed');
const rowEvents = (events: CanonicalEvent[]) => events.filter((e) => e.type === 'test.row.snapshotted');
// The whole file: 6 'ok' rows become events; 2 rejects + 1 mapping failure + 1 contract violation are dead
// letters; 1 row is skipped.
const WHOLE = { events: 6, deadLetters: 4, skipped: 1 };

describe('unit counts on a closing notice', () => {
  it('count what the file became, reconciling with the events and dead letters written', async () => {
    const p = parts({ checkpoint: undefined, tally: undefined });
    await run(fileSource(FILE), p);
    const [notice] = completed(p.events);
    expect(notice?.data).toMatchObject({ rowsRead: 9, rowsRejected: 2, ...WHOLE });
    expect(rowEvents(p.events)).toHaveLength(WHOLE.events);
    expect(p.letters).toHaveLength(WHOLE.deadLetters);
    // The started notice opens the unit; it carries no counts.
    expect(p.events[0]).toMatchObject({ type: 'ferry.file.started' });
    expect(p.events[0]?.data).not.toHaveProperty('events');
  });

  it('a notice that is a whole unit counts its own batch', async () => {
    const p = parts({ checkpoint: undefined, tally: undefined });
    const source: Source<number> = {
      type: 'test',
      cadence: { kind: 'stream' },
      async *read() {
        yield {
          records: [],
          rejected: [{ stream: 'lists', code: 'FILE_REJECTED', message: 'trailer', raw: {}, origin: {} }],
          notices: [notice('ferry.file.rejected', 'whole')],
          position: 1,
          boundary: true,
        };
      },
      close: async () => {},
    };
    await runPipeline({
      name: 'p',
      source,
      mapping: { canonicalType: 'test.row', map: () => null },
      sink: p.sink,
      deadLetters: p.deadLetters,
      checkpoints: p.checkpoints,
    });
    expect(p.events[0]?.data).toMatchObject({ events: 0, deadLetters: 1, skipped: 0 });
  });

  it('stay whole when the run stops inside the file and a new process finishes it', async () => {
    const store: Store = { checkpoint: undefined, tally: undefined };
    const first = parts(store);
    const stop = new FerryError('SOURCE_GONE', 'the legacy server went away', { retryable: false });
    await expect(run(fileSource(FILE, { failAfterLine: { line: 6, error: stop } }), first)).rejects.toThrow(
      'went away',
    );
    expect(store.checkpoint).toEqual({ line: 6, done: false });
    expect(completed(first.events)).toHaveLength(0);
    const second = parts(store);
    await run(fileSource(FILE), second);
    const [notice] = completed(second.events);
    expect(notice?.data).toMatchObject(WHOLE);
    // What both processes wrote adds up to the notice's counts.
    expect(rowEvents(first.events).length + rowEvents(second.events).length).toBe(WHOLE.events);
    expect(first.letters.length + second.letters.length).toBe(WHOLE.deadLetters);
  });

  it('stay whole after a crash between saving the counts and saving the checkpoint', async () => {
    const store: Store = { checkpoint: undefined, tally: undefined };
    // The first checkpoint at or past line 6 is never saved; the counts as of it are, just before it.
    let crashed = false;
    const first = parts(store, {
      failSave: (position) => {
        if (crashed || (position as Position).line < 6) return false;
        crashed = true;
        return true;
      },
    });
    await expect(run(fileSource(FILE), first)).rejects.toThrow('disk gone');
    const tallied = JSON.parse(store.tally!.position) as Position;
    expect(tallied.line).toBeGreaterThanOrEqual(6);
    expect(store.checkpoint === undefined || (store.checkpoint as Position).line < tallied.line).toBe(true);
    const second = parts(store);
    await run(fileSource(FILE), second);
    expect(completed(second.events)[0]?.data).toMatchObject(WHOLE);
  });

  it('stay whole when the source fails inside the file and the runtime reads again from the last commit', async () => {
    const p = parts({ checkpoint: undefined, tally: undefined });
    const blip = new FerryError('SOURCE_TIMEOUT', 'timed out', { retryable: true });
    await run(fileSource(FILE, { failAfterLine: { line: 6, error: blip } }), p);
    expect(completed(p.events)[0]?.data).toMatchObject(WHOLE);
  });

  it('are null with the reason, never partial, when a resumed file’s earlier counts are not known', async () => {
    const store: Store = { checkpoint: undefined, tally: undefined };
    const stop = new FerryError('SOURCE_GONE', 'gone', { retryable: false });
    await expect(
      run(fileSource(FILE, { failAfterLine: { line: 6, error: stop } }), parts(store, { tallies: false })),
    ).rejects.toThrow('gone');
    const second = parts(store, { tallies: false });
    await run(fileSource(FILE), second);
    const data = completed(second.events)[0]?.data as Record<string, unknown>;
    expect(data).toMatchObject({ events: null, deadLetters: null, skipped: null });
    expect(data.countsIncomplete).toMatch(/earlier part/);
  });

  it('are not carried into the next file, nor taken from a tally saved at another checkpoint', async () => {
    const store: Store = { checkpoint: undefined, tally: undefined };
    await run(fileSource(FILE), parts(store));
    // An operator moves the checkpoint inside the file, to a line no commit ended at: the saved counts
    // belong to other positions.
    store.checkpoint = { line: 4, done: false };
    const again = parts(store);
    await run(fileSource(FILE), again);
    expect(completed(again.events)[0]?.data).toMatchObject({
      events: null,
      deadLetters: null,
      skipped: null,
    });
    // A new file read from its start counts only itself.
    const fresh = parts({ checkpoint: undefined, tally: store.tally });
    await run(fileSource(['ok', 'ok']), fresh);
    expect(completed(fresh.events)[0]?.data).toMatchObject({ events: 2, deadLetters: 0, skipped: 0 });
  });
});
