// classifyKafkaError: every kind of failure the clients report maps to a stable code and the right
// `retryable` flag. The native errors are built as kafkajs builds them.
import { FerryError } from '@ferry/core/sdk';
import {
  KafkaJSConnectionError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSRequestTimeoutError,
} from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { classifyKafkaError } from '../../src/index.js';

const protocol = (type: string, retriable: boolean) =>
  new KafkaJSProtocolError({ type, code: 0, retriable, message: `${type} from broker` } as never);
const sys = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:59092`), { code });

const table: [string, unknown, string, boolean][] = [
  ['not leader', protocol('NOT_LEADER_FOR_PARTITION', true), 'KAFKA_BROKER_UNAVAILABLE', true],
  ['not leader or follower', protocol('NOT_LEADER_OR_FOLLOWER', true), 'KAFKA_BROKER_UNAVAILABLE', true],
  ['leader not available', protocol('LEADER_NOT_AVAILABLE', true), 'KAFKA_BROKER_UNAVAILABLE', true],
  ['broker not available', protocol('BROKER_NOT_AVAILABLE', false), 'KAFKA_BROKER_UNAVAILABLE', true],
  ['not enough replicas', protocol('NOT_ENOUGH_REPLICAS', true), 'KAFKA_BROKER_UNAVAILABLE', true],
  ['request timed out (broker)', protocol('REQUEST_TIMED_OUT', true), 'KAFKA_TIMEOUT', true],
  [
    'request timed out (client)',
    new KafkaJSRequestTimeoutError('Request Produce(key: 0, version: 7) timed out' as never),
    'KAFKA_TIMEOUT',
    true,
  ],
  [
    'connection refused',
    new KafkaJSConnectionError('Connection error: connect ECONNREFUSED'),
    'KAFKA_BROKER_UNAVAILABLE',
    true,
  ],
  ['socket reset', sys('ECONNRESET'), 'KAFKA_BROKER_UNAVAILABLE', true],
  ['socket timeout', sys('ETIMEDOUT'), 'KAFKA_TIMEOUT', true],
  ['unknown host', sys('ENOTFOUND'), 'KAFKA_BROKER_UNAVAILABLE', false],
  [
    'kafkajs gave up on a connection error',
    new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED'), {
      retryCount: 1,
      retryTime: 100,
    }),
    'KAFKA_BROKER_UNAVAILABLE',
    true,
  ],
  [
    'non-retriable wrapper around not-leader',
    new KafkaJSNonRetriableError(protocol('NOT_LEADER_FOR_PARTITION', true) as never, {
      cause: protocol('NOT_LEADER_FOR_PARTITION', true),
    }),
    'KAFKA_BROKER_UNAVAILABLE',
    true,
  ],
  ['record too large', protocol('MESSAGE_TOO_LARGE', false), 'KAFKA_RECORD_TOO_LARGE', false],
  ['batch too large', protocol('RECORD_LIST_TOO_LARGE', false), 'KAFKA_RECORD_TOO_LARGE', false],
  ['topic authorization', protocol('TOPIC_AUTHORIZATION_FAILED', false), 'KAFKA_AUTHORIZATION_FAILED', false],
  [
    'cluster authorization',
    protocol('CLUSTER_AUTHORIZATION_FAILED', false),
    'KAFKA_AUTHORIZATION_FAILED',
    false,
  ],
  [
    'transactional id authorization',
    protocol('TRANSACTIONAL_ID_AUTHORIZATION_FAILED', false),
    'KAFKA_AUTHORIZATION_FAILED',
    false,
  ],
  ['sasl failure', protocol('SASL_AUTHENTICATION_FAILED', false), 'KAFKA_AUTHENTICATION_FAILED', false],
  ['invalid topic', protocol('INVALID_TOPIC_EXCEPTION', false), 'KAFKA_INVALID_TOPIC', false],
  ['fenced producer', protocol('PRODUCER_FENCED', false), 'KAFKA_PRODUCER_FENCED', false],
  ['old epoch', protocol('INVALID_PRODUCER_EPOCH', false), 'KAFKA_PRODUCER_FENCED', false],
  ['coordinator busy', protocol('CONCURRENT_TRANSACTIONS', true), 'KAFKA_TRANSACTION_BUSY', true],
  ['unknown retriable protocol error', protocol('SOMETHING_NEW', true), 'KAFKA_REQUEST_FAILED', true],
  ['unknown fatal protocol error', protocol('SOMETHING_ELSE', false), 'KAFKA_REQUEST_FAILED', false],
  ['programmer error', new TypeError('x is not a function'), 'KAFKA_REQUEST_FAILED', false],
];

describe('classifyKafkaError', () => {
  it.each(table)('%s', (_name, error, code, retryable) => {
    const classified = classifyKafkaError(error, { operation: 'send', topic: 't1' });
    expect(classified.code).toBe(code);
    expect(classified.retryable).toBe(retryable);
    expect(classified.cause).toBe(error);
    expect(classified.message).toContain('send, topic t1');
  });

  it('passes FerryErrors through unchanged', () => {
    const original = new FerryError('SOMETHING', 'already classified', { retryable: true });
    expect(classifyKafkaError(original)).toBe(original);
  });
});
