/** Replace sample/legacy.db with the rows of sample/customers.json; returns how many rows it holds. */
export function buildSampleDatabase(): number;
