// The SSRF guard: which endpoint URLs and resolved addresses are refused, and how webhooks.allow lets an
// operator reach an internal one on purpose. Real lookups only ever ask for localhost (no external DNS).
import type { LookupAddress } from 'node:dns';
import { ConfigError } from '@ferry/core';
import { describe, expect, it } from 'vitest';
import {
  type AddressPolicy,
  allowEntryProblem,
  checkEndpoint,
  defaultAddressPolicy,
  guardedLookup,
  isRefusedAddress,
  WebhookError,
} from '../../src/index.js';

function refusal(run: () => void): WebhookError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookError);
    return error as WebhookError;
  }
  throw new Error('expected WEBHOOK_ADDRESS_REFUSED, nothing was thrown');
}

describe('checkEndpoint', () => {
  it.each([
    ['http://127.0.0.1:8080/x', 'loopback'],
    ['http://[::1]/', 'loopback'],
    ['http://169.254.169.254/latest/meta-data', 'link-local (cloud metadata)'],
    ['http://10.0.0.5/', 'private'],
    ['http://192.168.1.1/', 'private'],
    ['http://[::ffff:127.0.0.1]/', 'loopback'],
    ['http://2130706433/', 'loopback'],
    ['http://0.0.0.0/', 'unspecified'],
    ['http://localhost:3000/', 'loopback'],
    ['http://LOCALHOST./', 'loopback'],
    ['http://api.localhost/', 'loopback'],
    ['http://metadata.google.internal/', 'cloud metadata'],
    ['ftp://example.org/', 'scheme ftp:'],
    ['http://user:pw@example.org/', 'credentials in URL'],
    ['not-a-url', 'not a URL'],
  ])('refuses %s (%s)', (url, reason) => {
    const error = refusal(() => checkEndpoint(url, defaultAddressPolicy));
    expect(error.code).toBe('WEBHOOK_ADDRESS_REFUSED');
    expect(error.retryable).toBe(false);
    expect(error.details).toMatchObject({ reason });
    expect(error.details.url).toEqual(expect.any(String));
  });

  it('says how to allow an internal address', () => {
    const error = refusal(() => checkEndpoint('http://127.0.0.1:8080/x', defaultAddressPolicy));
    expect(error.message).toContain('http://127.0.0.1:8080');
    expect(error.message).toContain('add the address to `allow`');
    expect(error.message).toContain('127.0.0.1/32');
  });

  it('keeps a password out of the message and the details', () => {
    const error = refusal(() => checkEndpoint('http://user:hunter2@example.org/', defaultAddressPolicy));
    expect(JSON.stringify(error.toJSON())).not.toContain('hunter2');
  });

  it.each(['https://hooks.example.org/ferry', 'http://93.184.216.34/', 'http://[2606:2800:220:1::1]/'])(
    'accepts %s',
    (url) => {
      expect(() => checkEndpoint(url, defaultAddressPolicy)).not.toThrow();
    },
  );

  it.each([
    ['http://127.0.0.1:8080/x', ['127.0.0.1/32']],
    ['http://[::ffff:127.0.0.1]/', ['127.0.0.0/8']],
    ['http://[::1]/', ['::1/128']],
    ['http://10.1.2.3/', ['10.1.0.0/16']],
    ['http://localhost:3000/', ['localhost']],
    ['http://a.b.example.org/', ['*.example.org']],
  ])('accepts %s when webhooks.allow is %j', (url, allow) => {
    expect(() => checkEndpoint(url, { allow })).not.toThrow();
  });

  it('allows only what the entry covers', () => {
    expect(() => checkEndpoint('http://10.2.0.1/', { allow: ['10.1.0.0/16'] })).toThrow(WebhookError);
    // A wildcard is for subdomains; a CIDR does not vouch for a name refused by name.
    expect(() => checkEndpoint('http://api.localhost/', { allow: ['localhost'] })).toThrow(WebhookError);
    expect(() => checkEndpoint('http://localhost/', { allow: ['127.0.0.0/8'] })).toThrow(WebhookError);
  });
});

describe('isRefusedAddress', () => {
  it.each([
    ['0.1.2.3', 'unspecified'],
    ['10.255.0.1', 'private'],
    ['100.64.0.1', 'shared (carrier-grade NAT)'],
    ['127.1.2.3', 'loopback'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['172.31.255.255', 'private'],
    ['192.0.0.170', 'reserved (IETF protocol assignments)'],
    ['192.168.0.1', 'private'],
    ['198.19.0.1', 'benchmarking'],
    ['224.0.0.1', 'multicast'],
    ['250.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fd12:3456::1', 'private (unique local)'],
    ['fe80::1', 'link-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'link-local (cloud metadata)'],
    ['not an address', 'malformed'],
  ])('refuses %s as %s', (ip, reason) => {
    expect(isRefusedAddress(ip, defaultAddressPolicy)).toBe(reason);
  });

  it.each(['8.8.8.8', '172.32.0.1', '100.128.0.1', '198.20.0.1', '2001:db8::1', '::ffff:93.184.216.34'])(
    'accepts %s',
    (ip) => {
      expect(isRefusedAddress(ip, defaultAddressPolicy)).toBeUndefined();
    },
  );

  it('accepts an address inside an allowed CIDR, and a name entry does not count', () => {
    expect(isRefusedAddress('10.1.9.9', { allow: ['10.1.0.0/16'] })).toBeUndefined();
    expect(isRefusedAddress('10.2.0.1', { allow: ['10.1.0.0/16'] })).toBe('private');
    expect(isRefusedAddress('127.0.0.1', { allow: ['localhost'] })).toBe('loopback');
  });
});

describe('webhooks.allow entries', () => {
  it.each(['10.1.0.0/16', '127.0.0.1/32', '::1/128', '127.0.0.1', 'hooks.example.org', '*.Example.org.'])(
    'accepts %s',
    (entry) => {
      expect(allowEntryProblem(entry)).toBeUndefined();
    },
  );

  it.each(['10.0.0.0/33', '::1/129', 'example.org/16', '10.0.0.0/x', '*', 'foo.*.org', 'two words', ''])(
    'refuses %j',
    (entry) => {
      expect(allowEntryProblem(entry)).toEqual(expect.any(String));
    },
  );

  it('makes the guard throw a ConfigError naming the entry, rather than skip it', () => {
    expect(() => isRefusedAddress('10.0.0.1', { allow: ['hooks.example.org', '10.0.0.0/33'] })).toThrow(
      ConfigError,
    );
    expect(() => guardedLookup({ allow: ['10.0.0.0/33'] })).toThrow(/webhooks\.allow\[0\]/);
  });
});

describe('guardedLookup', () => {
  type Answer = { error: NodeJS.ErrnoException | null; address: string | LookupAddress[]; family?: number };

  function lookup(policy: AddressPolicy, hostname: string, options: { all?: boolean; family?: number }) {
    return new Promise<Answer>((resolve) => {
      guardedLookup(policy)(hostname, options, (error, address, family) => {
        resolve(family === undefined ? { error, address } : { error, address, family });
      });
    });
  }

  it('refuses localhost, which resolves to loopback', async () => {
    const { error } = await lookup(defaultAddressPolicy, 'localhost', {});
    expect(error).toBeInstanceOf(WebhookError);
    const refused = error as WebhookError;
    expect(refused.code).toBe('WEBHOOK_ADDRESS_REFUSED');
    expect(refused.retryable).toBe(false);
    expect(refused.message).toContain('localhost');
    expect(refused.message).toContain('`allow`');
    expect(refused.details).toMatchObject({ host: 'localhost', reason: 'loopback' });
  });

  it('refuses when all addresses are asked for, as net does when it may fall back between them', async () => {
    const { error } = await lookup(defaultAddressPolicy, 'localhost', { all: true });
    expect((error as WebhookError).code).toBe('WEBHOOK_ADDRESS_REFUSED');
  });

  it('resolves localhost to 127.0.0.1 when 127.0.0.0/8 is allowed', async () => {
    const answer = await lookup({ allow: ['127.0.0.0/8'] }, 'localhost', { family: 4 });
    expect(answer).toEqual({ error: null, address: '127.0.0.1', family: 4 });
  });

  it('resolves localhost when the name is allowed, in the shape asked for', async () => {
    const one = await lookup({ allow: ['localhost'] }, 'localhost', {});
    expect(one.error).toBeNull();
    expect(isRefusedAddress(one.address as string, defaultAddressPolicy)).toBe('loopback');
    const all = await lookup({ allow: ['localhost'] }, 'localhost', { all: true });
    expect(all.error).toBeNull();
    expect(all.address).toEqual(
      expect.arrayContaining([expect.objectContaining({ address: expect.any(String) })]),
    );
  });

  it('judges an address handed to it as a name', async () => {
    const { error } = await lookup(defaultAddressPolicy, '127.0.0.1', {});
    expect((error as WebhookError).code).toBe('WEBHOOK_ADDRESS_REFUSED');
  });
});
