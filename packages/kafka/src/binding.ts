// The CloudEvents Kafka protocol binding (v1.0): binary mode puts attributes in `ce_*` headers and the data
// in the body; structured mode puts the whole event, as JSON, in the body. The message key is the subject.
import type { CanonicalEvent } from '@ferry/core/sdk';
import type { OutMessage } from './internal/transport.js';

export type BindingMode = 'binary' | 'structured';

export const STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json; charset=UTF-8';

const ATTRIBUTES = [
  'specversion',
  'id',
  'source',
  'type',
  'subject',
  'time',
  'dataschema',
  'ferryorigin',
  'ferryop',
  'sequence',
  'traceparent',
] as const satisfies readonly (keyof CanonicalEvent)[];

/** Encode one event as a Kafka message (key = subject). */
export function encodeEvent(event: CanonicalEvent, mode: BindingMode): OutMessage {
  if (mode === 'structured') {
    return {
      key: event.subject,
      value: JSON.stringify(event),
      headers: { 'content-type': STRUCTURED_CONTENT_TYPE },
    };
  }
  const headers: Record<string, string> = { 'content-type': event.datacontenttype };
  for (const name of ATTRIBUTES) {
    const value = event[name];
    if (typeof value === 'string') headers[`ce_${name}`] = value;
  }
  return { key: event.subject, value: JSON.stringify(event.data), headers };
}

/** Decode a message written by `encodeEvent` (either mode) back into the event. */
export function decodeEvent(message: {
  value: Buffer | string | null;
  headers: Record<string, string>;
}): CanonicalEvent {
  const body = message.value === null ? 'null' : message.value.toString();
  const contentType = message.headers['content-type'] ?? '';
  if (contentType.startsWith('application/cloudevents+json')) return JSON.parse(body) as CanonicalEvent;
  const event: Record<string, unknown> = { datacontenttype: contentType };
  for (const [name, value] of Object.entries(message.headers)) {
    if (name.startsWith('ce_')) event[name.slice(3)] = value;
  }
  event.data = JSON.parse(body);
  return event as unknown as CanonicalEvent;
}
