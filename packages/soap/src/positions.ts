// The positions the SOAP source saves in either mode: light, so the plugin manifest can check a checkpoint
// without importing the SOAP client.
import { z } from 'zod';

/** Where a watermark source is: the highest watermark fully emitted, and a cursor inside a page sequence. */
export const soapWatermarkPositionSchema = z
  .object({
    watermark: z.string().describe('The highest watermark of a completed sequence.'),
    cursor: z
      .object({
        since: z.string().describe('The {{since}} of the sequence under way.'),
        page: z.union([z.number(), z.string()]).describe('The page to call next ({{page}}).'),
        skip: z.number().int().min(0).describe('Records of that page already emitted.'),
        high: z.string().describe('The highest watermark seen in the sequence so far.'),
      })
      .strict()
      .optional(),
    startedAt: z
      .string()
      .optional()
      .describe(
        'When the sequence under way started (ISO): the `time` of its records that carry no time of their own.',
      ),
  })
  .strict();

export type SoapWatermarkPosition = z.output<typeof soapWatermarkPositionSchema>;

/** Where a snapshot pass is: listing pages, emitting deletes, or done (the next read starts a new pass). */
export const soapSnapshotPositionSchema = z
  .object({
    generation: z.string().min(1).describe('The pass: `pass@` and the ISO time it started.'),
    state: z.enum(['listing', 'deleting', 'done']),
    page: z.union([z.number(), z.string()]).optional().describe('listing: the page to call next.'),
    skip: z.number().int().min(0).optional().describe('listing: records of that page already emitted.'),
    afterKey: z.string().optional().describe('deleting: the last deleted key emitted.'),
    // Written by versions that scheduled passes themselves; accepted so their checkpoints still load, ignored.
    endedAt: z.string().optional(),
  })
  .strict();

export type SoapSnapshotPosition = z.output<typeof soapSnapshotPositionSchema>;

/** The positions either mode saves; the runtime checks a loaded checkpoint against it (CHECKPOINT_INVALID). */
export const soapPositionSchema = z.union([soapWatermarkPositionSchema, soapSnapshotPositionSchema]);
export type SoapPosition = z.output<typeof soapPositionSchema>;
