// Progress bars on a fake terminal: drawn for each label, completed when the next label starts, stopped (no
// timer left redrawing) when the run ends; no observer at all off a terminal.
import type { BatchPrepared } from '@ferry/core';
import { describe, expect, it } from 'vitest';
import { amount, progressObserver } from '../../src/progress.js';

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

function batch(progress: BatchPrepared['progress']): BatchPrepared {
  return {
    pipeline: 'p',
    streams: [],
    notices: [],
    lagSeconds: undefined,
    ...(progress ? { progress } : {}),
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
    observer.batchPrepared!(batch(undefined));
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
});
