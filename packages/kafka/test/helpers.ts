// Shared by the Kafka tests: the real broker's address, unique names, a raw kafkajs reader that is
// independent of the code under test, and sample events.
import { randomBytes } from 'node:crypto';
import { buildEvent, createLogger } from '@ferry/core';
import type { CanonicalEvent, ChangeRecord, Logger } from '@ferry/core/sdk';
import { Kafka, logLevel } from 'kafkajs';
import { services } from '../../../test/services/endpoints.js';

export const brokers = [...services.kafka.brokers];

export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** A kafkajs client of the test's own, on the shared broker unless `on` names another (a private one). */
export function rawKafka(on: readonly string[] = brokers): Kafka {
  return new Kafka({ brokers: [...on], clientId: 'ferry-test', logLevel: logLevel.NOTHING });
}

export interface RawMessage {
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

/**
 * Read a topic from the beginning until `expected` messages arrived (or `timeoutMs` passed), with a
 * kafkajs consumer of our own: the test does not trust the code under test to read what it wrote.
 */
export async function consumeAll(
  topic: string,
  expected: number,
  { timeoutMs = 60_000, readCommitted = true }: { timeoutMs?: number; readCommitted?: boolean } = {},
): Promise<RawMessage[]> {
  const kafka = rawKafka();
  const consumer = kafka.consumer({
    groupId: unique('ferry-test-reader'),
    readUncommitted: !readCommitted,
    maxWaitTimeInMs: 200,
    maxBytes: 50 * 1024 * 1024,
  });
  const out: RawMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let done!: () => void;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = String(v);
          out.push({
            partition: batch.partition,
            offset: m.offset,
            key: m.key?.toString() ?? null,
            value: m.value?.toString() ?? null,
            headers,
          });
        }
        if (out.length >= expected) done();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      finished,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return out;
  } finally {
    await consumer.disconnect();
  }
}

export async function topicPartitions(topic: string): Promise<number | undefined> {
  const admin = rawKafka().admin();
  await admin.connect();
  try {
    const topics = await admin.listTopics();
    if (!topics.includes(topic)) return undefined;
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    return meta.topics[0]?.partitions.length;
  } finally {
    await admin.disconnect();
  }
}

export async function topicConfig(topic: string, names: string[]): Promise<Record<string, string>> {
  const admin = rawKafka().admin();
  await admin.connect();
  try {
    const result = await admin.describeConfigs({
      resources: [{ type: 2, name: topic, configNames: names }],
      includeSynonyms: false,
    });
    const out: Record<string, string> = {};
    for (const entry of result.resources[0]?.configEntries ?? []) out[entry.configName] = entry.configValue;
    return out;
  } finally {
    await admin.disconnect();
  }
}

export async function createTopic(topic: string, partitions: number): Promise<void> {
  const admin = rawKafka().admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** Sample canonical events for `subjects`, `perSubject` each, of one canonical type. */
export function sampleEvents(
  pipeline: string,
  canonicalType: string,
  subjects: string[],
  perSubject = 1,
): CanonicalEvent[] {
  const out: CanonicalEvent[] = [];
  let line = 0;
  for (let round = 0; round < perSubject; round += 1) {
    for (const subject of subjects) {
      line += 1;
      const record: ChangeRecord = {
        stream: 'main.OFFENDERS',
        op: round === 0 ? 'create' : 'update',
        key: { OFFENDER_ID: subject },
        after: { OFFENDER_ID: subject, round },
        occurredAt: new Date(Date.UTC(2024, 0, 1, 0, 0, line)),
        origin: { table: 'OFFENDERS', id: subject, line },
      };
      out.push(
        buildEvent({
          pipeline,
          record,
          canonicalType,
          dataschema: `urn:ferry:contract:${canonicalType}:1.2.0`,
          subject,
          data: { offenderId: subject, round, name: { family: 'SMITH', given: 'Zoë' } },
        }),
      );
    }
  }
  return out;
}

/** A logger whose warnings a test can read. */
export function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: { write: (s: string) => chunks.push(s) } as never,
  });
  return {
    logger,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** The quickstart's legacy table and field map, with Kafka parts: a pipeline file for CLI tests. */
export function quickstartPipeline(options: {
  name: string;
  sink: Record<string, unknown>;
  deadLetters: Record<string, unknown>;
  checkpoints: Record<string, unknown>;
  mapping?: Record<string, unknown>;
  batchSize?: number;
  runtime?: Record<string, unknown>;
}): string {
  const mapping = options.mapping ?? {
    subject: 'offenderId',
    fields: {
      offenderId: { from: 'OFFENDER_ID_DISPLAY', required: true },
      'name.family': { from: 'LAST_NAME', required: true },
      dateOfBirth: { from: 'BIRTH_DATE', type: 'date', format: 'DDMMYYYY' },
      gender: { from: 'SEX_CODE', lookup: { M: 'male', F: 'female', N: 'not-known' } },
    },
  };
  const doc = {
    pipeline: options.name,
    source: {
      type: 'database',
      mode: 'polling',
      connection: { type: 'better-sqlite3', database: './legacy.db' },
      tables: [
        {
          name: 'OFFENDERS',
          key: ['OFFENDER_ID'],
          timestampColumn: 'MODIFY_DATETIME',
          incrementingColumn: 'OFFENDER_ID',
          createdColumn: 'CREATE_DATETIME',
        },
      ],
      batchSize: options.batchSize ?? 500,
      pollIntervalMs: 1000,
    },
    mapping,
    contract: { type: 'justice.offender', version: '1.0.0' },
    sink: options.sink,
    deadLetters: options.deadLetters,
    checkpoints: options.checkpoints,
    ...(options.runtime ? { runtime: options.runtime } : {}),
  };
  // JSON is YAML: no YAML library needed to write the file.
  return JSON.stringify(doc, null, 2);
}

/** Sum of the (last stable) end offsets of a topic's partitions: how far writers have got. */
export async function topicEnd(topic: string, on: readonly string[] = brokers): Promise<number> {
  const admin = rawKafka(on).admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) return 0;
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, o) => sum + Number(o.high), 0);
  } catch {
    // A topic created a moment ago may have no leader yet: a poller asks again.
    return 0;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Read a topic from the beginning until `done(messages)` holds and nothing new arrived for `idleMs`
 * (so duplicates after the last expected message are seen too), or until `timeoutMs`.
 */
export async function consumeUntil(
  topic: string,
  done: (messages: RawMessage[]) => boolean,
  {
    timeoutMs = 90_000,
    idleMs = 3000,
    readCommitted = true,
    on = brokers,
  }: { timeoutMs?: number; idleMs?: number; readCommitted?: boolean; on?: readonly string[] } = {},
): Promise<RawMessage[]> {
  const kafka = rawKafka(on);
  const consumer = kafka.consumer({
    groupId: unique('ferry-test-reader'),
    readUncommitted: !readCommitted,
    maxWaitTimeInMs: 200,
    maxBytes: 50 * 1024 * 1024,
  });
  const out: RawMessage[] = [];
  let last = Date.now();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = String(v);
          out.push({
            partition: batch.partition,
            offset: m.offset,
            key: m.key?.toString() ?? null,
            value: m.value?.toString() ?? null,
            headers,
          });
        }
        if (batch.messages.length > 0) last = Date.now();
      },
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (done(out) && Date.now() - last >= idleMs) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return out;
  } finally {
    await consumer.disconnect();
  }
}
