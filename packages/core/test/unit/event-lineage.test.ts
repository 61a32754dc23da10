// The id and `ferryorigin` of an event are built from one serialisation of the origin (event.ts lineageOf),
// not from the two stableStringify calls they are defined by. This holds them to that definition over many
// generated records: keys that sort around `stream`, an origin with its own `stream`, undefined members,
// nested arrays and objects, dates, buffers, bigints, non-finite numbers, non-ASCII keys and text. The
// reference below is the serialiser and UUIDv5 Ferry used before the hot path was reworked (issue 18).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildEvent, stableStringify, uuidV5 } from '../../src/event.js';
import type { ChangeOp, ChangeRecord } from '../../src/types.js';

function reference(value: unknown): string | undefined {
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
      if (Array.isArray(value)) return `[${value.map((v) => reference(v) ?? 'null').join(',')}]`;
      const object = value as Record<string, unknown>;
      const parts: string[] = [];
      for (const key of Object.keys(object).sort()) {
        const text = reference(object[key]);
        if (text !== undefined) parts.push(`${JSON.stringify(key)}:${text}`);
      }
      return `{${parts.join(',')}}`;
    }
    default:
      return undefined;
  }
}

function referenceUuid(name: string): string {
  const ns = Buffer.from('6f1d1f8c3e0b5a529a1e4a6d2f0c7b11', 'hex');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** A small deterministic generator (mulberry32), so a failure names a seed that reproduces it. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = [
  'stream',
  'Stream',
  'streams',
  'strea',
  'str',
  'sz',
  'a',
  'lsn',
  'xid',
  'seq',
  '_',
  '10',
  '2',
  'é',
  '😀',
  'z"q',
  '',
];
const TEXTS = [
  '',
  'x',
  'name 1',
  'quote " and \\ back',
  'line\nbreak',
  'Ünïcödé',
  '⚖️',
  '\u0000\u001f',
  'a'.repeat(300),
];

function value(next: () => number, depth: number): unknown {
  const pick = Math.floor(next() * (depth > 2 ? 8 : 11));
  switch (pick) {
    case 0:
      return TEXTS[Math.floor(next() * TEXTS.length)];
    case 1:
      return Math.floor(next() * 1e9) - 5e8;
    case 2:
      return [Number.NaN, Number.POSITIVE_INFINITY, -0, 1e21, 0.1 + 0.2, 2 ** 53 + 1][Math.floor(next() * 6)];
    case 3:
      return next() < 0.5;
    case 4:
      return null;
    case 5:
      return undefined;
    case 6:
      return BigInt(Math.floor(next() * 1e6)) * 10_000_000_000_000n;
    case 7:
      return next() < 0.5 ? new Date(Math.floor(next() * 2e12)) : Buffer.from(TEXTS[Math.floor(next() * 9)]!);
    case 8:
      return Array.from({ length: Math.floor(next() * 4) }, () => value(next, depth + 1));
    default:
      return object(next, depth + 1);
  }
}

function object(next: () => number, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const size = Math.floor(next() * 6);
  for (let i = 0; i < size; i += 1) out[KEYS[Math.floor(next() * KEYS.length)]!] = value(next, depth);
  return out;
}

const OPS: ChangeOp[] = ['create', 'update', 'delete', 'read'];

describe('event lineage (id and ferryorigin) from one serialisation of the origin', () => {
  it('gives exactly what the two stableStringify calls it replaces gave, over 20,000 generated records', () => {
    const next = random(18);
    for (let n = 0; n < 20_000; n += 1) {
      const record: ChangeRecord = {
        stream: TEXTS[Math.floor(next() * TEXTS.length)]!,
        op: OPS[Math.floor(next() * OPS.length)]!,
        key: object(next, 1),
        origin: object(next, 0),
      };
      const index = Math.floor(next() * 3);
      const pipeline = next() < 0.5 ? 'offenders' : 'court lists/ünï';
      const event = buildEvent({ pipeline, record, canonicalType: 't.x', subject: 's', data: null, index });
      const context = `seed 18, record ${n}: ${reference(record.origin)}`;
      expect(event.id, context).toBe(
        referenceUuid(reference([pipeline, record.stream, record.origin, record.key, record.op, index])!),
      );
      expect(event.ferryorigin, context).toBe(reference({ stream: record.stream, ...record.origin }));
    }
  });

  it('stays exact when members repeat from one record to the next, change, or change type', () => {
    // The serialiser remembers each key's last primitive value and its text: a repeat must reuse it, and
    // anything else (a new value, 1 after '1', -0 after 0, NaN, an object) must not.
    const values: unknown[] = [
      'a.csv',
      'a.csv',
      'b.csv',
      1,
      '1',
      1,
      0,
      -0,
      Number.NaN,
      Number.NaN,
      true,
      'true',
      10n,
      '10',
      null,
      undefined,
      'a.csv',
      { x: 1 },
      { x: 2 },
      new Date(0),
      new Date(1),
      [1],
      [2],
    ];
    for (const [n, file] of values.entries()) {
      for (const line of [n, n, n + 1]) {
        const record: ChangeRecord = {
          stream: 'rows',
          op: 'read',
          key: { id: file as never },
          origin: { file, line, sha256: 'f'.repeat(64) },
        };
        const event = buildEvent({ pipeline: 'p', record, canonicalType: 't.x', subject: 's', data: null });
        const context = `value ${n}: ${String(file)}`;
        expect(event.ferryorigin, context).toBe(reference({ stream: record.stream, ...record.origin }));
        expect(event.id, context).toBe(
          referenceUuid(reference(['p', record.stream, record.origin, record.key, record.op, 0])!),
        );
      }
    }
    // One object, changed between two records: its text is not remembered.
    const shared = { part: 1 };
    for (const part of [1, 2]) {
      shared.part = part;
      const record: ChangeRecord = { stream: 'rows', op: 'read', key: { id: 1 }, origin: { shared } };
      const event = buildEvent({ pipeline: 'p', record, canonicalType: 't.x', subject: 's', data: null });
      expect(event.ferryorigin).toBe(`{"shared":{"part":${part}},"stream":"rows"}`);
    }
  });

  it('serialises any value as the reference does, and hashes any name as the reference does', () => {
    const next = random(7);
    for (let n = 0; n < 5_000; n += 1) {
      const v = value(next, 0);
      expect(stableStringify(v)).toBe(reference(v) ?? 'null');
    }
    // Names longer than the one-shot scratch buffer take the allocating path.
    for (const name of ['', 'a', 'é'.repeat(6000), '😀'.repeat(3000), 'x'.repeat(20_000)]) {
      expect(uuidV5(name)).toBe(referenceUuid(name));
    }
  });
});
