/**
 * Rate-limit groups and bucket keys (docs/rate-limits.md#groups-and-buckets). Each bucket is one Durable
 * Object (`idFromName(key)`), so the key decides who shares a quota:
 *
 *   admin:root, admin:key_...            an admin key (root's bucket is `root`)
 *   admin:ip:<net>                        missing or invalid admin keys, per client IP
 *   authorize:root, authorize:key_...     /v1/authorize with a valid admin key
 *   authorize:ip:<net>                    /v1/authorize without one (or with a bad one)
 *   token:app:<app name>:ip:<net>         token endpoints: per app (the tenant) and client IP
 *   token:invites:ip:<net>                invite accept: per client IP
 *
 * Prefixes keep the spaces apart: an admin key id is `root` or `key_...` and
 * never starts with `ip:`, and app names cannot contain `:`. The tenant part
 * is the app name from the path, which is unique for ever and immutable, so
 * choosing the bucket needs no database read.
 */

export type RateLimitGroup = 'admin' | 'token' | 'authorize';

export const RATE_LIMIT_GROUPS: readonly RateLimitGroup[] = ['admin', 'token', 'authorize'];

/** The bucket of an authenticated admin key (`root` or `key_...`). */
export function keyBucket(group: 'admin' | 'authorize', principalId: string): string {
  return `${group}:${principalId}`;
}

/** The bucket of a caller known only by IP (no admin key, or a wrong one). */
export function ipBucket(group: 'admin' | 'authorize', ip: string): string {
  return `${group}:ip:${clientNetwork(ip)}`;
}

/** Token endpoints: per app and client IP. */
export function tokenBucket(appName: string, ip: string): string {
  return `token:app:${appName}:ip:${clientNetwork(ip)}`;
}

/** Invite accept: per client IP (the app is known only after the token is looked up). */
export function inviteBucket(ip: string): string {
  return `token:invites:ip:${clientNetwork(ip)}`;
}

/**
 * The network a client is limited as: an IPv4 address as is, an IPv6 address
 * as its /64. A single IPv6 subscriber usually holds a whole /64, so limiting
 * per address would let one client rotate through 2^64 buckets.
 */
export function clientNetwork(ip: string): string {
  if (!ip.includes(':')) return ip;
  const address = ip.toLowerCase().split('%')[0]!;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address);
  if (mapped) return mapped[1]!;
  const groups = ipv6Groups(address);
  if (!groups) return address;
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, or null when it is not one. */
function ipv6Groups(address: string): string[] | null {
  const halves = address.split('::');
  if (halves.length > 2) return null;
  const split = (part: string | undefined): string[] =>
    // An embedded IPv4 tail (::ffff:1.2.3.4) fills the last two groups; only the /64 matters here.
    part ? part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : [];
  const head = split(halves[0]);
  const tail = split(halves[1]);
  const groups = halves.length === 2
    ? [...head, ...Array<string>(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail]
    : head;
  if (groups.length !== 8 || !groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups;
}
