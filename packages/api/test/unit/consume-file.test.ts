// consumeFileLog against real files written by the file sink and a real SQLite store: batches, a stop
// half-way (abort) and a consumer process killed with SIGKILL, each resumed from the store's position with
// nothing applied twice or lost; a torn last line waits for its newline; a line that is not a CloudEvent
// stops the consumer naming file:line, or goes to the core's file dead-letter sink.
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CanonicalEvent, createFileDeadLetterSink, createFileSink, type DeadLetter } from '@ferry/core';
import { waitFor } from '@ferry/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConsumeReport, consumeFileLog, EntityStore } from '../../src/index.js';
import { eventStream, expectStoreToEqualFold, fold, TYPE } from '../consume-helpers.js';

const child = join(import.meta.dirname, 'fixtures', 'consume-file-child.mjs');
const opened: EntityStore[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const process of children.splice(0)) if (process.exitCode === null) process.kill('SIGKILL');
  for (const store of opened.splice(0)) await store.close();
});

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'ferry-api-consume-'));
}

async function openStore(dir: string): Promise<EntityStore> {
  const store = await EntityStore.open({ type: 'sqlite', path: join(dir, 'state.db') });
  opened.push(store);
  return store;
}

/** Write events through the real file sink, `chunk` per write as a pipeline's batches; returns the file. */
async function writeLog(dir: string, events: readonly CanonicalEvent[], chunk = 500): Promise<string> {
  const sink = createFileSink({ dir: join(dir, 'events') });
  for (let at = 0; at < events.length; at += chunk) await sink.write(events.slice(at, at + chunk));
  await sink.close();
  return sink.pathFor(`${TYPE}.v1`);
}

/** Byte offset after each line of the file: where the next line starts. */
function lineEnds(path: string): number[] {
  const bytes = readFileSync(path);
  const ends: number[] = [];
  for (let at = bytes.indexOf(0x0a); at !== -1; at = bytes.indexOf(0x0a, at + 1)) ends.push(at + 1);
  return ends;
}

/** Events whose lines end at or before `position`. */
function eventsBefore(path: string, position: number): number {
  return lineEnds(path).filter((end) => end <= position).length;
}

describe('consumeFileLog', () => {
  it('applies 12,000 events in batches; a stop half-way resumes from the store with nothing doubled', async () => {
    const dir = scratch();
    const events = eventStream(12_000, 1500, 7);
    const { deleted } = fold(events);
    expect(deleted.size).toBeGreaterThan(50);
    const path = await writeLog(dir, events);
    const size = statSync(path).size;
    const store = await openStore(dir);

    const seen: ConsumeReport[] = [];
    const controller = new AbortController();
    const first = await consumeFileLog(store, {
      consumer: 'api',
      path,
      batchSize: 250,
      signal: controller.signal,
      onBatch: (batch) => {
        seen.push(batch);
        if (seen.length === 17) controller.abort();
      },
    });
    // It stopped after the batch in hand: 17 batches of 250, the position where the 4,251st line starts.
    expect(first).toMatchObject({
      events: 17 * 250,
      applied: 17 * 250,
      duplicates: 0,
      stale: 0,
      batches: 17,
    });
    const stopped = Number(first.positions[path]);
    expect(stopped).toBe(lineEnds(path)[17 * 250 - 1]);
    expect(await store.positions('api')).toEqual({ [path]: String(stopped) });

    const second = await consumeFileLog(store, {
      consumer: 'api',
      path,
      batchSize: 250,
      onBatch: (batch) => seen.push(batch),
    });
    expect(second).toMatchObject({ events: 12_000 - 17 * 250, duplicates: 0, stale: 0 });
    expect(second.applied).toBe(second.events);
    expect(second.positions).toEqual({ [path]: String(size) });
    // Every position was reached once, in order, each batch starting where the previous one ended.
    const positions = seen.map((batch) => Number(batch.positions[path]));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(new Set(positions).size).toBe(positions.length);
    expect(seen.reduce((sum, batch) => sum + batch.events, 0)).toBe(12_000);
    await expectStoreToEqualFold(store, events);

    // At the end, nothing more: no batch, the same position.
    const third = await consumeFileLog(store, { consumer: 'api', path });
    expect(third).toMatchObject({ events: 0, batches: 0, positions: { [path]: String(size) } });
  });

  it('resumes after the consumer process is killed with SIGKILL three times mid-way', async () => {
    const dir = scratch();
    const events = eventStream(15_000, 2000, 11);
    const path = await writeLog(dir, events);
    const size = statSync(path).size;
    const store = await openStore(dir);
    const reported: ConsumeReport[] = [];
    let killedAt = 0;
    for (let kill = 1; kill <= 3; kill += 1) {
      const run = spawn(process.execPath, [child, join(dir, 'state.db'), path, 'api', '40'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(run);
      const mine: ConsumeReport[] = [];
      let stderr = '';
      let rest = '';
      run.stdout!.setEncoding('utf8').on('data', (text: string) => {
        const lines = (rest + text).split('\n');
        rest = lines.pop()!;
        for (const line of lines) mine.push(JSON.parse(line) as ConsumeReport);
      });
      run.stderr!.setEncoding('utf8').on('data', (text: string) => {
        stderr += text;
      });
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        run.on('exit', (_, signal) => resolve(signal)),
      );
      await waitFor(() => mine.length >= 25 || run.exitCode !== null, 30_000, `25 batches of run ${kill}`);
      expect(stderr).toBe('');
      run.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      const position = Number((await store.positions('api'))[path]);
      // Killed mid-way, after progress; the run started exactly where the previous one's last commit was.
      expect(position).toBeGreaterThan(killedAt);
      expect(position).toBeLessThan(size);
      expect(eventsBefore(path, Number(mine[0]!.positions[path])) - eventsBefore(path, killedAt)).toBe(
        mine[0]!.events,
      );
      killedAt = position;
      reported.push(...mine);
    }
    // Nothing a killed process applied was applied again by the next one.
    expect(reported.every((batch) => batch.duplicates === 0 && batch.stale === 0)).toBe(true);

    const last = await consumeFileLog(store, { consumer: 'api', path, batchSize: 500 });
    expect(last).toMatchObject({ events: 15_000 - eventsBefore(path, killedAt), duplicates: 0, stale: 0 });
    expect(last.positions).toEqual({ [path]: String(size) });
    await expectStoreToEqualFold(store, events);
  }, 120_000);

  it('feeds one store from two logs at once, each consumer with its own positions', async () => {
    const dir = scratch();
    const one = eventStream(3000, 400, 41);
    const two = eventStream(3000, 400, 43).map((event) => ({ ...event, subject: `P${event.subject}` }));
    const pathOne = await writeLog(join(dir, 'one'), one);
    const pathTwo = await writeLog(join(dir, 'two'), two);
    const store = await openStore(dir);
    const [a, b] = await Promise.all([
      consumeFileLog(store, { consumer: 'one', path: pathOne, batchSize: 100 }),
      consumeFileLog(store, { consumer: 'two', path: pathTwo, batchSize: 100 }),
    ]);
    expect(a).toMatchObject({
      events: 3000,
      applied: 3000,
      positions: { [pathOne]: String(statSync(pathOne).size) },
    });
    expect(b).toMatchObject({
      events: 3000,
      applied: 3000,
      positions: { [pathTwo]: String(statSync(pathTwo).size) },
    });
    expect(await store.positions('one')).toEqual(a.positions);
    await expectStoreToEqualFold(store, [...one, ...two]);
    // Batches of several consumers can reach SQLite's one connection in the same turn: each is its own
    // transaction, none fails for the others (typeorm would interleave their statements on the connection).
    const more = eventStream(400, 400, 47).map((event) => ({ ...event, subject: `Q${event.subject}` }));
    const results = await Promise.all(
      [0, 1, 2, 3].map((i) => store.apply(`c${i}`, more.slice(i * 100, i * 100 + 100), { s: String(i) })),
    );
    expect(results.reduce((sum, r) => sum + r.applied, 0)).toBe(400);
    expect(await Promise.all([0, 1, 2, 3].map((i) => store.positions(`c${i}`)))).toEqual(
      [0, 1, 2, 3].map((i) => ({ s: String(i) })),
    );
  });

  it('leaves a torn last line until its newline arrives', async () => {
    const dir = scratch();
    const events = eventStream(30, 10, 3);
    const path = await writeLog(dir, events.slice(0, 29));
    const lastLine = `${JSON.stringify(events[29])}\n`;
    const half = Math.floor(lastLine.length / 2);
    appendFileSync(path, lastLine.slice(0, half));
    const store = await openStore(dir);

    const first = await consumeFileLog(store, { consumer: 'api', path, batchSize: 7 });
    expect(first).toMatchObject({ events: 29, applied: 29 });
    expect(Number(first.positions[path])).toBe(statSync(path).size - half);
    await expectStoreToEqualFold(store, events.slice(0, 29));

    appendFileSync(path, lastLine.slice(half));
    const second = await consumeFileLog(store, { consumer: 'api', path, batchSize: 7 });
    expect(second).toMatchObject({ events: 1, applied: 1, duplicates: 0, batches: 1 });
    expect(second.positions).toEqual({ [path]: String(statSync(path).size) });
    await expectStoreToEqualFold(store, events);
  });

  it('following, drops a torn tail that the restarted writer cuts off, and reads lines longer than a read', async () => {
    const dir = scratch();
    const events = eventStream(40, 10, 23);
    // One event larger than the consumer's 1 MiB reads.
    events[25] = { ...events[25]!, data: { ...(events[25]!.data as object), notes: 'n'.repeat(1_500_000) } };
    const path = await writeLog(dir, events.slice(0, 20));
    // A writer killed in the middle of a line.
    appendFileSync(path, JSON.stringify(events[20]).slice(0, 80));
    const store = await openStore(dir);
    const controller = new AbortController();
    const running = consumeFileLog(store, {
      consumer: 'api',
      path,
      batchSize: 8,
      follow: true,
      pollMs: 20,
      signal: controller.signal,
    });
    const position = async () => Number((await store.positions('api'))[path] ?? 0);
    await waitFor(async () => (await position()) === lineEnds(path)[19], 10_000, 'the 20 whole lines');
    // The writer starts again: its file sink cuts the torn line off and appends the rest of the stream.
    await writeLog(dir, events.slice(20));
    await waitFor(async () => (await position()) === statSync(path).size, 10_000, 'the rest');
    controller.abort();
    expect(await running).toMatchObject({ events: 40, applied: 40, duplicates: 0, stale: 0 });
    await expectStoreToEqualFold(store, events);
  });

  it('follows a growing file until aborted, and stops promptly', async () => {
    const dir = scratch();
    const events = eventStream(3000, 300, 5);
    const sink = createFileSink({ dir: join(dir, 'events') });
    const path = sink.pathFor(`${TYPE}.v1`);
    const store = await openStore(dir);
    const controller = new AbortController();
    // Started before the file exists: it waits for it.
    const running = consumeFileLog(store, {
      consumer: 'api',
      path,
      batchSize: 200,
      follow: true,
      pollMs: 20,
      signal: controller.signal,
    });
    const applied = async () => Number((await store.positions('api'))[path] ?? 0);
    await sink.write(events.slice(0, 1000));
    await waitFor(async () => (await applied()) === statSync(path).size, 10_000, 'the first 1,000 events');
    await sink.write(events.slice(1000));
    await waitFor(async () => (await applied()) === statSync(path).size, 10_000, 'the rest');
    await sink.close();
    const abortedAt = performance.now();
    controller.abort();
    const result = await running;
    expect(performance.now() - abortedAt).toBeLessThan(1000);
    expect(result).toMatchObject({ events: 3000, duplicates: 0, stale: 0 });
    await expectStoreToEqualFold(store, events);
  });

  it('stops at a line that is not a CloudEvent, naming file:line, with everything before it applied', async () => {
    const dir = scratch();
    const events = eventStream(20, 5, 9);
    const path = await writeLog(dir, events.slice(0, 10));
    appendFileSync(path, '\n'); // a blank line (line 11) is skipped, not an error
    appendFileSync(path, '{"specversion":"1.0","id":"x"\n'); // line 12: not JSON
    const badAt = lineEnds(path)[10]!;
    appendFileSync(
      path,
      events
        .slice(10)
        .map((event) => `${JSON.stringify(event)}\n`)
        .join(''),
    );
    const store = await openStore(dir);

    const failure = await consumeFileLog(store, { consumer: 'api', path, batchSize: 4 }).catch(
      (e: unknown) => e,
    );
    expect(failure).toMatchObject({
      name: 'ConsumeError',
      code: 'API_STREAM_INVALID',
      retryable: false,
      details: { path, line: 12, offset: badAt },
    });
    expect((failure as Error).message).toContain(`${path}:12 is not a CloudEvent (not valid JSON`);
    expect(await store.positions('api')).toEqual({ [path]: String(badAt) });
    await expectStoreToEqualFold(store, events.slice(0, 10));
    // Run again: the same line, the same error, nothing lost or applied twice.
    await expect(consumeFileLog(store, { consumer: 'api', path })).rejects.toMatchObject({
      code: 'API_STREAM_INVALID',
      details: { line: 12 },
    });

    // Valid JSON that is not a CloudEvent, found after a resume from the middle of the file: still its line.
    const path2 = await writeLog(join(dir, 'two'), events.slice(0, 10));
    await consumeFileLog(store, { consumer: 'other', path: path2 });
    appendFileSync(path2, `${JSON.stringify({ ...events[10], specversion: '0.9' })}\n`);
    await expect(consumeFileLog(store, { consumer: 'other', path: path2 })).rejects.toMatchObject({
      code: 'API_STREAM_INVALID',
      details: { path: path2, line: 11 },
      message: expect.stringContaining('specversion is "0.9"'),
    });
  });

  it('sends lines that are not CloudEvents to a dead-letter sink and goes on', async () => {
    const dir = scratch();
    const events = eventStream(20, 5, 13);
    const path = await writeLog(dir, events.slice(0, 10));
    appendFileSync(
      path,
      'garbage\n{"specversion":"1.0","id":"no-subject","source":"s","type":"a.b.c","time":"t"}\n',
    );
    appendFileSync(
      path,
      events
        .slice(10)
        .map((event) => `${JSON.stringify(event)}\n`)
        .join(''),
    );
    const store = await openStore(dir);
    const deadLetters = createFileDeadLetterSink({ dir: join(dir, 'dlq'), pipeline: 'api' });

    const result = await consumeFileLog(store, { consumer: 'api', path, batchSize: 6, deadLetters });
    expect(result).toMatchObject({ events: 20, applied: 20, deadLettered: 2 });
    expect(result.positions).toEqual({ [path]: String(statSync(path).size) });
    await expectStoreToEqualFold(store, events);
    const letters: DeadLetter[] = [];
    for await (const letter of deadLetters.list()) letters.push(letter);
    await deadLetters.close();
    expect(letters).toHaveLength(2);
    expect(letters[0]).toMatchObject({
      pipeline: 'api',
      stream: path,
      stage: 'source',
      code: 'API_STREAM_INVALID',
      record: 'garbage',
      origin: { path, line: 11 },
    });
    expect(letters[1]).toMatchObject({ origin: { line: 12 }, message: expect.stringContaining('subject') });
  });

  it('refuses a saved position the file no longer has (truncated or replaced)', async () => {
    const dir = scratch();
    const events = eventStream(10, 5, 17);
    const path = await writeLog(dir, events);
    const store = await openStore(dir);
    await consumeFileLog(store, { consumer: 'api', path });
    truncateSync(path, lineEnds(path)[4]!);
    await expect(consumeFileLog(store, { consumer: 'api', path })).rejects.toMatchObject({
      code: 'API_STREAM_POSITION_INVALID',
      retryable: false,
    });
    // Replaced by a larger file with no line ending where the saved position is.
    const position = Number((await store.positions('api'))[path]);
    writeFileSync(path, `${'y'.repeat(position + 100)}\n`);
    await expect(consumeFileLog(store, { consumer: 'api', path })).rejects.toMatchObject({
      code: 'API_STREAM_POSITION_INVALID',
    });
  });
});
