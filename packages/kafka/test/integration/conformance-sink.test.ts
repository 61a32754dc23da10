// The Kafka sink against @ferry/testkit's Sink suite on the real broker: at-least-once with both transports
// (binary and structured binding, and kafkajs's producer in a worker thread), and exactly-once (commitBatch), which only the kafkajs transport has.
import { describeSinkConformance } from '@ferry/testkit';
import { kafkaSinkFixture } from '../conformance-fixtures.js';
import { platformaticOnThisNode } from '../transports.js';

describeSinkConformance(
  'kafka sink, kafkajs, binary, at-least-once',
  kafkaSinkFixture({ transport: 'kafkajs', mode: 'binary', delivery: 'at-least-once' }),
);
describeSinkConformance(
  'kafka sink, kafkajs in a producer thread, binary, at-least-once',
  kafkaSinkFixture({ transport: 'kafkajs', mode: 'binary', delivery: 'at-least-once', producerThread: true }),
);
describeSinkConformance(
  'kafka sink, kafkajs, structured, at-least-once',
  kafkaSinkFixture({ transport: 'kafkajs', mode: 'structured', delivery: 'at-least-once' }),
);
if (platformaticOnThisNode) {
  describeSinkConformance(
    'kafka sink, platformatic, binary, at-least-once',
    kafkaSinkFixture({ transport: 'platformatic', mode: 'binary', delivery: 'at-least-once' }),
  );
}
describeSinkConformance(
  'kafka sink, kafkajs, binary, exactly-once',
  kafkaSinkFixture({ transport: 'kafkajs', mode: 'binary', delivery: 'exactly-once' }),
);
