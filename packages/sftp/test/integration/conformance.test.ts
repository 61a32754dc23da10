// The shared Source conformance suite (@ferry/testkit) run against the SFTP source on the real sshd. Each
// seed gets a fresh remote directory and a fresh local state directory, so checks do not see each other's
// processed-file registry.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describeSourceConformance } from '@ferry/testkit';
import { createSftpSource, type SftpSourceConfigInput } from '../../src/index.js';
import { connection, drop, remoteDir, workDir } from '../helpers.js';

let current: { remote: string; dir: string } | undefined;
let override: Partial<SftpSourceConfigInput['connection']> & Record<string, unknown> = {};

function rows(from: number, count: number): string {
  const lines = ['id,name,amount'];
  for (let i = from; i < from + count; i++) lines.push(`${i},"name, ${i}",${i * 2}`);
  return `${lines.join('\r\n')}\r\n`;
}

describeSourceConformance(
  'sftp source',
  () => {
    if (current === undefined) throw new Error('seed() was not called');
    const base = connection() as Record<string, unknown>;
    const merged = { ...base, ...override };
    for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
    return createSftpSource(
      {
        connection: merged as SftpSourceConfigInput['connection'],
        paths: [`${current.remote}/*.csv`],
        format: { type: 'csv' },
        key: ['id'],
        batchSize: 7,
        stability: { mode: 'rename' },
        afterProcessing: 'leave',
        stateDir: join(current.dir, 'state'),
        pollIntervalMs: 600_000,
      },
      { pipeline: 'conformance', baseDir: current.dir },
    );
  },
  {
    async seed() {
      const { remote, local } = remoteDir('conformance');
      drop(local, 'a.csv', rows(1, 30));
      drop(local, 'b.csv', rows(31, 25));
      drop(local, 'c.csv', rows(56, 1));
      current = { remote, dir: await workDir() };
      override = {};
      return { expected: 56 };
    },
    lacks: {
      upstreamPosition:
        'what the SFTP source does upstream (register, archive, delete a finished file) is per file, not a position; sftp-source.test.ts checks it',
    },
    // Nothing listens on port 1: the connection is refused, as when the server is down.
    failRetryable: {
      break: async () => {
        override = { port: 1 };
      },
      repair: async () => {
        override = {};
      },
    },
    // A pinned fingerprint that is not the server's: a host-key mismatch a person must look at.
    failFatal: {
      break: async () => {
        override = { knownHosts: undefined, hostKeyFingerprint: `SHA256:${'B'.repeat(43)}` };
      },
      repair: async () => {
        override = {};
      },
    },
    async cleanup() {
      if (current !== undefined) await rm(current.dir, { recursive: true, force: true });
    },
    timeoutMs: 30_000,
  },
);
