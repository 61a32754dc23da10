// Kafka checkpoints against @ferry/testkit's CheckpointStore suite on the real broker, with both transports
// (the platformatic transport produces saves and tombstones; reading stays on kafkajs).
import { silentLogger } from '@ferry/core/sdk';
import { describeCheckpointConformance } from '@ferry/testkit';
import { describe, expect, it } from 'vitest';
import { createKafkaCheckpointStore, kafkaCheckpointConfigSchema } from '../../src/index.js';
import { kafkaCheckpointFixture, readToEnd } from '../conformance-fixtures.js';
import { brokers, unique } from '../helpers.js';
import { transports } from '../transports.js';

for (const transport of transports) {
  describeCheckpointConformance(`kafka checkpoints, ${transport}`, kafkaCheckpointFixture(transport));
}
// Fencing changes how saves are written (one transaction each, on the pipeline's own producer), not what a
// store owes the runtime. Transactions are kafkajs's (the platformatic transport is refused with fencing).
describeCheckpointConformance(
  'kafka checkpoints with fencing, kafkajs',
  kafkaCheckpointFixture('kafkajs', true),
);

describe.each(transports)('kafka checkpoints, %s: clear()', (transport) => {
  // The suite sees clear() through load(); compaction needs more: a record whose value is null, not empty.
  it('produces a real tombstone (a null value) that compaction removes', async () => {
    const topic = unique(`ferry-conf-tombstone-${transport}`);
    const store = createKafkaCheckpointStore(
      kafkaCheckpointConfigSchema.parse({ brokers, transport, topic }),
      {
        logger: silentLogger(),
      },
    );
    try {
      await store.save('p', { seq: 1 });
      await store.clear('p');
    } finally {
      await store.close();
    }
    const records = (await readToEnd(topic)).map((m) => ({ key: m.key, value: m.value }));
    // clear() also tombstones the pipeline's pass state (key p#pass) and unit tally (p#unit), saved or not.
    expect(records).toHaveLength(4);
    expect(records[0]).toMatchObject({ key: 'p' });
    expect(JSON.parse(records[0]!.value ?? 'null')).toMatchObject({ pipeline: 'p', position: { seq: 1 } });
    expect(records[1]).toEqual({ key: 'p', value: null });
    expect(records[2]).toEqual({ key: 'p#pass', value: null });
    expect(records[3]).toEqual({ key: 'p#unit', value: null });
  });
});
