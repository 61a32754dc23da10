// The binding's encoding, checked against the official cloudevents SDK without a broker.
import { buildEvent } from '@ferry/core';
import { Kafka } from 'cloudevents';
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
});
