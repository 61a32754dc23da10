#!/usr/bin/env node
import { abandonedSources } from './columns.js';
import { limitHeapGrowth } from './heap.js';
import { main } from './program.js';

limitHeapGrowth();

// `ferry discover … | head` closes the pipe early; that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

process.exitCode = await main(process.argv.slice(2));
// `ferry validate` may have stopped waiting for a source still connecting (--discover-timeout): its answer is
// printed, so the process ends now rather than when the driver's own connect timeout fires.
if (abandonedSources()) process.exit();
