// What every store backend must do, run against SQLite (test/unit) and PostgreSQL (test/integration).
import type { CanonicalEvent } from '@ferry/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EntityStore, type StoreConfig } from '../src/index.js';

let counter = 0;

/** A canonical event as a pipeline writes it: `justice.offender.<op>`, dataschema version 1.2.0. */
export function event(
  subject: string,
  op: 'created' | 'updated' | 'deleted',
  data: unknown,
  sequence?: string,
): CanonicalEvent {
  counter += 1;
  return {
    specversion: '1.0',
    id: `e-${counter}`,
    source: '/ferry/test/offenders',
    type: `justice.offender.${op}`,
    subject,
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, counter)).toISOString(),
    datacontenttype: 'application/json',
    dataschema: 'https://models.example/justice.offender/1.2.0.json',
    data,
    ferryorigin: JSON.stringify({ n: counter }),
    ferryop: op === 'created' ? 'create' : op === 'updated' ? 'update' : 'delete',
    ...(sequence === undefined ? {} : { sequence }),
  };
}

export function describeStore(
  name: string,
  config: () => StoreConfig | Promise<StoreConfig>,
  /** Removes what the store created (a PostgreSQL schema). */
  cleanup: () => Promise<void> = async () => undefined,
): void {
  describe(`entity store: ${name}`, () => {
    let store: EntityStore;
    beforeAll(async () => {
      store = await EntityStore.open(await config());
    }, 60_000);
    afterAll(async () => {
      await store?.close();
      await cleanup();
    });

    it('keeps the latest state per subject, by sequence, whatever order events arrive in', async () => {
      const create = event('A1', 'created', { name: 'one' }, '001');
      const update = event('A1', 'updated', { name: 'two' }, '002');
      expect(await store.apply('c', [create, update])).toEqual({ applied: 2, duplicates: 0, stale: 0 });
      // A replay (the same events again) changes nothing; an older event arriving late cannot overwrite.
      expect(await store.apply('c', [update, create])).toEqual({ applied: 0, duplicates: 1, stale: 1 });
      const got = await store.get('justice.offender', 1, 'A1');
      expect(got).toMatchObject({
        data: { name: 'two' },
        eventId: update.id,
        sequence: '002',
        deleted: false,
      });
      // The same place in the source with another event id (a snapshot row read again with new content) wins.
      const reread = event('A1', 'updated', { name: 'three' }, '002');
      expect(await store.apply('c', [reread])).toMatchObject({ applied: 1 });
      expect((await store.get('justice.offender', 1, 'A1'))?.data).toEqual({ name: 'three' });
    });

    it('decides a large batch event by event: many entities, and one entity’s events out of order in it', async () => {
      // More entities than one lookup or one upsert statement takes, and a second major of the type.
      const creates = Array.from({ length: 1234 }, (_, i) =>
        event(`L${i}`, 'created', { n: i }, String(i).padStart(6, '0')),
      );
      const v2 = { ...event('L7', 'created', { major: 2 }, '000001'), dataschema: 'urn:x:2.0.0' };
      const late = event('L3', 'updated', { n: 'newest' }, '900000');
      const older = event('L3', 'updated', { n: 'older' }, '800000');
      const batch = [...creates, v2, late, older, late, creates[5] as CanonicalEvent];
      expect(await store.apply('big', batch)).toEqual({ applied: 1236, duplicates: 2, stale: 1 });
      expect((await store.get('justice.offender', 1, 'L3'))?.data).toEqual({ n: 'newest' });
      expect((await store.get('justice.offender', 1, 'L1233'))?.data).toEqual({ n: 1233 });
      expect((await store.get('justice.offender', 2, 'L7'))?.data).toEqual({ major: 2 });
      expect((await store.get('justice.offender', 1, 'L7'))?.data).toEqual({ n: 7 });
      // The same batch again: every event a duplicate, or stale (L3's create and the older update).
      expect(await store.apply('big', batch)).toEqual({ applied: 0, duplicates: 1237, stale: 2 });
      const json = await store.getJson('justice.offender', 1, 'L3');
      expect(json).toMatchObject({ eventId: late.id, sequence: '900000', deleted: false });
      expect(JSON.parse(json?.json ?? 'null')).toEqual({ n: 'newest' });
    });

    it('leaves a tombstone on delete that an older event cannot bring back', async () => {
      const create = event('B1', 'created', { name: 'b' }, '010');
      const remove = event('B1', 'deleted', { name: 'b' }, '011');
      await store.apply('c', [create, remove]);
      expect(await store.get('justice.offender', 1, 'B1')).toMatchObject({ deleted: true, data: null });
      expect(await store.apply('c', [create])).toMatchObject({ applied: 0, duplicates: 0, stale: 1 });
      expect(await store.get('justice.offender', 1, 'B1')).toMatchObject({ deleted: true });
      expect(await store.get('justice.offender', 1, 'nobody')).toBeUndefined();
      // A later create brings it back.
      await store.apply('c', [event('B1', 'created', { name: 'b again' }, '012')]);
      expect(await store.get('justice.offender', 1, 'B1')).toMatchObject({
        deleted: false,
        data: { name: 'b again' },
      });
    });

    it('saves positions with the state, or neither', async () => {
      await store.apply('pos', [event('C1', 'created', { v: 1 }, '100')], { 'offenders.v1/0': '41' });
      expect(await store.positions('pos')).toEqual({ 'offenders.v1/0': '41' });
      // A batch that fails half-way (data JSON cannot hold) leaves neither its state nor its position.
      const bad = event('C2', 'created', { v: 10n }, '101');
      await expect(
        store.apply('pos', [event('C1', 'updated', { v: 2 }, '102'), bad], { 'offenders.v1/0': '43' }),
      ).rejects.toThrow();
      expect(await store.positions('pos')).toEqual({ 'offenders.v1/0': '41' });
      expect((await store.get('justice.offender', 1, 'C1'))?.data).toEqual({ v: 1 });
      expect(await store.get('justice.offender', 1, 'C2')).toBeUndefined();
    });

    it('never shows a batch being applied: readers see the state before it or after it', async () => {
      // 400 entities: several upsert statements, between which the store lets other work run (SQLite).
      const ids = Array.from({ length: 400 }, (_, i) => `R${i}`);
      await store.apply(
        'c',
        ids.map((id) => event(id, 'created', { v: 0 }, '0000')),
      );
      let done = false;
      const applying = store
        .apply(
          'c',
          ids.map((id) => event(id, 'updated', { v: 1 }, '0001')),
        )
        .finally(() => {
          done = true;
        });
      const version = async (id: string) =>
        ((await store.get('justice.offender', 1, id))?.data as { v: number } | undefined)?.v;
      const seen = new Set<string>();
      let reads = 0;
      while (!done) {
        seen.add(`${await version('R0')}/${await version('R399')}`);
        reads += 1;
        await new Promise((next) => setImmediate(next));
      }
      await applying;
      seen.add(`${await version('R0')}/${await version('R399')}`);
      expect(reads).toBeGreaterThan(0);
      // R0 is read first and written in the first statement, R399 in the last: R0 new with R399 old would be a
      // batch seen half-applied. R0 old with R399 new is a commit landing between the two reads.
      expect(seen.has('1/0')).toBe(false);
      expect([...seen].filter((pair) => !['0/0', '0/1', '1/1'].includes(pair))).toEqual([]);
      expect(seen.has('1/1')).toBe(true);
    });

    it('pages through live entities in id order without repeats or gaps while others are written', async () => {
      const type = 'justice.court';
      const court = (id: string, seq: string, op: 'created' | 'deleted' = 'created') => ({
        ...event(id, op, { id }, seq),
        type: `${type}.${op}`,
      });
      await store.apply(
        'c',
        ['K05', 'K01', 'K03', 'K02', 'K04'].map((id, i) => court(id, String(i))),
      );
      const first = await store.list(type, 1, { limit: 2 });
      expect(first.items.map((e) => e.id)).toEqual(['K01', 'K02']);
      // Between pages: an entity before the cursor is added, one after it is deleted.
      await store.apply('c', [court('K00', '9'), court('K04', '9', 'deleted')]);
      const second = await store.list(type, 1, { limit: 2, after: first.next as string });
      expect(second.items.map((e) => e.id)).toEqual(['K03', 'K05']);
      expect(second.next).toBeUndefined();
      // Another major version is another entity set.
      expect((await store.list(type, 2, { limit: 10 })).items).toEqual([]);
    });

    it('filters on fields of the object: equality, date and number ranges, nested fields, booleans', async () => {
      const type = 'justice.person';
      const person = (id: string, data: Record<string, unknown>, seq: string) => ({
        ...event(id, 'created', data, seq),
        type: `${type}.created`,
      });
      await store.apply('c', [
        person('P1', { born: '1975-06-01', age: 50, active: true, at: { prison: 'LEI' } }, '1'),
        person('P2', { born: '1980-01-01', age: 45, active: false, at: { prison: 'MDI' } }, '1'),
        person('P3', { born: '1990-12-31', age: 9.5, active: true, at: { prison: 'LEI' } }, '1'),
        person('P4', { born: '2001-02-03', age: 100, active: true, at: { prison: 'MDI' } }, '1'),
      ]);
      const ids = async (filters: Parameters<EntityStore['list']>[2]['filters'], after?: string) =>
        (
          await store.list(type, 1, { limit: 10, filters, ...(after === undefined ? {} : { after }) })
        ).items.map((e) => e.id);
      expect(await ids([{ path: ['at', 'prison'], op: 'eq', kind: 'string', value: 'LEI' }])).toEqual([
        'P1',
        'P3',
      ]);
      expect(
        await ids([
          { path: ['born'], op: 'gte', kind: 'string', value: '1980-01-01' },
          { path: ['born'], op: 'lt', kind: 'string', value: '2000-01-01' },
        ]),
      ).toEqual(['P2', 'P3']);
      // Numbers compare as numbers (9.5 < 45 < 100), not as text.
      expect(await ids([{ path: ['age'], op: 'gt', kind: 'number', value: 40 }])).toEqual(['P1', 'P2', 'P4']);
      expect(await ids([{ path: ['age'], op: 'lte', kind: 'number', value: 45 }])).toEqual(['P2', 'P3']);
      expect(await ids([{ path: ['active'], op: 'eq', kind: 'boolean', value: false }])).toEqual(['P2']);
      expect(await ids([{ path: ['at', 'prison'], op: 'eq', kind: 'string', value: 'MDI' }], 'P2')).toEqual([
        'P4',
      ]);
    });
  });
}
