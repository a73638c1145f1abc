/**
 * The pure parts of rate limiting: the Durable Object's decision, the
 * isolate's lease spending, and bucket keys. Time is a parameter throughout.
 */
import { describe, expect, it } from 'vitest';
import { LeaseCache } from '../src/rate-limit/lease-cache';
import { clientNetwork, inviteBucket, ipBucket, keyBucket, tokenBucket } from '../src/rate-limit/buckets';
import { grantLease, leaseSize, windowAt, type BucketState, type LeaseGrant, type RateLimitRule } from '../src/rate-limit/policy';

const T0 = Date.UTC(2026, 1, 20, 10, 0, 0); // a minute boundary
const T0S = T0 / 1000;

describe('lease slices', () => {
  it.each([
    [1, 1],
    [5, 1],
    [19, 1],
    [20, 1],
    [39, 1],
    [40, 2],
    [100, 5],
    [300, 15],
    [1000, 50],
    [1_000_000, 50_000],
  ])('a limit of %i leases at most %i unit(s) at a time: 5%, at least 1', (limit, size) => {
    expect(leaseSize(limit)).toBe(size);
    expect(size).toBeLessThanOrEqual(Math.max(1, limit * 0.05));
  });
});

describe('fixed windows', () => {
  it.each([
    [T0, 60, T0S, T0S + 60],
    [T0 + 59_999, 60, T0S, T0S + 60],
    [T0 + 60_000, 60, T0S + 60, T0S + 120],
    [T0 + 1_500, 2, T0S, T0S + 2],
    [T0 + 2_000, 2, T0S + 2, T0S + 4],
  ])('at %i ms a %i-second window is [%i, %i)', (now, seconds, start, end) => {
    expect(windowAt(now, seconds)).toEqual({ start, end });
  });
});

describe('the Durable Object decision', () => {
  const rule: RateLimitRule = { limit: 100, windowSeconds: 60 };

  it.each<[string, BucketState | undefined, RateLimitRule, number, Partial<LeaseGrant>, boolean]>([
    ['a fresh bucket opens the current window and grants one slice', undefined, rule, T0 + 5_000,
      { units: 5, granted: 5, windowStart: T0S, windowEnd: T0S + 60 }, true],
    ['a live window grants the next slice', { windowStart: T0S, windowEnd: T0S + 60, granted: 5 }, rule, T0 + 10_000,
      { units: 5, granted: 10 }, false],
    ['the last slice is cut to what is left', { windowStart: T0S, windowEnd: T0S + 60, granted: 98 }, rule, T0 + 10_000,
      { units: 2, granted: 100 }, false],
    ['a spent window grants nothing', { windowStart: T0S, windowEnd: T0S + 60, granted: 100 }, rule, T0 + 59_999,
      { units: 0, granted: 100 }, false],
    ['a window that has ended is replaced by the current one', { windowStart: T0S, windowEnd: T0S + 60, granted: 100 }, rule, T0 + 60_000,
      { units: 5, granted: 5, windowStart: T0S + 60, windowEnd: T0S + 120 }, true],
    ['a clock stepping backwards keeps counting in the live window', { windowStart: T0S, windowEnd: T0S + 60, granted: 100 }, rule, T0 - 30_000,
      { units: 0, granted: 100, windowStart: T0S }, false],
    ['a limit lowered mid-window below the total grants nothing', { windowStart: T0S, windowEnd: T0S + 60, granted: 50 }, { limit: 20, windowSeconds: 60 }, T0 + 1_000,
      { units: 0, granted: 50, limit: 20 }, false],
    ['a limit of 5 leases one unit at a time', { windowStart: T0S, windowEnd: T0S + 60, granted: 4 }, { limit: 5, windowSeconds: 60 }, T0 + 1_000,
      { units: 1, granted: 5 }, false],
  ])('%s', (_name, state, r, now, expected, newWindow) => {
    const before = state ? { ...state } : undefined;
    const result = grantLease(state, r, now);
    expect(result.grant).toMatchObject({ limit: r.limit, ...expected });
    expect(result.newWindow).toBe(newWindow);
    expect(result.state).toEqual({ windowStart: result.grant.windowStart, windowEnd: result.grant.windowEnd, granted: result.grant.granted });
    expect(state).toEqual(before); // pure: the input is not touched
  });

  it('never grants more than the limit in a window, however often it is asked', () => {
    for (const limit of [1, 5, 7, 100, 1000]) {
      let state: BucketState | undefined;
      let total = 0;
      for (let i = 0; i < limit + 50; i++) {
        const result = grantLease(state, { limit, windowSeconds: 60 }, T0 + i);
        state = result.state;
        total += result.grant.units;
        expect(result.grant.units).toBeLessThanOrEqual(leaseSize(limit));
      }
      expect(total).toBe(limit);
    }
  });

  it.each([{ limit: 0, windowSeconds: 60 }, { limit: 1.5, windowSeconds: 60 }, { limit: 10, windowSeconds: 0 }])('refuses the nonsensical rule %j', (bad) => {
    expect(() => grantLease(undefined, bad, T0)).toThrow(RangeError);
  });
});

/** A bucket Durable Object in memory: the real decision, a counter of calls, and a controllable clock. */
function fakeBucket(rule: RateLimitRule) {
  let state: BucketState | undefined;
  const bucket = {
    calls: 0,
    now: T0 + 1_000,
    async lease(): Promise<LeaseGrant> {
      bucket.calls += 1;
      await Promise.resolve(); // a remote call: other requests run meanwhile
      const result = grantLease(state, rule, bucket.now);
      state = result.state;
      return result.grant;
    },
  };
  return bucket;
}

describe('spending leases in an isolate', () => {
  it('with one isolate, admits exactly the limit and counts Remaining down by one each time', async () => {
    const rule = { limit: 100, windowSeconds: 60 };
    const bucket = fakeBucket(rule);
    const cache = new LeaseCache();
    const answers = [];
    for (let i = 0; i < 110; i++) answers.push(await cache.take('b', rule, () => bucket.now, bucket.lease));
    const allowed = answers.filter((a) => a.allowed);
    expect(allowed).toHaveLength(100);
    expect(allowed.map((a) => a.remaining)).toEqual(Array.from({ length: 100 }, (_, i) => 99 - i));
    expect(answers.slice(100).every((a) => !a.allowed && a.remaining === 0)).toBe(true);
    // One call per slice of 5, and none once the window is known to be spent.
    expect(bucket.calls).toBe(20);
    expect(answers[0]).toMatchObject({ limit: 100, resetAt: T0S + 60, retryAfter: 59 });
  });

  it('coalesces concurrent requests into one call per slice and still admits exactly the limit', async () => {
    const rule = { limit: 100, windowSeconds: 60 };
    const bucket = fakeBucket(rule);
    const cache = new LeaseCache();
    const answers = await Promise.all(Array.from({ length: 150 }, () => cache.take('b', rule, () => bucket.now, bucket.lease)));
    const allowed = answers.filter((a) => a.allowed);
    expect(allowed).toHaveLength(100);
    expect(allowed.map((a) => a.remaining).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(bucket.calls).toBeLessThanOrEqual(21);
  });

  it('makes at most one remote call per request, even with a limit of 5 and ten at once', async () => {
    const rule = { limit: 5, windowSeconds: 60 };
    const bucket = fakeBucket(rule);
    const cache = new LeaseCache();
    const answers = await Promise.all(Array.from({ length: 10 }, () => cache.take('b', rule, () => bucket.now, bucket.lease)));
    expect(answers.filter((a) => a.allowed)).toHaveLength(5);
    expect(answers.filter((a) => a.allowed).map((a) => a.remaining).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(bucket.calls).toBeLessThanOrEqual(10);
  });

  it('never admits more than the limit across several isolates, whatever the interleaving', async () => {
    const rule = { limit: 100, windowSeconds: 60 };
    const bucket = fakeBucket(rule);
    const caches = Array.from({ length: 7 }, () => new LeaseCache());
    const answers = await Promise.all(
      Array.from({ length: 400 }, (_, i) => caches[(i * 5) % 7]!.take('b', rule, () => bucket.now, bucket.lease)),
    );
    const allowed = answers.filter((a) => a.allowed).length;
    expect(allowed).toBeLessThanOrEqual(100);
    // Refused early by at most the slices stranded in other isolates (one slice each).
    expect(allowed).toBeGreaterThanOrEqual(100 - 6 * leaseSize(100));
  });

  it('drops a lease when its window ends and asks for one in the new window', async () => {
    const rule = { limit: 5, windowSeconds: 60 };
    const bucket = fakeBucket(rule);
    const cache = new LeaseCache();
    for (let i = 0; i < 5; i++) expect((await cache.take('b', rule, () => bucket.now, bucket.lease)).allowed).toBe(true);
    const refused = await cache.take('b', rule, () => bucket.now, bucket.lease);
    expect(refused).toMatchObject({ allowed: false, remaining: 0, resetAt: T0S + 60, retryAfter: 59 });
    bucket.now = T0 + 60_000;
    expect(await cache.take('b', rule, () => bucket.now, bucket.lease)).toMatchObject({ allowed: true, remaining: 4, resetAt: T0S + 120 });
  });

  it('gives Retry-After of at least one second, consistent with the reset', async () => {
    const rule = { limit: 1, windowSeconds: 60 };
    const bucket = fakeBucket(rule);
    const cache = new LeaseCache();
    await cache.take('b', rule, () => bucket.now, bucket.lease);
    bucket.now = T0 + 59_900;
    const refused = await cache.take('b', rule, () => bucket.now, bucket.lease);
    expect(refused).toMatchObject({ allowed: false, resetAt: T0S + 60, retryAfter: 1 });
  });

  it('keeps buckets apart', async () => {
    const rule = { limit: 1, windowSeconds: 60 };
    const a = fakeBucket(rule);
    const b = fakeBucket(rule);
    const cache = new LeaseCache();
    expect((await cache.take('a', rule, () => a.now, a.lease)).allowed).toBe(true);
    expect((await cache.take('a', rule, () => a.now, a.lease)).allowed).toBe(false);
    expect((await cache.take('b', rule, () => b.now, b.lease)).allowed).toBe(true);
  });

  it('fails every waiting request when the remote call fails, and retries on the next request', async () => {
    const rule = { limit: 100, windowSeconds: 60 };
    const cache = new LeaseCache();
    let calls = 0;
    const broken = async (): Promise<LeaseGrant> => {
      calls += 1;
      await Promise.resolve();
      throw new Error('Durable Object unreachable');
    };
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => cache.take('b', rule, () => T0, broken)));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(calls).toBe(1);
    await expect(cache.take('b', rule, () => T0, broken)).rejects.toThrow();
    expect(calls).toBe(2);
  });

  it('stays bounded in memory: sweeping a live lease only forfeits its units', async () => {
    const rule = { limit: 1000, windowSeconds: 60 };
    const cache = new LeaseCache({ maxBuckets: 3 });
    const buckets = new Map<string, ReturnType<typeof fakeBucket>>();
    const take = (name: string) => {
      if (!buckets.has(name)) buckets.set(name, fakeBucket(rule));
      const bucket = buckets.get(name)!;
      return cache.take(name, rule, () => bucket.now, bucket.lease);
    };
    for (const name of ['a', 'b', 'c', 'd', 'e']) await take(name);
    expect(cache.size).toBeLessThanOrEqual(3);
    // 'a' was swept: it asks its bucket again, which counts the forfeited units as spent.
    expect(await take('a')).toMatchObject({ allowed: true, remaining: 1000 - 100 + 49 });
  });
});

describe('bucket keys', () => {
  it.each([
    [keyBucket('admin', 'root'), 'admin:root'],
    [keyBucket('admin', 'key_01HQ3KXFG6AAAAAAAAAAAAAAAA'), 'admin:key_01HQ3KXFG6AAAAAAAAAAAAAAAA'],
    [ipBucket('admin', '203.0.113.42'), 'admin:ip:203.0.113.42'],
    [keyBucket('authorize', 'root'), 'authorize:root'],
    [ipBucket('authorize', '203.0.113.42'), 'authorize:ip:203.0.113.42'],
    [tokenBucket('acme-corp', '203.0.113.42'), 'token:app:acme-corp:ip:203.0.113.42'],
    [inviteBucket('203.0.113.42'), 'token:invites:ip:203.0.113.42'],
  ])('%s', (key, expected) => {
    expect(key).toBe(expected);
  });

  it('never lets one group, tenant or caller share another\'s bucket', () => {
    const keys = [
      keyBucket('admin', 'root'), keyBucket('authorize', 'root'), ipBucket('admin', '1.2.3.4'), ipBucket('authorize', '1.2.3.4'),
      tokenBucket('acme', '1.2.3.4'), tokenBucket('beta', '1.2.3.4'), tokenBucket('invites', '1.2.3.4'), inviteBucket('1.2.3.4'),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });

  it.each([
    ['203.0.113.42', '203.0.113.42'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['::ffff:198.51.100.7', '198.51.100.7'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['unknown', 'unknown'],
    ['not:an:address', 'not:an:address'],
  ])('limits %s as %s', (ip, network) => {
    expect(clientNetwork(ip)).toBe(network);
  });
});
