// Types of legacy-schema.mjs for the TypeScript tests.
import type pg from 'pg';
export declare function nomsNumber(n: number): string;
export declare function createLegacySchema(client: pg.Client, schema: string): Promise<void>;
export declare function seedOffenders(
  client: pg.Client,
  schema: string,
  count: number,
  from?: number,
): Promise<void>;
export declare function applyChanges(
  client: pg.Client,
  schema: string,
  first: number,
): Promise<{ created: number; updated: number; deleted: number }>;
export declare function runNightlyLoad(
  client: pg.Client,
  schema: string,
): Promise<{ cutoff: Date; rows: number }>;
