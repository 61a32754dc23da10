// End to end: a real pipeline (polling a PostgreSQL table into the file sink) with tracing on exports one
// `ferry.batch` span per batch with its read, map, validate and sink-write children, and every event in the
// sink carries its batch span's W3C traceparent. PostgreSQL down fails this test; nothing is skipped.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createFileCheckpointStore,
  createFileDeadLetterSink,
  createFileSink,
  type Mapping,
  readEventLog,
  runPipeline,
} from '@ferry/core';
import type { CanonicalEvent } from '@ferry/core/sdk';
import { createDatabaseSource } from '@ferry/database';
import { services } from '@ferry/testkit';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTracing } from '../../src/index.js';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../otlp-receiver.js';

const ROWS = 5;
const BATCH_SIZE = 2;
const CHILDREN = ['ferry.read', 'ferry.map', 'ferry.validate', 'ferry.sink.write'];

describe('trace export from a running pipeline', () => {
  const { host, port, user, password, database } = services.postgres;
  const connection = { type: 'postgres', host, port, username: user, password, database } as const;
  const table = `ferry_trace_${randomBytes(4).toString('hex')}`;
  let admin: DataSource;
  let receiver: OtlpReceiver;
  let dir: string;

  beforeAll(async () => {
    admin = new DataSource({ ...connection, logging: false });
    await admin.initialize();
    await admin.query(
      `CREATE TABLE ${table} (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL, modified TIMESTAMP(6) NOT NULL)`,
    );
    for (let id = 1; id <= ROWS; id += 1) {
      await admin.query(`INSERT INTO ${table} (id, name, modified) VALUES ($1, $2, $3)`, [
        id,
        `offender ${id}`,
        `2026-11-23 01:0${id}:00`,
      ]);
    }
    receiver = await startOtlpReceiver();
    dir = await mkdtemp(join(tmpdir(), 'ferry-trace-'));
  });

  afterAll(async () => {
    if (admin?.isInitialized) {
      await admin.query(`DROP TABLE IF EXISTS ${table}`);
      await admin.destroy();
    }
    await receiver?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('exports a span tree per batch and stamps each event with its batch span', async () => {
    const tracing = await startTracing({ serviceName: 'ferry-test', endpoint: receiver.url });
    expect(tracing.enabled).toBe(true);
    const mapping: Mapping = {
      canonicalType: 'test.offender',
      map: (record) => ({ subject: String(record.key.id), data: { name: record.after?.name } }),
    };
    let validated = 0;
    const pipeline = 'trace-export';
    let summary: Awaited<ReturnType<typeof runPipeline>>;
    try {
      summary = await runPipeline({
        name: pipeline,
        source: createDatabaseSource({
          connection,
          tables: [{ name: table, key: ['id'], timestampColumn: 'modified', incrementingColumn: 'id' }],
          batchSize: BATCH_SIZE,
        }),
        mapping,
        validate: () => {
          validated += 1;
          return undefined;
        },
        sink: createFileSink({ dir: join(dir, 'events') }),
        deadLetters: createFileDeadLetterSink({ dir: join(dir, 'dead-letters'), pipeline }),
        checkpoints: createFileCheckpointStore({ dir: join(dir, 'checkpoints') }),
        once: true,
      });
    } finally {
      await tracing.shutdown();
    }
    expect(summary.eventsWritten).toBe(ROWS);
    expect(validated).toBe(ROWS);
    expect(receiver.rejected).toEqual([]);

    const spans = receiver.spans;
    expect(spans.every((s) => s.serviceName === 'ferry-test')).toBe(true);
    const batches = spans.filter((s) => s.name === 'ferry.batch');
    expect(batches.length).toBeGreaterThanOrEqual(Math.ceil(ROWS / BATCH_SIZE));
    for (const batch of batches) {
      expect(batch.parentSpanId).toBe('');
      expect(batch.attributes['ferry.pipeline']).toBe(pipeline);
      const children = spans.filter((s) => s.parentSpanId === batch.spanId);
      expect(children.map((c) => c.name).sort()).toEqual([...CHILDREN].sort());
      for (const child of children) expect(child.traceId).toBe(batch.traceId);
    }
    // Every span belongs to one of the batch trees.
    const batchIds = new Set(batches.map((b) => b.spanId));
    expect(spans.filter((s) => s.name !== 'ferry.batch' && !batchIds.has(s.parentSpanId))).toEqual([]);

    const events = await readEvents(join(dir, 'events'));
    expect(events).toHaveLength(ROWS);
    const byEvent = new Map<string, ReceivedSpan>();
    for (const event of events) {
      const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(event.traceparent ?? '');
      expect(match, `traceparent of event ${event.subject}: ${event.traceparent}`).not.toBeNull();
      const [, traceId, spanId] = match!;
      const batch = batches.find((b) => b.spanId === spanId);
      expect(batch, `event ${event.subject} names span ${spanId}, not an exported ferry.batch`).toBeDefined();
      expect(batch!.traceId).toBe(traceId);
      byEvent.set(event.subject, batch!);
    }
    // Batches of two rows: events 1 and 2 share a batch, event 3 starts the next one.
    expect(byEvent.get('1')!.spanId).toBe(byEvent.get('2')!.spanId);
    expect(byEvent.get('3')!.spanId).not.toBe(byEvent.get('2')!.spanId);
    expect(byEvent.get('3')!.traceId).not.toBe(byEvent.get('2')!.traceId);
  });
});

async function readEvents(eventsDir: string): Promise<CanonicalEvent[]> {
  const events: CanonicalEvent[] = [];
  for (const file of await readdir(eventsDir)) {
    if (!file.endsWith('.jsonl')) continue;
    for await (const event of readEventLog(join(eventsDir, file))) events.push(event);
  }
  return events.sort((a, b) => Number(a.subject) - Number(b.subject));
}
