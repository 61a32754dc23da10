// The quick start's offenders behind the read API, end to end with the built CLI: `ferry run --once` writes the
// event log, `ferry api --once` applies it to an SQLite store, then `ferry api` serves it over HTTP (the README's
// curl), and picks up a later legacy change while it runs.
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renameOffender, seedLegacyDatabase } from '../seed.mjs';
import { quickstartCopy, repoRoot, runCli, startCli, waitFor } from './cli.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('quickstart read API (ferry api over the event log)', () => {
  it('serves the offenders the pipeline wrote, and a later change', async () => {
    const q = await quickstartCopy();
    seedLegacyDatabase(q.db, { rows: 200, badEvery: 0 });
    const run = await runCli(['run', q.pipeline, '--once']);
    expect(run.code, run.stderr).toBe(0);

    const port = await freePort();
    const text = await readFile(join(repoRoot, 'examples', 'quickstart', 'api.yaml'), 'utf8');
    const api = join(q.dir, 'api.yaml');
    await writeFile(
      api,
      text
        .replace('../justice-model/contracts', join(repoRoot, 'examples', 'justice-model', 'contracts'))
        .replace('port: 8080', `port: ${port}`),
    );
    const once = await runCli(['api', api, '--once']);
    expect(once.code, once.stderr).toBe(0);
    expect(once.stdout).toMatch(/ferry api quickstart: 200 events read, 200 applied/);

    const serving = startCli(['api', api]);
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitFor(
        async () => (await fetch(`${base}/openapi.json`).catch(() => undefined))?.status === 200,
        30_000,
        'the read API to listen',
      );
      const page = (await (await fetch(`${base}/v1/offenders?limit=5`)).json()) as {
        items: { offenderId: string; name: { family: string } }[];
        next: string;
      };
      expect(page.items).toHaveLength(5);
      expect(typeof page.next).toBe('string');
      const first = page.items[0] as { offenderId: string; name: { family: string } };
      const one = await fetch(`${base}/v1/offenders/${first.offenderId}`);
      expect(one.status).toBe(200);
      expect(one.headers.get('etag')).toMatch(/^".+"$/);
      expect(await one.json()).toEqual(first);

      // The legacy system changes a row; the pipeline runs again; the served entity follows.
      renameOffender(q.db, 1, 'CHANGED');
      expect((await runCli(['run', q.pipeline, '--once'])).code).toBe(0);
      const changedId = await (async () => {
        let id: string | undefined;
        await waitFor(
          async () => {
            const list = (await (await fetch(`${base}/v1/offenders?limit=500`)).json()) as {
              items: { offenderId: string; name: { family: string } }[];
            };
            id = list.items.find((o) => o.name.family === 'CHANGED')?.offenderId;
            return id !== undefined;
          },
          30_000,
          'the change to be served',
        );
        return id as string;
      })();
      const changed = await fetch(`${base}/v1/offenders/${changedId}`);
      expect(changed.status).toBe(200);
      expect(((await changed.json()) as { name: { family: string } }).name.family).toBe('CHANGED');
      expect(changed.headers.get('ferry-applied-at')).toMatch(/^\d{4}-/);
      // The entity read before is still 304 against its ETag unless it was the one changed.
      const again = await fetch(`${base}/v1/offenders/${first.offenderId}`, {
        headers: { 'if-none-match': one.headers.get('etag') as string },
      });
      expect(again.status).toBe(first.offenderId === changedId ? 200 : 304);
    } finally {
      serving.child.kill('SIGTERM');
      const result = await serving.done;
      expect(result.code, result.stderr).toBe(0);
    }
  }, 120_000);
});
