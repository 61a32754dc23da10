// Event ids and bytes are a promise to consumers: the same change read again must give the same id and the
// same line, across Ferry versions too (a consumer de-duplicates by id; a replay compares bytes). These
// records cover every kind of value an origin, key or payload holds; their ids and file-sink lines were
// produced by Ferry before the hot path was reworked (issue 18) and are pinned in fixtures/event-pins.json.
// Regenerate only on purpose: `FERRY_PIN_EVENTS=write npx vitest run --project unit <this file>`.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileSink } from '../../src/embedded/file-sink.js';
import { buildEvent, type EnvelopeInput } from '../../src/event.js';

const at = new Date('2026-03-01T09:30:00.123Z');

const inputs: EnvelopeInput[] = [
  {
    pipeline: 'offenders',
    record: {
      stream: 'public.offender',
      op: 'create',
      key: { id: '42' },
      after: { id: 42, name: 'Ada' },
      origin: { lsn: '0/16B3748', xid: 731, commitTime: '2026-03-01T09:30:00.123Z' },
      occurredAt: at,
      sequence: '00000000000023803720',
    },
    canonicalType: 'justice.offender',
    subject: '42',
    data: { offenderId: '42', name: 'Ada', tags: ['a', 'b'], nested: { z: 1, a: null } },
    dataschema: 'https://schemas.example.org/justice/offender/1.2.0.json',
  },
  {
    pipeline: 'offenders',
    record: {
      stream: 'public.offender',
      op: 'update',
      key: { id: '42' },
      origin: { lsn: '0/16B3900', xid: 732, index: 3 },
      occurredAt: at,
    },
    canonicalType: 'justice.offender',
    subject: '42',
    data: { offenderId: '42', name: 'Ada Lovelace', amount: '12345678901234567890.0001' },
  },
  {
    pipeline: 'court lists/ünï',
    record: {
      stream: 'LIST_2026-03-01.csv',
      op: 'read',
      key: { REF: 'C/1' },
      origin: { file: 'LIST_2026-03-01.csv', line: 7, sha256: 'ab'.repeat(32), size: 1234 },
      occurredAt: new Date('2026-03-01T00:00:00.000Z'),
    },
    canonicalType: 'justice.hearing',
    subject: 'C/1',
    data: { ref: 'C/1', court: 'Caerdydd – Llys', when: '2026-03-02T10:00:00+00:00', emoji: '⚖️' },
    index: 1,
  },
  {
    pipeline: 'legacy',
    record: {
      stream: 'main.LEDGER',
      op: 'delete',
      key: { A: '1', B: 'x"y\\z' },
      origin: { watermark: { ts: '2026-02-28 23:59:59.999999', id: 9007199254740993n }, page: 2 },
      occurredAt: at,
    },
    canonicalType: 'finance.ledger',
    subject: '1|x"y\\z',
    data: null,
  },
  {
    pipeline: 'soap',
    record: {
      stream: 'GetCases',
      op: 'update',
      key: { caseId: 'K-1' },
      origin: { page: 0, watermark: '2026-03-01T09:00:00Z', when: at, raw: Buffer.from('héllo') },
      occurredAt: at,
    },
    canonicalType: 'justice.case',
    subject: 'K-1',
    data: {
      n: 1e21,
      small: 1e-7,
      neg: -0,
      big: 123456789012345680000,
      list: [1, [2, [3]]],
      t: true,
      f: false,
    },
    dataschema: 'https://schemas.example.org/justice/case/3.0.0.json',
  },
  {
    pipeline: 'trigger',
    record: {
      stream: 'dbo.Case Notes',
      op: 'create',
      key: { 'Note Id': '7' },
      origin: { journal: 88, changedAt: '2026-03-01 09:30:00', undefinedField: undefined, nan: Number.NaN },
      occurredAt: at,
    },
    canonicalType: 'justice.note',
    subject: '7',
    data: { text: 'line1\nline2\ttab\u0000nul\u2028sep', empty: '', zero: 0 },
  },
];

interface Pin {
  id: string;
  line: string;
}

const fixture = join(import.meta.dirname, 'fixtures', 'event-pins.json');

function produce(): Pin[] {
  return inputs.map((input) => {
    const event = buildEvent(input);
    return { id: event.id, line: JSON.stringify(event) };
  });
}

describe('event ids and bytes stay as they were', () => {
  it('gives the pinned id and file-sink line for each record', () => {
    const produced = produce();
    if (process.env.FERRY_PIN_EVENTS === 'write')
      writeFileSync(fixture, `${JSON.stringify(produced, null, 2)}\n`);
    const pinned = JSON.parse(readFileSync(fixture, 'utf8')) as Pin[];
    expect(produced).toHaveLength(inputs.length);
    expect(produced).toEqual(pinned);
  });

  it('writes exactly the pinned lines through the file sink, encoded batches written together', async () => {
    const pinned = JSON.parse(readFileSync(fixture, 'utf8')) as Pin[];
    const dir = mkdtempSync(join(tmpdir(), 'ferry-pins-'));
    try {
      // One topic file for all, so the file holds the lines in the order written.
      const sink = createFileSink({ dir, topic: 'pins' });
      const events = inputs.map((input) => buildEvent(input));
      await sink.writeEncoded([sink.encode(events.slice(0, 2)), sink.encode(events.slice(2))]);
      await sink.close();
      const [file] = readdirSync(dir);
      const lines = readFileSync(join(dir, file!), 'utf8').split('\n');
      expect(lines.pop()).toBe('');
      expect(lines).toEqual(pinned.map((p) => p.line));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
