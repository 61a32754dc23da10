// Picks the transport a component's `transport` option names.
import type { Logger } from '@ferry/core/sdk';
import type { KafkaConnectionConfig } from '../config.js';
import { createKafkaJsTransport } from './kafkajs.js';
import { createPlatformaticTransport } from './platformatic.js';
import type { KafkaTransport } from './transport.js';

export function createTransport(connection: KafkaConnectionConfig, logger: Logger): KafkaTransport {
  return connection.transport === 'platformatic'
    ? createPlatformaticTransport(connection, logger, createKafkaJsTransport(connection, logger))
    : createKafkaJsTransport(connection, logger);
}
