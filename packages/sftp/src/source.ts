// The SFTP source, a pass source: each read connects, reads every stable file not yet processed (first the
// one a checkpoint left half-read) and ends; the runtime decides when the next pass runs. Rows become change
// records with a (file, line) position, so a crash mid-file resumes at the next row. Registering and moving
// a file happen in acknowledge(), once the checkpoint that finishes it is saved.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { posix, resolve } from 'node:path';
import {
  type Batch,
  type BatchNotice,
  type ChangeRecord,
  type Clock,
  type Logger,
  type ReadContext,
  type RejectedInput,
  SnapshotDiff,
  type Source,
  type SourceCadence,
  type SourceContext,
  type StreamInfo,
  sequenceOf,
  silentLogger,
  stableStringify,
  systemClock,
} from '@ferry/core/sdk';
import picomatch from 'picomatch';
import { defaultStreamName, type SftpSourceConfig } from './config.js';
import { SftpError, SftpErrorCodes } from './errors.js';
import { type ReadBudget, readBudget } from './internal/budget.js';
import { type Item, readItems } from './internal/parsers.js';
import { SftpState } from './internal/state.js';
import { type RemoteEntry, SftpConnection } from './internal/transport.js';
import type { SftpPosition } from './position.js';

/** What the source is built with: the runtime's in-flight budget, which its read buffers are sized to. */
export interface SftpSourceContext extends SourceContext {
  /** `runtime.maxInFlightBytes` (FactoryContext.maxInFlightBytes); the runtime's default without it. */
  maxInFlightBytes?: number;
}

interface Candidate extends RemoteEntry {
  stable: boolean;
}

/**
 * One read: its connection and context, the diff of each snapshot scope it compares files in, and how many
 * files are finished, counted on from the checkpoint it started from (see SftpPosition).
 */
interface Pass {
  conn: SftpConnection;
  ctx: ReadContext<SftpPosition>;
  diff(scope: string): SnapshotDiff;
  finishedFiles: number;
}

const FINISHED = new Set<SftpPosition['state']>(['done', 'rejected', 'skipped']);

/** The line part of a deletion's sequence: a full extract's deletions come after every row of its file. */
const AFTER_EVERY_LINE = Number.MAX_SAFE_INTEGER;

export class SftpSource implements Source<SftpPosition> {
  readonly type = 'sftp';
  readonly cadence: SourceCadence;
  private readonly baseDir: string;
  private readonly pipeline: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly stream: string;
  private readonly spoolDir: string;
  private readonly businessKey: RegExp | undefined;
  private readonly budget: ReadBudget;
  private state: SftpState | undefined;
  /** Moves acknowledged files; open while a pass runs, closed once its last file is acknowledged. */
  private mover: SftpConnection | undefined;
  private reading = false;
  /** The open connection of the pass being read, which moves files too while it is open. */
  private readingConnection: SftpConnection | undefined;
  /** Moves running on the pass's connection (see moverConnection): each settles when it is done with it. */
  private readonly borrowed = new Set<Promise<void>>();
  private readonly observed = new Map<string, { size: number; mtime: number; since: number }>();

  constructor(
    private readonly config: SftpSourceConfig,
    context: SftpSourceContext = {},
  ) {
    this.cadence = { kind: 'passes', intervalMs: config.pollIntervalMs };
    this.baseDir = context.baseDir ?? process.cwd();
    this.pipeline = context.pipeline ?? 'sftp';
    this.log = context.logger ?? silentLogger();
    this.clock = context.clock ?? systemClock;
    this.stream = config.stream ?? defaultStreamName(config.paths[0]!);
    const stateDir = resolve(this.baseDir, config.stateDir);
    this.spoolDir = config.spoolDir ? resolve(this.baseDir, config.spoolDir) : resolve(stateDir, 'spool');
    this.businessKey = config.businessKey ? new RegExp(config.businessKey.pattern) : undefined;
    this.budget = readBudget(context.maxInFlightBytes, config.transferConcurrency);
  }

  private store(): SftpState {
    this.state ??= new SftpState(resolve(this.baseDir, this.config.stateDir, `${this.pipeline}.sftp.sqlite`));
    return this.state;
  }

  private connection(log: Logger): SftpConnection {
    return new SftpConnection(this.config.connection, this.baseDir, log);
  }

  async discover(): Promise<StreamInfo[]> {
    const conn = this.connection(this.log);
    try {
      await conn.connect();
      const files = await this.candidates(conn);
      return files.map((f) => ({
        name: f.path,
        details: {
          size: f.size,
          mtime: new Date(f.mtime).toISOString(),
          stable: f.stable,
          stream: this.stream,
        },
      }));
    } finally {
      await conn.end();
    }
  }

  /**
   * Readiness: log in on a connection of its own (same host-key checking and credentials) and stat the
   * directory of the first configured path. A running read keeps its own connection untouched.
   */
  async probe(signal: AbortSignal): Promise<void> {
    const conn = this.connection(this.log);
    const dir = posix.dirname(this.config.paths[0]!);
    try {
      await conn.probe(dir, signal);
    } finally {
      await conn.end();
    }
  }

  /** Matching files in read order, each with whether it is completely uploaded. */
  private async candidates(conn: SftpConnection): Promise<Candidate[]> {
    const now = this.clock.now();
    const out: Candidate[] = [];
    const ignored = picomatch(this.config.ignore, { dot: true });
    const stability = this.config.stability;
    for (const pattern of this.config.paths) {
      const dir = posix.dirname(pattern);
      const isMatch = picomatch(posix.basename(pattern), { dot: false });
      const entries = await conn.list(dir);
      const names = new Set(entries.map((e) => e.name));
      for (const entry of entries) {
        if (!entry.isFile || !isMatch(entry.name) || ignored(entry.name)) continue;
        if (stability.mode === 'marker' && stability.suffixes.some((s) => entry.name.endsWith(s))) continue;
        const candidate: Candidate = { ...entry, stable: true };
        if (stability.mode === 'marker') {
          const stem = entry.name.replace(/\.[^.]*$/, '');
          candidate.stable = stability.suffixes.some((s) => names.has(entry.name + s) || names.has(stem + s));
        } else if (stability.mode === 'quiet') {
          const seen = this.observed.get(entry.path);
          if (seen === undefined || seen.size !== entry.size || seen.mtime !== entry.mtime)
            this.observed.set(entry.path, { size: entry.size, mtime: entry.mtime, since: now });
          const since = this.observed.get(entry.path)!.since;
          candidate.stable =
            now - since >= stability.quietMs || now - entry.mtime >= stability.quietMs + 1000;
        }
        out.push(candidate);
      }
    }
    // Two patterns may match the same file: keep it once.
    const unique = [...new Map(out.map((c) => [c.path, c])).values()];
    unique.sort((a, b) =>
      this.config.order === 'mtime' ? a.mtime - b.mtime || cmp(a.path, b.path) : cmp(a.path, b.path),
    );
    return unique;
  }

  /** One pass over the server, on a connection of its own: nothing is held open between passes. */
  async *read(ctx: ReadContext<SftpPosition>): AsyncGenerator<Batch<SftpPosition>> {
    const from = ctx.from;
    const store = this.store();
    const finishedFiles = from?.finishedFiles ?? 0;
    store.settle(finishedFiles);
    const diffs = new Map<string, SnapshotDiff>();
    const diff = (scope: string): SnapshotDiff => {
      let found = diffs.get(scope);
      if (found === undefined) {
        found = new SnapshotDiff(store.db, scope, from);
        diffs.set(scope, found);
      }
      return found;
    };
    // Opening a diff settles a baseline a crash left staged (whatever its scope): do it before anything can
    // move the checkpoint on, since it is settled against exactly this checkpoint.
    if (this.config.mode === 'full-extract' || this.businessKey !== undefined) diff(this.stream);
    await mkdir(this.spoolDir, { recursive: true });
    const conn = this.connection(ctx.log);
    this.reading = true;
    try {
      // Stopped while waiting for a free session of the host: nothing was read, nothing to do.
      if (!(await conn.connect(ctx.signal))) return;
      this.readingConnection = conn;
      const resume = from !== undefined && !FINISHED.has(from.state) ? from : undefined;
      yield* this.pass({ conn, ctx, diff, finishedFiles }, resume);
    } finally {
      this.reading = false;
      this.readingConnection = undefined;
      // Moves that borrowed this connection finish on it first.
      await Promise.all(this.borrowed);
      await conn.end();
    }
  }

  /** Read every stable file not yet processed (first the one a checkpoint left half-read). */
  private async *pass(pass: Pass, resume: SftpPosition | undefined): AsyncGenerator<Batch<SftpPosition>> {
    const { conn, ctx } = pass;
    const store = this.store();
    const started = this.clock.now();
    let halfRead = resume;
    for (;;) {
      const files = await this.candidates(conn);
      if (halfRead !== undefined) {
        const { file } = halfRead;
        const current = files.find((f) => f.path === file);
        if (current === undefined)
          ctx.log.warn({ file }, 'the file being read at the last checkpoint is gone; moving on');
        else yield* this.processFile(pass, current, halfRead);
        halfRead = undefined;
        if (ctx.signal.aborted) return;
        continue;
      }
      const unread = files.filter((f) => !store.seen(f.path, f.size, f.mtime));
      const ready = unread.filter((f) => f.stable);
      for (const file of ready) {
        yield* this.processFile(pass, file, undefined);
        if (ctx.signal.aborted) return;
      }
      // Files may have arrived or settled meanwhile: list again until none is ready.
      if (ready.length > 0) continue;
      if (unread.length === 0) return;
      // Uploads still in progress under the quiet rule are waited for a little, then left for the next pass.
      const quiet = this.config.stability.mode === 'quiet' ? this.config.stability.quietMs : undefined;
      if (quiet === undefined || this.clock.now() - started >= 2 * quiet + 2000) {
        ctx.log.warn({ unstable: unread.length }, 'files still changing were left for the next pass');
        return;
      }
      ctx.log.info({ unstable: unread.length }, 'files still being uploaded; waiting for them to settle');
      await this.clock.sleep(Math.min(1000, Math.max(100, quiet / 4)), ctx.signal);
      if (ctx.signal.aborted) return;
    }
  }

  /** Download to the spool, check size and stability, and hash the copy. */
  private async fetch(conn: SftpConnection, file: Candidate): Promise<{ local: string; sha256: string }> {
    const local = resolve(this.spoolDir, `${createHash('sha1').update(file.path).digest('hex')}.part`);
    await conn.download(file.path, local, this.budget.transferConcurrency);
    const after = await conn.stat(file.path);
    const localSize = (await stat(local)).size;
    if (after.size !== file.size || after.mtime !== file.mtime || localSize !== file.size) {
      await rm(local, { force: true });
      throw new SftpError(
        SftpErrorCodes.SFTP_TRANSFER_CORRUPT,
        `${file.path}: downloaded ${localSize} bytes, the server lists ${file.size} (now ${after.size}, mtime ` +
          `${after.mtime === file.mtime ? 'unchanged' : 'changed'}): the file changed or the transfer was damaged; will retry`,
        { retryable: true, details: { path: file.path, localSize, size: file.size } },
      );
    }
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(local, { highWaterMark: this.budget.readChunkBytes }))
      hash.update(chunk as Buffer);
    return { local, sha256: hash.digest('hex') };
  }
  private async *processFile(
    pass: Pass,
    file: Candidate,
    resumeFrom: SftpPosition | undefined,
  ): AsyncGenerator<Batch<SftpPosition>> {
    const { ctx } = pass;
    const store = this.store();
    const { local, sha256 } = await this.fetch(pass.conn, file);
    try {
      const base: SftpPosition = {
        v: 1,
        file: file.path,
        size: file.size,
        mtime: file.mtime,
        sha256,
        line: 0,
        state: 'reading',
        rows: 0,
        rejectedRows: 0,
        finishedFiles: pass.finishedFiles,
      };
      let resume = resumeFrom;
      if (resume !== undefined && resume.sha256 !== sha256) {
        ctx.log.warn(
          { file: file.path },
          'the file changed since the last checkpoint; reading it from the start',
        );
        resume = undefined;
      }
      // Every batch of the file says how far through it the run is, and how old the file is (the source lag).
      // Byte offsets are of the decompressed text, so a .gz file counts rows, against no known total.
      const gz = file.path.endsWith('.gz');
      const about = (done: number, rows: number): Pick<Batch<SftpPosition>, 'progress' | 'sourceTime'> => ({
        sourceTime: new Date(file.mtime),
        progress: gz
          ? { label: file.path, done: rows, unit: 'rows' }
          : { label: file.path, done: Math.min(done, file.size), total: file.size, unit: 'bytes' },
      });
      if (resume === undefined) {
        const known = store.byContent(file.path, sha256);
        if (known !== undefined) {
          ctx.log.info({ file: file.path, sha256 }, 'identical file delivered again; skipped');
          yield this.finish(pass, file, {
            records: [],
            position: { ...base, state: 'skipped', rows: known.rows, rejectedRows: known.rejectedRows },
            ...about(file.size, known.rows),
          });
          return;
        }
        if (store.byPath(file.path) !== undefined)
          ctx.log.info(
            { file: file.path, sha256 },
            'a file with this name was processed before; new content, processing it as a new file',
          );
        const verdict = await this.validate(local, file.path);
        if (verdict !== undefined) {
          ctx.log.error({ file: file.path, code: SftpErrorCodes.SFTP_FILE_REJECTED }, verdict.message);
          const rejected: RejectedInput = {
            stream: this.stream,
            code: SftpErrorCodes.SFTP_FILE_REJECTED,
            message: verdict.message,
            raw: { file: file.path, size: file.size, sha256, ...verdict.details },
            origin: { file: file.path, sha256 },
          };
          yield this.finish(pass, file, {
            records: [],
            rejected: [rejected],
            notices: [
              this.notice('ferry.file.rejected', file, sha256, {
                rowsRead: verdict.rows,
                rowsRejected: verdict.rejectedRows,
                code: SftpErrorCodes.SFTP_FILE_REJECTED,
                reason: verdict.message,
              }),
            ],
            position: { ...base, state: 'rejected', rows: verdict.rows, rejectedRows: verdict.rejectedRows },
            ...about(file.size, verdict.rows + verdict.rejectedRows),
          });
          return;
        }
      }
      ctx.log.info({ file: file.path, size: file.size, sha256, fromLine: resume?.line ?? 0 }, 'reading file');
      const scope = this.diffScope(file.path);
      const diff = scope === undefined ? undefined : pass.diff(scope);
      const generation = `${file.path}#${sha256}`;
      diff?.begin(generation);
      // The file this one supersedes (same business key, or the previous extract), for the notices.
      const baseline = diff?.baseline();
      const diffFacts =
        scope === undefined
          ? {}
          : {
              ...(this.businessKey ? { businessKey: this.businessKeyOf(file.path) } : {}),
              supersedes:
                baseline === undefined || baseline === generation
                  ? null
                  : { file: baseline.replace(/#[0-9a-f]{64}$/, ''), sha256: baseline.slice(-64) },
            };
      let position: SftpPosition = resume ?? base;
      // A resumed file's started notice was committed with its first batch (a position exists only after it).
      let notices: BatchNotice[] | undefined =
        resume === undefined ? [this.notice('ferry.file.started', file, sha256, diffFacts)] : undefined;
      const withNotices = (batch: Batch<SftpPosition>): Batch<SftpPosition> => {
        if (notices !== undefined) batch.notices = [...notices, ...(batch.notices ?? [])];
        notices = undefined;
        return batch;
      };
      if (position.state === 'reading') {
        const skipTo = position.line;
        let records: ChangeRecord[] = [];
        let rejected: RejectedInput[] = [];
        let lastLine = position.line;
        let lastByte = 0;
        // Where the batch being built starts in the file: it is closed at batchBytes of text as well as at
        // batchSize rows, so wide rows keep a batch within its share of the in-flight budget.
        let batchFrom = 0;
        let { rows, rejectedRows } = position;
        let observe: { key: string; row: Record<string, unknown>; record: ChangeRecord }[] = [];
        const flush = (): Batch<SftpPosition> => {
          if (diff !== undefined && observe.length > 0) {
            const ops = diff.observeMany(generation, observe);
            for (const [i, o] of ops.entries()) {
              const entry = observe[i]!;
              if ((entry.record.origin.line as number) <= skipTo || o.op === 'unchanged') continue;
              entry.record.op = o.op;
              if (o.before !== undefined) entry.record.before = o.before;
              records.push(entry.record);
            }
            observe = [];
          }
          position = { ...position, line: lastLine, rows, rejectedRows };
          const batch: Batch<SftpPosition> = { records, position, ...about(lastByte, rows + rejectedRows) };
          if (rejected.length > 0) batch.rejected = rejected;
          records = [];
          rejected = [];
          return batch;
        };
        for await (const items of readItems(local, this.config.format, gz, this.budget.readChunkBytes)) {
          for (const item of items) {
            if (item.kind !== 'row' && item.kind !== 'reject') continue;
            const replay = item.line <= skipTo;
            if (replay && diff === undefined) continue;
            if (records.length + rejected.length + observe.length === 0) batchFrom = item.byteOffset;
            const outcome = this.toRecord(item, file, sha256);
            if ('code' in outcome) {
              if (replay) continue;
              rejected.push(outcome);
              rejectedRows += 1;
            } else if (diff !== undefined) {
              observe.push({ key: stableStringify(outcome.key), row: outcome.after!, record: outcome });
              if (!replay) rows += 1;
            } else {
              records.push(outcome);
              rows += 1;
            }
            if (!replay) lastLine = item.line;
            lastByte = item.byteOffset;
            if (
              records.length + rejected.length + observe.length >= this.config.batchSize ||
              lastByte - batchFrom >= this.budget.batchBytes
            ) {
              const batch = flush();
              if (batch.records.length > 0 || batch.rejected || batch.position.line > skipTo)
                yield withNotices(batch);
              if (ctx.signal.aborted) return;
            }
          }
        }
        lastByte = file.size;
        const batch = flush();
        if (batch.records.length > 0 || batch.rejected) yield withNotices(batch);
        if (ctx.signal.aborted) return;
        position = { ...position, state: 'deleting' };
        delete position.afterKey;
      }
      if (diff !== undefined) {
        for (;;) {
          const gone = diff.deletions(generation, position.afterKey, this.config.batchSize);
          if (gone.length === 0) break;
          const records: ChangeRecord[] = gone.map((d) => ({
            stream: this.stream,
            op: 'delete',
            key: JSON.parse(d.key) as Record<string, unknown>,
            before: d.before,
            origin: { file: file.path, sha256, deleted: true },
            sequence: sequenceOf(file.mtime, AFTER_EVERY_LINE),
          }));
          position = { ...position, state: 'deleting', afterKey: gone.at(-1)!.key };
          yield withNotices({
            records,
            position,
            ...about(file.size, position.rows + position.rejectedRows),
          });
          if (ctx.signal.aborted) return;
        }
      }
      const done: SftpPosition = { ...position, state: 'done' };
      delete done.afterKey;
      const completed = this.notice('ferry.file.completed', file, sha256, {
        ...diffFacts,
        rowsRead: done.rows,
        rowsRejected: done.rejectedRows,
      });
      // The runtime makes this snapshot the baseline once the batch is committed, before it reads on, so the
      // next file is compared with exactly this one.
      yield withNotices(
        this.finish(pass, file, {
          records: [],
          notices: [completed],
          position: done,
          ...about(file.size, done.rows + done.rejectedRows),
          ...(diff === undefined ? {} : { baseline: diff.handoff(generation) }),
        }),
      );
      ctx.log.info({ file: file.path, rows: done.rows, rejected: done.rejectedRows }, 'file read');
    } finally {
      await rm(local, { force: true });
    }
  }

  /**
   * The batch that finishes a file (done, rejected or skipped): it numbers the file, notes locally that the
   * file is finished once this position is committed, and ends its commit group, so the position is exactly
   * a saved checkpoint that acknowledge() is given.
   */
  private finish(pass: Pass, file: Candidate, batch: Batch<SftpPosition>): Batch<SftpPosition> {
    pass.finishedFiles += 1;
    this.store().finishing(pass.finishedFiles, file);
    return { ...batch, position: { ...batch.position, finishedFiles: pass.finishedFiles }, boundary: true };
  }

  /**
   * The business key a file's name carries (e.g. court and sitting date): the named groups of the pattern,
   * or its capture groups (or whole match) when it names none.
   */
  private businessKeyOf(path: string): Record<string, string> | undefined {
    const match = this.businessKey?.exec(posix.basename(path));
    if (!match) return undefined;
    if (match.groups !== undefined) return { ...match.groups } as Record<string, string>;
    const parts = match.length > 1 ? match.slice(1) : [match[0]];
    return Object.fromEntries(parts.map((p, i) => [String(i + 1), p ?? '']));
  }

  /**
   * Which snapshot a file is diffed against: with a business key, the last file carrying the same key (a
   * corrected file supersedes it); in full-extract mode, the previous extract; otherwise none.
   */
  private diffScope(path: string): string | undefined {
    if (this.businessKey !== undefined) {
      const key = this.businessKeyOf(path);
      return key === undefined ? undefined : `${this.stream}#${stableStringify(key)}`;
    }
    return this.config.mode === 'full-extract' ? this.stream : undefined;
  }

  /** A file-level event beside the rows; its id derives from the file and its content (path#sha256). */
  private notice(
    type: 'ferry.file.started' | 'ferry.file.completed' | 'ferry.file.rejected',
    file: Candidate,
    sha256: string,
    extra: Record<string, unknown>,
  ): BatchNotice {
    return {
      type,
      stream: this.stream,
      subject: file.path,
      key: `${file.path}#${sha256}`,
      data: {
        file: file.path,
        stream: this.stream,
        size: file.size,
        mtime: new Date(file.mtime).toISOString(),
        sha256,
        mode: this.config.mode,
        ...extra,
      },
      origin: { file: file.path, sha256 },
      // A file is a unit of work: the runtime adds what its rows became to the closing notice.
      unit: type === 'ferry.file.started' ? 'opens' : type === 'ferry.file.completed' ? 'closes' : 'whole',
    };
  }

  private toRecord(
    item: Extract<Item, { kind: 'row' | 'reject' }>,
    file: Candidate,
    sha256: string,
  ): ChangeRecord | RejectedInput {
    const origin = { file: file.path, line: item.line, byteOffset: item.byteOffset, sha256 };
    // A later file (mtime), then a later line, is a later change of the same key.
    const sequence = sequenceOf(file.mtime, item.line);
    if (item.kind === 'reject')
      return {
        stream: this.stream,
        code: item.code,
        message: `${file.path}:${item.message}`,
        raw: item.raw,
        origin,
        sequence,
      };
    const key: Record<string, unknown> = {};
    for (const column of this.config.key) {
      const value = item.values[column];
      if (value === undefined || value === null || value === '')
        return {
          stream: this.stream,
          code: SftpErrorCodes.SFTP_KEY_MISSING,
          message: `${file.path}:${item.line}: key column ${column} is empty or missing`,
          raw: item.values,
          origin,
          sequence,
        };
      key[column] = value;
    }
    return { stream: this.stream, op: 'read', key, after: item.values, origin, sequence };
  }

  /** The whole-file checks (trailer count, rejection threshold), in a pass before any row is emitted. */
  private async validate(
    local: string,
    path: string,
  ): Promise<
    { message: string; rows: number; rejectedRows: number; details: Record<string, unknown> } | undefined
  > {
    if (this.businessKey !== undefined && this.businessKeyOf(path) === undefined)
      return {
        message: `${path}: the file name does not match businessKey.pattern ${this.businessKey.source}, so it is unknown which earlier file it corrects. Rejected whole and moved to the error directory; rename it to the agreed convention.`,
        rows: 0,
        rejectedRows: 0,
        details: { pattern: this.businessKey.source },
      };
    const format = this.config.format;
    const trailerField = format.type === 'fixed-width' ? format.trailerCountField : undefined;
    const threshold = this.config.rejectThreshold;
    if (trailerField === undefined && threshold === undefined) return;
    let rows = 0;
    let bad = 0;
    let trailer: Record<string, unknown> | undefined;
    for await (const items of readItems(local, format, path.endsWith('.gz'), this.budget.readChunkBytes)) {
      for (const item of items) {
        if (item.kind === 'row') rows += 1;
        else if (item.kind === 'reject') bad += 1;
        else if (item.kind === 'trailer') trailer = item.values;
      }
    }
    if (trailerField !== undefined) {
      const expected = trailer?.[trailerField];
      if (trailer === undefined || expected !== rows + bad)
        return {
          message:
            trailer === undefined
              ? `${path}: no trailer record; the file is incomplete or not in the configured layout. Rejected whole and moved to the error directory.`
              : `${path}: trailer says ${String(expected)} detail records, the file has ${rows + bad}. Rejected whole and moved to the error directory; ask the sender for a complete file.`,
          rows,
          rejectedRows: bad,
          details: { trailerCount: expected ?? null, detailRecords: rows + bad },
        };
    }
    if (threshold !== undefined) {
      const total = rows + bad;
      const overCount = threshold.maxRows !== undefined && bad > threshold.maxRows;
      const overRatio = threshold.maxRatio !== undefined && total > 0 && bad / total > threshold.maxRatio;
      if (overCount || overRatio)
        return {
          message: `${path}: ${bad} of ${total} rows are bad, over the rejectThreshold (${JSON.stringify(threshold)}). Rejected whole and moved to the error directory; no row of it was emitted.`,
          rows,
          rejectedRows: bad,
          details: { badRows: bad, totalRows: total },
        };
    }
    return;
  }

  /** Every finished file among the committed positions, in order. Idempotent (also run at start). */
  async acknowledge(positions: readonly SftpPosition[]): Promise<void> {
    for (const position of positions) if (FINISHED.has(position.state)) await this.release(position);
    // The last files of a pass are acknowledged after its read has ended: close what nothing will reuse.
    if (!this.reading) await this.closeMover();
  }

  /** After the checkpoint: register the file, then archive, delete or quarantine it. Idempotent. */
  private async release(position: SftpPosition): Promise<void> {
    this.store().record(
      {
        path: position.file,
        size: position.size,
        mtime: position.mtime,
        sha256: position.sha256,
        outcome: position.state === 'rejected' || position.state === 'skipped' ? position.state : 'done',
        rows: position.rows,
        rejectedRows: position.rejectedRows,
      },
      position.finishedFiles,
    );
    if (position.state !== 'rejected' && this.config.afterProcessing === 'leave') return;
    const target =
      position.state === 'rejected'
        ? this.config.errorDir
        : this.config.afterProcessing === 'archive'
          ? this.config.archiveDir
          : undefined;
    const { conn, done } = await this.moverConnection();
    try {
      const exists = await conn.exists(position.file);
      if (exists) {
        const current = await conn.stat(position.file);
        // A new upload under the same name is a new file: never move it away unread.
        if (current.size === position.size && current.mtime === position.mtime) {
          if (target === undefined) {
            await conn.delete(position.file);
          } else {
            const dir = posix.isAbsolute(target) ? target : posix.join(posix.dirname(position.file), target);
            await conn.mkdir(dir);
            let to = posix.join(dir, posix.basename(position.file));
            if (await conn.exists(to)) to = `${to}.${position.sha256.slice(0, 12)}`;
            if (!(await conn.exists(to))) await conn.rename(position.file, to);
            else await conn.delete(position.file);
          }
          this.log.info(
            { file: position.file, outcome: position.state, to: target ?? 'deleted' },
            'file handled',
          );
        }
      }
      if (this.config.stability.mode === 'marker') {
        const stem = position.file.replace(/\.[^./]*$/, '');
        for (const s of this.config.stability.suffixes)
          for (const marker of [position.file + s, stem + s])
            if (await conn.exists(marker)) await conn.delete(marker);
      }
    } catch (error) {
      await this.closeMover();
      throw error;
    } finally {
      done();
    }
  }

  /**
   * Where files are moved: during a pass, the pass's own connection (SFTP runs requests side by side on
   * one session), so a pipeline holds one of the host's sessions, and a cap of 1 cannot leave the mover
   * waiting on the reader that waits on the commit; after a pass, a connection of its own.
   */
  private async moverConnection(): Promise<{ conn: SftpConnection; done: () => void }> {
    const reading = this.readingConnection;
    if (reading?.connected) {
      // The pass waits for this move before it closes the connection.
      let done = () => {};
      const using = new Promise<void>((resolve) => {
        done = resolve;
      });
      this.borrowed.add(using);
      void using.then(() => this.borrowed.delete(using));
      return { conn: reading, done };
    }
    const none = () => {};
    if (this.mover?.connected) return { conn: this.mover, done: none };
    await this.closeMover();
    const conn = this.connection(this.log);
    await conn.connect();
    this.mover = conn;
    return { conn, done: none };
  }

  private async closeMover(): Promise<void> {
    const conn = this.mover;
    this.mover = undefined;
    await conn?.end();
  }

  async close(): Promise<void> {
    await this.closeMover();
    this.state?.close();
    this.state = undefined;
    await cleanSpool(this.spoolDir);
  }
}

async function cleanSpool(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(
    names.filter((n) => n.endsWith('.part')).map((n) => rm(resolve(dir, n), { force: true })),
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
