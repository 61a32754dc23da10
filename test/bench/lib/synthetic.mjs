// Records shaped like the PostgreSQL logical mode's (origin lsn/xid/seq, a sequence, a commit time, a
// four-column row), made as a source would make them: the runtime benches' synthetic input.
const occurredAt = new Date('2026-03-01T09:30:00.123Z');

/** Records number `from` to `from + count - 1`, in transactions of 100. */
export function logicalRecords(from, count) {
  const records = [];
  for (let i = from; i < from + count; i += 1) {
    const xid = 700 + Math.floor(i / 100);
    const seq = (i % 100) + 1;
    records.push({
      stream: 'public.ferry_bench',
      op: 'create',
      key: { id: String(i) },
      after: {
        id: i,
        name: `name ${i}`,
        amount: (i * 1.25).toFixed(2),
        updated_at: '2026-03-01 09:30:00.12+00',
      },
      origin: { lsn: `0/${(0x1a2b3c4 + i * 97).toString(16).toUpperCase()}`, xid, seq },
      sequence: `${String(xid).padStart(20, '0')}.${String(seq).padStart(20, '0')}`,
      occurredAt,
    });
  }
  return records;
}
