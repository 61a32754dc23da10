// The SFTP source: finds stable files, downloads and verifies each one, and yields its rows as change
// records with a (file, line) position, so a crash mid-file resumes at the next row. Archiving, deleting and
// the processed-file registry happen in acknowledge(), after the checkpoint is saved.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { posix, resolve } from 'node:path';
import {
  cronSchedule,
  intervalSchedule,
  isRunDue,
  type NextRun,
  scheduleProblem,
  waitForNextRun,
} from '@ferry/core';
import {
  type Batch,
  type BatchNotice,
  type ChangeRecord,
  type Clock,
  ConfigError,
  type Logger,
  type ReadContext,
  type RejectedInput,
  SnapshotDiff,
  type Source,
  type StreamInfo,
  silentLogger,
  stableStringify,
  systemClock,
} from '@ferry/core/sdk';
import picomatch from 'picomatch';
import type { SftpSourceConfig } from './config.js';
import { classifySftpError, SftpError, SftpErrorCodes } from './errors.js';
import { type Item, readItems } from './internal/parsers.js';
import { SftpState } from './internal/state.js';
import { type RemoteEntry, SftpConnection } from './internal/transport.js';

/** Where the source is: the file being read and the last line whose records are committed. */
export interface SftpPosition {
  v: 1;
  file: string;
  size: number;
  mtime: number;
  sha256: string;
  /** Last line of the file whose records (and rejects) are committed; 0 = none yet. */
  line: number;
  /** reading: rows; deleting: full-extract deletions; done/rejected/skipped: the file is finished. */
  state: 'reading' | 'deleting' | 'done' | 'rejected' | 'skipped';
  rows: number;
  rejectedRows: number;
  /** Full-extract deletion phase: last key emitted. */
  afterKey?: string;
  /**
   * Files finished earlier whose acknowledgement (registry, archive) had not happened when this position was
   * made: the runtime may commit several batches together and acknowledge only the last, and a crash can
   * fall between checkpoint and acknowledgement, so a restart from here finishes them first.
   */
  finished?: SftpPosition[];
}

export interface SftpSourceContext {
  pipeline?: string;
  baseDir?: string;
  logger?: Logger;
  /** Injected time for tests of schedules. */
  clock?: Clock;
  /** The pipeline's top-level `schedule`; without it the source polls every pollIntervalMs. */
  schedule?: { cron: string; timezone: string };
}

interface Candidate extends RemoteEntry {
  stable: boolean;
  marker?: string;
}

const FINISHED = new Set(['done', 'rejected', 'skipped']);

export class SftpSource implements Source<SftpPosition> {
  readonly type = 'sftp';
  private readonly baseDir: string;
  private readonly pipeline: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly stream: string;
  private readonly spoolDir: string;
  private state: SftpState | undefined;
  private ackConnection: SftpConnection | undefined;
  private readonly observed = new Map<string, { size: number; mtime: number; since: number }>();
  private readonly ackWaiters = new Map<string, () => void>();
  /** Finished files (done, rejected, skipped) yielded but not yet acknowledged, in read order. */
  private readonly unacked: { seq: number; position: SftpPosition }[] = [];
  private readonly sequence = new WeakMap<SftpPosition, number>();
  private yielded = 0;
  private readonly next: NextRun;
  private readonly businessKey: RegExp | undefined;

  constructor(
    private readonly config: SftpSourceConfig,
    context: SftpSourceContext = {},
  ) {
    this.baseDir = context.baseDir ?? process.cwd();
    this.pipeline = context.pipeline ?? 'sftp';
    this.log = context.logger ?? silentLogger();
    this.clock = context.clock ?? systemClock;
    this.stream = config.stream ?? config.paths[0]!;
    const stateDir = resolve(this.baseDir, config.stateDir);
    this.spoolDir = config.spoolDir ? resolve(this.baseDir, config.spoolDir) : resolve(stateDir, 'spool');
    this.businessKey = config.businessKey ? new RegExp(config.businessKey.pattern) : undefined;
    const schedule = context.schedule;
    const problem = schedule && scheduleProblem(schedule.cron, schedule.timezone);
    if (problem) throw new ConfigError(undefined, [{ path: 'schedule', message: problem }]);
    this.next = schedule
      ? cronSchedule(schedule.cron, schedule.timezone)
      : intervalSchedule(config.pollIntervalMs);
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
    await conn.connect();
    try {
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
    } catch (error) {
      // Reading the key or known_hosts file can fail before any SFTP call classifies it.
      throw classifySftpError(error, { operation: 'probe', path: dir, target: conn.target });
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
          const marker = stability.suffixes
            .flatMap((s) => [entry.name + s, stem + s])
            .find((name) => names.has(name));
          candidate.stable = marker !== undefined;
          if (marker !== undefined) candidate.marker = `${dir}/${marker}`;
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
    const seenPaths = new Set<string>();
    const unique = out.filter((c) => {
      if (seenPaths.has(c.path)) return false;
      seenPaths.add(c.path);
      return true;
    });
    unique.sort((a, b) =>
      this.config.order === 'mtime' ? a.mtime - b.mtime || cmp(a.path, b.path) : cmp(a.path, b.path),
    );
    return unique;
  }

  async *read(ctx: ReadContext<SftpPosition>): AsyncGenerator<Batch<SftpPosition>> {
    const from = validatePosition(ctx.from);
    const store = this.store();
    await mkdir(this.spoolDir, { recursive: true });
    let resume: SftpPosition | undefined;
    if (from !== undefined) {
      for (const earlier of from.finished ?? []) await this.finish(earlier);
      if (FINISHED.has(from.state)) await this.finish(from);
      else resume = from;
    }
    const last = store.get('lastPassAt');
    // A file left half-read by a crash is finished at once; otherwise a run missed while down runs now.
    const due = isRunDue(last ? new Date(last) : undefined, new Date(this.clock.now()), this.next);
    if (!ctx.once && resume === undefined && !due) {
      ctx.log.info('no run was missed; waiting for the next scheduled run');
      if ((await waitForNextRun(new Date(last!), this.next, ctx.signal, this.clock, ctx.wake)) === undefined)
        return;
    }
    for (;;) {
      // One connection per pass: nothing is held open (or left to go stale) between scheduled passes.
      const conn = this.connection(ctx.log);
      await conn.connect();
      try {
        for await (const batch of this.pass(conn, resume, ctx)) yield this.track(batch);
        resume = undefined;
      } finally {
        await conn.end();
      }
      if (ctx.signal.aborted) return;
      store.set('lastPassAt', new Date(this.clock.now()).toISOString());
      ctx.caughtUp?.();
      if (ctx.once) return;
      // The wait starts when the pass has ended, so passes never overlap and missed ticks do not pile up.
      if (
        (await waitForNextRun(new Date(this.clock.now()), this.next, ctx.signal, this.clock, ctx.wake)) ===
        undefined
      )
        return;
    }
  }

  /** Read every stable file not yet processed (first the one a checkpoint left half-read). */
  private async *pass(
    conn: SftpConnection,
    resumeFrom: SftpPosition | undefined,
    ctx: ReadContext<SftpPosition>,
  ): AsyncGenerator<Batch<SftpPosition>> {
    const store = this.store();
    let resume = resumeFrom;
    const passStarted = this.clock.now();
    for (;;) {
      let unstable = 0;
      // Acknowledgements (and so the registry) lag behind reading: remember what this pass already read.
      const handled = new Set<string>();
      for (;;) {
        const files = await this.candidates(conn);
        if (resume !== undefined) {
          const current = files.find((f) => f.path === resume!.file);
          if (current === undefined) {
            ctx.log.warn(
              { file: resume.file },
              'the file being read at the last checkpoint is gone; moving on',
            );
            resume = undefined;
          } else {
            handled.add(`${current.path}\0${current.size}\0${current.mtime}`);
            yield* this.processFile(conn, current, resume, ctx);
            resume = undefined;
            if (ctx.signal.aborted) return;
            continue;
          }
        }
        const pending = files.filter(
          (f) => !handled.has(`${f.path}\0${f.size}\0${f.mtime}`) && !store.seen(f.path, f.size, f.mtime),
        );
        const ready = pending.filter((f) => f.stable);
        unstable = pending.length - ready.length;
        if (ready.length === 0) break;
        for (const file of ready) {
          handled.add(`${file.path}\0${file.size}\0${file.mtime}`);
          yield* this.processFile(conn, file, undefined, ctx);
          if (ctx.signal.aborted) return;
        }
      }
      // In a one-shot run an upload still in progress is waited for a little, not skipped at once.
      const quiet = this.config.stability.mode === 'quiet' ? this.config.stability.quietMs : undefined;
      if (unstable > 0 && quiet !== undefined && this.clock.now() - passStarted < 2 * quiet + 2000) {
        ctx.log.info({ unstable }, 'files still being uploaded; waiting for them to settle');
        await this.clock.sleep(Math.min(1000, Math.max(100, quiet / 4)), ctx.signal);
        if (ctx.signal.aborted) return;
        continue;
      }
      if (unstable > 0) ctx.log.warn({ unstable }, 'files still changing were left for the next pass');
      return;
    }
  }

  /** Download to the spool, check size and stability, and hash the copy. */
  private async fetch(conn: SftpConnection, file: Candidate): Promise<{ local: string; sha256: string }> {
    const local = resolve(this.spoolDir, `${createHash('sha1').update(file.path).digest('hex')}.part`);
    await conn.download(file.path, local, this.config.transferConcurrency);
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
    for await (const chunk of createReadStream(local, { highWaterMark: 1 << 20 }))
      hash.update(chunk as Buffer);
    return { local, sha256: hash.digest('hex') };
  }

  private async *processFile(
    conn: SftpConnection,
    file: Candidate,
    resume: SftpPosition | undefined,
    ctx: ReadContext<SftpPosition>,
  ): AsyncGenerator<Batch<SftpPosition>> {
    const store = this.store();
    const { local, sha256 } = await this.fetch(conn, file);
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
      };
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
          yield {
            records: [],
            position: { ...base, state: 'skipped', rows: known.rows, rejectedRows: known.rejectedRows },
            ...about(file.size, known.rows),
          };
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
          yield {
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
          };
          return;
        }
      }
      ctx.log.info({ file: file.path, size: file.size, sha256, fromLine: resume?.line ?? 0 }, 'reading file');
      const scope = this.diffScope(file.path);
      const diff = scope !== undefined ? new SnapshotDiff(store.db, scope) : undefined;
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
        for await (const items of readItems(local, this.config.format, file.path.endsWith('.gz'))) {
          for (const item of items) {
            if (item.kind === 'header' || item.kind === 'trailer') continue;
            const replay = item.line <= skipTo;
            if (replay && diff === undefined) continue;
            const outcome = this.toRecord(item, file.path, sha256);
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
            if (records.length + rejected.length + observe.length >= this.config.batchSize) {
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
      const acked = diff ? new Promise<void>((r) => this.ackWaiters.set(sha256, r)) : undefined;
      const completed = this.notice('ferry.file.completed', file, sha256, {
        ...diffFacts,
        rowsRead: done.rows,
        rowsRejected: done.rejectedRows,
      });
      yield withNotices({
        records: [],
        notices: [completed],
        position: done,
        ...about(file.size, done.rows + done.rejectedRows),
      });
      ctx.log.info({ file: file.path, rows: done.rows, rejected: done.rejectedRows }, 'file read');
      // The next extract is diffed against this one: wait until this one is committed and made the baseline.
      if (acked !== undefined) {
        const stop = new Promise<void>((r) =>
          ctx.signal.addEventListener('abort', () => r(), { once: true }),
        );
        await Promise.race([acked, stop]);
      }
    } finally {
      await rm(local, { force: true });
    }
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
    };
  }

  private toRecord(item: Item, file: string, sha256: string): ChangeRecord | RejectedInput {
    const origin = { file, line: item.line, byteOffset: item.byteOffset, sha256 };
    if (item.kind === 'reject')
      return {
        stream: this.stream,
        code: item.code,
        message: `${file}:${item.message}`,
        raw: item.raw,
        origin,
      };
    const values = (item as { values: Record<string, unknown> }).values;
    const key: Record<string, unknown> = {};
    for (const column of this.config.key) {
      const value = values[column];
      if (value === undefined || value === null || value === '')
        return {
          stream: this.stream,
          code: SftpErrorCodes.SFTP_KEY_MISSING,
          message: `${file}:${item.line}: key column ${column} is empty or missing`,
          raw: values,
          origin,
        };
      key[column] = value;
    }
    return { stream: this.stream, op: 'read', key, after: values, origin };
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
    for await (const items of readItems(local, format, path.endsWith('.gz'))) {
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

  /**
   * The runtime may commit several batches together and acknowledge only the last position (group commit):
   * an acknowledgement covers every file finished at or before it, in read order.
   */
  async acknowledge(position: SftpPosition): Promise<void> {
    const seq = this.sequence.get(position);
    if (seq === undefined) {
      // A position from a checkpoint (not yielded by this process) carries the files it covers.
      for (const earlier of position.finished ?? []) await this.finish(earlier);
      return this.finish(position);
    }
    while (this.unacked.length > 0 && this.unacked[0]!.seq <= seq) {
      await this.finish(this.unacked[0]!.position);
      this.unacked.shift();
    }
  }

  /** Number the batch's position and make it carry the finished files not yet acknowledged. */
  private track(batch: Batch<SftpPosition>): Batch<SftpPosition> {
    const { finished: _, ...own } = batch.position;
    const position: SftpPosition = own;
    if (this.unacked.length > 0) position.finished = this.unacked.map((u) => u.position);
    this.yielded += 1;
    this.sequence.set(position, this.yielded);
    if (FINISHED.has(own.state)) this.unacked.push({ seq: this.yielded, position: own });
    return { ...batch, position };
  }

  /** After the checkpoint: register the file, then archive, delete or quarantine it. Idempotent. */
  private async finish(position: SftpPosition): Promise<void> {
    if (!FINISHED.has(position.state)) return;
    const store = this.store();
    const scope = this.diffScope(position.file);
    if (scope !== undefined && position.state === 'done') {
      new SnapshotDiff(store.db, scope).commit(`${position.file}#${position.sha256}`);
    }
    store.record({
      path: position.file,
      size: position.size,
      mtime: position.mtime,
      sha256: position.sha256,
      outcome: position.state as 'done' | 'rejected' | 'skipped',
      rows: position.rows,
      rejectedRows: position.rejectedRows,
    });
    this.ackWaiters.get(position.sha256)?.();
    this.ackWaiters.delete(position.sha256);
    const target =
      position.state === 'rejected'
        ? this.config.errorDir
        : this.config.afterProcessing === 'archive'
          ? this.config.archiveDir
          : undefined;
    if (position.state !== 'rejected' && this.config.afterProcessing === 'leave') return;
    this.ackConnection ??= this.connection(this.log);
    const conn = this.ackConnection;
    try {
      if (!(conn as unknown as { connected?: boolean }).connected) {
        await conn.connect();
        (conn as unknown as { connected?: boolean }).connected = true;
      }
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
      this.ackConnection = undefined;
      await conn.end();
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.ackConnection?.end();
    this.ackConnection = undefined;
    this.state?.close();
    this.state = undefined;
    for (const resolveWaiter of this.ackWaiters.values()) resolveWaiter();
    this.ackWaiters.clear();
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

function validatePosition(value: unknown): SftpPosition | undefined {
  if (value === undefined || value === null) return;
  const p = value as Partial<SftpPosition>;
  if (p.v !== 1 || typeof p.file !== 'string' || typeof p.line !== 'number' || typeof p.sha256 !== 'string')
    throw new SftpError(
      SftpErrorCodes.SFTP_POSITION_INVALID,
      `the saved checkpoint ${JSON.stringify(value).slice(0, 200)} was not written by the sftp source; clear it with \`ferry offsets reset\` or point checkpoints elsewhere`,
    );
  return p as SftpPosition;
}
