import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import type { PushAllow } from '../config/index.js';

/**
 * IPv4 ranges push delivery never reaches in production (IANA special-purpose registry, RFC 6890
 * and after): anything that is this host, this network, someone's private network, a cloud's
 * metadata service, or no single host at all.
 */
const REFUSED_V4: readonly [cidr: string, why: string][] = [
  ['0.0.0.0/8', 'this network (0.0.0.0 reaches this host)'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'shared address space (carrier NAT; a cloud metadata service lives there)'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local (cloud metadata at 169.254.169.254)'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'IETF protocol assignments'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', '6to4 relay anycast (deprecated)'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking (used inside networks, e.g. by proxies)'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved, and 255.255.255.255 broadcast'],
];

/** The IPv6 ones; IPv4-mapped (::ffff:0:0/96) and NAT64 (64:ff9b::/96) addresses follow the IPv4 rules of the address they carry. */
const REFUSED_V6: readonly [cidr: string, why: string][] = [
  ['::/96', 'unspecified (::), loopback (::1) and IPv4-compatible (deprecated)'],
  ['64:ff9b:1::/48', 'local-use NAT64'],
  ['100::/64', 'discard-only'],
  ['2001::/32', 'Teredo (carries an IPv4 address)'],
  ['2001:2::/48', 'benchmarking'],
  ['2001:db8::/32', 'documentation'],
  ['2002::/16', '6to4 (carries an IPv4 address; deprecated)'],
  ['3fff::/20', 'documentation'],
  ['fc00::/7', 'unique local'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local (deprecated)'],
  ['ff00::/8', 'multicast'],
];

/** IPv6 prefixes that carry an IPv4 address in their last 32 bits, which the IPv4 rules judge. */
const V4_CARRIERS = ['::ffff:', '64:ff9b::'];

/** Resolves a host name to every address it has (default: the system resolver, as node's own connect would). */
export type Resolve = (hostname: string) => Promise<readonly { address: string; family: number }[]>;

const systemResolve: Resolve = (hostname) => dnsLookup(hostname, { all: true });

/** Thrown by the policy's lookup: the name resolved to an address push delivery may not reach. */
export class RefusedAddressError extends Error {
  readonly code = 'ERR_PUSH_REFUSED_ADDRESS';
  constructor(readonly hostname: string, readonly address: string) {
    super(`${hostname} resolves to ${address}, which push delivery may not reach`);
  }
}

const bare = (hostname: string) => hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
const family = (address: string) => (isIP(address) === 4 ? 'ipv4' : 'ipv6');

/**
 * Where SSF push delivery may connect in production: no loopback, private, link-local,
 * unique-local, unspecified, multicast or other special-purpose address, in any of its spellings,
 * unless STS_SSF_PUSH_ALLOW opens it. Checked on the endpoint at registration and on every
 * address a name resolves to when delivery connects (`lookup`), so a name that resolves, or
 * later re-resolves, to an internal address is refused too.
 */
export class PushAddressPolicy {
  readonly #refused = new BlockList();
  readonly #allowed = new BlockList();
  readonly #allowedHosts: ReadonlySet<string>;

  constructor(allow: PushAllow, private readonly resolve: Resolve = systemResolve) {
    for (const [cidr] of REFUSED_V4) {
      const [address, prefix] = cidr.split('/') as [string, string];
      this.#refused.addSubnet(address, Number(prefix), 'ipv4');
      for (const carrier of V4_CARRIERS) this.#refused.addSubnet(`${carrier}${address}`, 96 + Number(prefix), 'ipv6');
    }
    for (const [cidr] of REFUSED_V6) {
      const [address, prefix] = cidr.split('/') as [string, string];
      this.#refused.addSubnet(address, Number(prefix), 'ipv6');
    }
    for (const s of allow.subnets) this.#allowed.addSubnet(s.address, s.prefix, s.family);
    this.#allowedHosts = new Set(allow.hosts);
  }

  /** Whether delivery may connect to this IP address. Anything that is not a plain address (a zone id, garbage) is refused. */
  permits(address: string): boolean {
    if (!isIP(address) || address.includes('%')) return false;
    return !this.#refused.check(address, family(address)) || this.#allowed.check(address, family(address));
  }

  /**
   * What is wrong with an endpoint's host (a WHATWG URL hostname, which has already turned
   * `2130706433`, `0x7f.1` or `[::ffff:127.0.0.1]` into one canonical address), judged without
   * resolving it: the address rules for an address, `localhost` names always being loopback.
   */
  hostProblem(hostname: string): string | undefined {
    const host = bare(hostname);
    if (this.#allowedHosts.has(host)) return undefined;
    const refused = isIP(host) ? !this.permits(host) : host === 'localhost' || host.endsWith('.localhost');
    return refused ? 'endpoint must not be a loopback, private, link-local or other internal address (STS_SSF_PUSH_ALLOW lists those allowed)' : undefined;
  }

  /** Every address `hostname` resolves to, if delivery may reach them all (a name on the allow-list is trusted as it resolves). */
  async addresses(hostname: string): Promise<readonly { address: string; family: number }[]> {
    const found = await this.resolve(hostname);
    const refused = this.#allowedHosts.has(bare(hostname)) ? undefined : found.find((a) => !this.permits(a.address));
    if (refused) throw new RefusedAddressError(hostname, refused.address);
    if (!found.length) throw Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' });
    return found;
  }

  /** node's `lookup` for the push request: node connects only to what this returns, so the addresses checked are the ones connected to. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.addresses(hostname).then(
      (found) => (options.all ? callback(null, found.map(({ address, family }) => ({ address, family }))) : callback(null, found[0]!.address, found[0]!.family)),
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}
