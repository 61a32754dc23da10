// Timestamps without time zone around DST changes: the event value is the local time read in the Ferry
// process's time zone (TZ), as documented in docs/database.md ("Timestamps without time zone and DST").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { naiveTimestampToIso } from '../../src/internal/images.js';

describe('timestamps without time zone across DST changes (TZ=Europe/London)', () => {
  const previous = process.env.TZ;
  beforeAll(() => {
    // Node applies a TZ set at run time to every Date made after it.
    process.env.TZ = 'Europe/London';
  });
  afterAll(() => {
    if (previous === undefined) delete process.env.TZ;
    else process.env.TZ = previous;
  });

  it('reads ordinary local times with the offset in force (GMT in winter, BST in summer)', () => {
    expect(naiveTimestampToIso('2026-01-15 09:00:00')).toBe('2026-01-15T09:00:00.000Z');
    expect(naiveTimestampToIso('2026-07-01 12:00:00.123456')).toBe('2026-07-01T11:00:00.123456Z');
  });

  it('reads a local time in the spring gap as if the clock had already moved on', () => {
    // 01:00–02:00 on 29 March 2026 does not exist in London: 01:30 is read as 02:30 BST.
    expect(naiveTimestampToIso('2026-03-29 01:30:00')).toBe('2026-03-29T01:30:00.000Z');
    expect(naiveTimestampToIso('2026-03-29 02:30:00')).toBe('2026-03-29T01:30:00.000Z');
  });

  it('reads a local time in the autumn overlap as the first of the two (still summer time)', () => {
    // 01:00–02:00 on 25 October 2026 happens twice in London: 01:30 is read as 01:30 BST.
    expect(naiveTimestampToIso('2026-10-25 01:30:00')).toBe('2026-10-25T00:30:00.000Z');
    expect(naiveTimestampToIso('2026-10-25 02:30:00')).toBe('2026-10-25T02:30:00.000Z');
  });
});
