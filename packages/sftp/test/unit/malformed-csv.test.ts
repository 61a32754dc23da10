// A corpus of malformed CSV, each with its defined outcome: which rows come out, which are rejected and why.
import { writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { sftpSourceConfigSchema } from '../../src/config.js';
import { type Item, readItems } from '../../src/internal/parsers.js';

async function parseCsv(content: string | Buffer, format: Record<string, unknown> = {}): Promise<Item[]> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-csv-'));
  const file = join(dir, 'f.csv');
  writeFileSync(file, content);
  const config = sftpSourceConfigSchema.parse({
    connection: { host: 'h', username: 'u', password: 'p', hostKeyFingerprint: `SHA256:${'A'.repeat(43)}` },
    paths: ['/x/*.csv'],
    key: ['id'],
    format: { type: 'csv', ...format },
  });
  const items: Item[] = [];
  for await (const chunk of readItems(file, config.format, false, 64 * 1024)) items.push(...chunk);
  return items;
}

const summary = (items: Item[]) =>
  items.map((i) =>
    i.kind === 'reject'
      ? `${i.line}:${i.code}`
      : `${i.line}:${JSON.stringify((i as { values: unknown }).values)}`,
  );

describe('malformed CSV corpus', () => {
  it('unbalanced quote: the rows before it are read, the rest of the file is one CSV_PARSE_ERROR', async () => {
    const items = await parseCsv('id,name\n1,a\n2,"b\n3,c\n');
    expect(summary(items)).toEqual(['2:{"id":"1","name":"a"}', '4:CSV_PARSE_ERROR']);
    expect((items[1] as { message: string }).message).toMatch(/QUOTE_NOT_CLOSED/);
    // The dead letter keeps the input as it was in the file.
    expect(items[1]).toMatchObject({ raw: '2,"b\n3,c', byteOffset: 12 });
  });

  it('unbalanced quote in a large file stops at maxRecordSize instead of buffering to the end', async () => {
    const body = `id,name\n1,"open\n${'2,x\n'.repeat(2000)}`;
    const items = await parseCsv(body, { maxRecordSize: 1000 });
    expect(items[0]).toMatchObject({ kind: 'reject', code: 'CSV_PARSE_ERROR' });
    expect((items[0] as { message: string }).message).toMatch(/MAX_RECORD_SIZE/);
  });

  it('ragged rows are rejected as CSV_COLUMN_COUNT with their line; pad and allow keep them', async () => {
    const text = 'id,name\n1,a\n2\n3,c,extra\n';
    const rejected = await parseCsv(text);
    expect(summary(rejected)).toEqual([
      '2:{"id":"1","name":"a"}',
      '3:CSV_COLUMN_COUNT',
      '4:CSV_COLUMN_COUNT',
    ]);
    expect(rejected.slice(1).map((i) => [(i as { raw: string }).raw, i.byteOffset])).toEqual([
      ['2', 12],
      ['3,c,extra', 14],
    ]);
    expect(summary(await parseCsv(text, { columnCount: 'pad' }))).toEqual([
      '2:{"id":"1","name":"a"}',
      '3:{"id":"2","name":""}',
      '4:{"id":"3","name":"c"}',
    ]);
    expect(summary(await parseCsv(text, { columnCount: 'allow' }))[2]).toBe(
      '4:{"id":"3","name":"c","_3":"extra"}',
    );
  });

  it('mixed CRLF, LF and CR line endings give one row per line', async () => {
    expect(summary(await parseCsv('id,name\r\n1,a\n2,b\r3,c\r\n'))).toEqual([
      '2:{"id":"1","name":"a"}',
      '3:{"id":"2","name":"b"}',
      '4:{"id":"3","name":"c"}',
    ]);
  });

  it('a UTF-8 BOM is stripped from the first header', async () => {
    const items = await parseCsv('\ufeffid,name\n1,a\n');
    expect(summary(items)).toEqual(['2:{"id":"1","name":"a"}']);
  });

  it('latin1 and windows-1252 are decoded', async () => {
    const latin = iconv.encode('id,name\n1,Zoë Müller\n', 'latin1');
    expect(summary(await parseCsv(latin, { encoding: 'latin1' }))).toEqual([
      '2:{"id":"1","name":"Zoë Müller"}',
    ]);
    const cp = iconv.encode('id,name\n1,“quoted” €5\n', 'windows-1252');
    expect(summary(await parseCsv(cp, { encoding: 'windows-1252', quote: '' }))).toEqual([
      '2:{"id":"1","name":"“quoted” €5"}',
    ]);
  });

  it('comments, trimming, explicit columns and another delimiter', async () => {
    const items = await parseCsv('# export\n1; a \n2; b \n', {
      header: false,
      columns: ['id', 'name'],
      delimiter: ';',
      comment: '#',
      trim: true,
    });
    expect(summary(items)).toEqual(['2:{"id":"1","name":"a"}', '3:{"id":"2","name":"b"}']);
  });
});
