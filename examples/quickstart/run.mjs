// `npm start`: seed the legacy database on first use, then run the quickstart pipeline once and show
// where the events went. Running it again emits nothing new unless a legacy row changed.
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '@ferry/cli';
import { seedLegacyDatabase } from './seed.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const db = join(here, 'legacy.db');
if (!existsSync(db)) {
  const rows = Number(process.env.QUICKSTART_ROWS ?? 1000);
  seedLegacyDatabase(db, { rows });
  console.log(`quickstart: seeded ${rows} legacy OFFENDERS rows into ${relative(process.cwd(), db)}`);
}
const code = await main([
  'run',
  join(here, 'pipeline.yaml'),
  '--once',
  '--log-level',
  process.env.FERRY_LOG_LEVEL ?? 'warn',
]);
if (code === 0) {
  console.log(
    `quickstart: events in ${relative(process.cwd(), join(here, '.ferry/events/justice.offender.v1.jsonl'))}`,
  );
  console.log(
    `quickstart: dead letters in ${relative(process.cwd(), join(here, '.ferry/dead-letters/quickstart.dlq.jsonl'))}`,
  );
  console.log('quickstart: run `npm start` again: nothing new is emitted until a legacy row changes.');
}
process.exit(code);
