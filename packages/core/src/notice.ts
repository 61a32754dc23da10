// File-level (batch-level) facts a source reports beside its records — "file x started", "file x completed
// with n rows" — turned into CloudEvents by the runtime without the user's mapping or contract, with ids
// derived from what the notice is about, so a replayed notice has the same id.
import { stableStringify, uuidV5 } from './event.js';
import type { BatchNotice, CanonicalEvent } from './types.js';

export function noticeEvent(pipeline: string, notice: BatchNotice, now: Date): CanonicalEvent {
  return {
    specversion: '1.0',
    id: uuidV5(stableStringify(['notice', pipeline, notice.stream, notice.type, notice.key])),
    source: `/ferry/${encodeURIComponent(pipeline)}/${encodeURIComponent(notice.stream)}`,
    type: notice.type,
    subject: notice.subject,
    time: (notice.occurredAt ?? now).toISOString(),
    datacontenttype: 'application/json',
    data: notice.data,
    ferryorigin: stableStringify({ stream: notice.stream, ...notice.origin }),
    ferryop: 'read',
  };
}
