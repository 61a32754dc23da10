// Libraries under the connectors print with console.* (ssh2-sftp-client's "Global end listener: end event
// raised" when a server drops a connection): on stdout that would corrupt `--json` output and the summary,
// on stderr it would break the JSON log stream. Ferry itself never uses console, so while a command runs
// everything printed that way becomes a debug log line, marked with the console method it came through.
import { format } from 'node:util';
import type { Logger } from '@ferry/core';

const METHODS = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;
type Method = (typeof METHODS)[number];

let saved: Record<Method, (...args: unknown[]) => void> | undefined;

/** Send console.* to `logger` at debug level until restoreConsole(). */
export function routeConsoleToLog(logger: Logger): void {
  saved ??= Object.fromEntries(METHODS.map((m) => [m, console[m]])) as Record<
    Method,
    (...args: unknown[]) => void
  >;
  for (const method of METHODS) {
    console[method] = (...args: unknown[]) => {
      logger.debug({ console: method }, format(...args));
    };
  }
}

/** Put console.* back as it was before routeConsoleToLog. */
export function restoreConsole(): void {
  if (saved === undefined) return;
  for (const method of METHODS) console[method] = saved[method];
  saved = undefined;
}
