import { silentLogger } from '@ferry/core/sdk';
import { closedPort, settled, silentServer } from '@ferry/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createKafkaSink,
  type KafkaSink,
  type KafkaSinkConfigInput,
  kafkaSinkConfigSchema,
} from '../../src/index.js';
import { brokers, consumeAll, sampleEvents, topicPartitions, unique } from '../helpers.js';
import { transports } from '../transports.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A hung server's port, closed after the test. */
async function hungPort(): Promise<number> {
  const server = await silentServer();
  cleanups.push(server.close);
  return server.port;
}

describe.each(transports)('kafka sink probe: %s', (transport) => {
  async function sinkFor(options: Partial<KafkaSinkConfigInput> = {}): Promise<KafkaSink> {
    const config = kafkaSinkConfigSchema.parse({ brokers, transport, ...options });
    const sink = await createKafkaSink(config, { pipeline: 'kafka-probe-it', logger: silentLogger() });
    cleanups.push(() => sink.close());
    return sink;
  }
  const probe = (sink: KafkaSink, signal = new AbortController().signal) => sink.probe(signal);

  it('resolves against the live broker without creating the topic', async () => {
    const topic = unique('ferry-probe');
    const sink = await sinkFor({ topic });
    await expect(probe(sink)).resolves.toBeUndefined();
    expect(await topicPartitions(topic)).toBeUndefined();
  });

  it('rejects quickly with KAFKA_BROKER_UNAVAILABLE (retryable) when nothing listens on the port', async () => {
    const sink = await sinkFor({
      brokers: [`127.0.0.1:${await closedPort()}`],
      topic: unique('ferry-probe'),
    });
    const { error, ms } = await settled(probe(sink));
    expect(error).toMatchObject({ code: 'KAFKA_BROKER_UNAVAILABLE', retryable: true });
    expect(ms).toBeLessThan(10_000);
  });

  it('gives up on a broker that never answers within about 5 s, and at once when aborted', async () => {
    const silent = [`127.0.0.1:${await hungPort()}`];
    const sink = await sinkFor({
      brokers: silent,
      topic: unique('ferry-probe'),
      connectionTimeoutMs: 60_000,
      requestTimeoutMs: 60_000,
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const aborted = await settled(probe(sink, controller.signal));
    expect(aborted.error).toMatchObject({ code: 'KAFKA_TIMEOUT', retryable: true });
    expect((aborted.error as Error).message).toMatch(/cancelled/);
    expect(aborted.ms).toBeLessThan(2000);

    const { error, ms } = await settled(probe(sink));
    // The probe's deadline and the client's capped timeouts end at about the same moment; either says so.
    expect((error as { code: string }).code).toMatch(/^KAFKA_(TIMEOUT|BROKER_UNAVAILABLE)$/);
    expect(error).toMatchObject({ retryable: true });
    expect(ms).toBeGreaterThanOrEqual(4000);
    expect(ms).toBeLessThan(10_000);
  });

  it('does not disturb writes that run alongside several probes', async () => {
    const topic = unique('ferry-probe-write');
    const sink = await sinkFor({ topic, topics: { partitions: 2 } });
    const subjects = Array.from({ length: 50 }, (_, i) => `S${i}`);
    const chunks = Array.from({ length: 8 }, (_, round) =>
      sampleEvents(`kafka-probe-${round}`, 'justice.offender', subjects, 5),
    );
    let writing = true;
    let probes = 0;
    const probing = (async () => {
      await Promise.all([1, 2, 3].map(() => probe(sink)));
      probes += 3;
      for (let i = 0; writing && i < 100; i += 1) {
        await probe(sink);
        probes += 1;
      }
    })();
    const writes = (async () => {
      for (const chunk of chunks) await sink.write(chunk);
    })().finally(() => {
      writing = false;
    });
    await Promise.all([writes, probing]);
    const expected = chunks.flat().map((e) => e.id);
    const messages = await consumeAll(topic, expected.length);
    const ids = messages.map((m) => m.headers.ce_id);
    expect(ids.sort()).toEqual(expected.sort());
    expect(probes).toBeGreaterThanOrEqual(4);
  });
});
