/**
 * The admin rate limit (docs/rate-limits.md) through HTTP, against the real
 * RateLimiter Durable Objects: limit 5 per 2-second window in this project.
 */
import { env, runDurableObjectAlarm, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import { expectError, uniqueName } from '../helpers';
import { LIMITS, WINDOW_SECONDS, call, freshWindow, insertApp, insertKey, rateLimitOf, setClock, uniqueIp } from './helpers';

const LIMIT = LIMITS.admin;

describe('the admin rate limit', () => {
  it('counts Remaining down exactly to 0, then answers 429 with Retry-After consistent with Reset', async () => {
    const { key } = await insertKey();
    const reset = await freshWindow();
    for (let i = 1; i <= LIMIT; i++) {
      const res = await call('GET', '/v1/apps', { key });
      expect(res.status).toBe(200);
      expect(rateLimitOf(res)).toEqual({ limit: LIMIT, remaining: LIMIT - i, reset, retryAfter: null });
    }
    const refused = await call('GET', '/v1/apps', { key });
    const error = expectError(refused, 429, 'RATE_LIMITED');
    expect(error.message).toMatch(/retry/);
    const view = rateLimitOf(refused);
    expect(view).toMatchObject({ limit: LIMIT, remaining: 0, reset });
    // Retry-After is the wait until Reset, in whole seconds, at least 1.
    const now = Date.now() / 1000;
    expect(view.retryAfter).toBeGreaterThanOrEqual(1);
    expect(view.retryAfter).toBeLessThanOrEqual(WINDOW_SECONDS);
    expect(view.retryAfter).toBe(Math.max(1, Math.ceil(reset - now)));
    expect(refused.headers.get('X-Content-Type-Options')).toBe('nosniff');
  });

  it('puts the headers on every answer of an admin route, and each answer spends the bucket: 2xx, 400, 404, 405, 413', async () => {
    const target = await insertApp();
    const { key } = await insertKey();
    const reset = await freshWindow();
    const answers = [
      await call('GET', `/v1/apps/${target.name}`, { key }),
      await call('GET', '/v1/apps?limit=0', { key }),
      await call('GET', '/v1/apps/no-such-app', { key }),
      await call('PUT', `/v1/apps/${target.name}`, { key, body: {} }),
      await call('POST', '/v1/apps', { key, raw: JSON.stringify({ name: uniqueName(), metadata: { x: 'y'.repeat(70_000) } }), headers: { 'Content-Type': 'application/json' } }),
      await call('GET', `/v1/apps/${target.name}`, { key }),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 400, 404, 405, 413, 429]);
    expect(answers.map((r) => rateLimitOf(r))).toEqual([
      { limit: LIMIT, remaining: 4, reset, retryAfter: null },
      { limit: LIMIT, remaining: 3, reset, retryAfter: null },
      { limit: LIMIT, remaining: 2, reset, retryAfter: null },
      { limit: LIMIT, remaining: 1, reset, retryAfter: null },
      { limit: LIMIT, remaining: 0, reset, retryAfter: null },
      { limit: LIMIT, remaining: 0, reset, retryAfter: expect.any(Number) },
    ]);
  });

  it('puts the headers on 401, 403 and 409 answers too', async () => {
    const existing = await insertApp();
    const writer = await insertKey();
    const reader = await insertKey({ readOnly: true });
    const scoped = await insertKey({ apps: [existing.name] });
    const reset = await freshWindow();

    const conflict = await call('POST', '/v1/apps', { key: writer.key, body: { name: existing.name } });
    expectError(conflict, 409, 'CONFLICT');
    expect(rateLimitOf(conflict)).toMatchObject({ limit: LIMIT, remaining: 4, reset });

    const readOnly = await call('POST', '/v1/apps', { key: reader.key, body: { name: uniqueName() } });
    expectError(readOnly, 403, 'FORBIDDEN');
    expect(rateLimitOf(readOnly)).toMatchObject({ limit: LIMIT, remaining: 4, reset });

    const otherApp = await call('GET', '/v1/apps/not-mine', { key: scoped.key });
    expectError(otherApp, 403, 'FORBIDDEN');
    expect(rateLimitOf(otherApp)).toMatchObject({ limit: LIMIT, remaining: 4, reset });

    const noKey = await call('GET', '/v1/apps', { ip: uniqueIp() });
    expectError(noKey, 401, 'UNAUTHORIZED');
    expect(rateLimitOf(noKey)).toMatchObject({ limit: LIMIT, remaining: 4, reset });
  });

  it('leaves a second key untouched when the first is exhausted', async () => {
    const first = await insertKey();
    const second = await insertKey();
    await freshWindow();
    for (let i = 0; i < LIMIT; i++) expect((await call('GET', '/v1/apps', { key: first.key })).status).toBe(200);
    expectError(await call('GET', '/v1/apps', { key: first.key }), 429, 'RATE_LIMITED');
    const other = await call('GET', '/v1/apps', { key: second.key });
    expect(other.status).toBe(200);
    expect(rateLimitOf(other).remaining).toBe(LIMIT - 1);
  });

  it('counts missing and invalid keys per client IP, refuses them, and never touches the key they imitate', async () => {
    const victim = await insertKey();
    const ip = uniqueIp();
    const reset = await freshWindow();
    const lastChar = victim.key.at(-1) === 'A' ? 'B' : 'A';
    const impostors: (string | null)[] = [null, 'wrong', `${victim.key.slice(0, -1)}${lastChar}`, `${victim.key}X`, 'hk_0000000000AAAAAAAAAAAAAAAAAAAAAAAAAA'];
    for (const [i, key] of impostors.entries()) {
      const res = await call('GET', '/v1/apps', { key, ip });
      expectError(res, 401, 'UNAUTHORIZED');
      expect(rateLimitOf(res)).toEqual({ limit: LIMIT, remaining: LIMIT - 1 - i, reset, retryAfter: null });
    }
    // The IP's bucket is spent: more guesses are 429, whatever they send.
    const blocked = await call('GET', '/v1/apps', { key: 'another-guess', ip });
    expectError(blocked, 429, 'RATE_LIMITED');
    expect(Number(blocked.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1);
    // The real key, from the very same IP, still has its whole window.
    const real = await call('GET', '/v1/apps', { key: victim.key, ip });
    expect(real.status).toBe(200);
    expect(rateLimitOf(real).remaining).toBe(LIMIT - 1);
    // Another IP has its own bucket.
    expect(rateLimitOf(await call('GET', '/v1/apps', { ip: uniqueIp() })).remaining).toBe(LIMIT - 1);
  });

  it('takes the client IP from CF-Connecting-IP only: spoofed forwarding headers change no bucket', async () => {
    const ip = uniqueIp();
    await freshWindow();
    for (let i = 0; i < LIMIT; i++) {
      const res = await call('GET', '/v1/apps', {
        ip,
        headers: { 'X-Forwarded-For': uniqueIp(), 'X-Real-IP': uniqueIp(), 'True-Client-IP': uniqueIp() },
      });
      expect(rateLimitOf(res).remaining).toBe(LIMIT - 1 - i);
    }
    expectError(await call('GET', '/v1/apps', { ip, headers: { 'X-Forwarded-For': uniqueIp() } }), 429, 'RATE_LIMITED');
  });

  it('admits exactly the limit when ten requests race, each Remaining value once', async () => {
    const { key } = await insertKey();
    await freshWindow();
    const results = await Promise.all(Array.from({ length: 10 }, () => call('GET', '/v1/apps', { key })));
    const passed = results.filter((r) => r.status === 200);
    expect(passed).toHaveLength(LIMIT);
    expect(results.filter((r) => r.status === 429)).toHaveLength(10 - LIMIT);
    expect(passed.map((r) => rateLimitOf(r).remaining).sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('admits no more than the limit when two isolates spend one bucket at once', async () => {
    const { key } = await insertKey();
    // A second isolate: the same Durable Objects behind a namespace object of
    // its own, hence a lease cache of its own.
    const limiter = env.RATE_LIMITER;
    const otherIsolate = {
      ...env,
      RATE_LIMITER: { idFromName: (name: string) => limiter.idFromName(name), get: (id: DurableObjectId) => limiter.get(id) },
    } as unknown as typeof env;
    const viaOther = () => app.fetch(new Request('https://heimdall.test/v1/apps', { headers: { Authorization: `Bearer ${key}` } }), otherIsolate);
    const viaSelf = () => SELF.fetch('https://heimdall.test/v1/apps', { headers: { Authorization: `Bearer ${key}` } });
    await freshWindow();
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? viaSelf() : viaOther())));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(12 - LIMIT);
    await Promise.all(results.map((r) => r.arrayBuffer()));
  });

  it('opens a new window at Reset: the next request has Remaining = limit - 1', async () => {
    const { key } = await insertKey();
    const reset = await freshWindow();
    for (let i = 0; i < LIMIT; i++) await call('GET', '/v1/apps', { key });
    expectError(await call('GET', '/v1/apps', { key }), 429, 'RATE_LIMITED');
    setClock(reset * 1000 + 25);
    const next = await call('GET', '/v1/apps', { key });
    expect(next.status).toBe(200);
    expect(rateLimitOf(next)).toEqual({ limit: LIMIT, remaining: LIMIT - 1, reset: reset + WINDOW_SECONDS, retryAfter: null });
  });

  it('keeps the count in the bucket\'s Durable Object for the window, survives an early alarm, and is deleted after', async () => {
    const { id, key } = await insertKey();
    const reset = await freshWindow();
    for (let i = 0; i <= LIMIT; i++) await call('GET', '/v1/apps', { key });
    const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`admin:${id}`));
    const inspect = () =>
      runInDurableObject(stub, async (_instance, state) => ({ entries: [...state.storage.kv.list()], alarm: await state.storage.getAlarm() }));

    expect(await inspect()).toEqual({ entries: [['state', { windowStart: reset - WINDOW_SECONDS, windowEnd: reset, granted: LIMIT }]], alarm: reset * 1000 });

    // An alarm that runs before the window ends must not reset the count.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await inspect()).toEqual({ entries: [['state', { windowStart: reset - WINDOW_SECONDS, windowEnd: reset, granted: LIMIT }]], alarm: reset * 1000 });
    expect(await stub.lease({ limit: LIMIT, windowSeconds: WINDOW_SECONDS })).toMatchObject({ units: 0, granted: LIMIT });

    // After the window, the alarm (run here if it has not fired yet) deletes the bucket.
    setClock(reset * 1000 + 50);
    await runDurableObjectAlarm(stub);
    expect(await inspect()).toEqual({ entries: [], alarm: null });
  });
});

describe('when the rate limiter fails', () => {
  const brokenEnv = (failure: 'throws' | 'missing') =>
    ({
      ...env,
      RATE_LIMITER: failure === 'missing'
        ? undefined
        : {
            idFromName: (name: string) => env.RATE_LIMITER.idFromName(name),
            get: () => ({ lease: () => Promise.reject(new Error('Durable Object reset because its code was updated.')) }),
          },
    }) as unknown as typeof env;

  it.each(['throws', 'missing'] as const)('refuses admin requests with 503 and the headers when the limiter %s, and changes nothing', async (failure) => {
    const name = uniqueName();
    const res = await app.fetch(
      new Request('https://heimdall.test/v1/apps', {
        method: 'POST',
        headers: { Authorization: `Bearer ${env.HEIMDALL_ROOT_KEY}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name }),
      }),
      brokenEnv(failure),
    );
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('UNAVAILABLE');
    expect(JSON.stringify(body)).not.toMatch(/Durable Object|reset because/);
    expect(res.headers.get('X-RateLimit-Limit')).toBe(String(LIMIT));
    expect(res.headers.get('X-RateLimit-Remaining')).toBe('0');
    expect(Number(res.headers.get('X-RateLimit-Reset'))).toBeGreaterThan(Date.now() / 1000);
    expect(await env.DB.prepare('SELECT count(*) AS n FROM apps WHERE name = ?').bind(name).first('n')).toBe(0);
  });

  it.each([
    ['token', 'POST', '/v1/apps/acme-corp/tokens', LIMITS.token],
    ['token (invite accept)', 'POST', '/v1/invites/inv_tok_x/accept', LIMITS.token],
    ['authorize', 'POST', '/v1/authorize', LIMITS.authorize],
    ['admin, with no key', 'GET', '/v1/apps', LIMITS.admin],
  ])('fails closed for the %s group too', async (_group, method, path, limit) => {
    const res = await app.fetch(new Request(`https://heimdall.test${path}`, { method }), brokenEnv('throws'));
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
    expect(res.headers.get('X-RateLimit-Limit')).toBe(String(limit));
  });
});
