// Shared by the consumer tests: a stream of canonical events with creates, updates, deletes and re-creates in
// sequence order, its fold (the last event per subject, deletes removed), and the check that a store holds
// exactly that fold.
import type { CanonicalEvent } from '@ferry/core';
import { expect } from 'vitest';
import type { EntityStore } from '../src/index.js';

export const TYPE = 'justice.offender';

let streams = 0;

/**
 * `count` events over `subjects` subjects, in sequence order: each subject is created, updated, deleted
 * now and then, and sometimes created again after its delete. Deterministic for a given `seed`.
 */
export function eventStream(count: number, subjects: number, seed = 1): CanonicalEvent[] {
  streams += 1;
  const prefix = `s${streams}-${seed}`;
  let state = seed;
  const random = () => {
    // xorshift: deterministic and fast.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
  const live = new Set<string>();
  const events: CanonicalEvent[] = [];
  for (let n = 1; n <= count; n += 1) {
    const subject = `O${String(Math.floor(random() * subjects)).padStart(5, '0')}`;
    const op = !live.has(subject) ? 'created' : random() < 0.12 ? 'deleted' : 'updated';
    if (op === 'deleted') live.delete(subject);
    else live.add(subject);
    events.push({
      specversion: '1.0',
      id: `${prefix}-e${n}`,
      source: '/ferry/test/offenders',
      type: `${TYPE}.${op}`,
      subject,
      time: new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString(),
      datacontenttype: 'application/json',
      dataschema: 'https://models.example/justice.offender/1.0.0.json',
      data:
        op === 'deleted' ? null : { offenderId: subject, version: n, name: `Name ${n}`, tags: ['a', n % 7] },
      ferryorigin: JSON.stringify({ stream: 'offenders', n }),
      ferryop: op === 'created' ? 'create' : op === 'updated' ? 'update' : 'delete',
      sequence: String(n).padStart(12, '0'),
    });
  }
  return events;
}

/** The last event per subject, in the order given; a subject whose last event is a delete is not live. */
export function fold(events: readonly CanonicalEvent[]): {
  live: Map<string, CanonicalEvent>;
  deleted: Map<string, CanonicalEvent>;
} {
  const last = new Map<string, CanonicalEvent>();
  for (const event of events) last.set(event.subject, event);
  const live = new Map<string, CanonicalEvent>();
  const deleted = new Map<string, CanonicalEvent>();
  for (const [subject, event] of last) (event.ferryop === 'delete' ? deleted : live).set(subject, event);
  return { live, deleted };
}

/** Every live entity of the type in the store, paging through it. */
export async function liveEntities(
  store: EntityStore,
): Promise<Map<string, { data: unknown; eventId: string }>> {
  const out = new Map<string, { data: unknown; eventId: string }>();
  let after: string | undefined;
  for (let pages = 0; pages < 10_000; pages += 1) {
    const page = await store.list(TYPE, 1, { limit: 1000, ...(after === undefined ? {} : { after }) });
    for (const item of page.items) out.set(item.id, { data: item.data, eventId: item.eventId });
    if (page.next === undefined) return out;
    after = page.next;
  }
  throw new Error('more pages than any test writes');
}

/** The store holds the fold of the stream: each live subject's last event, each deleted one's tombstone. */
export async function expectStoreToEqualFold(
  store: EntityStore,
  events: readonly CanonicalEvent[],
): Promise<void> {
  const { live, deleted } = fold(events);
  const held = await liveEntities(store);
  expect(held.size).toBe(live.size);
  for (const [subject, event] of live) {
    expect(held.get(subject), subject).toEqual({ data: event.data, eventId: event.id });
  }
  for (const [subject, event] of deleted) {
    expect(await store.get(TYPE, 1, subject), subject).toMatchObject({ deleted: true, eventId: event.id });
  }
}
