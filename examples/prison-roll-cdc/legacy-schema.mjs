// A legacy prison-management schema in PostgreSQL, in the style of the systems Ferry replaces: cryptic
// upper-case abbreviations, dates and timestamps kept as CHAR text, and code values explained by a shared
// code table (REFERENCE_CODES) rather than by the columns themselves. Its nightly reporting job reloads
// RPT_PRISON_ROLL, the table the legacy reports and the shadow runs read (runNightlyLoad).

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
];
const FORENAMES = ['DAVID', 'SARAH', 'JAMES', 'EMMA', 'PAUL', 'ZOË', 'MOHAMMED', 'CLAIRE', 'PETER', 'ANNA'];
const PRISONS = ['MDI', 'BXI', 'LEI', 'WWI'];

/** NOMS number for the n-th offender: letter, four digits, two letters (A0001AA …). */
export function nomsNumber(n) {
  const letters = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
  return `${letters[n % letters.length]}${String(n % 10000).padStart(4, '0')}${letters[Math.floor(n / 10) % letters.length]}${letters[Math.floor(n / 7) % letters.length]}`;
}

export async function createLegacySchema(client, schema) {
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(`
    CREATE TABLE ${schema}.reference_codes (
      domain VARCHAR(12) NOT NULL, code VARCHAR(12) NOT NULL, description VARCHAR(40) NOT NULL,
      PRIMARY KEY (domain, code));
    INSERT INTO ${schema}.reference_codes VALUES
      ('SEX', 'M', 'Male'), ('SEX', 'F', 'Female'), ('SEX', 'NK', 'Not Known'),
      ('ACT_FLG', 'Y', 'In custody'), ('ACT_FLG', 'N', 'Released');
    CREATE TABLE ${schema}.agency_locations (
      agy_loc_id CHAR(3) PRIMARY KEY, description VARCHAR(40) NOT NULL, agy_typ CHAR(4) NOT NULL);
    INSERT INTO ${schema}.agency_locations VALUES
      ('MDI', 'Moorland (HMP)', 'INST'), ('BXI', 'Brixton (HMP)', 'INST'), ('LEI', 'Leeds (HMP)', 'INST'),
      ('WWI', 'Wandsworth (HMP)', 'INST');
    CREATE TABLE ${schema}.offenders (
      off_id BIGINT PRIMARY KEY,
      off_disp_id CHAR(7) NOT NULL UNIQUE,
      lst_nm VARCHAR(35) NOT NULL,
      fst_nm VARCHAR(35),
      brth_dt CHAR(8),
      sex_cd VARCHAR(2) NOT NULL,
      agy_loc_id CHAR(3) REFERENCES ${schema}.agency_locations,
      act_flg CHAR(1) NOT NULL DEFAULT 'Y',
      mod_dtm CHAR(14) NOT NULL);
    -- Deletes and updates must carry the whole row: the events of a deleted offender name who it was.
    ALTER TABLE ${schema}.offenders REPLICA IDENTITY FULL;
    -- The reporting copy of the roll, as the reports print it: codes decoded, dates DD/MM/YYYY. Empty until
    -- the first nightly load; LOADED_AT is that load's cut-off.
    CREATE TABLE ${schema}.rpt_prison_roll (
      prisoner_no CHAR(7) PRIMARY KEY,
      surname VARCHAR(35) NOT NULL,
      forename VARCHAR(35),
      date_of_birth CHAR(10),
      sex VARCHAR(40) NOT NULL,
      establishment_id CHAR(3),
      establishment VARCHAR(40),
      custody_status VARCHAR(40) NOT NULL,
      loaded_at TIMESTAMPTZ NOT NULL);`);
}

export async function seedOffenders(client, schema, count, from = 1) {
  const rows = [];
  for (let n = from; n < from + count; n += 1) {
    rows.push([
      n,
      nomsNumber(n),
      SURNAMES[n % SURNAMES.length],
      FORENAMES[(n * 7) % FORENAMES.length],
      `${1950 + (n % 50)}${String(1 + (n % 12)).padStart(2, '0')}${String(1 + (n % 28)).padStart(2, '0')}`,
      ['M', 'F', 'NK'][n % 3],
      PRISONS[n % PRISONS.length],
      n % 5 === 0 ? 'N' : 'Y',
      '20240101120000',
    ]);
  }
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500);
    const columns = chunk[0].map((_, c) => chunk.map((r) => r[c]));
    await client.query(
      `INSERT INTO ${schema}.offenders
       SELECT * FROM unnest($1::bigint[], $2::char(7)[], $3::varchar[], $4::varchar[], $5::char(8)[],
                            $6::varchar[], $7::char(3)[], $8::char(1)[], $9::char(14)[])`,
      columns,
    );
  }
}

/** Tonight's changes on the wing: receptions, transfers and name corrections, records removed. */
export async function applyChanges(client, schema, first) {
  await seedOffenders(client, schema, 3, first);
  await client.query(
    `UPDATE ${schema}.offenders SET agy_loc_id = 'LEI', mod_dtm = '20240102090000' WHERE off_id IN (2, 3)`,
  );
  await client.query(
    `UPDATE ${schema}.offenders SET lst_nm = 'SMYTHE', mod_dtm = '20240102091500' WHERE off_id = 4`,
  );
  await client.query(
    `UPDATE ${schema}.offenders SET act_flg = 'N', mod_dtm = '20240102100000' WHERE off_id IN (6, 7)`,
  );
  await client.query(`DELETE FROM ${schema}.offenders WHERE off_id IN (8, 9)`);
  return { created: 3, updated: 5, deleted: 2 };
}

/**
 * The legacy RPT_PRISON_ROLL nightly load: the reporting table emptied and refilled from OFFENDERS in one
 * transaction, so a report never sees half a load. Its cut-off is the transaction's now(): every change
 * committed before it is in the table, none after. Returns the cut-off and the rows loaded.
 */
export async function runNightlyLoad(client, schema) {
  await client.query('BEGIN');
  try {
    await client.query(`TRUNCATE ${schema}.rpt_prison_roll`);
    const loaded = await client.query(
      `INSERT INTO ${schema}.rpt_prison_roll
       SELECT o.off_disp_id, o.lst_nm, o.fst_nm, to_char(to_date(o.brth_dt, 'YYYYMMDD'), 'DD/MM/YYYY'),
              sx.description, o.agy_loc_id, al.description, st.description, now()
         FROM ${schema}.offenders o
         JOIN ${schema}.reference_codes sx ON sx.domain = 'SEX' AND sx.code = o.sex_cd
         JOIN ${schema}.reference_codes st ON st.domain = 'ACT_FLG' AND st.code = o.act_flg
         LEFT JOIN ${schema}.agency_locations al ON al.agy_loc_id = o.agy_loc_id`,
    );
    const { rows } = await client.query('SELECT now() AS cutoff');
    await client.query('COMMIT');
    return { cutoff: rows[0].cutoff, rows: loaded.rowCount };
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}
