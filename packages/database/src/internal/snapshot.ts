// One chunk of an initial snapshot: the rows after the last key read, in key order, as `op: read` records.
import { createHash } from 'node:crypto';
import type { ChangeRecord } from '@ferry/core';
import type { DataSource } from 'typeorm';
import { type CapturedTable, decodeSnapshotRow, keyOf, snapshotChunkQuery } from './capture.js';
import type { Dialect } from './connection.js';

export interface SnapshotChunk {
  records: ChangeRecord[];
  /** Key of the last row read, or null when the chunk is empty. */
  last: Record<string, unknown> | null;
  /** The chunk was full: more rows may follow. */
  full: boolean;
}

export async function readSnapshotChunk(
  dataSource: DataSource,
  dialect: Dialect,
  table: CapturedTable,
  after: Record<string, unknown> | null,
  limit: number,
  origin: Record<string, unknown>,
  query: (sql: string, params: unknown[]) => Promise<unknown> = (sql, params) =>
    dataSource.query(sql, params),
): Promise<SnapshotChunk> {
  const { sql, params } = snapshotChunkQuery(dataSource, dialect, table, after, limit);
  const rows = (await query(sql, params)) as Record<string, unknown>[];
  const records = rows.map((row): ChangeRecord => {
    const image = decodeSnapshotRow(row, table);
    const key = keyOf(image, table);
    // The origin names the snapshot and the row's content: a chunk read again after a crash gets the same
    // event ids, unless a row changed in between (a resumed snapshot no longer has the original transaction),
    // and then the new version gets a new id rather than one id carrying two payloads.
    return {
      stream: table.stream,
      op: 'read',
      key,
      after: image,
      origin: { table: table.stream, ...origin, version: versionOf(image) },
    };
  });
  const last = records.length === 0 ? null : (records[records.length - 1]?.key ?? null);
  return { records, last, full: rows.length >= limit };
}

/** A short digest of a row image: the same content always gives the same version. */
function versionOf(image: Record<string, unknown>): string {
  return createHash('sha1').update(JSON.stringify(image)).digest('base64url').slice(0, 16);
}
