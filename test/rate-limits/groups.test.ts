/**
 * The token and authorize groups (docs/rate-limits.md#groups-and-buckets): limits 6 and 7 in this
 * project, so each answer's X-RateLimit-Limit names its group.
 *
 * The token endpoints, invite accept and /v1/authorize are not built yet, but
 * their limiters are registered on their paths, so these tests check the
 * buckets through HTTP already; they assert "not refused by the limiter"
 * rather than a route's own status, which will change when the routes land.
 */
import { describe, expect, it } from 'vitest';
import { expectError } from '../helpers';
import { LIMITS, call, freshWindow, insertKey, rateLimitOf, uniqueIp } from './helpers';

describe('the token group', () => {
  it('limits the token endpoints per app and client IP, all three routes in one bucket', async () => {
    const ip = uniqueIp();
    const reset = await freshWindow();
    const paths = ['/v1/apps/acme-corp/tokens', '/v1/apps/acme-corp/tokens/refresh', '/v1/apps/acme-corp/tokens/revoke'];
    for (let i = 0; i < LIMITS.token; i++) {
      const res = await call('POST', paths[i % 3]!, { ip, body: {} });
      expect(res.status).not.toBe(429);
      expect(rateLimitOf(res)).toEqual({ limit: LIMITS.token, remaining: LIMITS.token - 1 - i, reset, retryAfter: null });
    }
    const refused = await call('POST', paths[0]!, { ip, body: {} });
    expectError(refused, 429, 'RATE_LIMITED');
    expect(rateLimitOf(refused)).toMatchObject({ limit: LIMITS.token, remaining: 0, reset });
    expect(refused.headers.get('Retry-After')).toMatch(/^[1-9]\d*$/);

    // Another app from the same IP, and the same app from another IP: fresh buckets.
    expect(rateLimitOf(await call('POST', '/v1/apps/beta-corp/tokens', { ip, body: {} })).remaining).toBe(LIMITS.token - 1);
    expect(rateLimitOf(await call('POST', paths[0]!, { ip: uniqueIp(), body: {} })).remaining).toBe(LIMITS.token - 1);
  });

  it('takes no admin key: the token routes are outside the admin group', async () => {
    const { key } = await insertKey();
    const ip = uniqueIp();
    await freshWindow();
    const withKey = await call('POST', '/v1/apps/acme-corp/tokens', { key, ip, body: {} });
    expect(withKey.status).not.toBe(401);
    expect(rateLimitOf(withKey).limit).toBe(LIMITS.token);
    // The key's admin bucket was not spent.
    expect(rateLimitOf(await call('GET', '/v1/apps', { key, ip })).remaining).toBe(LIMITS.admin - 1);
  });

  it('limits invite accept per client IP, whatever the invite token', async () => {
    const ip = uniqueIp();
    await freshWindow();
    for (let i = 0; i < LIMITS.token; i++) {
      const res = await call('POST', `/v1/invites/inv_tok_guess${i}/accept`, { ip, body: {} });
      expect(rateLimitOf(res)).toMatchObject({ limit: LIMITS.token, remaining: LIMITS.token - 1 - i });
    }
    expectError(await call('POST', '/v1/invites/inv_tok_another/accept', { ip, body: {} }), 429, 'RATE_LIMITED');
    // Invite accept and the token endpoints of an app do not share a bucket.
    expect(rateLimitOf(await call('POST', '/v1/apps/acme-corp/tokens', { ip, body: {} })).remaining).toBe(LIMITS.token - 1);
  });
});

describe('the authorize group', () => {
  it('limits per admin key when one is sent, apart from that key\'s admin bucket', async () => {
    const { key } = await insertKey();
    const ip = uniqueIp();
    const reset = await freshWindow();
    for (let i = 0; i < LIMITS.admin; i++) await call('GET', '/v1/apps', { key, ip });
    expectError(await call('GET', '/v1/apps', { key, ip }), 429, 'RATE_LIMITED');

    for (let i = 0; i < LIMITS.authorize; i++) {
      const res = await call('POST', '/v1/authorize', { key, ip, body: {} });
      expect(res.status).not.toBe(429);
      expect(rateLimitOf(res)).toEqual({ limit: LIMITS.authorize, remaining: LIMITS.authorize - 1 - i, reset, retryAfter: null });
    }
    expectError(await call('POST', '/v1/authorize', { key, ip, body: {} }), 429, 'RATE_LIMITED');
    // The same IP without a key is a different bucket, and so is another key.
    expect(rateLimitOf(await call('POST', '/v1/authorize', { ip, body: {} })).remaining).toBe(LIMITS.authorize - 1);
    const other = await insertKey();
    expect(rateLimitOf(await call('POST', '/v1/authorize', { key: other.key, ip, body: {} })).remaining).toBe(LIMITS.authorize - 1);
  });

  it('limits callers without a key per client IP, and refuses a bad key with 401 in that same bucket', async () => {
    const ip = uniqueIp();
    await freshWindow();
    const anonymous = await call('POST', '/v1/authorize', { ip, body: {} });
    expect(anonymous.status).not.toBe(401);
    expect(rateLimitOf(anonymous)).toMatchObject({ limit: LIMITS.authorize, remaining: LIMITS.authorize - 1 });

    const badKey = await call('POST', '/v1/authorize', { key: 'hk_0000000000AAAAAAAAAAAAAAAAAAAAAAAAAA', ip, body: {} });
    expectError(badKey, 401, 'UNAUTHORIZED');
    expect(rateLimitOf(badKey)).toMatchObject({ limit: LIMITS.authorize, remaining: LIMITS.authorize - 2 });

    const malformed = await call('POST', '/v1/authorize', { ip, body: {}, headers: { Authorization: 'Basic abc' } });
    expectError(malformed, 401, 'UNAUTHORIZED');
    expect(rateLimitOf(malformed).remaining).toBe(LIMITS.authorize - 3);
  });

  it('accepts a read-only key', async () => {
    const { key } = await insertKey({ readOnly: true });
    await freshWindow();
    const res = await call('POST', '/v1/authorize', { key, ip: uniqueIp(), body: {} });
    expect([401, 403, 429]).not.toContain(res.status);
    expect(rateLimitOf(res).remaining).toBe(LIMITS.authorize - 1);
  });
});

describe('every limited group under concurrency', () => {
  it.each([
    ['token', '/v1/apps/acme-corp/tokens', LIMITS.token],
    ['token (invite accept)', '/v1/invites/inv_tok_race/accept', LIMITS.token],
    ['authorize', '/v1/authorize', LIMITS.authorize],
  ])('%s: requests racing in a fresh window admit exactly the limit, each Remaining value once', async (_group, path, limit) => {
    const ip = uniqueIp();
    await freshWindow();
    const results = await Promise.all(Array.from({ length: limit + 5 }, () => call('POST', path, { ip, body: {} })));
    const admitted = results.filter((r) => r.status !== 429);
    expect(admitted).toHaveLength(limit);
    for (const refused of results.filter((r) => r.status === 429)) expectError(refused, 429, 'RATE_LIMITED');
    expect(admitted.map((r) => rateLimitOf(r).remaining).sort((a, b) => a - b)).toEqual(Array.from({ length: limit }, (_, i) => i));
  });
});
