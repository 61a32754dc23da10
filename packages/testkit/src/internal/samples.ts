// Events and dead letters the suites write: every attribute and field in use, values that travel badly
// (non-ASCII text, newlines, nested nulls, long messages), and origins unique per check.
import { randomBytes, randomUUID } from 'node:crypto';
import type { CanonicalEvent, ChangeOp, DeadLetter, DeadLetterStage } from '@ferry/core/sdk';
import { canonical } from './parts.js';

const OPS: ChangeOp[] = ['create', 'update', 'delete', 'read'];
const ACTIONS: Record<ChangeOp, string> = {
  create: 'created',
  update: 'updated',
  delete: 'deleted',
  read: 'snapshotted',
};

/** A CloudEvents extension outside Ferry's own (the CloudEvents `sequence` extension, a string). */
export type WithSequence = CanonicalEvent & { sequence: string };

/**
 * `count` events over two canonical types and three subjects: every even one has a `dataschema`, every third
 * a `traceparent`, every fourth (from the second) a `sequence` extension; the others lack them.
 */
export function sampleEvents(count: number, label: string): CanonicalEvent[] {
  const events: CanonicalEvent[] = [];
  for (let i = 0; i < count; i += 1) {
    const op = OPS[i % OPS.length]!;
    const entity = i % 2 === 0 ? 'case' : 'person';
    const event: CanonicalEvent = {
      specversion: '1.0',
      id: randomUUID(),
      source: `/ferry/conformance/${label}`,
      type: `conformance.${entity}.${ACTIONS[op]}`,
      subject: `S-${i % 3}`,
      time: new Date(Date.UTC(2024, 0, 1, 0, 0, i, 123)).toISOString(),
      datacontenttype: 'application/json',
      data: {
        index: i,
        name: { family: 'Ødegård', given: 'Zoë' },
        note: 'line one\nline "two"',
        amount: 12.5,
        nested: { list: [1, 'two', null, true], empty: {} },
      },
      ferryorigin: JSON.stringify({ stream: 'conformance.CASES', line: i + 1, label }),
      ferryop: op,
    };
    if (i % 2 === 0) event.dataschema = `urn:ferry:contract:conformance.${entity}:1.4.0`;
    if (i % 3 === 0)
      event.traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
    if (i % 4 === 1) {
      const sequenced: WithSequence = { ...event, sequence: String(i).padStart(8, '0') };
      events.push(sequenced);
    } else events.push(event);
  }
  return events;
}

/** Which optional attributes an event carries, for messages (`with traceparent, sequence`). */
export function variant(event: CanonicalEvent): string {
  const has = ['dataschema', 'traceparent', 'sequence'].filter((name) => Object.hasOwn(event, name));
  return has.length > 0 ? `with ${has.join(', ')}` : 'without optional attributes';
}

const STAGES: DeadLetterStage[] = ['source', 'mapping', 'contract', 'sink'];
const CODES = ['SOURCE_REJECTED_ROW', 'MAPPING_INVALID_VALUE', 'CONTRACT_VIOLATION', 'SINK_REJECTED'];

export const DEAD_LETTER_FIELDS = [
  'pipeline',
  'stream',
  'stage',
  'code',
  'message',
  'retryable',
  'record',
  'origin',
  'attempts',
  'failedAt',
] as const;

/** `count` distinct dead letters of `pipeline`, failing in order (failedAt increases). */
export function sampleDeadLetters(pipeline: string, count: number, label: string, from = 0): DeadLetter[] {
  const letters: DeadLetter[] = [];
  for (let n = from; n < from + count; n += 1) {
    const stage = STAGES[n % STAGES.length]!;
    const origin = { file: 'court-lists/2026-11-23.csv', line: n + 1, label };
    const message =
      n % 5 === 2
        ? `row ${n + 1}: ${'the value does not fit the contract; '.repeat(40)}(Zoë)`
        : `row ${n + 1}: "31/02/1980" is not a date for Zoë\nfix the legacy row, then replay`;
    letters.push({
      pipeline,
      stream: n % 2 === 0 ? 'main.OFFENDERS' : 'court-lists/*.csv',
      stage,
      code: CODES[n % CODES.length]!,
      message,
      retryable: n % 3 === 1,
      // A source reject carries the raw input; the other stages the change record.
      record:
        stage === 'source'
          ? `A${n},Ødegård,"31/02/1980`
          : {
              stream: 'main.OFFENDERS',
              op: 'update',
              key: { OFFENDER_ID: n },
              after: { LAST_NAME: 'Ødegård', BIRTH_DATE: '31021980', FLAGS: [1, null, 'x'] },
              origin,
            },
      origin,
      attempts: 1 + (n % 3),
      failedAt: new Date(Date.UTC(2026, 10, 23, 9, 0, n, 7)).toISOString(),
    });
  }
  return letters;
}

/** A letter's identity for the suites: where it came from and what it was. */
export function letterKey(letter: unknown): string {
  const record = letter !== null && typeof letter === 'object' ? letter : {};
  return canonical([
    Reflect.get(record, 'pipeline'),
    Reflect.get(record, 'stream'),
    Reflect.get(record, 'stage'),
    Reflect.get(record, 'origin'),
  ]);
}
