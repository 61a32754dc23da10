// The Source contract (@ferry/testkit) for the SOAP source in both modes, against a real node-soap server
// on loopback: resume from every position, determinism, prompt abort, no handles left, retry flags
// (a Server fault is retryable, a Client fault is not).
import { describeSourceConformance, type SourceFixture } from '@ferry/testkit';
import { afterAll, beforeAll } from 'vitest';
import { createSoapSource, type SoapSourceConfigInput } from '../../src/index.js';
import { type CaseServer, makeCases, startCaseServer, wsdlPath } from '../servers/node-soap-server.js';

let server: CaseServer;
beforeAll(async () => {
  server = await startCaseServer({ pageSize: 7 });
});
afterAll(async () => {
  await server.close();
});

const base = () =>
  ({
    wsdl: wsdlPath,
    port: 'CasePort11',
    endpoint: server.endpoint11,
    operation: 'GetChangedCases',
    arguments: { since: '{{since}}', pageToken: '{{page}}' },
    records: 'GetChangedCasesResult.Case[]',
    key: ['CaseId'],
    pagination: { type: 'token', nextPath: 'GetChangedCasesResult.NextPageToken' },
    batchSize: 5,
    pollIntervalMs: 200,
  }) as const;

function fixture(): SourceFixture {
  return {
    async seed() {
      server.fault = undefined;
      server.cases.splice(0, server.cases.length, ...makeCases(30));
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
  () =>
    createSoapSource({
      ...base(),
      mode: 'watermark',
      watermark: { field: 'ModifiedAt', type: 'timestamp' },
    } as SoapSourceConfigInput),
  fixture(),
);
