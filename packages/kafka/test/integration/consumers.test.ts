// topicConsumers against the real broker: groups that committed on a topic (all of it, part of it) or have a
// live member assigned to it are listed with exact lags; a group on another topic, and topics that do not
// exist, give nothing; a broker that cannot be reached, or never answers, fails fast and retryable.
import { closedPort, settled, silentServer, waitFor } from '@ferry/testkit';
import type { Admin, Consumer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KafkaError, topicConsumers } from '../../src/index.js';
import { brokers, createTopic, rawKafka, unique } from '../helpers.js';

const PER_PARTITION = 4;

async function fill(topic: string, partitions: number): Promise<void> {
  const producer = rawKafka().producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    const messages = [];
    for (let partition = 0; partition < partitions; partition += 1) {
      for (let i = 0; i < PER_PARTITION; i += 1) messages.push({ partition, key: `k${i}`, value: `v${i}` });
    }
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

async function committed(admin: Admin, groupId: string, topic: string): Promise<number[]> {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return (offsets?.partitions ?? []).sort((x, y) => x.partition - y.partition).map((p) => Number(p.offset));
}

describe('topicConsumers', () => {
  it('lists the groups that committed on the topics or are assigned them, with their lags', async () => {
    const topic = unique('consumers');
    const other = unique('consumers-other');
    await createTopic(topic, 3);
    await createTopic(other, 1);
    await fill(topic, 3);
    await fill(other, 1);
    const base = unique('consumers-group');
    const [groupA, groupB, groupC, groupD] = ['a', 'b', 'c', 'd'].map((s) => `${base}-${s}`) as [
      string,
      string,
      string,
      string,
    ];

    const admin = rawKafka().admin();
    const consumers: Consumer[] = [];
    await admin.connect();
    try {
      // A: read everything and committed it, then left (an Empty group).
      const a = rawKafka().consumer({ groupId: groupA, maxWaitTimeInMs: 100 });
      consumers.push(a);
      await a.connect();
      await a.subscribe({ topic, fromBeginning: true });
      await a.run({ autoCommit: true, eachMessage: async () => undefined });
      await waitFor(
        async () => (await committed(admin, groupA, topic)).every((o) => o === PER_PARTITION),
        30_000,
        'group A committed every message',
      );
      await a.disconnect();

      // B: committed part of partitions 0 and 1, nothing on partition 2.
      await admin.setOffsets({
        groupId: groupB,
        topic,
        partitions: [
          { partition: 0, offset: '2' },
          { partition: 1, offset: '1' },
        ],
      });

      // C: a live member assigned the topic that commits nothing.
      const c = rawKafka().consumer({ groupId: groupC, maxWaitTimeInMs: 100 });
      consumers.push(c);
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({ autoCommit: false, eachMessage: async () => undefined });
      await waitFor(
        async () => {
          const [group] = (await admin.describeGroups([groupC])).groups;
          return group?.state === 'Stable' && group.members.length === 1;
        },
        30_000,
        'group C stable with one member',
      );

      // D: committed on the other topic only.
      await admin.setOffsets({ groupId: groupD, topic: other, partitions: [{ partition: 0, offset: '4' }] });

      const missing = unique('consumers-missing');
      const found = await topicConsumers({ brokers, topics: [topic, missing], timeoutMs: 20_000 });
      const ends = [0, 1, 2].map(() => PER_PARTITION);
      expect(found).toEqual([
        {
          group: groupA,
          state: 'Empty',
          members: 0,
          topics: [
            {
              topic,
              lag: 0,
              partitions: ends.map((end, partition) => ({ partition, committed: PER_PARTITION, end })),
            },
          ],
        },
        {
          group: groupB,
          state: 'Empty',
          members: 0,
          topics: [
            {
              topic,
              lag: PER_PARTITION - 2 + (PER_PARTITION - 1),
              partitions: [
                { partition: 0, committed: 2, end: PER_PARTITION },
                { partition: 1, committed: 1, end: PER_PARTITION },
                { partition: 2, committed: null, end: PER_PARTITION },
              ],
            },
          ],
        },
        {
          group: groupC,
          state: 'Stable',
          members: 1,
          topics: [
            {
              topic,
              lag: null,
              partitions: ends.map((end, partition) => ({ partition, committed: null, end })),
            },
          ],
        },
      ]);

      // Asked about the other topic, only D answers; asked about topics that do not exist, nobody does.
      const onOther = await topicConsumers({ brokers, topics: [other], timeoutMs: 20_000 });
      expect(onOther.map((g) => [g.group, g.topics[0]?.lag])).toEqual([[groupD, 0]]);
      expect(await topicConsumers({ brokers, topics: [missing], timeoutMs: 20_000 })).toEqual([]);
    } finally {
      for (const consumer of consumers) await consumer.disconnect().catch(() => undefined);
      await admin.deleteGroups([groupA, groupB, groupC, groupD]).catch(() => undefined);
      await admin.disconnect();
    }
  });

  it('fails fast and retryable, naming the brokers, when nothing listens on the port', async () => {
    const unreachable = [`127.0.0.1:${await closedPort()}`];
    const { error, ms } = await settled(
      topicConsumers({ brokers: unreachable, topics: ['anything'], timeoutMs: 3000 }),
    );
    expect(error).toBeInstanceOf(KafkaError);
    expect(error).toMatchObject({ code: 'KAFKA_BROKER_UNAVAILABLE', retryable: true });
    expect((error as Error).message).toContain(unreachable[0]);
    expect(ms).toBeLessThan(3000);
  });

  it('gives up at timeoutMs, retryable, on a broker that never answers', async () => {
    const server = await silentServer();
    try {
      const silent = [`127.0.0.1:${server.port}`];
      const { error, ms } = await settled(
        topicConsumers({ brokers: silent, topics: ['anything'], timeoutMs: 1000 }),
      );
      expect(error).toBeInstanceOf(KafkaError);
      // The deadline and the client's capped timeouts end at about the same moment; either says so.
      expect((error as { code: string }).code).toMatch(/^KAFKA_(TIMEOUT|BROKER_UNAVAILABLE)$/);
      expect(error).toMatchObject({ retryable: true });
      expect((error as Error).message).toContain(silent[0]);
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(3000);
    } finally {
      await server.close();
    }
  });
});
