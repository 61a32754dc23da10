// Renders a page in the system's headless Chromium (Debian's `chromium`, installed by
// `bash test/services/up.sh chromium`) through its command line: the DOM after parsing and layout, and a
// screenshot when asked. No browser is downloaded and none is driven over a protocol: two plain runs.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface RenderOptions {
  /** Where to write a PNG of the page's first window (width × height); no screenshot when absent. */
  screenshot?: string;
  width?: number;
  height?: number;
  /** How long each Chromium run may take; default 60 s. */
  timeoutMs?: number;
}

const INSTALL = 'bash test/services/up.sh chromium';

/** The `chromium` on PATH, else /usr/bin/chromium; an error saying how to install it when neither is there. */
export function findChromium(): string {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const candidate of [...dirs.map((d) => join(d, 'chromium')), '/usr/bin/chromium']) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(
    `chromium is not installed (not on PATH, not at /usr/bin/chromium); install it with \`${INSTALL}\` ` +
      '(Debian package chromium, as root)',
  );
}

interface RunResult {
  stdout: string;
  stderr: string;
}

/**
 * One Chromium run in its own process group, so that a run over time is ended with its renderer and GPU
 * processes, not only the browser process.
 */
function runChromium(binary: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((done, fail) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      fail(new Error(`could not start ${binary}: ${error.message}; install it with \`${INSTALL}\``));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const tail = stderr.trim().split('\n').slice(-15).join('\n');
      if (timedOut) {
        fail(
          new Error(
            `${binary} ${args.join(' ')}: no result within ${timeoutMs} ms; its last output:\n${tail}`,
          ),
        );
      } else if (code !== 0) {
        fail(new Error(`${binary} ${args.join(' ')}: exit ${code ?? signal}; its last output:\n${tail}`));
      } else {
        done({ stdout, stderr });
      }
    });
  });
}

/**
 * Open `htmlPath` in headless Chromium: resolves with the DOM Chromium serialises after loading the page
 * (what the parser made of the markup), and writes a screenshot when `options.screenshot` is set.
 * Chromium missing is an error (with how to install it), never a skip.
 */
export async function renderInChromium(
  htmlPath: string,
  options: RenderOptions = {},
): Promise<{ dom: string }> {
  const binary = findChromium();
  const url = pathToFileURL(resolve(htmlPath)).href;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const profile = await mkdtemp(join(tmpdir(), 'ferry-chromium-'));
  const common = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--hide-scrollbars',
    // Containers often have a 64 MB /dev/shm, too small for a renderer.
    '--disable-dev-shm-usage',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-extensions',
    '--force-device-scale-factor=1',
    `--user-data-dir=${profile}`,
  ];
  try {
    const { stdout } = await runChromium(binary, [...common, '--dump-dom', url], timeoutMs);
    if (!/<html[\s>]/i.test(stdout)) {
      throw new Error(`${binary} --dump-dom ${url} printed no document (${stdout.length} characters)`);
    }
    if (options.screenshot !== undefined) {
      const size = `${options.width ?? 1280},${options.height ?? 2000}`;
      await runChromium(
        binary,
        [...common, `--screenshot=${resolve(options.screenshot)}`, `--window-size=${size}`, url],
        timeoutMs,
      );
    }
    return { dom: stdout };
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}
