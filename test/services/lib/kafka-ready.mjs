// Health probe for the test Kafka broker: connect and make one metadata call, with short timeouts.
// Usage: node kafka-ready.mjs 127.0.0.1:59092   (exit 0 = ready)
import { Kafka, logLevel } from 'kafkajs';

const broker = process.argv[2] ?? '127.0.0.1:59092';
const hardStop = setTimeout(() => {
  console.error(`kafka-ready: no answer from ${broker} within 8s`);
  process.exit(2);
}, 8000);

const kafka = new Kafka({
  clientId: 'ferry-services-health',
  brokers: [broker],
  connectionTimeout: 1500,
  requestTimeout: 3000,
  retry: { retries: 0 },
  logLevel: logLevel.NOTHING,
});
const admin = kafka.admin();
try {
  await admin.connect();
  const cluster = await admin.describeCluster();
  await admin.listTopics();
  if (!cluster.brokers.length || cluster.controller === null || cluster.controller < 0) {
    throw new Error(`cluster not ready: ${JSON.stringify(cluster)}`);
  }
  await admin.disconnect();
  clearTimeout(hardStop);
  process.exit(0);
} catch (err) {
  console.error(`kafka-ready: ${err?.message ?? err}`);
  process.exit(1);
}
