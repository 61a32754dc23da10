// CloudEvents envelopes with ids derived from where a change came from, never from a clock or a random
// number: reading the same change twice yields the same id, so consumers can de-duplicate.
import { createHash } from 'node:crypto';
import type { CanonicalEvent, ChangeOp, ChangeRecord } from './types.js';

const FERRY_NAMESPACE = '6f1d1f8c-3e0b-5a52-9a1e-4a6d2f0c7b11';

const namespaceBytes = new Map<string, Buffer>();

/** RFC 4122 version-5 (SHA-1, name-based) UUID. */
export function uuidV5(name: string, namespace = FERRY_NAMESPACE): string {
  let ns = namespaceBytes.get(namespace);
  if (!ns) {
    ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
    namespaceBytes.set(namespace, ns);
  }
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** JSON with object keys sorted, so equal values always serialise equally. */
export function stableStringify(value: unknown): string {
  return stringify(value) ?? 'null';
}

// Builds the same text as JSON.stringify over a key-sorted copy, without making the copy: this runs for
// every event (id and lineage), so it must be cheap.
function stringify(value: unknown): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return JSON.stringify(value.toString());
    case 'object': {
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      if (Buffer.isBuffer(value)) return JSON.stringify(value.toString('base64'));
      if (Array.isArray(value)) return `[${value.map((v) => stringify(v) ?? 'null').join(',')}]`;
      const object = value as Record<string, unknown>;
      const parts: string[] = [];
      for (const key of Object.keys(object).sort()) {
        const text = stringify(object[key]);
        if (text !== undefined) parts.push(`${JSON.stringify(key)}:${text}`);
      }
      return `{${parts.join(',')}}`;
    }
    default:
      return undefined;
  }
}

export function eventId(pipeline: string, record: ChangeRecord, index = 0): string {
  const name = stableStringify([pipeline, record.stream, record.origin, record.key, record.op, index]);
  return uuidV5(name);
}

const ACTION: Record<ChangeOp, string> = {
  create: 'created',
  update: 'updated',
  delete: 'deleted',
  read: 'snapshotted',
};

export function eventType(canonicalType: string, op: ChangeOp): string {
  return `${canonicalType}.${ACTION[op]}`;
}

export interface EnvelopeInput {
  pipeline: string;
  record: ChangeRecord;
  /** Canonical type without action, e.g. `justice.offender`. */
  canonicalType: string;
  subject: string;
  data: unknown;
  dataschema?: string | undefined;
  /** Several events from one record are told apart by index. */
  index?: number;
  /** Used when the source cannot tell when the change happened. */
  now?: Date;
}

export function buildEvent(input: EnvelopeInput): CanonicalEvent {
  const { pipeline, record } = input;
  const time = record.occurredAt ?? input.now ?? new Date();
  const event: CanonicalEvent = {
    specversion: '1.0',
    id: eventId(pipeline, record, input.index ?? 0),
    source: `/ferry/${encodeURIComponent(pipeline)}/${encodeURIComponent(record.stream)}`,
    type: eventType(input.canonicalType, record.op),
    subject: input.subject,
    time: time.toISOString(),
    datacontenttype: 'application/json',
    data: input.data,
    ferryorigin: stableStringify({ stream: record.stream, ...record.origin }),
    ferryop: record.op,
  };
  if (record.sequence !== undefined) event.sequence = record.sequence;
  if (input.dataschema !== undefined) event.dataschema = input.dataschema;
  return event;
}

/**
 * The topic (Kafka) or log file (file sink) an event belongs to. The template may use `{type}` (the
 * canonical type, e.g. `justice.offender`), `{major}` (major version of the dataschema) and
 * `{domain}`/`{entity}` (the first and last parts of the type).
 */
export function topicFor(event: CanonicalEvent, template = '{type}.v{major}'): string {
  return topicName(event.type.split('.').slice(0, -1).join('.'), event.dataschema, template);
}

/** The topic for a canonical type (without action) and its dataschema URI. */
export function topicName(
  canonicalType: string,
  dataschema: string | undefined,
  template = '{type}.v{major}',
): string {
  const parts = canonicalType.split('.');
  const major = /(\d+)(?:\.\d+){0,2}(?:\.json)?$/.exec(dataschema ?? '')?.[1] ?? '1';
  return template
    .replaceAll('{type}', canonicalType)
    .replaceAll('{domain}', parts[0] ?? canonicalType)
    .replaceAll('{entity}', parts.at(-1) ?? canonicalType)
    .replaceAll('{major}', major);
}

/** Digits of the widest number a sequence part holds (2^64 - 1 has 20). */
const SEQUENCE_DIGITS = 20;

/**
 * A `ChangeRecord.sequence` from the parts of a position, most significant first: whole numbers (an LSN, a
 * line, milliseconds) are zero-padded so that string order is numeric order; strings (an ISO timestamp, a
 * database's own timestamp text) must already sort as they should. Parts are joined by `.`.
 */
export function sequenceOf(...parts: readonly (number | bigint | string)[]): string {
  return parts
    .map((part) => {
      if (typeof part === 'string') return part;
      if ((typeof part === 'number' && !Number.isSafeInteger(part)) || part < 0) {
        throw new RangeError(`sequence part ${String(part)} is not a whole number >= 0`);
      }
      return part.toString().padStart(SEQUENCE_DIGITS, '0');
    })
    .join('.');
}
