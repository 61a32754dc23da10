import {
  type ChangeRecord,
  DeadLetterThresholdError,
  FerryError,
  MappingError,
  runPipeline,
} from '@ferry/core';
import { sequenceOf } from '@ferry/core/sdk';
import { describe, expect, it } from 'vitest';
import {
  ArraySource,
  fastRetry,
  identityMapping,
  type Journal,
  MemoryCheckpoints,
  MemoryDeadLetters,
  MemorySink,
  records,
} from './helpers.js';

function parts(count: number, batchSize = 10) {
  const journal: Journal = { entries: [] };
  return {
    journal,
    source: new ArraySource(records(count), batchSize, journal),
    sink: new MemorySink(journal),
    deadLetters: new MemoryDeadLetters(journal),
    checkpoints: new MemoryCheckpoints(journal),
  };
}

describe('runPipeline', () => {
  it('writes every record as an event, then saves the checkpoint, then acknowledges', async () => {
    const p = parts(25);
    const summary = await runPipeline({ name: 't', mapping: identityMapping, retry: fastRetry, ...p });
    expect(p.sink.events).toHaveLength(25);
    expect(summary).toMatchObject({
      recordsRead: 25,
      eventsWritten: 25,
      deadLetters: 0,
      batches: 3,
      stoppedBy: 'end',
    });
    expect(p.checkpoints.saved.get('t')).toBe(25);
    // Each checkpoint comes after the sink holds every event before it, and each position is acknowledged
    // after its checkpoint, in order, every one of them (batches that queue up during a commit may be
    // committed together, under the last one's checkpoint).
    let written = 0;
    let saved = 0;
    const acked: number[] = [];
    for (const entry of p.journal.entries) {
      const [kind, n] = entry.split(':') as [string, string];
      if (kind === 'sink') written += Number(n);
      if (kind === 'save') {
        saved = Number(n);
        expect(written).toBeGreaterThanOrEqual(saved);
      }
      if (kind === 'ack') {
        expect(Number(n)).toBeLessThanOrEqual(saved);
        acked.push(Number(n));
      }
    }
    expect(saved).toBe(25);
    expect(acked).toEqual([10, 20, 25]);
    expect(p.source.closed).toBe(true);
  });

  it('never saves a checkpoint when the sink write failed, and never acknowledges it', async () => {
    const p = parts(20);
    // First batch commits, the second write fails with a fatal error.
    const failing = new MemorySink(p.journal);
    let calls = 0;
    failing.write = async (events) => {
      calls += 1;
      if (calls === 2) throw new FerryError('SINK_REJECTED', 'record too large');
      p.journal.entries.push(`sink:${events.length}`);
    };
    await expect(
      runPipeline({ name: 't', mapping: identityMapping, retry: fastRetry, ...p, sink: failing }),
    ).rejects.toMatchObject({ code: 'SINK_REJECTED' });
    expect(p.checkpoints.saved.get('t')).toBe(10);
    expect(p.source.acknowledged).toEqual([10]);
  });

  it('retries retryable sink errors and counts the retries', async () => {
    const p = parts(10);
    p.sink.failures.push(
      new FerryError('BROKER_UNAVAILABLE', 'broker down', { retryable: true }),
      new FerryError('BROKER_UNAVAILABLE', 'broker down', { retryable: true }),
    );
    const summary = await runPipeline({ name: 't', mapping: identityMapping, retry: fastRetry, ...p });
    expect(p.sink.writes).toBe(3);
    expect(p.sink.events).toHaveLength(10);
    expect(summary.retries).toBe(2);
  });

  it('does not retry a fatal error: one attempt, then the run stops with that error', async () => {
    const p = parts(10);
    p.sink.failures.push(new FerryError('AUTHORIZATION_FAILED', 'not allowed'));
    await expect(
      runPipeline({ name: 't', mapping: identityMapping, retry: fastRetry, ...p }),
    ).rejects.toMatchObject({
      code: 'AUTHORIZATION_FAILED',
      retryable: false,
    });
    expect(p.sink.writes).toBe(1);
    expect(p.checkpoints.saved.has('t')).toBe(false);
  });

  it('gives up on a retryable error after the configured retries with RETRIES_EXHAUSTED', async () => {
    const p = parts(10);
    for (let i = 0; i < 10; i += 1)
      p.sink.failures.push(new FerryError('BROKER_UNAVAILABLE', 'down', { retryable: true }));
    await expect(
      runPipeline({ name: 't', mapping: identityMapping, retry: { ...fastRetry, retries: 2 }, ...p }),
    ).rejects.toMatchObject({
      code: 'RETRIES_EXHAUSTED',
      cause: expect.objectContaining({ code: 'BROKER_UNAVAILABLE' }),
    });
    expect(p.sink.writes).toBe(3);
  });

  it('never retries programmer errors even when thrown by a sink', async () => {
    const p = parts(10);
    p.sink.failures.push(new TypeError('x is not a function'));
    await expect(
      runPipeline({ name: 't', mapping: identityMapping, retry: fastRetry, ...p }),
    ).rejects.toBeInstanceOf(TypeError);
    expect(p.sink.writes).toBe(1);
  });

  it('resumes a failed source from the last committed position, without duplicates', async () => {
    const p = parts(30);
    p.source.failures.set(
      20,
      new FerryError('DB_CONNECTION_FAILED', 'connection reset', { retryable: true }),
    );
    const summary = await runPipeline({ name: 't', mapping: identityMapping, retry: fastRetry, ...p });
    expect(p.source.reads).toEqual([undefined, 20]);
    expect(p.sink.events.map((e) => e.subject)).toEqual(records(30).map((r) => String(r.key.ID)));
    expect(summary.retries).toBe(1);
  });

  it('stops on a fatal source error after committing what was read before it', async () => {
    const p = parts(30);
    p.source.failures.set(20, new FerryError('DB_AUTH_FAILED', 'password authentication failed'));
    await expect(
      runPipeline({ name: 't', mapping: identityMapping, retry: fastRetry, ...p }),
    ).rejects.toMatchObject({
      code: 'DB_AUTH_FAILED',
    });
    expect(p.checkpoints.saved.get('t')).toBe(20);
  });

  it('sends records that fail mapping to the dead-letter sink with code, message, record and origin; the rest flow', async () => {
    const p = parts(20);
    const mapping = {
      ...identityMapping,
      map: (r: ChangeRecord) => {
        if (Number(r.key.ID) % 5 === 0)
          throw new MappingError('MAPPING_INVALID_VALUE', `bad row ${String(r.key.ID)}`);
        return identityMapping.map(r, { pipeline: 't' });
      },
    };
    const summary = await runPipeline({
      name: 't',
      mapping,
      retry: fastRetry,
      deadLetterThreshold: false,
      ...p,
    });
    expect(summary).toMatchObject({ recordsRead: 20, eventsWritten: 16, deadLetters: 4 });
    expect(p.deadLetters.letters[0]).toMatchObject({
      pipeline: 't',
      stream: 'legacy.PEOPLE',
      stage: 'mapping',
      code: 'MAPPING_INVALID_VALUE',
      message: 'bad row 5',
      retryable: false,
      origin: { table: 'legacy.PEOPLE', id: 5 },
      record: expect.objectContaining({ key: { ID: 5 } }),
    });
    // Dead letters are durable before the checkpoint that passes them.
    const firstSave = p.journal.entries.indexOf('save:10');
    expect(p.journal.entries.indexOf('dlq:2')).toBeLessThan(firstSave);
  });

  it('a mapping that throws a plain error dead-letters with MAPPING_FAILED', async () => {
    const p = parts(3, 3);
    const mapping = {
      ...identityMapping,
      map: () => {
        throw new Error('boom');
      },
    };
    await runPipeline({ name: 't', mapping, retry: fastRetry, deadLetterThreshold: false, ...p });
    expect(p.deadLetters.letters.map((l) => l.code)).toEqual([
      'MAPPING_FAILED',
      'MAPPING_FAILED',
      'MAPPING_FAILED',
    ]);
  });

  it('stops with DEAD_LETTER_THRESHOLD when the share of dead letters in the window passes the limit', async () => {
    const p = parts(200, 10);
    const mapping = {
      ...identityMapping,
      map: (r: ChangeRecord) => {
        // Healthy for 100 records, then everything fails: a poisoned source.
        if (Number(r.key.ID) > 100) throw new MappingError('MAPPING_INVALID_VALUE', 'garbage');
        return { subject: String(r.key.ID), data: {} };
      },
    };
    const error = await runPipeline({
      name: 't',
      mapping,
      retry: fastRetry,
      deadLetterThreshold: { windowSize: 50, maxRatio: 0.5, minRecords: 20 },
      ...p,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadLetterThresholdError);
    expect((error as DeadLetterThresholdError).code).toBe('DEAD_LETTER_THRESHOLD');
    // The batch that crossed the line is not committed, so fixing the mapping and re-running reprocesses it.
    const saved = p.checkpoints.saved.get('t') as number;
    expect(saved).toBeGreaterThanOrEqual(100);
    expect(saved).toBeLessThan(200);
    expect(p.deadLetters.letters.length).toBeLessThan(100);
  });

  it('turns source rejects into dead letters at stage source', async () => {
    const checkpoints = new MemoryCheckpoints();
    const deadLetters = new MemoryDeadLetters();
    const sink = new MemorySink();
    const source = {
      type: 'rejecting',
      cadence: { kind: 'stream' } as const,
      async *read() {
        yield {
          records: records(2),
          rejected: [
            {
              stream: 'f.csv',
              code: 'CSV_COLUMN_COUNT',
              message: 'expected 3 columns, got 2',
              raw: 'a,b',
              origin: { file: 'f.csv', line: 7 },
            },
          ],
          position: 1,
        };
      },
      async close() {},
    };
    await runPipeline({
      name: 't',
      source,
      mapping: identityMapping,
      sink,
      deadLetters,
      checkpoints,
      retry: fastRetry,
    });
    expect(deadLetters.letters).toEqual([
      expect.objectContaining({
        stage: 'source',
        code: 'CSV_COLUMN_COUNT',
        record: 'a,b',
        origin: { file: 'f.csv', line: 7 },
      }),
    ]);
    expect(sink.events).toHaveLength(2);
  });

  it('writes a batch’s dead letters in source order: rejected lines and mapping failures together', async () => {
    const deadLetters = new MemoryDeadLetters();
    const line = (n: number): ChangeRecord => ({
      stream: 'f.csv',
      op: 'read',
      key: { ID: n },
      after: { ID: n, bad: n === 9 || n === 3 },
      origin: { file: 'f.csv', line: n },
      sequence: sequenceOf(1_700_000_000_000, n),
    });
    const reject = (n: number) => ({
      stream: 'f.csv',
      code: 'CSV_COLUMN_COUNT',
      message: `line ${n}: expected 3 columns`,
      raw: 'a,b',
      origin: { file: 'f.csv', line: n },
      sequence: sequenceOf(1_700_000_000_000, n),
    });
    const source = {
      type: 'file-like',
      cadence: { kind: 'stream' } as const,
      async *read() {
        yield { records: [2, 3, 4, 5, 7, 8, 9, 10].map(line), rejected: [reject(6), reject(1)], position: 1 };
      },
      async close() {},
    };
    await runPipeline({
      name: 't',
      source,
      mapping: {
        ...identityMapping,
        map: (r) => {
          if (r.after?.bad) throw new MappingError('bad row');
          return identityMapping.map(r, { pipeline: 't' });
        },
      },
      sink: new MemorySink(),
      deadLetters,
      checkpoints: new MemoryCheckpoints(),
      retry: fastRetry,
    });
    expect(deadLetters.letters.map((l) => [l.origin, l.stage])).toEqual([
      [{ file: 'f.csv', line: 1 }, 'source'],
      [{ file: 'f.csv', line: 3 }, 'mapping'],
      [{ file: 'f.csv', line: 6 }, 'source'],
      [{ file: 'f.csv', line: 9 }, 'mapping'],
    ]);
  });

  it('a stop asked for before or during start-up ends the run as a stop, not a failure', async () => {
    // Aborted before the checkpoint is loaded: p-retry answers with the signal's reason.
    const before = parts(20);
    const early = await runPipeline({
      name: 't',
      mapping: identityMapping,
      retry: fastRetry,
      signal: AbortSignal.abort(),
      ...before,
    });
    expect(early).toMatchObject({ stoppedBy: 'signal', recordsRead: 0, batches: 0 });
    expect(before.sink.events).toEqual([]);

    // Aborted while the checkpoint store is still answering.
    const during = parts(20);
    const stop = new AbortController();
    during.checkpoints.load = async () => {
      stop.abort();
      throw stop.signal.reason;
    };
    const summary = await runPipeline({
      name: 't',
      mapping: identityMapping,
      retry: fastRetry,
      signal: stop.signal,
      ...during,
    });
    expect(summary.stoppedBy).toBe('signal');
  });

  it('keeps at most maxInFlightBatches read but uncommitted (backpressure)', async () => {
    const p = parts(200, 10);
    p.sink.writeDelayMs = 5;
    let peak = 0;
    let readCount = 0;
    let committed = 0;
    const read = p.source.read.bind(p.source);
    p.source.read = async function* (ctx) {
      for await (const batch of read(ctx)) {
        readCount += 1;
        peak = Math.max(peak, readCount - committed);
        yield batch;
      }
    };
    await runPipeline({
      name: 't',
      mapping: identityMapping,
      retry: fastRetry,
      maxInFlightBatches: 2,
      onCommit: () => {
        committed += 1;
      },
      ...p,
    });
    expect(committed).toBe(20);
    // One batch may be in the reader's hands waiting for a slot, on top of the bound.
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThanOrEqual(2);
  });

  it('stops gracefully on abort: stops reading, commits what was read, saves the checkpoint', async () => {
    const p = parts(1000, 10);
    p.source.delayMs = 2;
    const controller = new AbortController();
    const run = runPipeline({
      name: 't',
      mapping: identityMapping,
      retry: fastRetry,
      signal: controller.signal,
      onCommit: ({ position }) => {
        if (position === 50) controller.abort();
      },
      ...p,
    });
    const summary = await run;
    expect(summary.stoppedBy).toBe('signal');
    expect(summary.retries).toBe(0);
    const saved = p.checkpoints.saved.get('t') as number;
    expect(saved).toBeGreaterThanOrEqual(50);
    expect(saved).toBeLessThan(1000);
    // Everything before the saved position is in the sink, and nothing after it.
    expect(p.sink.events).toHaveLength(saved);
    expect(summary.position).toBe(saved);
    expect(p.source.closed).toBe(true);
  });

  it('resumes from the saved checkpoint on the next run and produces the same ids', async () => {
    const first = parts(30);
    await runPipeline({ name: 't', mapping: identityMapping, retry: fastRetry, ...first });
    const again = parts(30);
    again.checkpoints.saved.set('t', 20);
    await runPipeline({ name: 't', mapping: identityMapping, retry: fastRetry, ...again });
    expect(again.source.reads).toEqual([20]);
    expect(again.sink.events.map((e) => e.id)).toEqual(first.sink.events.slice(20).map((e) => e.id));
  });
});

describe('group commit', () => {
  it('commits batches that queued up behind a slow write together: fewer writes and checkpoints, nothing lost', async () => {
    const journal: Journal = { entries: [] };
    const source = new ArraySource(records(100), 10, journal);
    const sink = new MemorySink(journal);
    sink.writeDelayMs = 20;
    const checkpoints = new MemoryCheckpoints(journal);
    const summary = await runPipeline({
      name: 't',
      source,
      sink,
      deadLetters: new MemoryDeadLetters(journal),
      checkpoints,
      mapping: identityMapping,
      retry: fastRetry,
      maxInFlightBatches: 4,
    });
    expect(summary).toMatchObject({ batches: 10, eventsWritten: 100 });
    expect(sink.events.map((e) => e.subject)).toEqual(records(100).map((r) => String(r.key.ID)));
    expect(sink.writes).toBeLessThan(10);
    expect(journal.entries.filter((e) => e.startsWith('save:')).length).toBe(sink.writes);
    expect(checkpoints.saved.get('t')).toBe(100);
  });
});
