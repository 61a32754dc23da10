// Shared by the readDatabaseRows tests: read every page, or the error that ended the read.
import { type DatabaseRow, type DatabaseRowsConfigInput, readDatabaseRows } from '../src/index.js';

export async function readAll(
  config: DatabaseRowsConfigInput,
): Promise<{ pages: number[]; rows: DatabaseRow[] }> {
  const pages: number[] = [];
  const rows: DatabaseRow[] = [];
  for await (const page of readDatabaseRows(config)) {
    pages.push(page.length);
    rows.push(...page);
  }
  return { pages, rows };
}

export async function failure(config: DatabaseRowsConfigInput): Promise<unknown> {
  try {
    await readAll(config);
  } catch (error) {
    return error;
  }
  throw new Error('expected the read to fail');
}
