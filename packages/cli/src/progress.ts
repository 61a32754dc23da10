// What a long run shows while it goes. At a terminal: a bar for each long unit of work the source reports
// (a table snapshot, a file), else one status line redrawn in place: records read and their rate, events
// written, lag, the last committed position, and retries as they happen. Off a terminal (CI, a service
// manager, a pipe) nothing is drawn; a progress log line says the same every `--progress-interval`.
import type { Logger, PipelineObserver } from '@ferry/core';
import { type BatchProgress, formatBytes } from '@ferry/core/sdk';
import cliProgress from 'cli-progress';
import { InvalidArgumentError, Option } from 'commander';

export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** Seconds between progress log lines off a terminal, unless `--progress-interval` says otherwise. */
export const DEFAULT_PROGRESS_INTERVAL_SECONDS = 30;

/** `--progress-interval <seconds>` of `ferry run` and `ferry serve`. */
export function progressIntervalOption(): Option {
  return new Option(
    '--progress-interval <seconds>',
    'when stderr is not a terminal, log a progress line this often (0: never)',
  )
    .default(DEFAULT_PROGRESS_INTERVAL_SECONDS)
    .argParser(secondsOption);
}

/** A command-line number of seconds: 0 or more, fractions allowed. */
export function secondsOption(value: string): number {
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds < 0) {
    throw new InvalidArgumentError('expected a number of seconds, 0 or more');
  }
  return seconds;
}

/** How far back the rate looks: long enough to smooth batches, short enough to show a stall. */
const RATE_WINDOW_MS = 10_000;

/** Everything a progress display says about one pipeline's run. */
export class RunTally {
  records = 0;
  events = 0;
  deadLetters = 0;
  retries = 0;
  lagSeconds: number | undefined;
  position: unknown;
  committed = false;
  /** A retry under way, or "caught up": cleared by the next batch. */
  status: string | undefined;
  private readonly samples: { at: number; records: number }[] = [];
  private readonly startedAt: number;

  constructor(
    readonly pipeline: string,
    private readonly now: () => number = Date.now,
  ) {
    this.startedAt = now();
    this.samples.push({ at: this.startedAt, records: 0 });
  }

  prepared(info: Parameters<NonNullable<PipelineObserver['batchPrepared']>>[0]): void {
    for (const s of info.streams) {
      this.records += s.records;
      for (const n of Object.values(s.deadLetters)) this.deadLetters += n;
    }
    if (info.lagSeconds !== undefined) this.lagSeconds = info.lagSeconds;
    this.status = undefined;
    const at = this.now();
    this.samples.push({ at, records: this.records });
    while (this.samples.length > 2 && this.samples[1]!.at < at - RATE_WINDOW_MS) this.samples.shift();
  }

  committedBatches(info: Parameters<NonNullable<PipelineObserver['committed']>>[0]): void {
    for (const s of info.streams) this.events += s.events;
    this.position = info.position;
    this.committed = true;
  }

  retrying(info: Parameters<NonNullable<PipelineObserver['retrying']>>[0]): void {
    this.retries += 1;
    const wait = info.delayMs === undefined ? '' : `, next try in ${seconds(info.delayMs / 1000)}`;
    const circuit = info.circuit === 'open' ? ', circuit open' : '';
    this.status = `retrying ${info.operation} after ${info.code ?? 'an error'} (attempt ${info.attempt}${wait}${circuit})`;
  }

  caughtUp(): void {
    this.lagSeconds = 0;
    this.status = 'caught up';
  }

  /** Records per second over the last few seconds (since the start, early in the run). */
  rate(): number {
    const at = this.now();
    // From the newest sample at least a window old (an idle run drops to 0), else from the oldest.
    let since = this.samples[0]!;
    for (const sample of this.samples) if (sample.at <= at - RATE_WINDOW_MS) since = sample;
    const span = (at - since.at) / 1000;
    return span > 0 ? (this.records - since.records) / span : 0;
  }

  /** `1,200 records read (350 records/s), 1,190 events written, lag 2.0 s, at {"lsn":"0/16B3748"}`. */
  describe(): string {
    // Nothing read yet (a source that does not answer): the retry is the news, not the zeros.
    if (this.records === 0 && this.events === 0 && this.status !== undefined) return this.status;
    const parts = [
      `${amount(this.records, 'records')} read (${amount(this.rate(), 'records')}/s)`,
      `${amount(this.events, 'events')} written`,
    ];
    if (this.deadLetters > 0) parts.push(`${amount(this.deadLetters, 'dead letters')}`);
    if (this.lagSeconds !== undefined) parts.push(`lag ${seconds(this.lagSeconds)}`);
    // The position goes last: on a narrow terminal it is what gets cut.
    if (this.status !== undefined) parts.push(this.status);
    if (this.committed) parts.push(`at ${shortPosition(this.position)}`);
    return parts.join(', ');
  }
}

/** The bars' observer, and where log lines go so they are printed above the bar instead of through it. */
export type ProgressObserver = PipelineObserver & { log: { write(line: string): void } };

interface Bar {
  kind: 'bar';
  label: string;
  bar: cliProgress.SingleBar;
  unit: BatchProgress['unit'];
  total: number | undefined;
  startedAt: number;
  firstDone: number;
}

interface StatusLine {
  kind: 'line';
  bar: cliProgress.SingleBar;
  pipeline: string;
  /** Redraws the line each second, so the rate and a retry's wait stay current while nothing arrives. */
  timer: NodeJS.Timeout;
}

/** An observer drawing progress on `stream`, or undefined when `stream` is not a terminal. */
export function progressObserver(stream: ProgressStream): ProgressObserver | undefined {
  if (stream.isTTY !== true) return undefined;
  const tallies = new Map<string, RunTally>();
  let current: Bar | StatusLine | undefined;

  const tally = (pipeline: string): RunTally => {
    let t = tallies.get(pipeline);
    if (t === undefined) {
      t = new RunTally(pipeline);
      tallies.set(pipeline, t);
    }
    return t;
  };

  const finish = (complete: boolean): void => {
    if (current === undefined) return;
    if (current.kind === 'bar') {
      if (complete && current.total !== undefined) update(current, current.total);
    } else {
      clearInterval(current.timer);
      current.bar.update(0, { line: lineText(current.pipeline) });
    }
    current.bar.stop();
    current = undefined;
  };

  const lineText = (pipeline: string): string => {
    const text = `${pipeline}: ${tally(pipeline).describe()}`;
    const width = (stream.columns ?? 120) - 1;
    return text.length > width ? `${text.slice(0, width - 1)}…` : text;
  };

  const bar = (format: string): cliProgress.SingleBar =>
    new cliProgress.SingleBar(
      {
        stream,
        format,
        barsize: 24,
        // The runtime's own SIGINT handling flushes and checkpoints; the bar is stopped by runEnded.
        gracefulExit: false,
        hideCursor: false,
        // Redraw even when the text is unchanged: a log line printed over the bar must not erase it.
        forceRedraw: true,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );

  const beginBar = (progress: BatchProgress): Bar => {
    const known = progress.total !== undefined;
    const started: Bar = {
      kind: 'bar',
      label: progress.label,
      bar: bar(
        known
          ? '{label} [{bar}] {percentage}% | {doneText}/{totalText} | {rate} | ETA {eta_formatted}'
          : '{label} {doneText} | {rate}',
      ),
      unit: progress.unit,
      total: progress.total,
      startedAt: Date.now(),
      firstDone: progress.done,
    };
    started.bar.start(progress.total ?? 0, progress.done, payload(started, progress.done));
    return started;
  };

  /**
   * The status line for `pipeline`. cli-progress redraws it at most ten times a second, however fast
   * batches come; `now` draws it at once (a retry, caught up: rare, and worth seeing immediately).
   */
  const showLine = (pipeline: string, now = false): void => {
    // A bar stays until its unit of work is over.
    if (current?.kind === 'bar') return;
    if (current?.kind === 'line') {
      // One line for the process: under `ferry serve` it tells of the pipeline that moved last.
      current.pipeline = pipeline;
      current.bar.update(0, { line: lineText(pipeline) });
      if (now) current.bar.render();
      return;
    }
    const line = bar('{line}');
    line.start(0, 0, { line: lineText(pipeline) });
    const timer = setInterval(() => {
      if (current?.kind === 'line') line.update(0, { line: lineText(current.pipeline) });
    }, 1000);
    timer.unref();
    current = { kind: 'line', bar: line, pipeline, timer };
  };

  return {
    log: {
      // A log line clears the bar's line, takes it, and the bar is drawn again below it.
      write(line: string) {
        if (current === undefined) {
          stream.write(line);
          return;
        }
        stream.write(`\r\x1b[2K${line}`);
        current.bar.render();
      },
    },
    runStarted(info) {
      tallies.set(info.pipeline, new RunTally(info.pipeline));
      showLine(info.pipeline);
    },
    batchPrepared(info) {
      tally(info.pipeline).prepared(info);
      const progress = info.progress;
      if (progress === undefined) {
        // The unit of work a bar showed is over (a snapshot became a stream): the status line takes over.
        if (current?.kind === 'bar') finish(true);
        showLine(info.pipeline);
        return;
      }
      if (current?.kind === 'bar' && current.label !== progress.label) finish(true);
      if (current?.kind === 'line') finish(false);
      if (current === undefined) current = beginBar(progress);
      if (current.kind !== 'bar') return;
      if (progress.total !== undefined && progress.total !== current.total) {
        // Estimates are refined as the work goes on (a table's row count).
        current.total = progress.total;
        current.bar.setTotal(progress.total);
      }
      update(current, progress.done);
    },
    committed(info) {
      tally(info.pipeline).committedBatches(info);
      if (current?.kind === 'line') showLine(info.pipeline);
    },
    retrying(info) {
      tally(info.pipeline).retrying(info);
      if (current?.kind !== 'bar') showLine(info.pipeline, true);
    },
    caughtUp(info) {
      tally(info.pipeline).caughtUp();
      if (current?.kind === 'bar') finish(true);
      showLine(info.pipeline, true);
    },
    runEnded(info) {
      finish(info.error === undefined);
    },
  };
}

/**
 * Off a terminal: a log line per pipeline every `intervalMs` while it runs (records, events, rate, lag,
 * position), so a service manager's journal shows a long run moving. None with an interval of 0.
 */
export function progressLog(logger: Logger, intervalMs: number): PipelineObserver | undefined {
  if (!(intervalMs > 0)) return undefined;
  const runs = new Map<string, { tally: RunTally; timer: NodeJS.Timeout }>();
  const tally = (pipeline: string): RunTally | undefined => runs.get(pipeline)?.tally;
  const report = (t: RunTally): void => {
    logger.info(
      {
        pipeline: t.pipeline,
        progress: {
          records: t.records,
          recordsPerSecond: Math.round(t.rate()),
          events: t.events,
          deadLetters: t.deadLetters,
          retries: t.retries,
          lagSeconds: t.lagSeconds === undefined ? null : Math.round(t.lagSeconds * 1000) / 1000,
          position: t.committed ? t.position : null,
        },
      },
      `progress: ${t.describe()}`,
    );
  };
  return {
    runStarted(info) {
      const previous = runs.get(info.pipeline);
      if (previous) clearInterval(previous.timer);
      const t = new RunTally(info.pipeline);
      const timer = setInterval(() => report(t), intervalMs);
      // A progress line never keeps a finished process alive.
      timer.unref();
      runs.set(info.pipeline, { tally: t, timer });
    },
    batchPrepared: (info) => tally(info.pipeline)?.prepared(info),
    committed: (info) => tally(info.pipeline)?.committedBatches(info),
    retrying: (info) => tally(info.pipeline)?.retrying(info),
    caughtUp: (info) => tally(info.pipeline)?.caughtUp(),
    runEnded(info) {
      const run = runs.get(info.pipeline);
      if (run) clearInterval(run.timer);
      runs.delete(info.pipeline);
    },
  };
}

function update(current: Bar, done: number): void {
  current.bar.update(done, payload(current, done));
}

function payload(current: Bar, done: number): Record<string, string> {
  const elapsed = (Date.now() - current.startedAt) / 1000;
  const rate = elapsed > 0 ? (done - current.firstDone) / elapsed : 0;
  return {
    label: current.label,
    doneText: amount(done, current.unit),
    totalText: current.total === undefined ? '?' : amount(current.total, current.unit),
    rate: `${amount(rate, current.unit)}/s`,
  };
}

/** `12,345 rows`, `3.4 MiB`. */
export function amount(value: number, unit: BatchProgress['unit'] | 'events' | 'dead letters'): string {
  if (unit !== 'bytes') return `${Math.round(value).toLocaleString('en-GB')} ${unit}`;
  return formatBytes(value);
}

/** `0.4 s`, `12 s`, `3 min`, `2.5 h`, `12 d`. */
function seconds(value: number): string {
  if (value < 10) return `${value.toFixed(1)} s`;
  if (value < 120) return `${Math.round(value)} s`;
  if (value < 7200) return `${Math.round(value / 60)} min`;
  if (value < 172_800) return `${(value / 3600).toFixed(1)} h`;
  return `${Math.round(value / 86_400).toLocaleString('en-GB')} d`;
}

/** A position as JSON, cut short: enough to recognise it on one line. */
function shortPosition(position: unknown): string {
  const text = JSON.stringify(position) ?? 'null';
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}
