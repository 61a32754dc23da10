// @platformatic/kafka is an optional dependency that npm leaves out below Node 22.19. This holds
// ../transports.ts to the truth on every Node: the package is there exactly where the platformatic tests
// run, and where it is not, `transport: platformatic` fails at once with a code and what to install.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '@ferry/core/sdk';
import { describe, expect, it } from 'vitest';
import { createKafkaSink, kafkaSinkConfigSchema } from '../../src/index.js';
import { loadPlatformatic, PLATFORMATIC_PACKAGE } from '../../src/internal/platformatic.js';
import { platformaticOnThisNode } from '../transports.js';

const own = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8'));
const node = process.versions.node;

describe('the optional @platformatic/kafka transport', () => {
  it('is an optional dependency, pinned, so npm can leave it out instead of warning EBADENGINE', () => {
    expect(own.dependencies[PLATFORMATIC_PACKAGE]).toBeUndefined();
    expect(own.optionalDependencies[PLATFORMATIC_PACKAGE]).toMatch(/^\d+\.\d+\.\d+$/);
  });

  if (platformaticOnThisNode) {
    it(`is installed on Node ${node}, where the platformatic tests run`, async () => {
      const library = await loadPlatformatic();
      expect(typeof library.Producer).toBe('function');
      expect(typeof library.Admin).toBe('function');
      expect(library.murmur2('P1')).toBeTypeOf('number');
    });
  } else {
    it(`is not installed on Node ${node}: transport platformatic fails with KAFKA_TRANSPORT_UNAVAILABLE`, async () => {
      const error = await loadPlatformatic().catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'KAFKA_TRANSPORT_UNAVAILABLE', retryable: false });
      const message = (error as Error).message;
      expect(message).toContain(
        `npm install ${PLATFORMATIC_PACKAGE}@${own.optionalDependencies[PLATFORMATIC_PACKAGE]}`,
      );
      expect(message).toContain(`this is Node ${node}`);
      expect(message).toContain('transport: kafkajs');

      // Through a sink: its probe refuses before any connection is tried.
      const config = kafkaSinkConfigSchema.parse({
        brokers: ['127.0.0.1:1'],
        topic: 't',
        transport: 'platformatic',
      });
      const sink = await createKafkaSink(config, { pipeline: 'optional-transport', logger: silentLogger() });
      try {
        await expect(sink.probe(new AbortController().signal)).rejects.toMatchObject({
          code: 'KAFKA_TRANSPORT_UNAVAILABLE',
        });
      } finally {
        await sink.close();
      }
    });
  }
});
