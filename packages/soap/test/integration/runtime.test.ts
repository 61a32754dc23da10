// The SOAP source run by core's runtime from a pipeline file, against a real node-soap server: the runtime
// drives the passes (cron schedule or pollIntervalMs), checks a saved checkpoint against the source's position
// schema, waits what Retry-After asks, and keeps the circuit breaker (`runtime.breaker`) that leaves a failing
// service alone for its cool-down.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assemblePipeline,
  type CanonicalEvent,
  createFileCheckpointStore,
  loadPipelineFile,
  type PipelineObserver,
  type RetryObserved,
  type RunSummary,
  readEventLog,
  runPipeline,
} from '@ferry/core';
import { silentLogger } from '@ferry/core/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { caseWatermarkYaml, pipelineYaml, soapRegistry } from '../helpers.js';
import { type CaseServer, makeCases, startCaseServer } from '../servers/node-soap-server.js';

let server: CaseServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const watermarkSource = (endpoint: string, extra = '') =>
  caseWatermarkYaml(endpoint, `\n  batchSize: 10${extra}`);

/** A retry policy whose own backoff is at most 20 ms: longer waits come from Retry-After or the breaker. */
const TINY_BACKOFF =
  '  retry: { retries: 30, minTimeoutMs: 1, maxTimeoutMs: 20, factor: 1, jitter: false, maxRetryTimeMs: 60000 }';

interface Run {
  dir: string;
  summary: RunSummary;
  events: CanonicalEvent[];
}

/** Load the pipeline file as `ferry run` does, run it, and read back the events it wrote. */
async function runFile(
  yaml: string,
  options: { observer?: PipelineObserver; once?: boolean; signal?: AbortSignal; dir?: string } = {},
): Promise<Run> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'ferry-soap-runtime-')));
  await writeFile(join(dir, 'pipeline.yaml'), yaml);
  const registry = soapRegistry();
  const pipeline = await loadPipelineFile(join(dir, 'pipeline.yaml'), registry);
  const summary = await runPipeline(
    await assemblePipeline(pipeline, registry, {
      logger: silentLogger(),
      once: options.once ?? true,
      ...(options.observer ? { observer: options.observer } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    }),
  );
  const events: CanonicalEvent[] = [];
  for await (const event of readEventLog(join(dir, '.ferry', 'events', 'justice.case.v1.jsonl'))) {
    events.push(event);
  }
  return { dir, summary, events };
}

function caseIds(events: CanonicalEvent[]): string[] {
  return events.map((e) => (e.data as { caseId: string }).caseId);
}

describe('the runtime drives SOAP passes', () => {
  it('runs a pass at start, then one per tick of the pipeline cron schedule', async () => {
    server = await startCaseServer({ pageSize: 50 });
    server.cases.push(...makeCases(3));
    // Every second: with a 10-minute poll interval, only the schedule can explain more than one pass.
    const yaml = pipelineYaml(
      watermarkSource(server.endpoint11, '\n  pollIntervalMs: 600000'),
      "schedule: { cron: '* * * * * *', timezone: Europe/London }\n",
    );
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), 3_500);
    const { summary, events } = await runFile(yaml, { once: false, signal: stop.signal });
    clearTimeout(timer);
    expect(summary.stoppedBy).toBe('signal');
    expect(caseIds(events)).toEqual(server.cases.map((c) => c.CaseId));
    // One pass at start, then about one per second; each pass is one call (one page).
    expect(server.served).toBeGreaterThanOrEqual(3);
    expect(server.served).toBeLessThanOrEqual(6);
  }, 20_000);

  it('without a schedule, starts a pass pollIntervalMs after the last one ended', async () => {
    server = await startCaseServer({ pageSize: 50 });
    server.cases.push(...makeCases(2));
    const yaml = pipelineYaml(watermarkSource(server.endpoint11, '\n  pollIntervalMs: 400'));
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), 1_500);
    await runFile(yaml, { once: false, signal: stop.signal });
    clearTimeout(timer);
    // Passes at about 0, 0.4, 0.8 and 1.2 s.
    expect(server.callTimes.length).toBeGreaterThanOrEqual(3);
    const gaps = server.callTimes.slice(1).map((t, i) => t - server!.callTimes[i]!);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(390);
  }, 20_000);

  it('refuses a saved checkpoint neither mode writes before calling the service (CHECKPOINT_INVALID)', async () => {
    server = await startCaseServer();
    const dir = await mkdtemp(join(tmpdir(), 'ferry-soap-runtime-'));
    await createFileCheckpointStore({ dir: join(dir, '.ferry', 'checkpoints') }).save('soap-cases', {
      lsn: '0/1',
    });
    const failure = await runFile(pipelineYaml(watermarkSource(server.endpoint11)), { dir }).catch((e) => e);
    expect(failure).toMatchObject({ code: 'CHECKPOINT_INVALID' });
    expect(failure.message).toContain('soap');
    expect(server.calls).toBe(0);
  });
});

describe('a service that asks for time or keeps failing', () => {
  it('waits what Retry-After asks when every third call is a 503, and still delivers every record once', async () => {
    server = await startCaseServer({
      pageSize: 3,
      unavailable: { when: (call) => call % 3 === 0, retryAfter: '1' },
    });
    server.cases.push(...makeCases(20));
    const retries: RetryObserved[] = [];
    const started = performance.now();
    const { summary, events } = await runFile(
      pipelineYaml(watermarkSource(server.endpoint11), `runtime:\n${TINY_BACKOFF}\n`),
      { observer: { retrying: (info) => retries.push(info) } },
    );
    const elapsed = performance.now() - started;
    // 7 pages, and a 503 on calls 3, 6 and 9: three retries, each after the second Retry-After asked for.
    expect(server.refused).toBe(3);
    expect(summary.retries).toBe(3);
    expect(retries).toHaveLength(3);
    for (const retry of retries) {
      expect(retry).toMatchObject({ operation: 'source.read', code: 'SOAP_HTTP_ERROR', circuit: 'closed' });
      expect(retry.delayMs).toBe(1000);
    }
    expect(elapsed).toBeGreaterThanOrEqual(3 * 1000);
    expect(caseIds(events)).toEqual(server.cases.map((c) => c.CaseId));
    expect(new Set(events.map((e) => e.id)).size).toBe(20);
    expect(summary.eventsWritten).toBe(20);
  }, 30_000);

  it('opens the breaker when failures dominate: no call reaches the service during the cool-down', async () => {
    // Three calls of every four fail (503, no Retry-After).
    server = await startCaseServer({ pageSize: 3, unavailable: { when: (call) => call % 4 !== 0 } });
    server.cases.push(...makeCases(6));
    const cooldownMs = 1000;
    const retries: (RetryObserved & { at: number })[] = [];
    const { events } = await runFile(
      pipelineYaml(
        watermarkSource(server.endpoint11),
        // A run of failures alone never opens it here (threshold 100): only their share of the window can.
        `runtime:\n${TINY_BACKOFF}\n  breaker: { failureThreshold: 100, failureRatio: 0.5, window: 4, cooldownMs: ${cooldownMs} }\n`,
      ),
      { observer: { retrying: (info) => retries.push({ ...info, at: performance.now() }) } },
    );
    const opened = retries.filter((r) => r.circuit === 'open');
    expect(opened.length).toBeGreaterThan(0);
    // Libuv may start a timer from a loop time a few ms older than performance.now() in the observer.
    const slack = 25;
    for (const open of opened) {
      expect(open.delayMs).toBeGreaterThanOrEqual(cooldownMs);
      const during = server.callTimes.filter((t) => t > open.at && t < open.at + cooldownMs - slack);
      expect(during).toEqual([]);
      // The service did hear from Ferry again, after the cool-down: the trial call.
      expect(server.callTimes.some((t) => t >= open.at + cooldownMs - slack)).toBe(true);
    }
    // Two pages, each after three refused calls.
    expect(server.calls).toBe(8);
    expect(caseIds(events)).toEqual(server.cases.map((c) => c.CaseId));
  }, 30_000);
});
