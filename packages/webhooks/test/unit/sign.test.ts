// Signatures checked by the reference Standard Webhooks verifier, as a receiver would check them; and the
// secrets parseSecret refuses.
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateSecret, parseSecret, signatureHeaders, WebhookError } from '../../src/index.js';

const secretA = `whsec_${randomBytes(32).toString('base64')}`;
const secretB = `whsec_${randomBytes(32).toString('base64')}`;
const body = JSON.stringify({ specversion: '1.0', type: 'justice.offender.created', data: { id: 42 } });
// The verifier refuses timestamps more than five minutes from its clock.
const now = () => Math.floor(Date.now() / 1000);

function sign(secrets: string[], payload = body) {
  return signatureHeaders({
    id: 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W',
    timestamp: now(),
    body: payload,
    secrets: secrets.map(parseSecret),
  });
}

describe('signatureHeaders', () => {
  it('signs with one secret so that the reference verifier accepts it', () => {
    const headers = sign([secretA]);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secretA).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('signs with both secrets of a rotation, so a receiver holding either accepts it', () => {
    const headers = sign([secretA, secretB]);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(() => new Webhook(secretA).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(secretB).verify(body, headers)).not.toThrow();
  });

  it('is refused when the body was changed on the way', () => {
    const headers = sign([secretA]);
    const tampered = body.replace('42', '43');
    expect(() => new Webhook(secretA).verify(tampered, headers)).toThrow(/signature/i);
  });

  it('is refused by a receiver holding another secret', () => {
    const headers = sign([secretA]);
    expect(() => new Webhook(secretB).verify(body, headers)).toThrow(/signature/i);
  });

  it('signs the body as UTF-8, as the receiver reads it', () => {
    const text = JSON.stringify({ name: 'Zoë Ørsted — 東京' });
    expect(() => new Webhook(secretA).verify(text, sign([secretA], text))).not.toThrow();
  });

  it('refuses to sign with no secret or a timestamp that is not whole seconds', () => {
    const base = { id: 'msg_1', timestamp: now(), body, secrets: [parseSecret(secretA)] };
    expect(() => signatureHeaders({ ...base, secrets: [] })).toThrow(RangeError);
    expect(() => signatureHeaders({ ...base, timestamp: Date.now() / 1000 })).toThrow(RangeError);
  });
});

describe('parseSecret', () => {
  it('accepts whsec_ and base64, or the base64 alone', () => {
    const key = randomBytes(32);
    expect(parseSecret(`whsec_${key.toString('base64')}`)).toEqual(key);
    expect(parseSecret(key.toString('base64'))).toEqual(key);
    expect(parseSecret(`whsec_${key.toString('base64')}\n`)).toEqual(key);
  });

  it('accepts 24 to 64 bytes', () => {
    for (const size of [24, 64]) {
      expect(parseSecret(`whsec_${randomBytes(size).toString('base64')}`)).toHaveLength(size);
    }
  });

  it.each([
    ['too short', `whsec_${Buffer.from('short-secret-123').toString('base64')}`, /16 bytes/],
    ['too long', `whsec_${randomBytes(65).toString('base64')}`, /65 bytes/],
    ['not base64', 'whsec_not*base64!but-long-enough-to-count-as-a-key', /not base64/],
    ['not base64 (bad padding)', `whsec_${randomBytes(32).toString('base64')}=`, /not base64/],
    ['empty', '', /empty/],
    ['only the prefix', 'whsec_', /empty/],
  ])('refuses a secret that is %s, without repeating it', (_problem, secret, says) => {
    let thrown: unknown;
    try {
      parseSecret(secret);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(WebhookError);
    const error = thrown as WebhookError;
    expect(error.code).toBe('WEBHOOK_SECRET_INVALID');
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(says);
    expect(error.message).toMatch(/whsec_.*base64 of 24 to 64/);
    const encoded = secret.replace(/^whsec_/, '');
    if (encoded !== '') {
      expect(error.message).not.toContain(encoded);
      expect(JSON.stringify(error.toJSON())).not.toContain(encoded);
    }
  });
});

describe('generateSecret', () => {
  it('makes a 32-byte whsec_ secret that parses and signs for the reference verifier', () => {
    const secret = generateSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(parseSecret(secret)).toHaveLength(32);
    expect(generateSecret()).not.toBe(secret);
    expect(() => new Webhook(secret).verify(body, sign([secret]))).not.toThrow();
  });
});
