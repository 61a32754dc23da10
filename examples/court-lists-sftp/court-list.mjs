// Tonight's court list, as the legacy listing system writes it: a CSV (DD/MM/YYYY dates, code values,
// cryptic headers) or the older fixed-width layout (header, detail and trailer records, YYYYMMDD dates).
// Deterministic: the same night and size give the same hearings.

const COURTS = ['B01LY', 'B20BL', 'C01CF', 'B44MA'];
const SURNAMES = [
  'SMITH',
  'JONES',
  'TAYLOR',
  'BROWN',
  'WILLIAMS',
  'WILSON',
  'JOHNSON',
  'DAVIES',
  'ROBINSON',
  'WRIGHT',
  'THOMPSON',
  "O'NEILL",
];
const FORENAMES = ['DAVID', 'SARAH', 'JAMES', 'EMMA', 'PAUL', 'ZOË', 'MOHAMMED', 'CLAIRE', 'PETER', 'ANNA'];
/** Hearing type codes of the listing system; `FA` first appearance, `TR` trial, `SE` sentence, `ME` mention, `OT` other. */
export const HEARING_TYPES = ['FA', 'TR', 'SE', 'ME', 'OT'];

function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/**
 * The hearings listed for `sittingDate` (YYYY-MM-DD): one object per hearing with the listing system's
 * values (dates still ISO here; each file format writes them its own way).
 */
export function courtList(sittingDate, hearings = 200) {
  const next = random(Number(sittingDate.replaceAll('-', '')));
  const pick = (list) => list[Math.floor(next() * list.length)];
  const out = [];
  const listNumbers = new Map();
  for (let i = 0; i < hearings; i += 1) {
    const court = COURTS[i % COURTS.length];
    const listNo = (listNumbers.get(court) ?? 0) + 1;
    listNumbers.set(court, listNo);
    const year = 1950 + Math.floor(next() * 55);
    const month = 1 + Math.floor(next() * 12);
    const day = 1 + Math.floor(next() * 28);
    out.push({
      ref: `${court}-${sittingDate.replaceAll('-', '')}-${String(listNo).padStart(3, '0')}`,
      court,
      room: String(1 + Math.floor(next() * 12)),
      sittingDate,
      listNo,
      caseNo: `T${sittingDate.slice(0, 4)}${String(1000 + Math.floor(next() * 9000))}`,
      type: pick(HEARING_TYPES),
      surname: pick(SURNAMES),
      forename: pick(FORENAMES),
      dob: `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`,
    });
  }
  return out;
}

/**
 * A corrected version of a list, as the listing system re-sends it: `changes` hearings moved to another
 * court room or list number, `removals` hearings taken off the list (a corrected file omits them). The
 * same list and seed give the same correction. `changed` and `removed` name the hearing references.
 */
export function correctList(hearings, seed, { changes = 3, removals = 2 } = {}) {
  const next = random(seed);
  const picked = new Set();
  const pickIndex = () => {
    for (;;) {
      const i = Math.floor(next() * hearings.length);
      if (!picked.has(i)) {
        picked.add(i);
        return i;
      }
    }
  };
  const changed = [];
  const out = hearings.map((h) => ({ ...h }));
  for (let c = 0; c < Math.min(changes, hearings.length); c += 1) {
    const h = out[pickIndex()];
    // Alternate: a room change (the usual correction), then a new list number.
    if (c % 2 === 0) h.room = String((Number(h.room) % 12) + 1);
    else h.listNo += 100;
    changed.push(h.ref);
  }
  const removed = [];
  for (let r = 0; r < Math.min(removals, hearings.length - picked.size); r += 1)
    removed.push(out[pickIndex()].ref);
  return { hearings: out.filter((h) => !removed.includes(h.ref)), changed, removed };
}

const ddmmyyyy = (iso) => `${iso.slice(8, 10)}/${iso.slice(5, 7)}/${iso.slice(0, 4)}`;
const quote = (value) => (/[",\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value);

export const CSV_HEADER = [
  'HEARING_REF',
  'CRT_CD',
  'CRT_ROOM',
  'SIT_DT',
  'LIST_NO',
  'CASE_NO',
  'HRG_TYPE',
  'DEF_SNAME',
  'DEF_FNAME',
  'DEF_DOB',
];

export function toCsv(hearings) {
  const lines = [CSV_HEADER.join(',')];
  for (const h of hearings) {
    lines.push(
      [
        h.ref,
        h.court,
        h.room,
        ddmmyyyy(h.sittingDate),
        String(h.listNo),
        h.caseNo,
        h.type,
        h.surname,
        h.forename,
        ddmmyyyy(h.dob),
      ]
        .map(quote)
        .join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** The fixed-width layout: 1-based start and length of each detail field (the pipeline file repeats it). */
export const FIXED_WIDTH_DETAIL = [
  { name: 'HEARING_REF', start: 2, length: 18 },
  { name: 'CRT_CD', start: 20, length: 5 },
  { name: 'CRT_ROOM', start: 25, length: 3 },
  { name: 'SIT_DT', start: 28, length: 8 },
  { name: 'LIST_NO', start: 36, length: 4 },
  { name: 'CASE_NO', start: 40, length: 10 },
  { name: 'HRG_TYPE', start: 50, length: 2 },
  { name: 'DEF_SNAME', start: 52, length: 20 },
  { name: 'DEF_FNAME', start: 72, length: 20 },
  { name: 'DEF_DOB', start: 92, length: 8 },
];

export function toFixedWidth(hearings, sittingDate) {
  const lines = [`H${sittingDate.replaceAll('-', '')}COURTLIST`];
  for (const h of hearings) {
    const values = {
      HEARING_REF: h.ref,
      CRT_CD: h.court,
      CRT_ROOM: h.room,
      SIT_DT: h.sittingDate.replaceAll('-', ''),
      LIST_NO: String(h.listNo).padStart(4, '0'),
      CASE_NO: h.caseNo,
      HRG_TYPE: h.type,
      DEF_SNAME: h.surname,
      DEF_FNAME: h.forename,
      DEF_DOB: h.dob.replaceAll('-', ''),
    };
    lines.push(
      `D${FIXED_WIDTH_DETAIL.map((f) => values[f.name].padEnd(f.length).slice(0, f.length)).join('')}`,
    );
  }
  lines.push(`T${String(hearings.length).padStart(6, '0')}`);
  return `${lines.join('\n')}\n`;
}
