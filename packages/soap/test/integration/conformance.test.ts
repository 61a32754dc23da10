// The Source contract (@ferry/testkit) for the SOAP source in both modes, against a real node-soap server on
// loopback: resume from every position, determinism, sequences, no handles left, retry flags (a Server fault
// is retryable, a Client fault is not). `stopsPromptlyMidPass` adds an abort that falls while a slow call is
// in flight.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ReadContext, silentLogger } from '@ferry/core/sdk';
import {
  type ConformanceCheck,
  ConformanceFailure,
  describeSourceConformance,
  FakeClock,
  type SourceFixture,
  sourceConformanceChecks,
} from '@ferry/testkit';
import { afterAll, beforeAll } from 'vitest';
import { createSoapSource } from '../../src/index.js';
import { caseSnapshotConfig, caseWatermarkConfig } from '../helpers.js';
import { type CaseServer, makeCases, startCaseServer } from '../servers/node-soap-server.js';

let server: CaseServer;
beforeAll(async () => {
  server = await startCaseServer({ pageSize: 7 });
});
afterAll(async () => {
  await server.close();
});

const context = (signal: AbortSignal): ReadContext => ({
  from: undefined,
  signal,
  once: false,
  log: silentLogger(),
  caughtUp: () => {},
});

const stopsPromptlyMidPass: ConformanceCheck = {
  name: 'a pass ends by itself in continuous mode, and stops within 5 s when aborted mid-pass',
  async run(makeSource, fixture) {
    const { expected } = await fixture.seed();
    const source = await makeSource();
    try {
      let read = 0;
      for await (const batch of source.read(context(new AbortController().signal)))
        read += batch.records.length;
      if (read !== expected)
        throw new ConformanceFailure(`a pass read ${read} records, expected ${expected}`);
      // Slow calls, so the abort falls while a call is in flight.
      server.delayMs = 400;
      const controller = new AbortController();
      const iterator = source.read(context(controller.signal))[Symbol.asyncIterator]();
      await iterator.next();
      const started = performance.now();
      controller.abort();
      // A stopped read may end or throw; the runtime treats both as a stop. It must not go on.
      await (async () => {
        while (!(await iterator.next()).done) {
          if (performance.now() - started > 5_000)
            throw new ConformanceFailure('still reading 5 s after the abort');
        }
      })().catch((error: unknown) => {
        if (error instanceof ConformanceFailure) throw error;
      });
      const took = performance.now() - started;
      if (took > 5_000) throw new ConformanceFailure(`stopping took ${Math.round(took)} ms`);
    } finally {
      server.delayMs = 0;
      await source.close();
    }
  },
};

const checks = [...sourceConformanceChecks, stopsPromptlyMidPass];

function fixture(reset: () => Promise<void> = async () => {}): SourceFixture {
  return {
    lacks: {
      acknowledge: 'a SOAP service is only read; nothing is confirmed upstream',
      upstreamPosition: 'nothing is acknowledged upstream',
    },
    async seed() {
      server.fault = undefined;
      server.cases.splice(0, server.cases.length, ...makeCases(30));
      await reset();
      return { expected: 30 };
    },
    failRetryable: {
      break: async () => {
        server.fault = 'server';
      },
      repair: async () => {
        server.fault = undefined;
      },
    },
    failFatal: {
      break: async () => {
        server.fault = 'client';
      },
      repair: async () => {
        server.fault = undefined;
      },
    },
    timeoutMs: 20_000,
  };
}

describeSourceConformance(
  'soap watermark source',
  () => createSoapSource(caseWatermarkConfig(server.endpoint11, { batchSize: 5, pollIntervalMs: 200 })),
  fixture(),
  { checks },
);

// Snapshot state (the last committed pass) is part of what seed() resets; a fixed clock names the passes, so
// two reads of the same input are the same pass (the same event ids).
let stateDir = '';
describeSourceConformance(
  'soap snapshot source',
  async () =>
    createSoapSource(
      await caseSnapshotConfig(server.endpoint11, {
        pagination: { type: 'page-number', first: 1, pageSize: 7 },
        batchSize: 5,
        stateDir,
      }),
      { clock: new FakeClock(Date.parse('2026-01-01T00:00:00Z')) },
    ),
  fixture(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'ferry-soap-conformance-'));
  }),
  { checks },
);
