// Without `stream`, an SFTP source names its stream after the first path's folder: a readable name in every
// event's `source` (`/ferry/<pipeline>/court-lists`), never a URL-encoded glob.
import { defaultStreamName, sftpSourceConfigSchema, sftpSourceNotes } from '@ferry/sftp';
import { describe, expect, it } from 'vitest';

describe('the default SFTP stream name', () => {
  it('is the first path’s folder, or the file pattern without wildcards at the root', () => {
    expect(defaultStreamName('/upload/court-lists/COURTLIST_*.csv')).toBe('court-lists');
    expect(defaultStreamName('/outbound/*.csv')).toBe('outbound');
    expect(defaultStreamName('/exports/prison roll (daily)/*.txt')).toBe('prison-roll-daily');
    expect(defaultStreamName('/COURTLIST_*.csv')).toBe('COURTLIST');
    expect(defaultStreamName('/*.csv')).toBe('files');
  });

  it('is named in validate’s notes, so the operator sees it and can set another', () => {
    const config = sftpSourceConfigSchema.parse({
      connection: { host: '127.0.0.1', username: 'u', password: 'p', knownHosts: '/dev/null' },
      format: { type: 'csv' },
      paths: ['/upload/court-lists/COURTLIST_*.csv'],
      key: ['ID'],
    });
    expect(sftpSourceNotes(config)[0]).toMatch(
      /^stream 'court-lists' \(from the first path's folder; set stream: to name it/,
    );
    expect(sftpSourceNotes({ ...config, stream: 'hearings' }).join('\n')).not.toContain("stream '");
  });
});
