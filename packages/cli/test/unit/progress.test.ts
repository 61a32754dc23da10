// Progress on a fake terminal: bars drawn for each label, completed when the next label starts, a status
// line (rate, events, lag, position, retries) for work without a bar, nothing left redrawing when the run
// ends; off a terminal no drawing, and a progress log line at each interval instead.
import { type BatchPrepared, createLogger } from '@ferry/core';
import { describe, expect, it } from 'vitest';
import { amount, progressLog, progressObserver } from '../../src/progress.js';

/** What cli-progress needs of a terminal: isTTY, columns, and write (readline's cursor moves write too). */
function fakeTerminal() {
  const chunks: string[] = [];
  const stream = {
    isTTY: true,
    columns: 120,
    write(chunk: string | Uint8Array, ...rest: unknown[]) {
      chunks.push(String(chunk));
      const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    },
  };
  // The text as a person would see it: escape sequences (cursor moves, clears) removed.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escapes are what is being removed
  const text = () => chunks.join('').replace(/\x1B(\[[0-9;?]*[A-Za-z]|[78])/g, '');
  return { stream: stream as unknown as NodeJS.WritableStream & { isTTY: boolean }, chunks, text };
}

function batch(progress: BatchPrepared['progress'], records = 0, lagSeconds?: number): BatchPrepared {
  return {
    pipeline: 'p',
    streams: records > 0 ? [{ stream: 's', records, events: records, skipped: 0, deadLetters: {} }] : [],
    notices: [],
    lagSeconds,
    ...(progress ? { progress } : {}),
  };
}

function committed(events: number, position: unknown) {
  return {
    pipeline: 'p',
    batches: 1,
    streams: [{ stream: 's', records: events, events, skipped: 0, deadLetters: {} }],
    notices: [],
    latencySeconds: [0.01],
    position,
    at: new Date(),
  };
}

describe('progressObserver', () => {
  it('returns no observer for a stream that is not a terminal', () => {
    expect(progressObserver({ ...fakeTerminal().stream, isTTY: false })).toBeUndefined();
    expect(progressObserver(process.stdout.isTTY ? ({} as never) : process.stdout)).toBeUndefined();
  });

  it('draws a bar per label, completes it when the next label starts, and stops on runEnded', async () => {
    const term = fakeTerminal();
    const observer = progressObserver(term.stream)!;
    observer.batchPrepared!(
      batch({ label: 'snapshot main.OFFENDERS', done: 250, total: 1000, unit: 'rows' }),
    );
    expect(term.text()).toMatch(/snapshot main\.OFFENDERS \[[█░]+\] 25% \| 250 rows\/1,000 rows/);
    observer.batchPrepared!(
      batch({ label: 'snapshot main.OFFENDERS', done: 600, total: 1000, unit: 'rows' }),
    );
    // A new label: the first bar is completed (100%) and ended with a newline before the next is drawn.
    observer.batchPrepared!(
      batch({ label: '/upload/list.csv', done: 3 * 1024 * 1024, total: 8 * 1024 * 1024, unit: 'bytes' }),
    );
    const text = term.text();
    const first = text.indexOf('100% | 1,000 rows/1,000 rows');
    expect(first).toBeGreaterThan(-1);
    expect(text.indexOf('\n', first)).toBeLessThan(text.indexOf('/upload/list.csv'));
    expect(text).toContain('/upload/list.csv');
    expect(text).toContain('3.0 MiB/8.0 MiB');
    observer.runEnded!({ pipeline: 'p' });
    expect(term.text()).toContain('100% | 8.0 MiB/8.0 MiB');
    expect(term.text().endsWith('\n')).toBe(true);
    // Stopped: the bar's redraw timer is gone, nothing more is written.
    const written = term.chunks.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(term.chunks.length).toBe(written);
  });

  it('shows a count without a bar when the total is unknown, and leaves a failed bar where it stopped', () => {
    const term = fakeTerminal();
    const observer = progressObserver(term.stream)!;
    observer.batchPrepared!(batch({ label: '/upload/a.jsonl.gz', done: 1500, unit: 'rows' }));
    observer.runEnded!({
      pipeline: 'p',
      error: { code: 'SFTP_CONNECTION_LOST', message: 'x', retryable: true },
    });
    const text = term.text();
    expect(text).toContain('/upload/a.jsonl.gz 1,500 rows |');
    expect(text).not.toContain('[');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('formats amounts', () => {
    expect(amount(512, 'bytes')).toBe('512 B');
    expect(amount(1536, 'bytes')).toBe('1.5 KiB');
    expect(amount(12345.4, 'records')).toBe('12,345 records');
  });

  it('prints log lines above the bar, which is drawn again below them', () => {
    const term = fakeTerminal();
    const observer = progressObserver(term.stream)!;
    observer.batchPrepared!(batch({ label: '/upload/list.csv', done: 10, total: 100, unit: 'bytes' }));
    const before = term.chunks.length;
    observer.log.write('{"level":30,"msg":"file read"}\n');
    const after = term.chunks.slice(before).join('');
    expect(after.startsWith('\r\x1b[2K{"level":30,"msg":"file read"}\n')).toBe(true);
    expect(after.slice(after.indexOf('\n'))).toContain('/upload/list.csv');
    observer.runEnded!({ pipeline: 'p' });
    const idle = term.chunks.length;
    observer.log.write('plain\n');
    expect(term.chunks.slice(idle).join('')).toBe('plain\n');
  });

  it('draws a status line for a run whose batches carry no progress: records, rate, events, lag, position', async () => {
    const term = fakeTerminal();
    const observer = progressObserver(term.stream)!;
    observer.runStarted!({ pipeline: 'p', from: undefined });
    observer.batchPrepared!(batch(undefined, 500, 3));
    observer.committed!(committed(500, { tables: { OFFENDERS: { id: 500 } } }));
    observer.batchPrepared!(batch(undefined, 500, 2));
    // Batches are drawn at the line's redraw rate (ten a second), not one write each.
    await waitForText(term.text, /p: 1,000 records read/);
    const text = term.text();
    expect(text).toMatch(
      /p: 1,000 records read \([\d,]+ records\/s\), 500 events written, lag 2\.0 s, at \{"tables":\{"OFFENDERS":\{"id":500\}\}\}/,
    );
    observer.caughtUp!({ pipeline: 'p', at: new Date() });
    expect(term.text()).toMatch(/lag 0\.0 s, caught up, at \{/);
    observer.runEnded!({ pipeline: 'p' });
    expect(term.text().endsWith('\n')).toBe(true);
    // Stopped: the line's once-a-second refresh is gone too.
    const written = term.chunks.length;
    await new Promise((r) => setTimeout(r, 1200));
    expect(term.chunks.length).toBe(written);
  });

  it('shows retries on the status line, before anything was read', () => {
    const term = fakeTerminal();
    const observer = progressObserver(term.stream)!;
    observer.runStarted!({ pipeline: 'p', from: undefined });
    observer.retrying!({
      pipeline: 'p',
      operation: 'source.read',
      code: 'DB_CONNECTION_FAILED',
      attempt: 3,
      delayMs: 1600,
      circuit: 'closed',
    });
    expect(term.text()).toContain(
      'p: retrying source.read after DB_CONNECTION_FAILED (attempt 3, next try in 1.6 s)',
    );
    observer.runEnded!({
      pipeline: 'p',
      error: { code: 'RETRIES_EXHAUSTED', message: 'x', retryable: false },
    });
  });

  it('hands over from a bar to the status line when batches stop carrying progress', () => {
    const term = fakeTerminal();
    const observer = progressObserver(term.stream)!;
    observer.batchPrepared!(
      batch({ label: 'snapshot main.OFFENDERS', done: 990, total: 1000, unit: 'rows' }, 990),
    );
    // The snapshot is over; what follows streams: the bar completes and the line takes over.
    observer.batchPrepared!(batch(undefined, 10, 0.5));
    const text = term.text();
    expect(text).toContain('100% | 1,000 rows/1,000 rows');
    expect(text.indexOf('p: 1,000 records read')).toBeGreaterThan(
      text.indexOf('100% | 1,000 rows/1,000 rows'),
    );
    observer.runEnded!({ pipeline: 'p' });
  });

  it('off a terminal, logs a progress line per interval with records, rate, events, lag and position', async () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      destination: { write: (line: string) => void lines.push(line) },
    });
    const observer = progressLog(logger, 50)!;
    observer.runStarted!({ pipeline: 'p', from: undefined });
    observer.batchPrepared!(batch(undefined, 300, 4));
    observer.committed!(committed(300, { lsn: '0/16B3748' }));
    await waitForLines(lines, 1);
    const first = JSON.parse(lines[0]!);
    expect(first).toMatchObject({
      level: 'info',
      pipeline: 'p',
      progress: {
        records: 300,
        events: 300,
        deadLetters: 0,
        retries: 0,
        lagSeconds: 4,
        position: { lsn: '0/16B3748' },
      },
    });
    expect(first.progress.recordsPerSecond).toBeGreaterThan(0);
    expect(first.msg).toMatch(
      /^progress: 300 records read \([\d,]+ records\/s\), 300 events written, lag 4\.0 s, at \{"lsn":"0\/16B3748"\}$/,
    );
    // Periodic: another line follows without anything happening.
    await waitForLines(lines, 2);
    observer.runEnded!({ pipeline: 'p' });
    const count = lines.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(lines.length).toBe(count);
    expect(progressLog(logger, 0)).toBeUndefined();
  });
});

async function waitForText(text: () => string, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!pattern.test(text())) {
    if (Date.now() > deadline) throw new Error(`no ${pattern} in: ${text()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function waitForLines(lines: string[], count: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (lines.length < count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} progress lines, got ${lines.length}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
