// Standard Webhooks signatures (https://www.standardwebhooks.com): the secrets a subscription signs with,
// and the three headers that let a receiver check a delivery came from us, unaltered and recently.
import { createHmac, randomBytes } from 'node:crypto';
import { WebhookError } from './errors.js';

const PREFIX = 'whsec_';
const MIN_KEY_BYTES = 24;
const MAX_KEY_BYTES = 64;
const GENERATED_KEY_BYTES = 32;

// Canonical, padded base64. Buffer.from(text, 'base64') skips characters it does not know instead of
// failing, so a mistyped secret would quietly become a different key; checking the shape first refuses it.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const EXPECTED = `expected "${PREFIX}" followed by base64 of ${MIN_KEY_BYTES} to ${MAX_KEY_BYTES} random bytes (Standard Webhooks)`;

/**
 * The key inside a Standard Webhooks secret: `whsec_<base64>`, or the base64 alone. Surrounding whitespace
 * (a secret file's final newline) is ignored. A secret of another shape or size throws
 * WEBHOOK_SECRET_INVALID; the message never repeats the secret.
 */
export function parseSecret(secret: string): Buffer {
  const trimmed = secret.trim();
  const encoded = trimmed.startsWith(PREFIX) ? trimmed.slice(PREFIX.length) : trimmed;
  if (encoded === '') {
    throw invalidSecret(`the webhook secret is empty; ${EXPECTED}`, 'empty');
  }
  if (!BASE64.test(encoded)) {
    throw invalidSecret(
      `the webhook secret is not base64 (A-Z, a-z, 0-9, + and /, padded with =); ${EXPECTED}`,
      'not base64',
    );
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length < MIN_KEY_BYTES || key.length > MAX_KEY_BYTES) {
    throw invalidSecret(
      `the webhook secret decodes to ${key.length} bytes; ${EXPECTED}. Generate one with generateSecret()`,
      key.length < MIN_KEY_BYTES ? 'too short' : 'too long',
    );
  }
  return key;
}

/** A new secret for a subscription: `whsec_` and 32 random bytes in base64. */
export function generateSecret(): string {
  return PREFIX + randomBytes(GENERATED_KEY_BYTES).toString('base64');
}

export interface SignatureInput {
  /** The message id; the same for every retry of one event, so a receiver can drop duplicates. */
  id: string;
  /** When the message is sent, in whole Unix seconds; receivers refuse ones too far from their clock. */
  timestamp: number;
  /** The body exactly as it goes on the wire: a receiver signs the bytes it gets. */
  body: string;
  /** Keys from parseSecret; during a rotation both the old and the new one sign. */
  secrets: readonly Buffer[];
}

export interface SignatureHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * The Standard Webhooks headers for one delivery: a `v1,<base64 HMAC-SHA256>` of `id.timestamp.body` per
 * secret, separated by spaces, so a receiver holding any one of the secrets accepts it.
 */
export function signatureHeaders(input: SignatureInput): SignatureHeaders {
  const { id, timestamp, body, secrets } = input;
  // Both are mistakes in the calling code, not in configuration: fail loudly rather than send a delivery
  // no receiver can verify.
  if (secrets.length === 0) {
    throw new RangeError('signatureHeaders needs at least one secret');
  }
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new RangeError(`signatureHeaders needs a timestamp in whole Unix seconds, got ${timestamp}`);
  }
  const content = `${id}.${timestamp}.${body}`;
  const signatures = secrets.map(
    (key) => `v1,${createHmac('sha256', key).update(content, 'utf8').digest('base64')}`,
  );
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatures.join(' '),
  };
}

function invalidSecret(message: string, problem: string): WebhookError {
  return new WebhookError('WEBHOOK_SECRET_INVALID', message, { retryable: false, details: { problem } });
}
