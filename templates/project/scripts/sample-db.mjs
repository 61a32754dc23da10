// Builds sample/legacy.db, the legacy CUSTOMERS table the example pipeline reads, from sample/customers.json.
// `npm run sample` runs it; the test builds the table the same way.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const root = join(import.meta.dirname, '..');

/** Replace sample/legacy.db with the rows of sample/customers.json; returns how many rows it holds. */
export function buildSampleDatabase() {
  const rows = JSON.parse(readFileSync(join(root, 'sample', 'customers.json'), 'utf8'));
  const path = join(root, 'sample', 'legacy.db');
  rmSync(path, { force: true });
  const db = new Database(path);
  try {
    db.exec(
      'CREATE TABLE CUSTOMERS (CUST_NO INTEGER PRIMARY KEY, CUST_NAME CHAR(20), EMAIL_ADDR TEXT, ACTIVE_FLAG CHAR(1))',
    );
    const insert = db.prepare(
      'INSERT INTO CUSTOMERS (CUST_NO, CUST_NAME, EMAIL_ADDR, ACTIVE_FLAG) VALUES (?, ?, ?, ?)',
    );
    for (const row of rows) insert.run(row.CUST_NO, row.CUST_NAME, row.EMAIL_ADDR, row.ACTIVE_FLAG);
  } finally {
    db.close();
  }
  return rows.length;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`sample/legacy.db: ${buildSampleDatabase()} rows in CUSTOMERS`);
}
