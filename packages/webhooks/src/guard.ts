// The SSRF guard: a subscriber's URL must not turn Ferry into a way into its own network (loopback, private
// ranges, the cloud metadata service) unless the operator allowed that address or name in webhooks.allow.
// checkEndpoint judges a URL when it is configured; guardedLookup judges every address a name resolves to
// when a connection is made, so a public name that later resolves to 127.0.0.1 (DNS rebinding) is refused.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { domainToASCII } from 'node:url';
import { ConfigError, type ConfigIssue } from '@ferry/core';
import { WebhookError } from './errors.js';

export interface AddressPolicy {
  /**
   * What may be reached although it is refused by default: CIDRs (`10.1.0.0/16`, `127.0.0.1/32`,
   * `::1/128`; a bare address counts as a single host) and host names, exact (`hooks.example.org`) or
   * `*.example.org` for any subdomain of it. A name entry trusts whatever that name resolves to.
   */
  allow: readonly string[];
}

/** Nothing internal may be reached. */
export const defaultAddressPolicy: AddressPolicy = Object.freeze({ allow: Object.freeze([]) });

const HOW_TO_ALLOW = 'add the address to `allow`';

// Ranges no webhook should reach by default, with the reason a message gives. More specific ranges come
// first where they overlap (the broadcast address inside 240/4), so the reason is the most precise one.
const REFUSED_RANGES: ReadonlyArray<readonly [reason: string, cidr: string]> = [
  ['unspecified', '0.0.0.0/8'],
  ['private', '10.0.0.0/8'],
  ['shared (carrier-grade NAT)', '100.64.0.0/10'],
  ['loopback', '127.0.0.0/8'],
  ['link-local (cloud metadata)', '169.254.0.0/16'],
  ['private', '172.16.0.0/12'],
  ['reserved (IETF protocol assignments)', '192.0.0.0/24'],
  ['private', '192.168.0.0/16'],
  ['benchmarking', '198.18.0.0/15'],
  ['multicast', '224.0.0.0/4'],
  ['broadcast', '255.255.255.255/32'],
  ['reserved', '240.0.0.0/4'],
  ['unspecified', '::/128'],
  ['loopback', '::1/128'],
  ['private (unique local)', 'fc00::/7'],
  ['link-local', 'fe80::/10'],
  ['multicast', 'ff00::/8'],
];

// One list per reason, so a match can say why. BlockList judges an IPv4-mapped IPv6 address
// (`::ffff:127.0.0.1`, `::ffff:7f00:1`) by the IPv4 rules, so the mapped form cannot slip past them.
// Built on first use rather than at import.
let refusedLists: ReadonlyMap<string, BlockList> | undefined;

function refusedRanges(): ReadonlyMap<string, BlockList> {
  if (refusedLists !== undefined) return refusedLists;
  const lists = new Map<string, BlockList>();
  for (const [reason, cidr] of REFUSED_RANGES) {
    const [address = '', prefix = ''] = cidr.split('/');
    let list = lists.get(reason);
    if (list === undefined) {
      list = new BlockList();
      lists.set(reason, list);
    }
    list.addSubnet(address, Number(prefix), isIP(address) === 4 ? 'ipv4' : 'ipv6');
  }
  refusedLists = lists;
  return lists;
}

// Names that reach the machine itself or the cloud metadata service without any DNS lookup we could judge
// (resolvers answer them locally, or a platform's own resolver does).
const REFUSED_NAMES: ReadonlyMap<string, string> = new Map([
  ['localhost', 'loopback'],
  ['metadata.google.internal', 'cloud metadata'],
  ['metadata', 'cloud metadata'],
  ['instance-data', 'cloud metadata'],
]);

/**
 * Refuses an endpoint URL that cannot be posted to safely, before anything is sent: not a URL, not http or
 * https, a user name or password in it, a literal address in a refused range, or a refused name
 * (`localhost`, `*.localhost`, the cloud metadata names), unless `policy.allow` allows it. A name that
 * passes here is judged again by guardedLookup on every connection.
 */
export function checkEndpoint(url: string, policy: AddressPolicy): void {
  const compiled = compile(policy);
  if (!URL.canParse(url)) {
    const shown = url.replace(/\/\/[^/@]*@/, '//***@');
    throw refused(
      `webhook endpoint "${shown}" is not a URL; write it as https://host/path`,
      shown,
      'not a URL',
    );
  }
  const parsed = new URL(url);
  const shown = redact(parsed);
  const where = `${parsed.protocol}//${parsed.host}`;
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw refused(
      `webhook endpoint ${where} uses ${parsed.protocol.slice(0, -1)}; only http and https endpoints are posted to`,
      shown,
      `scheme ${parsed.protocol}`,
    );
  }
  if (parsed.username !== '' || parsed.password !== '') {
    // Credentials in the URL would end up in logs and dead letters; the signature is what authenticates a
    // delivery.
    throw refused(
      `webhook endpoint ${where} has a user name or password in its URL; remove them (receivers authenticate deliveries by their signature)`,
      shown,
      'credentials in URL',
    );
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(host) !== 0) {
    // The connection goes straight to a literal address, with no lookup to judge it later.
    const reason = refusedAddress(host, compiled);
    if (reason !== undefined) {
      throw refused(
        `webhook endpoint ${where} is a ${reason} address, which webhooks may not reach; if it is meant, ${HOW_TO_ALLOW} (as "${host}/${isIP(host) === 4 ? 32 : 128}")`,
        shown,
        reason,
        { host },
      );
    }
    return;
  }
  const name = normaliseName(host);
  const reason = refusedName(name);
  if (reason !== undefined && !nameAllowed(name, compiled)) {
    throw refused(
      `webhook endpoint ${where} names a ${reason} host, which webhooks may not reach; if it is meant, add the name "${name}" to \`allow\``,
      shown,
      reason,
      { host: name },
    );
  }
}

/**
 * Why `ip` may not be reached (`loopback`, `private`, `link-local (cloud metadata)`, …), or undefined when
 * it may: outside the refused ranges, or inside a CIDR of `policy.allow`. Text that is not an IP address is
 * refused as `malformed`.
 */
export function isRefusedAddress(ip: string, policy: AddressPolicy): string | undefined {
  return refusedAddress(ip, compile(policy));
}

/**
 * A node:dns `lookup` for undici's `connect.lookup` (and node:net) that resolves as usual, then refuses
 * the connection with WEBHOOK_ADDRESS_REFUSED if any address the name resolves to is refused, unless the
 * name itself is allowed by a name entry of `policy.allow`. Every address is judged, not only the one
 * connected to, because a client that falls back to the next address would otherwise reach it.
 */
export function guardedLookup(policy: AddressPolicy): LookupFunction {
  const compiled = compile(policy);
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) {
        callback(error, '');
        return;
      }
      const name = normaliseName(hostname);
      if (!nameAllowed(name, compiled)) {
        for (const { address, family } of addresses) {
          const reason = refusedAddress(address, compiled);
          if (reason !== undefined) {
            callback(
              new WebhookError(
                'WEBHOOK_ADDRESS_REFUSED',
                `webhook host ${hostname} resolves to ${address}, a ${reason} address, which webhooks may not reach; if it is meant, ${HOW_TO_ALLOW} (as "${address}/${family === 4 ? 32 : 128}") or the name "${name}"`,
                { retryable: false, details: { host: hostname, address, reason } },
              ),
              '',
            );
            return;
          }
        }
      }
      if (options.all === true) {
        callback(null, addresses);
        return;
      }
      const first = addresses[0];
      if (first === undefined) {
        // getaddrinfo reports "not found" itself; this only keeps an empty answer from reading as success.
        callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '');
        return;
      }
      callback(null, first.address, first.family);
    });
  };
}

/**
 * What is wrong with one entry of webhooks.allow, or undefined if it is usable: a CIDR, a single address,
 * an exact host name or `*.` and a host name. For a config schema to report it where it was written.
 */
export function allowEntryProblem(entry: string): string | undefined {
  const parsed = parseAllowEntry(entry);
  return parsed.kind === 'problem' ? parsed.problem : undefined;
}

interface CompiledPolicy {
  allowed: BlockList;
  names: ReadonlySet<string>;
  /** From `*.example.org` entries, kept as `.example.org`. */
  suffixes: readonly string[];
}

type AllowEntry =
  | { kind: 'subnet'; address: string; prefix: number; type: 'ipv4' | 'ipv6' }
  | { kind: 'name'; name: string }
  | { kind: 'suffix'; suffix: string }
  | { kind: 'problem'; problem: string };

// A policy is read on every connection; build its lists once per policy object.
const compiledPolicies = new WeakMap<AddressPolicy, CompiledPolicy>();

function compile(policy: AddressPolicy): CompiledPolicy {
  const cached = compiledPolicies.get(policy);
  if (cached !== undefined) return cached;
  const allowed = new BlockList();
  const names = new Set<string>();
  const suffixes: string[] = [];
  // An entry that cannot be used is refused rather than skipped: skipping would refuse what the operator
  // meant to allow (or, worse, a typo in a CIDR would go unnoticed).
  const issues: ConfigIssue[] = [];
  for (const [index, text] of policy.allow.entries()) {
    const entry = parseAllowEntry(text);
    if (entry.kind === 'subnet') allowed.addSubnet(entry.address, entry.prefix, entry.type);
    else if (entry.kind === 'name') names.add(entry.name);
    else if (entry.kind === 'suffix') suffixes.push(entry.suffix);
    else issues.push({ path: `webhooks.allow[${index}]`, message: entry.problem });
  }
  if (issues.length > 0) throw new ConfigError(undefined, issues);
  const compiled = { allowed, names, suffixes };
  compiledPolicies.set(policy, compiled);
  return compiled;
}

function parseAllowEntry(text: string): AllowEntry {
  const entry = text.trim();
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const family = isIP(address);
  if (slash !== -1 || family !== 0) {
    if (family === 0) {
      return { kind: 'problem', problem: `"${text}" is not a CIDR: "${address}" is not an IP address` };
    }
    const max = family === 4 ? 32 : 128;
    const prefixText = slash === -1 ? String(max) : entry.slice(slash + 1);
    const prefix = Number(prefixText);
    if (!/^\d{1,3}$/.test(prefixText) || prefix > max) {
      return {
        kind: 'problem',
        problem: `"${text}" is not a CIDR: the prefix length must be a whole number from 0 to ${max}`,
      };
    }
    return { kind: 'subnet', address, prefix, type: family === 4 ? 'ipv4' : 'ipv6' };
  }
  const wildcard = entry.startsWith('*.');
  const name = normaliseName(domainToASCII(wildcard ? entry.slice(2) : entry));
  if (!isHostName(name)) {
    return {
      kind: 'problem',
      problem: `"${text}" is neither a CIDR (10.1.0.0/16, ::1/128) nor a host name (hooks.example.org, *.example.org)`,
    };
  }
  return wildcard ? { kind: 'suffix', suffix: `.${name}` } : { kind: 'name', name };
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

function isHostName(name: string): boolean {
  return name !== '' && name.length <= 253 && name.split('.').every((label) => LABEL.test(label));
}

/** Host names compare in lower case and without the trailing dot of a fully qualified name. */
function normaliseName(name: string): string {
  return name.toLowerCase().replace(/\.+$/, '');
}

function nameAllowed(name: string, policy: CompiledPolicy): boolean {
  return policy.names.has(name) || policy.suffixes.some((suffix) => name.endsWith(suffix));
}

function refusedName(name: string): string | undefined {
  return REFUSED_NAMES.get(name) ?? (name.endsWith('.localhost') ? 'loopback' : undefined);
}

function refusedAddress(ip: string, policy: CompiledPolicy): string | undefined {
  const family = isIP(ip);
  if (family === 0) return 'malformed';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (policy.allowed.check(ip, type)) return undefined;
  for (const [reason, list] of refusedRanges()) {
    if (list.check(ip, type)) return reason;
  }
  return undefined;
}

/** The URL as it may be logged: any user name and password replaced. */
function redact(url: URL): string {
  if (url.username === '' && url.password === '') return url.href;
  const copy = new URL(url.href);
  if (copy.username !== '') copy.username = '***';
  if (copy.password !== '') copy.password = '***';
  return copy.href;
}

function refused(
  message: string,
  url: string,
  reason: string,
  extra: Record<string, unknown> = {},
): WebhookError {
  return new WebhookError('WEBHOOK_ADDRESS_REFUSED', message, {
    retryable: false,
    details: { url, reason, ...extra },
  });
}
