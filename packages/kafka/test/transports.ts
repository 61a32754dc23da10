// Which Kafka transports the tests run on this Node. @platformatic/kafka is an optional dependency that npm
// leaves out below Node 22.19 (its dependencies' engines), so on Node 20 the platformatic tests run in
// `npm test`'s Node matrix (scripts/node-matrix.mjs: Node 22 and 24) and not in the Node 20 pass.
// unit/platformatic-optional.test.ts holds this to the truth on every Node: the package is installed
// exactly when this says so, and without it `transport: platformatic` fails with KAFKA_TRANSPORT_UNAVAILABLE.
import { PLATFORMATIC_MIN_NODE } from '../src/internal/platformatic.js';

export type Transport = 'kafkajs' | 'platformatic';

function atLeast(version: string, minimum: string): boolean {
  const [a, b] = [version, minimum].map((v) => v.split('.').map(Number));
  for (let i = 0; i < 3; i += 1) {
    if (a![i]! !== b![i]!) return a![i]! > b![i]!;
  }
  return true;
}

export const platformaticOnThisNode = atLeast(process.versions.node, PLATFORMATIC_MIN_NODE);

/** Every transport this Node runs: kafkajs always, platformatic from Node 22.19. */
export const transports: Transport[] = platformaticOnThisNode ? ['kafkajs', 'platformatic'] : ['kafkajs'];
