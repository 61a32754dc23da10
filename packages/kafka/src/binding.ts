// The CloudEvents Kafka protocol binding (v1.0): binary mode puts attributes in `ce_*` headers and the data
// in the body; structured mode puts the whole event, as JSON, in the body. The message key is the subject.
import type { CanonicalEvent } from '@ferry/core';
import type { OutMessage } from './internal/transport.js';

export type BindingMode = 'binary' | 'structured';

export const STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json; charset=UTF-8';

/** A CloudEvents attribute name: lower-case letters and digits (CloudEvents 1.0, "Attribute Naming Convention"). */
const ATTRIBUTE_NAME = /^[a-z0-9]+$/;

/** Attributes binary mode carries outside the `ce_` headers: the body and the content-type header. */
const NOT_HEADERS = new Set(['data', 'data_base64', 'datacontenttype']);

/** `ce_<name>` by attribute name, or null for what is not a header: the same dozen names every message. */
const headerNames = new Map<string, string | null>();

function headerName(name: string): string | null {
  let header = headerNames.get(name);
  if (header === undefined) {
    header = NOT_HEADERS.has(name) || !ATTRIBUTE_NAME.test(name) ? null : `ce_${name}`;
    // Bounded: events carry a fixed set of attributes; a stream of ever-new names recomputes.
    if (headerNames.size >= 1000) headerNames.clear();
    headerNames.set(name, header);
  }
  return header;
}

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
  // Every attribute, extensions included (binding 1.0, 3.2.3): an extension the mapping or the runtime adds
  // (`sequence`, `tracestate`) must reach consumers as in structured mode. Header values are strings: other
  // attribute types travel as their canonical string.
  for (const name in event) {
    const header = headerName(name);
    if (header === null) continue;
    // Extensions too: for-in walks every own attribute, as the binding asks.
    const value: unknown = event[name as keyof CanonicalEvent];
    if (typeof value === 'string') headers[header] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') headers[header] = String(value);
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

/** What a consumer gets from kafkajs: header values may be buffers, arrays of them, or missing. */
export interface ConsumedMessage {
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
}

/** A consumed message's headers as text (the first value of a repeated header). */
export function messageHeaders(message: ConsumedMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? String(value[0]) : String(value);
  }
  return headers;
}

/** A consumed message as text (key, value, headers): what a dead letter keeps of one that cannot be read. */
export function messageRecord(message: ConsumedMessage): Record<string, unknown> {
  return {
    key: message.key?.toString() ?? null,
    value: message.value?.toString() ?? null,
    headers: messageHeaders(message),
  };
}
