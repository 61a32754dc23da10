// Cost of the contract check per event: Ferry's validator (ajv 2020, compiled once, through the
// EventValidator the runtime calls) against a raw ajv validator of the same schema in the same run, and
// against the cost of building the CloudEvent itself.
// Run: npm run build && node test/bench/contracts-validate.mjs [events]
import { join } from 'node:path';
import { createContractValidator, loadContractRepository, resolveRefs } from '@ferry/contracts';
import { buildEvent } from '@ferry/core';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { reporter } from './report.mjs';

const count = Number(process.argv[2] ?? 200_000);
const repo = await loadContractRepository(
  join(import.meta.dirname, '..', '..', 'examples', 'justice-model', 'contracts'),
);
const data = Array.from({ length: 1000 }, (_, i) => ({
  offenderId: `A${String(i).padStart(4, '0')}BC`,
  name: { family: 'SMITH', given: 'JOHN' },
  dateOfBirth: '1975-06-01',
  gender: 'male',
  location: { prisonId: 'LEI' },
  active: true,
  lastModified: '2024-01-01T00:00:00.000Z',
}));
const events = data.map((d, i) =>
  buildEvent({
    pipeline: 'bench',
    record: { stream: 'OFFENDERS', op: 'update', key: { id: i }, origin: { id: i } },
    canonicalType: 'justice.offender',
    subject: d.offenderId,
    data: d,
    now: new Date(0),
  }),
);

function time(label, fn) {
  for (let i = 0; i < 20_000; i += 1) fn(i); // warm up
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i += 1) fn(i);
  const ns = Number(process.hrtime.bigint() - start);
  const perEvent = ns / count / 1000;
  console.log(
    `${label.padEnd(34)} ${perEvent.toFixed(3)} µs/event  ${Math.round((count * 1e9) / ns).toLocaleString()} events/s`,
  );
  return perEvent;
}

const ferry = createContractValidator(repo, 'justice.offender', '1.0.0');
const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats.default(ajv);
const raw = ajv.compile(resolveRefs(repo, repo.types.get('justice.offender').versions[0].schema));

console.log(`contract validation, ${count.toLocaleString()} events (justice.offender 1.0.0)`);
const build = time('build CloudEvent (baseline work)', (i) =>
  buildEvent({
    pipeline: 'bench',
    record: { stream: 'OFFENDERS', op: 'update', key: { id: i }, origin: { id: i } },
    canonicalType: 'justice.offender',
    subject: 'A0001BC',
    data: data[i % 1000],
  }),
);
const rawCost = time('raw ajv validate (baseline)', (i) => raw(data[i % 1000]));
const ferryCost = time('Ferry contract check', (i) => ferry(events[i % 1000]));
console.log(`ratio Ferry check / raw ajv: ${(ferryCost / rawCost).toFixed(2)}`);
reporter(import.meta.url)({
  name: 'Ferry contract check',
  value: ferryCost,
  unit: 'µs/event',
  baseline: { name: 'raw ajv validate', value: rawCost },
});
console.log(`check adds ${((ferryCost / build) * 100).toFixed(1)}% to the cost of building the event`);
