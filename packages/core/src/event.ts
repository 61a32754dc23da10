// CloudEvents envelopes with ids derived from where a change came from, never from a clock or a random
// number: reading the same change twice yields the same id, so consumers can de-duplicate.
import { hash } from 'node:crypto';
import type { CanonicalEvent, ChangeOp, ChangeRecord } from './types.js';

const FERRY_NAMESPACE = '6f1d1f8c-3e0b-5a52-9a1e-4a6d2f0c7b11';

/**
 * Per namespace, a scratch buffer that starts with the namespace's 16 bytes: a name is written after them
 * and the whole hashed in one call (one-shot hashing costs half of a Hash object per id).
 */
const scratches = new Map<string, Buffer>();
const SCRATCH_BYTES = 16 * 1024;
/** The RFC 4122 variant's first hex digit, from the two low bits of the hash's digit there. */
const VARIANT = '89ab';

/** RFC 4122 version-5 (SHA-1, name-based) UUID. */
export function uuidV5(name: string, namespace = FERRY_NAMESPACE): string {
  let scratch = scratches.get(namespace);
  if (!scratch) {
    scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
    Buffer.from(namespace.replace(/-/g, ''), 'hex').copy(scratch, 0);
    scratches.set(namespace, scratch);
  }
  let input = scratch;
  // A UTF-16 unit never takes more than 3 bytes in UTF-8: a name this short always fits the scratch.
  if (name.length * 3 > SCRATCH_BYTES - 16) {
    input = Buffer.allocUnsafe(16 + Buffer.byteLength(name, 'utf8'));
    scratch.copy(input, 0, 0, 16);
  }
  const length = 16 + input.write(name, 16, 'utf8');
  const hex = hash('sha1', input.subarray(0, length), 'hex');
  // Version 5 in the 13th digit; the variant's two high bits (10) in the 17th.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${VARIANT[Number.parseInt(hex[16]!, 16) & 3]}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
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
      // JSON writes a finite number as its ToString, which is what a template literal does.
      return Number.isFinite(value) ? `${value}` : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return JSON.stringify(value.toString());
    case 'object': {
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      if (Buffer.isBuffer(value)) return JSON.stringify(value.toString('base64'));
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i += 1)
          out += `${i === 0 ? '' : ','}${stringify(value[i]) ?? 'null'}`;
        return `${out}]`;
      }
      return `{${objectBody(value as Record<string, unknown>).body}}`;
    }
    default:
      return undefined;
  }
}

/**
 * An object's `"key":value` members joined by commas, in key order (UTF-16 code units, as Array#sort),
 * undefined ones left out; `beforeStream` is where the members whose keys sort before `stream` end in that
 * text (-1: all of them do), where lineageOf puts the stream of `ferryorigin`.
 */
function objectBody(object: Record<string, unknown>): { body: string; beforeStream: number } {
  const keys = Object.keys(object);
  if (keys.length > 1) sortKeys(keys);
  let body = '';
  let beforeStream = -1;
  for (const key of keys) {
    const text = member(key, object[key]);
    if (text === undefined) continue;
    if (beforeStream === -1 && key > 'stream') beforeStream = body.length;
    body += body.length === 0 ? text : `,${text}`;
  }
  return { body, beforeStream };
}

/**
 * Sort keys in place in Array#sort's default order (UTF-16 code units). An origin or a key has a handful of
 * members, and Array#sort allocates work arrays on every call: an insertion sort allocates nothing.
 */
function sortKeys(keys: string[]): void {
  if (keys.length > 16) {
    keys.sort();
    return;
  }
  for (let i = 1; i < keys.length; i += 1) {
    const key = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > key) {
      keys[j + 1] = keys[j]!;
      j -= 1;
    }
    keys[j + 1] = key;
  }
}

/**
 * Per key: `"key":`, and the last primitive value written under it with its `"key":value` text. The same few
 * keys (lsn, xid, file, line) are written for every event, and some values repeat from one event to the
 * next (a file's path and digest, a transaction's LSN): those are serialised once.
 */
interface KeyText {
  quoted: string;
  value: unknown;
  text: string | undefined;
}
const keyTexts = new Map<string, KeyText>();

function member(key: string, value: unknown): string | undefined {
  let entry = keyTexts.get(key);
  if (entry === undefined) {
    entry = { quoted: `${JSON.stringify(key)}:`, value: undefined, text: undefined };
    // Bounded: keys are column and position names; a source with endless distinct keys recomputes.
    if (keyTexts.size >= 10_000) keyTexts.clear();
    keyTexts.set(key, entry);
  } else if (entry.text !== undefined && entry.value === value) {
    return entry.text;
  }
  const text = stringify(value);
  if (text === undefined) return undefined;
  const whole = entry.quoted + text;
  // Equal primitives always serialise alike (0 and -0 both as 0); objects may change between events.
  const kind = typeof value;
  if (kind === 'string' || kind === 'number' || kind === 'boolean' || kind === 'bigint') {
    entry.value = value;
    entry.text = whole;
  }
  return whole;
}

/** JSON.stringify of a pipeline name, a stream or an op: the same few strings for every event. */
const quotedTexts = new Map<string, string>();

function quoted(text: string): string {
  let json = quotedTexts.get(text);
  if (json === undefined) {
    json = JSON.stringify(text);
    // Bounded: a pipeline with endless distinct streams recomputes rather than growing the cache.
    if (quotedTexts.size >= 10_000) quotedTexts.clear();
    quotedTexts.set(text, json);
  }
  return json;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  return !(value instanceof Date) && !Buffer.isBuffer(value);
}

export function eventId(pipeline: string, record: ChangeRecord, index = 0): string {
  return lineageOf(pipeline, record, index).id;
}

/**
 * The event id and the `ferryorigin` attribute of a record's event, from one serialisation of its origin.
 * The id is the UUIDv5 of `stableStringify([pipeline, stream, origin, key, op, index])` and `ferryorigin`
 * is `stableStringify({ stream, ...origin })`; both are built here from the same sorted members, byte for
 * byte what those calls give (test/unit/event-pins.test.ts holds them to it).
 */
function lineageOf(pipeline: string, record: ChangeRecord, index: number): { id: string; origin: string } {
  const origin: unknown = record.origin;
  if (!isPlainObject(origin)) {
    return {
      id: uuidV5(stableStringify([pipeline, record.stream, origin, record.key, record.op, index])),
      origin: stableStringify({ stream: record.stream, ...(origin as object) }),
    };
  }
  const { body, beforeStream } = objectBody(origin);
  const originText = `{${body}}`;
  const stream = quoted(record.stream);
  const name = `[${quoted(pipeline)},${stream},${originText},${stableStringify(record.key)},${quoted(record.op)},${stringify(index) ?? 'null'}]`;
  // `{ stream, ...origin }`: an origin of its own `stream` wins the spread; otherwise the stream goes in
  // at its place in key order.
  let lineage = originText;
  if (!Object.hasOwn(origin, 'stream')) {
    const member = `"stream":${stream}`;
    if (body.length === 0) lineage = `{${member}}`;
    else if (beforeStream === -1) lineage = `{${body},${member}}`;
    else if (beforeStream === 0) lineage = `{${member},${body}}`;
    // The rest of the body starts with the comma that ended the members before it.
    else lineage = `{${body.slice(0, beforeStream)},${member}${body.slice(beforeStream)}}`;
  }
  return { id: uuidV5(name), origin: lineage };
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

/** `source` by pipeline and stream, and `type` by canonical type and op: the same few strings per run. */
const sources = new Map<string, Map<string, string>>();
const types = new Map<string, Map<string, string>>();
const MAX_CACHED = 10_000;

function cached(cache: Map<string, Map<string, string>>, a: string, b: string, make: () => string): string {
  let inner = cache.get(a);
  if (inner === undefined) {
    if (cache.size >= MAX_CACHED) cache.clear();
    inner = new Map();
    cache.set(a, inner);
  }
  let value = inner.get(b);
  if (value === undefined) {
    value = make();
    // Bounded: a pipeline with endless distinct streams recomputes rather than growing the cache.
    if (inner.size >= MAX_CACHED) inner.clear();
    inner.set(b, value);
  }
  return value;
}

/** The last time written and its text: the records of one transaction or one file share one moment. */
let lastTimeMs = Number.NaN;
let lastTimeText = '';

function timeText(time: Date): string {
  const ms = time.getTime();
  if (ms !== lastTimeMs) {
    lastTimeText = time.toISOString();
    lastTimeMs = ms;
  }
  return lastTimeText;
}

export function buildEvent(input: EnvelopeInput): CanonicalEvent {
  return envelope(
    input.pipeline,
    input.record,
    input.canonicalType,
    input.dataschema,
    input.subject,
    input.data,
    input.index ?? 0,
    input.now,
  );
}

/** buildEvent's work with its input spread out: the runtime calls it per event without an input object. */
export function envelope(
  pipeline: string,
  record: ChangeRecord,
  canonicalType: string,
  dataschema: string | undefined,
  subject: string,
  data: unknown,
  index: number,
  now: Date | undefined,
): CanonicalEvent {
  const time = record.occurredAt ?? now ?? new Date();
  const lineage = lineageOf(pipeline, record, index);
  const event: CanonicalEvent = {
    specversion: '1.0',
    id: lineage.id,
    source: cached(
      sources,
      pipeline,
      record.stream,
      () => `/ferry/${encodeURIComponent(pipeline)}/${encodeURIComponent(record.stream)}`,
    ),
    type: cached(types, canonicalType, record.op, () => eventType(canonicalType, record.op)),
    subject,
    time: timeText(time),
    datacontenttype: 'application/json',
    data,
    ferryorigin: lineage.origin,
    ferryop: record.op,
  };
  if (record.sequence !== undefined) event.sequence = record.sequence;
  if (dataschema !== undefined) event.dataschema = dataschema;
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

/**
 * `topicFor` with `template`, remembered per event type and dataschema: what a sink calls for every event,
 * resolving the template once per kind of event.
 */
export function topicResolver(template?: string): (event: CanonicalEvent) => string {
  const topics = new Map<string, Map<string, string>>();
  return (event) => cached(topics, event.type, event.dataschema ?? '', () => topicFor(event, template));
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
  // Per change, often with one part: no intermediate array for that.
  if (parts.length === 1) return sequencePart(parts[0]!);
  return parts.map(sequencePart).join('.');
}

function sequencePart(part: number | bigint | string): string {
  if (typeof part === 'string') return part;
  if ((typeof part === 'number' && !Number.isSafeInteger(part)) || part < 0) {
    throw new RangeError(`sequence part ${String(part)} is not a whole number >= 0`);
  }
  return part.toString().padStart(SEQUENCE_DIGITS, '0');
}
