// Progress bars for `ferry run` at a terminal: one bar per long unit of work (a snapshot of a table, a file),
// fed by the batches' progress. Off a terminal (CI, a service manager, a pipe) nothing is drawn: the JSON
// logs say the same thing, and bar redraws would only litter them.
import type { PipelineObserver } from '@ferry/core';
import type { BatchProgress } from '@ferry/core/sdk';
import cliProgress from 'cli-progress';

export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

interface Current {
  label: string;
  bar: cliProgress.SingleBar;
  unit: BatchProgress['unit'];
  total: number | undefined;
  startedAt: number;
  firstDone: number;
}

/** The bars' observer, and where log lines go so they are printed above the bar instead of through it. */
export type ProgressObserver = PipelineObserver & { log: { write(line: string): void } };

/** An observer drawing progress bars on `stream`, or undefined when `stream` is not a terminal. */
export function progressObserver(stream: ProgressStream): ProgressObserver | undefined {
  if (stream.isTTY !== true) return undefined;
  let current: Current | undefined;

  const finish = (complete: boolean): void => {
    if (current === undefined) return;
    if (complete && current.total !== undefined) update(current, current.total);
    current.bar.stop();
    current = undefined;
  };

  const begin = (progress: BatchProgress): Current => {
    const known = progress.total !== undefined;
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: known
          ? '{label} [{bar}] {percentage}% | {doneText}/{totalText} | {rate} | ETA {eta_formatted}'
          : '{label} {doneText} | {rate}',
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
    const started: Current = {
      label: progress.label,
      bar,
      unit: progress.unit,
      total: progress.total,
      startedAt: Date.now(),
      firstDone: progress.done,
    };
    bar.start(progress.total ?? 0, progress.done, payload(started, progress.done));
    return started;
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
    batchPrepared(info) {
      const progress = info.progress;
      if (progress === undefined) return;
      if (current !== undefined && current.label !== progress.label) finish(true);
      if (current === undefined) current = begin(progress);
      if (progress.total !== undefined && progress.total !== current.total) {
        // Estimates are refined as the work goes on (a table's row count).
        current.total = progress.total;
        current.bar.setTotal(progress.total);
      }
      update(current, progress.done);
    },
    runEnded(info) {
      finish(info.error === undefined);
    },
  };
}

function update(current: Current, done: number): void {
  current.bar.update(done, payload(current, done));
}

function payload(current: Current, done: number): Record<string, string> {
  const seconds = (Date.now() - current.startedAt) / 1000;
  const rate = seconds > 0 ? (done - current.firstDone) / seconds : 0;
  return {
    label: current.label,
    doneText: amount(done, current.unit),
    totalText: current.total === undefined ? '?' : amount(current.total, current.unit),
    rate: `${amount(rate, current.unit)}/s`,
  };
}

/** `12,345 rows`, `3.4 MiB`. */
export function amount(value: number, unit: BatchProgress['unit']): string {
  if (unit !== 'bytes') return `${Math.round(value).toLocaleString('en-GB')} ${unit}`;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let scaled = value;
  let index = 0;
  while (scaled >= 1024 && index < units.length - 1) {
    scaled /= 1024;
    index += 1;
  }
  return `${index === 0 ? Math.round(scaled) : scaled.toFixed(1)} ${units[index]}`;
}
