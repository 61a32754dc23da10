// `ferry <args>` with one extra source type, `noisy`, that prints with console.log and console.error the
// way ssh2-sftp-client does on a dropped connection: a real process, so what reaches stdout and stderr is
// exactly what a person or a log collector would get.
import { defineFactory } from '@ferry/core';
import { z } from 'zod';
import { defaultRegistry, main } from '../../dist/index.js';

const registry = defaultRegistry();
registry.sources.set(
  'noisy',
  defineFactory({
    type: 'noisy',
    description: 'prints to the console while it reads',
    configSchema: z.object({}).strict(),
    create: () => ({
      type: 'noisy',
      cadence: { kind: 'passes', intervalMs: 1000 },
      async *read() {
        console.log('Global end listener: end event raised');
        console.error('Global error listener: %s', 'read ECONNRESET');
        console.warn('Global close listener: close event raised');
        yield { records: [], position: 1 };
      },
      close: async () => {},
    }),
  }),
);

process.exitCode = await main(process.argv.slice(2), undefined, registry);
