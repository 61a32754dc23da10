// What the SFTP source saves as its checkpoint, declared once as a zod schema: the runtime checks a loaded
// checkpoint against it (CHECKPOINT_INVALID) before the source sees it, and `ferry offsets set` uses it.
import { z } from 'zod';

const count = z.number().int().min(0);

export const sftpPositionSchema = z.object({
  v: z.literal(1),
  file: z.string().min(1).describe('Remote path of the file being (or last) read.'),
  size: count,
  mtime: count.describe('The file’s mtime in ms, as listed when it was read.'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a hex sha256'),
  line: count.describe('Last line of the file whose records (and rejects) are committed; 0 = none yet.'),
  state: z
    .enum(['reading', 'deleting', 'done', 'rejected', 'skipped'])
    .describe(
      'reading: rows; deleting: full-extract deletions; done/rejected/skipped: the file is finished.',
    ),
  rows: count,
  rejectedRows: count,
  afterKey: z.string().optional().describe('Full-extract deletion phase: the last key emitted.'),
  finishedFiles: count
    .optional()
    .describe(
      'Files this pipeline has finished up to this position (this one included once finished): numbers the ' +
        'local record of finished files, so a read from here tells committed files from ones a crash cut off. ' +
        'Absent in checkpoints of earlier versions (read as 0).',
    ),
});

/** Where the source is: the file being read, the last committed line, and how many files came before. */
export type SftpPosition = z.output<typeof sftpPositionSchema>;
