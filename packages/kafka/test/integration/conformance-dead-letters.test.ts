// The Kafka dead-letter topic against @ferry/testkit's DeadLetterSink suite on the real broker, with both
// transports (the platformatic transport produces; reading stays on kafkajs).
import { describeDeadLetterConformance } from '@ferry/testkit';
import { kafkaDeadLetterFixture } from '../conformance-fixtures.js';
import { transports } from '../transports.js';

for (const transport of transports) {
  describeDeadLetterConformance(`kafka dead-letter topic, ${transport}`, kafkaDeadLetterFixture(transport));
}
