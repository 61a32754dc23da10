// Which consumer groups read given topics, and how far behind they are: for `ferry inventory`, which lists
// each batch job's replacing topics with their consumers. Read-only: it lists, describes and fetches offsets.
import { type Logger, parseComponentOptions, silentLogger, withDeadline } from '@ferry/core/sdk';
import { type Admin, AssignerProtocol, type GroupDescription, Kafka } from 'kafkajs';
import { z } from 'zod';
import { connectionOf, type KafkaConnectionConfig, kafkaConnectionShape } from './config.js';
import { classifyKafkaError, KafkaError, KafkaErrorCodes } from './errors.js';
import { kafkaJsConfig } from './internal/kafkajs.js';
import { highWatermarks } from './internal/watermarks.js';

export const kafkaTopicConsumersConfigSchema = z
  .object({
    ...kafkaConnectionShape,
    topics: z.array(z.string().min(1)).describe('Topics whose consumer groups are wanted.'),
    timeoutMs: z
      .number()
      .int()
      .min(100)
      .default(10_000)
      .describe('Give up (KAFKA_TIMEOUT, retryable) when the answer is not complete in this time.'),
  })
  .strict();

export type KafkaTopicConsumersConfigInput = z.input<typeof kafkaTopicConsumersConfigSchema>;
export type KafkaTopicConsumersConfig = z.output<typeof kafkaTopicConsumersConfigSchema>;

export interface KafkaTopicConsumersContext {
  /** Where the client's own log lines go, at debug level (default nowhere). */
  logger?: Logger;
  /** Stops the inquiry early (KAFKA_TIMEOUT, retryable). */
  signal?: AbortSignal;
}

export interface TopicConsumerPartition {
  partition: number;
  /** The group's committed offset, null when it has committed none on this partition. */
  committed: number | null;
  /** The partition's high watermark (the end offset `kafka-consumer-groups.sh` reports). */
  end: number;
}

export interface TopicConsumerTopic {
  topic: string;
  /** Sum of end − committed over the partitions with a committed offset; null when none has one. */
  lag: number | null;
  /** Every partition of the topic, by number. */
  partitions: TopicConsumerPartition[];
}

export interface TopicConsumer {
  group: string;
  /** The broker's group state: Stable, Empty, PreparingRebalance, CompletingRebalance, Dead. */
  state: string;
  /** Live members. */
  members: number;
  /** The asked topics the group has committed offsets on or a live member is assigned, in the order asked. */
  topics: TopicConsumerTopic[];
}

/** Groups described per request, and offset fetches in flight at once. */
const DESCRIBE_CHUNK = 100;
const FETCH_CONCURRENCY = 8;

/**
 * Every consumer group, sorted by name, that has committed offsets on one of `topics` or a live member
 * assigned one of them. Topics that do not exist have no groups. Everything is bounded by `timeoutMs`.
 */
export async function topicConsumers(
  config: KafkaTopicConsumersConfigInput,
  context: KafkaTopicConsumersContext = {},
): Promise<TopicConsumer[]> {
  const parsed = parseComponentOptions(kafkaTopicConsumersConfigSchema, config, 'kafka');
  const topics = [...new Set(parsed.topics)];
  if (topics.length === 0) return [];
  const { brokers } = parsed;
  const late = (cancelled: boolean) =>
    new KafkaError(
      KafkaErrorCodes.KAFKA_TIMEOUT,
      `Kafka consumer groups of topics ${topics.join(',')}, brokers ${brokers.join(',')}: no complete ` +
        `answer ${cancelled ? 'before the inquiry was cancelled' : `within ${parsed.timeoutMs} ms`}`,
      { retryable: true, details: { operation: 'topicConsumers', brokers, topics } },
    );
  let result: TopicConsumer[] = [];
  await withDeadline(
    async (bound) => {
      result = await inquire(connectionOf(parsed), topics, parsed.timeoutMs, context.logger, bound);
    },
    context.signal ?? new AbortController().signal,
    parsed.timeoutMs,
    late,
  );
  return result;
}

async function inquire(
  connection: KafkaConnectionConfig,
  topics: string[],
  timeoutMs: number,
  logger: Logger | undefined,
  signal: AbortSignal,
): Promise<TopicConsumer[]> {
  const config = {
    ...kafkaJsConfig(connection, logger ?? silentLogger()),
    // No single wait may outlast the whole inquiry.
    connectionTimeout: Math.min(connection.connectionTimeoutMs, timeoutMs),
    requestTimeout: Math.min(connection.requestTimeoutMs, timeoutMs),
  };
  const brokers = connection.brokers;
  const fail = (operation: string, topic?: string) => (error: unknown) => {
    throw classifyKafkaError(error, { operation, brokers, ...(topic ? { topic } : {}) });
  };
  const admin = new Kafka(config).admin();
  // Past the deadline, closing the connection ends the requests still in flight.
  const close = () => void admin.disconnect().catch(() => undefined);
  signal.addEventListener('abort', close, { once: true });
  try {
    await admin.connect().catch(fail('connect'));
    const existing = new Set(await admin.listTopics().catch(fail('listTopics')));
    const present = topics.filter((t) => existing.has(t));
    if (present.length === 0) return [];
    const meta = await admin.fetchTopicMetadata({ topics: present }).catch(fail('describeTopics'));
    const partitionsOf = new Map(meta.topics.map((t) => [t.name, t.partitions.map((p) => p.partitionId)]));
    const [ends, groups] = await Promise.all([
      Promise.all(
        present.map(async (topic) => {
          const marks = await highWatermarks(config, connection, topic, partitionsOf.get(topic) ?? []);
          return [topic, marks] as const;
        }),
      ).then((entries) => new Map(entries)),
      describeAll(admin, fail),
    ]);
    const found = await mapLimited(
      groups,
      FETCH_CONCURRENCY,
      signal,
      async (group): Promise<TopicConsumer | undefined> => {
        const offsets = await admin
          .fetchOffsets({ groupId: group.groupId, topics: present })
          .catch(fail('fetchOffsets', present.join(',')));
        const committed = new Map<string, Map<number, number>>();
        for (const { topic, partitions } of offsets) {
          const byPartition = new Map<number, number>();
          for (const p of partitions) {
            const offset = Number(p.offset);
            if (offset >= 0) byPartition.set(p.partition, offset);
          }
          committed.set(topic, byPartition);
        }
        const assigned = assignedTopics(group);
        const out: TopicConsumerTopic[] = [];
        for (const topic of present) {
          const mine = committed.get(topic) ?? new Map<number, number>();
          if (mine.size === 0 && !assigned.has(topic)) continue;
          const marks = ends.get(topic) ?? new Map<number, bigint>();
          const partitions = [...(partitionsOf.get(topic) ?? [])]
            .sort((x, y) => x - y)
            .map((partition) => ({
              partition,
              committed: mine.get(partition) ?? null,
              end: Number(marks.get(partition) ?? 0n),
            }));
          const counted = partitions.filter((p) => p.committed !== null);
          // A committed offset past the end (a topic deleted and created again) is no lag, not negative lag.
          const lag =
            counted.length === 0
              ? null
              : counted.reduce((sum, p) => sum + Math.max(0, p.end - (p.committed ?? 0)), 0);
          out.push({ topic, lag, partitions });
        }
        if (out.length === 0) return undefined;
        return { group: group.groupId, state: group.state, members: group.members.length, topics: out };
      },
    );
    return found
      .filter((c): c is TopicConsumer => c !== undefined)
      .sort((x, y) => (x.group < y.group ? -1 : x.group > y.group ? 1 : 0));
  } finally {
    signal.removeEventListener('abort', close);
    await admin.disconnect().catch(() => undefined);
  }
}

async function describeAll(
  admin: Admin,
  fail: (operation: string) => (error: unknown) => never,
): Promise<GroupDescription[]> {
  const listed = await admin.listGroups().catch(fail('listGroups'));
  const ids = [...new Set(listed.groups.map((g) => g.groupId))];
  const out: GroupDescription[] = [];
  for (let i = 0; i < ids.length; i += DESCRIBE_CHUNK) {
    const { groups } = await admin
      .describeGroups(ids.slice(i, i + DESCRIBE_CHUNK))
      .catch(fail('describeGroups'));
    // A group deleted between the listing and the description comes back Dead, with nothing to report.
    out.push(...groups.filter((g) => g.state !== 'Dead'));
  }
  return out;
}

/** Topics a live member of a consumer group is assigned; other protocols' assignments are not topic lists. */
function assignedTopics(group: GroupDescription): Set<string> {
  const out = new Set<string>();
  if (group.protocolType !== 'consumer') return out;
  for (const member of group.members) {
    let decoded: ReturnType<typeof AssignerProtocol.MemberAssignment.decode>;
    try {
      decoded = AssignerProtocol.MemberAssignment.decode(member.memberAssignment);
    } catch {
      // An assignment this decoder cannot read (a client's own format) names no topic we can trust.
      continue;
    }
    for (const [topic, partitions] of Object.entries(decoded?.assignment ?? {})) {
      if (partitions.length > 0) out.add(topic);
    }
  }
  return out;
}

/** `work` on every item, `limit` at a time; nothing new starts once `signal` aborts (the result is unused). */
async function mapLimited<T, R>(
  items: T[],
  limit: number,
  signal: AbortSignal,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length && !signal.aborted) {
      const index = next++;
      out[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}
