// The binding's encoding, checked against the official cloudevents SDK without a broker.
import { buildEvent } from '@ferry/core';
import type { CanonicalEvent } from '@ferry/core/sdk';
import { CloudEvent, Kafka, type KafkaMessage } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import { decodeEvent, encodeEvent } from '../../src/index.js';

const event = buildEvent({
  pipeline: 'p',
  record: {
    stream: 's',
    op: 'update',
    key: { id: 1 },
    origin: { table: 'T', id: 1 },
    occurredAt: new Date(0),
  },
  canonicalType: 'justice.offender',
  dataschema: 'urn:ferry:contract:justice.offender:1.0.0',
  subject: 'A1',
  data: { offenderId: 'A1', n: 1 },
});

describe('CloudEvents Kafka binding', () => {
  for (const mode of ['binary', 'structured'] as const) {
    it(`${mode}: the SDK reads what we encode, and we decode it back`, () => {
      const message = encodeEvent(event, mode);
      expect(message.key).toBe('A1');
      const read = Kafka.toEvent({
        key: message.key,
        value: message.value,
        headers: message.headers,
      } as never);
      const single = Array.isArray(read) ? read[0]! : read;
      expect(single.validate()).toBe(true);
      const { partitionkey, ...rest } = JSON.parse(JSON.stringify(single.toJSON())) as Record<
        string,
        unknown
      >;
      expect(partitionkey).toBe('A1');
      expect(rest).toEqual(JSON.parse(JSON.stringify(event)));
      expect(decodeEvent({ value: message.value, headers: message.headers })).toEqual(event);
    });
  }

  it('binary: every other extension becomes a ce_ header too (found by the Sink conformance suite)', () => {
    const extended: CanonicalEvent & { sequence: string; sequencenumber: number; replayed: boolean } = {
      ...event,
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      sequence: '00000042',
      sequencenumber: 42,
      replayed: true,
    };
    const message = encodeEvent(extended, 'binary');
    expect(message.headers).toMatchObject({
      ce_ferryorigin: event.ferryorigin,
      ce_traceparent: extended.traceparent,
      ce_sequence: '00000042',
      ce_sequencenumber: '42',
      ce_replayed: 'true',
      'content-type': 'application/json',
    });
    expect(Object.keys(message.headers).filter((h) => h.startsWith('ce_data'))).toEqual(['ce_dataschema']);
    expect(message.headers.ce_datacontenttype).toBeUndefined();
    const value = String(message.value);
    const kafkaMessage: KafkaMessage<string> = { key: 'A1', value, body: value, headers: message.headers };
    const read = Kafka.toEvent<unknown>(kafkaMessage);
    const single = Array.isArray(read) ? read[0] : read;
    if (!(single instanceof CloudEvent)) throw new Error('the SDK read no CloudEvent');
    expect(single.validate()).toBe(true);
    expect(single.sequence).toBe('00000042');
    expect(single.sequencenumber).toBe('42');
    expect(decodeEvent({ value: message.value, headers: message.headers })).toMatchObject({
      sequence: '00000042',
      traceparent: extended.traceparent,
    });
  });
});
