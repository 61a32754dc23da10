import { buildEvent, type ChangeRecord, eventId, topicFor, uuidV5 } from '@ferry/core';
import { sequenceOf } from '@ferry/core/sdk';
import { CloudEvent } from 'cloudevents';
import { describe, expect, it } from 'vitest';

const rec: ChangeRecord = {
  stream: 'main.OFFENDERS',
  op: 'update',
  key: { OFFENDER_ID: 42 },
  after: { OFFENDER_ID: 42 },
  occurredAt: new Date('2024-03-01T10:00:00Z'),
  origin: { table: 'main.OFFENDERS', ts: '2024-03-01T10:00:00.000Z', id: 42 },
};

describe('event ids and envelopes', () => {
  it('derives the same id from the same origin, whatever the key order, and a new id from a new origin', () => {
    const reordered = { ...rec, origin: { id: 42, ts: '2024-03-01T10:00:00.000Z', table: 'main.OFFENDERS' } };
    expect(eventId('p', rec)).toBe(eventId('p', reordered));
    expect(eventId('p', rec)).not.toBe(
      eventId('p', { ...rec, origin: { ...rec.origin, ts: '2024-03-02T00:00:00.000Z' } }),
    );
    expect(eventId('p', rec)).not.toBe(eventId('other', rec));
    expect(eventId('p', rec, 0)).not.toBe(eventId('p', rec, 1));
  });

  it('produces RFC 4122 version-5 UUIDs (known vector: DNS namespace, www.example.com)', () => {
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
  });

  it('builds a valid CloudEvents 1.0 envelope with lineage extensions', () => {
    const event = buildEvent({
      pipeline: 'prison-roll',
      record: rec,
      canonicalType: 'justice.offender',
      dataschema: 'urn:ferry:contract:justice.offender:1.2.0',
      subject: 'A1234BC',
      data: { offenderId: 'A1234BC' },
    });
    expect(event).toMatchObject({
      specversion: '1.0',
      type: 'justice.offender.updated',
      source: '/ferry/prison-roll/main.OFFENDERS',
      subject: 'A1234BC',
      time: '2024-03-01T10:00:00.000Z',
      ferryop: 'update',
    });
    expect(JSON.parse(event.ferryorigin)).toEqual({ stream: 'main.OFFENDERS', ...rec.origin });
    expect(new CloudEvent(event, true).validate()).toBe(true);
    expect(topicFor(event)).toBe('justice.offender.v1');
    expect(topicFor(event, '{domain}-{entity}')).toBe('justice-offender');
  });

  it('carries the record’s sequence as the CloudEvents sequence extension; sequences sort like positions', () => {
    const base: ChangeRecord = {
      stream: 's',
      op: 'update',
      key: { id: 1 },
      after: { id: 1 },
      origin: { lsn: '0/10' },
    };
    const event = buildEvent({
      pipeline: 'p',
      record: { ...base, sequence: sequenceOf(16n, 2) },
      canonicalType: 'justice.offender',
      subject: '1',
      data: {},
    });
    expect(event.sequence).toBe(`${'16'.padStart(20, '0')}.${'2'.padStart(20, '0')}`);
    expect(new CloudEvent(event, true).validate()).toBe(true);
    expect(
      buildEvent({ pipeline: 'p', record: base, canonicalType: 'a.b', subject: '1', data: {} }),
    ).not.toHaveProperty('sequence');
    const ordered = [sequenceOf(9, 1), sequenceOf(10, 0), sequenceOf(10, 2), sequenceOf(2n ** 64n - 1n, 0)];
    expect([...ordered].reverse().sort()).toEqual(ordered);
    expect(sequenceOf('2026-01-01T00:00:00.000Z', 3)).toBe(
      `2026-01-01T00:00:00.000Z.${'3'.padStart(20, '0')}`,
    );
    expect(() => sequenceOf(-1)).toThrow(RangeError);
  });
});
