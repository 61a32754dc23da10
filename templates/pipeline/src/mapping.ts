// Maps a row of the legacy table to justice.offender 1.0.0. The compiler checks the result against the
// contract's generated type (src/contract.ts, from `ferry contracts types`); the pipeline validates it again
// at run time. Start here: rename columns, coerce legacy codes and dates.
import type { ChangeRecord, MappedEvent } from '@ferry/core';
import type { JusticeOffenderV1 } from './contract.js';

export function mapping(record: ChangeRecord): MappedEvent {
  const row = (record.after ?? record.before ?? {}) as Record<string, unknown>;
  const data: JusticeOffenderV1 = {
    offenderId: String(row.offenderId) as JusticeOffenderV1['offenderId'],
    name: JSON.parse(String(row.name)) as JusticeOffenderV1['name'],
    ...(row.dateOfBirth == null
      ? {}
      : { dateOfBirth: String(row.dateOfBirth) as NonNullable<JusticeOffenderV1['dateOfBirth']> }),
    ...(row.gender == null ? {} : { gender: String(row.gender) as NonNullable<JusticeOffenderV1['gender']> }),
    ...(row.location == null
      ? {}
      : { location: JSON.parse(String(row.location)) as NonNullable<JusticeOffenderV1['location']> }),
    ...(row.active == null
      ? {}
      : { active: Boolean(row.active) as NonNullable<JusticeOffenderV1['active']> }),
    ...(row.lastModified == null
      ? {}
      : { lastModified: String(row.lastModified) as NonNullable<JusticeOffenderV1['lastModified']> }),
  };
  return { subject: String(data.offenderId), data };
}
