// The positions each mode saves, declared once as zod schemas: core checks a loaded checkpoint against them
// (CHECKPOINT_INVALID, naming the path) and `ferry offsets set` refuses what does not fit. Plain JSON.
import { z } from 'zod';
import { DatabaseError, DatabaseErrorCodes } from './errors.js';

const watermarkValue = z.union([z.string(), z.number()], {
  error: 'a tracking value is the text or number the database gave',
});

const tableWatermark = z
  .object({ ts: watermarkValue.nullable(), id: watermarkValue.nullable() })
  .describe('The tracking values of the last row read (null: not tracked).');

const pollingPosition = z.object({
  // Polling positions were written before modes existed and carry no `mode`.
  mode: z.literal('polling').optional(),
  tables: z.record(z.string(), tableWatermark).describe('One watermark per stream ever read.'),
});

const snapshotProgress = z
  .object({
    pending: z.array(z.string()).describe('Streams still to snapshot; the first is in progress.'),
    after: z.record(z.string(), z.unknown()).nullable().describe('Key of the last row read in it.'),
    startedAt: z
      .string()
      .optional()
      .describe(
        'When the snapshot began (ISO 8601): the `time` of its events, so a chunk read again gives the same bytes.',
      ),
  })
  .describe('Present while the initial snapshot runs.');

const triggerPosition = z.object({
  mode: z.literal('trigger'),
  seq: z.number().int().min(0).describe('Highest journal sequence read.'),
  gaps: z
    .array(z.object({ seq: z.number().int().min(0), at: z.number() }))
    .describe('Sequence numbers below seq not seen yet (transactions in flight), watched since `at` (ms).'),
  snapshot: snapshotProgress.optional(),
});

const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i;

const logicalPosition = z.object({
  mode: z.literal('logical'),
  lsn: z
    .string()
    .regex(LSN, 'an LSN looks like 0/1E07D68')
    .describe('End LSN of the last whole transaction.'),
  xid: z.number().int().optional().describe('A transaction split across batches: its xid…'),
  skip: z.number().int().min(0).optional().describe('…and how many of its changes were read.'),
  snapshot: snapshotProgress.optional(),
});

const binlogPosition = z.object({
  mode: z.literal('binlog'),
  file: z.string().min(1).describe('Binary log file after whose last whole transaction the read resumes…'),
  pos: z.number().int().min(4).describe('…and the offset in it: the end of that transaction.'),
  gtid: z
    .string()
    .optional()
    .describe(
      'The same place as GTIDs, where the server has them: MariaDB’s domain-server-sequence list, or MySQL’s executed set.',
    ),
  txn: z.string().optional().describe('A transaction split across batches: its GTID or file:offset…'),
  skip: z.number().int().min(0).optional().describe('…and how many of its changes were read.'),
  snapshot: snapshotProgress.optional(),
});

/** Every position the database source writes, whatever its mode. */
export const databasePositionSchema = z.discriminatedUnion('mode', [
  pollingPosition,
  triggerPosition,
  logicalPosition,
  binlogPosition,
]);

export type WatermarkValue = z.output<typeof watermarkValue>;
export type TableWatermark = z.output<typeof tableWatermark>;
/** The polling position: one watermark per stream, for every table ever read. */
export type DatabasePosition = z.output<typeof pollingPosition>;
export type SnapshotProgress = z.output<typeof snapshotProgress>;
export type TriggerPosition = z.output<typeof triggerPosition>;
export type TriggerGap = TriggerPosition['gaps'][number];
export type LogicalPosition = z.output<typeof logicalPosition>;
export type BinlogPosition = z.output<typeof binlogPosition>;
export type DatabaseSourcePosition = z.output<typeof databasePositionSchema>;

/**
 * The schema cannot know the pipeline's mode, so a checkpoint written in another mode (the pipeline's mode
 * was changed, the checkpoint kept) fits it: the source refuses that before reading anything.
 */
export function checkMode(
  from: DatabaseSourcePosition | undefined,
  mode: 'polling' | 'trigger' | 'logical' | 'binlog',
) {
  const found = from == null ? mode : (from.mode ?? 'polling');
  if (found === mode) return;
  throw new DatabaseError(
    DatabaseErrorCodes.DB_POSITION_INVALID,
    `the saved checkpoint is a database ${found} position, but the source runs in mode ${mode}. Start the ` +
      'new mode from scratch (`ferry offsets reset`) or go back to the old mode.',
    { details: { position: from, mode } },
  );
}

/** LSNs as 64-bit integers, to compare and step them. */
export function lsnToBigInt(lsn: string): bigint {
  const [high, low] = lsn.split('/');
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

export function bigIntToLsn(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;
}
