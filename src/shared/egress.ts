import dns from 'node:dns';
import net from 'node:net';
import { Agent, buildConnector } from 'undici';

/**
 * Where the server may connect on a tenant's behalf (webhook URLs, provider base URLs). Public
 * addresses always; loopback, private, link-local, CGNAT, multicast, reserved and unspecified ones
 * only where the operator listed them. The check runs on the address actually connected to (after
 * DNS, at connect time), so a name that resolves to a private address, or re-resolves to one later
 * (DNS rebinding), is refused as well as a literal one.
 */
export class EgressPolicy {
  private readonly allowed = new net.BlockList();

  /**
   * `allowed`: CIDRs or single addresses the operator opened ("127.0.0.1/32", "10.0.0.0/8",
   * "fd00::/8"), or "private" for every non-public range. `setting` names the variable, for messages.
   */
  constructor(
    allowed: readonly string[],
    readonly setting: string,
  ) {
    for (const entry of allowed) {
      if (entry === 'private') {
        for (const [address, prefix, type] of NON_PUBLIC) this.allowed.addSubnet(address, prefix, type);
        continue;
      }
      const [address, prefix] = parseNetwork(entry);
      const type = net.isIPv6(address) ? 'ipv6' : 'ipv4';
      this.allowed.addSubnet(address, prefix, type);
    }
  }

  /** Whether a connection to this IP address is allowed. */
  allows(address: string): boolean {
    const ip = unbracket(address);
    const family = net.isIP(ip);
    if (family === 0) return false;
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (this.allowed.check(ip, type)) return true;
    const mapped = family === 6 ? embeddedIpv4(ip) : null;
    if (mapped !== null) return this.allows(mapped);
    return !NON_PUBLIC_LIST.check(ip, type);
  }

  /**
   * The check that needs no DNS, for input validation: a URL whose host is an address literal or
   * a `localhost` name must point where the policy allows. Returns the reason when it does not.
   */
  refusesUrl(url: URL): string | null {
    const host = unbracket(url.hostname).toLowerCase();
    if (host === 'localhost' || host.endsWith('.localhost')) {
      return this.allows('127.0.0.1') ? null : this.refusal(host);
    }
    if (net.isIP(host) === 0) return null;
    return this.allows(host) ? null : this.refusal(host);
  }

  private refusal(host: string): string {
    return `${host} is a loopback, private or link-local address, which the operator has not allowed (${this.setting})`;
  }

  /** An undici dispatcher whose every connection goes through the policy. */
  dispatcher(options: Agent.Options = {}): Agent {
    const connect = buildConnector({ lookup: this.lookup });
    const guarded: buildConnector.connector = (opts, callback) => {
      const host = unbracket(opts.hostname);
      if (net.isIP(host) !== 0 && !this.allows(host)) {
        callback(new EgressRefusedError(this.refusal(host)), null);
        return;
      }
      connect(opts, callback);
    };
    return new Agent({ ...options, connect: guarded });
  }

  /** dns.lookup, keeping only allowed addresses; none left is an EgressRefusedError. */
  private readonly lookup = (
    hostname: string,
    options: dns.LookupOptions,
    callback: (
      error: NodeJS.ErrnoException | null,
      address: string | dns.LookupAddress[],
      family?: number,
    ) => void,
  ): void => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const usable = addresses.filter((a) => this.allows(a.address));
      if (usable.length === 0) return callback(new EgressRefusedError(this.refusal(hostname)), []);
      if (options.all) return callback(null, usable);
      callback(null, usable[0]!.address, usable[0]!.family);
    });
  };
}

/** A connection the egress policy refused: the operator's decision, not the far end's failure. */
export class EgressRefusedError extends Error {
  override name = 'EgressRefusedError';
  readonly code = 'EGRESS_REFUSED';
}

/** Every range that is not the public internet (IANA special-purpose registries). */
const NON_PUBLIC: [string, number, 'ipv4' | 'ipv6'][] = [
  ['0.0.0.0', 8, 'ipv4'], // "this network", unspecified
  ['10.0.0.0', 8, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'], // carrier-grade NAT
  ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'], // link-local, cloud metadata (169.254.169.254)
  ['172.16.0.0', 12, 'ipv4'],
  ['192.0.0.0', 24, 'ipv4'],
  ['192.0.2.0', 24, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'],
  ['198.51.100.0', 24, 'ipv4'],
  ['203.0.113.0', 24, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'], // multicast
  ['240.0.0.0', 4, 'ipv4'], // reserved, broadcast
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
  ['100::', 64, 'ipv6'],
  ['2001:db8::', 32, 'ipv6'],
  ['fc00::', 7, 'ipv6'], // unique local
  ['fe80::', 10, 'ipv6'], // link-local
  ['ff00::', 8, 'ipv6'], // multicast
];
const NON_PUBLIC_LIST = new net.BlockList();
for (const [address, prefix, type] of NON_PUBLIC) NON_PUBLIC_LIST.addSubnet(address, prefix, type);

/** The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible or NAT64 IPv6 address. */
function embeddedIpv4(ip: string): string | null {
  const lower = ip.toLowerCase();
  const dotted = /^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1]!;
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return null;
  const high = parseInt(hex[1]!, 16);
  const low = parseInt(hex[2]!, 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** "10.0.0.0/8" or a bare address (a /32 or /128); throws on anything else. */
export function parseNetwork(entry: string): [string, number] {
  const [address = '', bits] = entry.split('/');
  const family = net.isIP(address);
  if (family === 0) throw new Error(`"${entry}" is not an IP address or CIDR network`);
  const max = family === 6 ? 128 : 32;
  if (bits === undefined) return [address, max];
  const prefix = Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) {
    throw new Error(`"${entry}" has a prefix length outside 0-${max}`);
  }
  return [address, prefix];
}
